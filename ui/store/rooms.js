/**
 * The store's room frames: `joined`, numbered frames, `left`, `presence`, `notice`, `renamed`,
 * and older history. Each function takes the {@link ChatStore} and one frame.
 *
 * The numbering rules live here: a frame counts only in a room the server said `joined` for;
 * within a room's log (its epoch) a seq is shown once; a seq beyond the next one is a hole the
 * page reports; a new epoch, or a v1 server that has issued fewer numbers than the page saw,
 * means the numbering started over.
 */

import { HISTORY_PAGE, LOBBY, ROOM_NAME_RE } from "../config.js";
import * as wire from "../frames.js";
import { Room, roomKey } from "./conversation.js";
import { peerGone, renamePeer } from "./directs.js";

const text = (value, fallback = "") => (value === undefined || value === null ? fallback : String(value));

/** `message` and `notification`: numbered by their room. */
export function onNumbered(store, frame) {
  const room = store.rooms.get(wire.roomOf(frame));
  if (!room || !room.joined) return; // no `joined` for it (e.g. a late frame after `left`)
  const parsed = wire.roomItemOf(frame);
  const { seq } = parsed;
  if (seq !== null) {
    if (room.lastSeq !== null && seq <= room.lastSeq) return; // already shown: a resume overlap
    if (room.lastSeq !== null && seq > room.lastSeq + 1 && !room.afterGap) {
      const first = room.lastSeq + 1;
      const missed = seq - first;
      const line =
        missed === 1 ? `Missed 1 message (#${first})` : `Missed ${missed} messages (#${first}–#${seq - 1})`;
      store.note(line, "info", "", room.key);
    }
    room.lastSeq = seq;
    room.afterGap = false;
  }
  const mine = parsed.kind === "chat" && store.isMine(parsed.senderId);
  store.add(room, { ...parsed, era: room.era, mine }, true);
  if (mine) store.posts.confirm(room.key, parsed.text);

  const live = seq === null || seq > room.backlogUntil;
  if (parsed.kind !== "chat" && (live || room.resumed)) {
    const title = parsed.kind === "broadcast" ? parsed.title || "Broadcast" : parsed.sender;
    store.emit({ type: "toast", level: parsed.level, title, text: parsed.text });
  }
  if (!mine && live) {
    const sender = parsed.kind === "chat" ? parsed.sender : parsed.title || parsed.sender;
    store.emit({ type: "notify", kind: parsed.kind, sender, text: parsed.text, room: room.name });
  }
  if (seq !== null && seq >= room.backlogUntil) store.settlePosts(room);
}

export function onJoined(store, frame) {
  const name = frame.room;
  if (typeof name !== "string" || !ROOM_NAME_RE.test(name)) return;
  let room = store.rooms.get(name);
  const isNew = !room;
  if (!room) {
    room = new Room(name);
    store.rooms.set(name, room);
  }
  const lastKnown = wire.seqOf(frame.last_seq) ?? 0;
  const epoch = wire.epochOf(frame.epoch);
  const gap = frame.gap === true;
  // The numbering started over: another log (epoch), or a server without epochs that has issued
  // fewer numbers than the page has seen.
  const restarted =
    (epoch !== null && room.epoch !== null && epoch !== room.epoch) ||
    (gap && room.lastSeq !== null && lastKnown < room.lastSeq);
  if (restarted) {
    room.restartNumbering();
    if (!store.restartAnnounced) {
      store.note("This room's numbering started over (a new log)", "info", "new log", room.key);
    }
  } else if (gap) {
    store.note("Some older messages are no longer available", "warn", "gap", room.key);
    room.afterGap = true;
  }
  room.epoch = epoch;
  room.joined = true;
  room.backlogUntil = lastKnown;
  room.resumed = frame.resumed_from !== null && frame.resumed_from !== undefined && !gap;
  if (lastKnown === 0 && room.lastSeq === null) room.lastSeq = 0; // empty: resume from the start
  const members = wire.membersOf(frame.members);
  if (members) setMembers(store, room, members, frame.member_count);
  if (room.lastSeq !== null && room.lastSeq >= lastKnown) store.settlePosts(room);
  if (isNew) store.emit({ type: "conversations" });
  if (store.pendingJoin === name) {
    store.pendingJoin = "";
    store.emit({ type: "join-done", room: name });
    store.show(room.key);
  }
}

export function onLeft(store, frame) {
  if (typeof frame.room !== "string") return;
  if (store.pendingJoin === frame.room) store.pendingJoin = "";
  removeRoom(store, frame.room);
}

