/**
 * Direct messages: one conversation per peer (by the peer's connection id), whatever room is on
 * screen. A `direct` frame is filed under the other party: the recipient for an echo of ours,
 * the sender otherwise.
 */

import * as wire from "../frames.js";
import { Direct, roomKey } from "./conversation.js";

const text = (value, fallback = "") => (value === undefined || value === null ? fallback : String(value));

export function onDirect(store, frame) {
  const fromId = wire.seqOf(frame.from_id);
  const toId = wire.seqOf(frame.to_id);
  const mine = store.isMine(fromId);
  const peerId = mine ? toId : fromId;
  if (peerId === null) return;
  const from = text(frame.from, `#${fromId}`);
  const to = text(frame.to, `#${toId}`);
  const direct = directWith(store, peerId, mine ? to : from);
  direct.online = true;
  const body = text(frame.text);
  const item = { kind: "direct", seq: null, ts: wire.seqOf(frame.ts), sender: `${from} → ${to}`, senderId: fromId };
  store.add(direct, { ...item, text: body, mine }, !mine);
  if (mine) {
    store.posts.confirm(direct.key, body);
    return;
  }
  store.emit({ type: "notify", kind: "direct", sender: from, text: body, room: "dm" });
  if (store.currentKey !== direct.key) {
    store.emit({ type: "toast", level: "info", title: `Direct message from ${from}`, text: body });
  }
}

/** The conversation with `peerId`, made on first use. */
export function directWith(store, peerId, name) {
  let direct = store.directs.get(peerId);
  if (!direct) {
    direct = new Direct(peerId, name);
    store.directs.set(peerId, direct);
    store.emit({ type: "conversations" });
  } else {
    renamePeer(store, peerId, name);
  }
  return direct;
}

/** A peer's new name (from `presence` or a `notice`): its conversation follows. */
export function renamePeer(store, id, name) {
  const direct = id === null ? undefined : store.directs.get(id);
  if (!direct || direct.name === name) return;
  direct.name = name;
  store.emit({ type: "conversations" });
}

/** The peer's connection is gone: its id will not come back, so say so in the conversation. */
export function peerGone(store, id, name) {
  const direct = id === null ? undefined : store.directs.get(id);
  if (!direct || !direct.online) return;
  direct.online = false;
  store.note(`${name} left: direct messages can no longer reach them`, "info", "", direct.key);
  store.emit({ type: "conversations" });
}

/** The user picked someone in the ONLINE list. */
export function openDirect(store, peerId, name) {
  if (!Number.isSafeInteger(peerId) || store.isMine(peerId)) return;
  store.show(directWith(store, peerId, name).key);
}

/** The user closed a conversation: it goes from the list (a new message brings it back). */
export function closeDirect(store, peerId) {
  const direct = store.directs.get(peerId);
  if (!direct) return;
  store.directs.delete(peerId);
  store.posts.drop(direct.key);
  if (store.currentKey === direct.key) store.show(roomKey(store.lastRoom));
  store.emit({ type: "conversations" });
}