/** Forget a room (after `left`, or a leave while offline). The lobby stays. */
export function removeRoom(store, name) {
  const room = store.rooms.get(name);
  if (name === LOBBY || !room) return;
  store.rooms.delete(name);
  store.posts.drop(room.key);
  if (store.lastRoom === name) store.lastRoom = LOBBY;
  if (store.currentKey === room.key) store.show(roomKey(LOBBY));
  store.emit({ type: "conversations" });
}

export function onPresence(store, frame) {
  const room = store.rooms.get(wire.roomOf(frame));
  const members = wire.membersOf(frame.members);
  if (room && members) setMembers(store, room, members, frame.member_count);
}

/** Large rooms list only their first members; `memberCount` says how many there are. */
export function setMembers(store, room, members, memberCount) {
  room.members = members;
  room.memberCount = Number.isSafeInteger(memberCount) ? memberCount : members.length;
  for (const member of members) renamePeer(store, member.id, member.name);
  store.emit({ type: "members", room: room.name });
}

export function onNotice(store, frame) {
  const room = store.rooms.get(wire.roomOf(frame));
  if (!room || !room.joined) return;
  const id = wire.seqOf(frame.id);
  const name = text(frame.name, "someone");
  if (frame.event === "renamed") renamePeer(store, id, name);
  // Everyone is in the lobby: leaving it means the connection is gone.
  if (frame.event === "left" && room.name === LOBBY) peerGone(store, id, name);
  // Our own comings and goings (every reconnect) are not news to us.
  if (store.isMine(id) && frame.event !== "renamed") return;
  const line = {
    joined: `${name} joined`,
    left: `${name} left`,
    renamed: `${text(frame.old_name, "someone")} is now ${name}`,
  }[frame.event];
  if (line) store.note(line, "notice", "", room.key, wire.seqOf(frame.ts));
}

export function onRenamed(store, frame) {
  const name = text(frame.name);
  if (!name) return;
  if (store.me) store.me.name = name;
  store.wantedName = name;
  store.pendingRename = "";
  store.emit({ type: "me" });
  store.emit({ type: "rename-done" });
}

/** Whether asking for older messages of `room` could bring any (numbering starts at 1). */
export function mayHaveOlder(store, room) {
  if (!room || room.kind !== "room" || !room.joined || !store.connected) return false;
  if (store.historySupported === false || room.hasMore === false) return false;
  if (room.items.length >= store.maxItems) return false;
  const oldest = room.oldestSeq();
  return oldest === null ? room.backlogUntil > 0 : oldest > 1;
}

/** The user reached the top of a room: the `history` frame to send, or null. */
export function older(store, roomName) {
  const room = store.rooms.get(roomName);
  if (store.historyRoom !== null || !mayHaveOlder(store, room)) return null;
  store.historyRoom = roomName;
  store.emit({ type: "history", room: roomName, loading: true });
  return wire.historyFrame(roomName, room.oldestSeq(), HISTORY_PAGE);
}

/** A `history` answer: frames older than the oldest shown, put before it, deduped by seq. */
export function onHistory(store, frame) {
  if (store.historyRoom === null || frame.room !== store.historyRoom) return; // not asked for
  store.historyRoom = null;
  store.emit({ type: "history", room: frame.room, loading: false });
  const room = store.rooms.get(frame.room);
  if (!room || !room.joined) return;
  const epoch = wire.epochOf(frame.epoch);
  if (epoch !== null && room.epoch !== null && epoch !== room.epoch) return; // another log's numbers
  const oldest = room.oldestSeq();
  const bySeq = new Map();
  for (const message of Array.isArray(frame.messages) ? frame.messages : []) {
    const parsed = message && typeof message === "object" ? wire.roomItemOf(message) : null;
    if (!parsed || parsed.seq === null || (oldest !== null && parsed.seq >= oldest)) continue;
    if (wire.roomOf(message) === room.name) bySeq.set(parsed.seq, parsed);
  }
  // Up to the item limit; the newest of the batch are the ones next to what is shown.
  const capacity = Math.max(0, store.maxItems - room.items.length);
  const sorted = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  const fresh = capacity === 0 ? [] : sorted.slice(-capacity);
  room.hasMore = fresh.length > 0 && frame.has_more === true;
  if (!fresh.length) return;
  if (room.lastSeq === null) room.lastSeq = fresh[fresh.length - 1].seq;
  const index = room.historyIndex();
  const items = fresh.map((parsed) => store.item({ ...parsed, era: room.era, mine: store.isMine(parsed.senderId) }));
  room.items.splice(index, 0, ...items);
  store.emit({ type: "inserted", key: room.key, items, before: room.items[index + items.length] ?? null });
}
