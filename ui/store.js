/**
 * The page's state: pure data, no DOM and no socket, so Node's test runner can drive it.
 *
 * The pattern is a small observable store:
 * - **inputs** are the server's frames ({@link ChatStore#receive}), the connection's life
 *   ({@link ChatStore#welcome}, {@link ChatStore#disconnected}) and the user's intents
 *   ({@link ChatStore#compose}, {@link ChatStore#join}, ...). An intent that needs the server
 *   returns `{frame}`; the caller sends it.
 * - **outputs** are events to subscribers (`added`, `switched`, `toast`, ...); the views render
 *   from them and from the store's fields. The store never renders anything itself.
 *
 * The rules it keeps (CONTRACT.md), each in its own file under `store/`:
 * - a room exists only after `joined`; a frame for a room with no `joined` (a late frame after
 *   `left`) is dropped, so a left room never comes back by itself (`rooms.js`);
 * - each room keeps one resume point, `{epoch, seq}`, sent back as `?since=room:EPOCH:SEQ` on
 *   reconnect; it survives a server restart, and the server judges the epoch (`conversation.js`);
 * - a seq already seen in the room's current log is dropped: a resume's overlap (`rooms.js`);
 * - direct messages are conversations of their own, one per peer (`directs.js`);
 * - a post is pending until its echo comes back; a refusal (`unavailable`, ...) shows it as not
 *   sent, and so does a resume after which its echo never came (`posts.js`, `intents.js`).
 */

import { LOBBY, MAX_ITEMS, MAX_OWN_IDS } from "./config.js";
import * as wire from "./frames.js";
import { appendItem, directKey, Room, roomKey } from "./store/conversation.js";
import * as directs from "./store/directs.js";
import * as intents from "./store/intents.js";
import { PostLedger } from "./store/posts.js";
import * as rooms from "./store/rooms.js";

export { directKey, roomKey };

const HANDLERS = {
  message: rooms.onNumbered,
  notification: rooms.onNumbered,
  joined: rooms.onJoined,
  left: rooms.onLeft,
  presence: rooms.onPresence,
  notice: rooms.onNotice,
  renamed: rooms.onRenamed,
  history: rooms.onHistory,
  direct: directs.onDirect,
  error: intents.onError,
};

export class ChatStore {
  constructor({ maxItems = MAX_ITEMS, now = () => Date.now() } = {}) {
    this.maxItems = maxItems;
    this.now = now;
    this.listeners = new Set();
    /** @type {Map<string, Room>} the lobby is the page's home from the start */
    this.rooms = new Map([[LOBBY, new Room(LOBBY)]]);
    /** @type {Map<number, import("./store/conversation.js").Direct>} by the peer's id */
    this.directs = new Map();
    this.currentKey = roomKey(LOBBY);
    /** The room to go back to from a direct conversation, and whose people are listed then. */
    this.lastRoom = LOBBY;
    /** @type {{id: number|null, name: string}|null} while connected */
    this.me = null;
    /** This page's connection ids, newest last: echoes in a resumed backlog carry older ones. */
    this.ownIds = [];
    /** The name to ask for again on reconnect. */
    this.wantedName = "";
    this.session = null;
    this.instance = null;
    this.connected = false;
    /** Counts `welcome`s; a post remembers the connection it was sent on. */
    this.connectionNo = 0;
    /** This connection found a restarted server (and said so). */
    this.restartAnnounced = false;
    this.pendingJoin = "";
    this.pendingRename = "";
    this.posts = new PostLedger();
    /** The room whose `history` answer is awaited (one request at a time). */
    this.historyRoom = null;
    /** False once the server answered `unknown_type` to `history` (until the next welcome). */
    this.historySupported = null;
    this.nextItemId = 1;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event) {
    for (const listener of this.listeners) listener(event);
  }

  // ------------------------------------------------------------------------------ queries

  /** A conversation by key: `#room` or `@peerId`. */
  conversation(key) {
    if (key.startsWith("#")) return this.rooms.get(key.slice(1)) ?? null;
    return this.directs.get(Number(key.slice(1))) ?? null;
  }

  current() {
    return this.conversation(this.currentKey) ?? this.rooms.get(LOBBY);
  }

  /** The room whose people the ONLINE list shows. */
  presenceRoom() {
    const current = this.current();
    if (current.kind === "room") return current;
    return this.rooms.get(this.lastRoom) ?? this.rooms.get(LOBBY);
  }

  isMine(id) {
    return id !== null && id !== undefined && this.ownIds.includes(id);
  }

  /** What goes into the reconnect URL: `{since, session, name}` (see `frames.connectUrl`). */
  connectParams() {
    const since = [...this.rooms.values()].map((room) => room.resumePoint()).filter(Boolean);
    return { since, session: this.session, name: this.wantedName };
  }

  // ------------------------------------------------------------------------------ connection

  /** A `welcome` from our server. Returns the frames to send now (rooms to join again). */
  welcome(frame) {
    const instance = typeof frame.instance === "string" ? frame.instance : null;
    const restarted = this.instance !== null && instance !== null && instance !== this.instance;
    this.instance = instance;
    this.restartAnnounced = restarted;
    if (restarted) {
      // Numbers from a server without epochs mean nothing to its successor. Resume points with
      // an epoch stay: the server tells from the epoch whether its log is the same one.
      for (const room of this.rooms.values()) if (room.epoch === null) room.restartNumbering();
      this.note("The server restarted", "info", "server restarted");
    }
    this.session = wire.sessionOf(frame.session);
    const id = wire.seqOf(frame.id);
    const wanted = this.wantedName;
    this.me = { id, name: frame.name === undefined || frame.name === null ? "" : String(frame.name) };
    this.wantedName = this.me.name;
    if (id !== null && !this.ownIds.includes(id)) this.ownIds = [...this.ownIds, id].slice(-MAX_OWN_IDS);
    const again = this.connectionNo > 0;
    this.connectionNo += 1;
    this.connected = true;
    this.historyRoom = null;
    this.historySupported = null;
    this.note(`${again ? "Reconnected" : "Connected"} as ${this.me.name}`, "info");
    if (again && wanted && wanted !== this.me.name) this.note(`Could not keep the name ${wanted}`, "warn");
    // Direct messages are not kept by the server: an unconfirmed one is lost with its connection.
    for (const post of this.posts.takeStale(this.connectionNo, (p) => p.kind === "direct")) {
      this.failPost(post, "Not confirmed: the connection dropped before it was delivered");
    }
    const frames = [];
    for (const room of this.rooms.values()) {
      if (room.key !== this.currentKey) room.members = null;
      // Rooms with a resume point are in `?since=`; the others are joined again by hand.
      if (room.name !== LOBBY && room.resumePoint() === null) frames.push(wire.joinFrame(room.name));
    }
    this.emit({ type: "me" });
    this.emit({ type: "members", room: this.presenceRoom().name });
    return frames;
  }

  /** The welcomed connection ended; `reason` says why (a line in the conversation). */
  disconnected(reason, code = "") {
    // 4001: another connection took over with our session token; it is theirs now, and using
    // it again would close them in turn.
    if (code === "4001") this.session = null;
    this.connected = false;
    this.me = null;
    this.pendingJoin = "";
    this.pendingRename = "";
    for (const room of this.rooms.values()) room.joined = false;
    if (this.historyRoom !== null) this.emit({ type: "history", room: this.historyRoom, loading: false });
    this.historyRoom = null;
    this.note(`Disconnected: ${reason}`, "warn", code);
    this.emit({ type: "me" });
  }

  /** One frame from the server (after `welcome`); unknown types are a newer server's. */
  receive(frame) {
    const handler = Object.hasOwn(HANDLERS, frame.type) ? HANDLERS[frame.type] : null;
    if (handler) handler(this, frame);
  }

  // ------------------------------------------------------------------------------ user intents

  /** Show a conversation (`#room` or `@peerId`); its unread count goes back to 0. */
  show(key) {
    const conversation = this.conversation(key);
    if (!conversation) return;
    this.currentKey = key;
    conversation.unread = 0;
    if (conversation.kind === "room") this.lastRoom = conversation.name;
    this.emit({ type: "switched", key });
    this.emit({ type: "conversations" });
  }

  compose(body) {
    return intents.compose(this, body);
  }

  join(input) {
    return intents.join(this, input);
  }

  leave(name) {
    return intents.leave(this, name);
  }

  rename(input) {
    return intents.rename(this, input);
  }

  older(roomName) {
    return rooms.older(this, roomName);
  }

  /** Whether the conversation on screen could have older messages on the server. */
  mayHaveOlder() {
    return rooms.mayHaveOlder(this, this.current());
  }

  openDirect(peerId, name) {
    directs.openDirect(this, peerId, name);
  }

  closeDirect(peerId) {
    directs.closeDirect(this, peerId);
  }

  // ------------------------------------------------------------------------------ items

  /** A line from the page itself (connection events, refusals) in a conversation. */
  note(body, level = "info", code = "", key = this.currentKey, ts = null) {
    const conversation = this.conversation(key) ?? this.current();
    this.add(conversation, { kind: "system", seq: null, ts, text: body, level, code }, false);
  }

  item(fields) {
    return { ...fields, id: this.nextItemId++, ts: fields.ts ?? this.now() };
  }

  add(conversation, fields, countsAsUnread) {
    const item = this.item(fields);
    const dropped = appendItem(conversation, item, this.maxItems);
    if (dropped) this.emit({ type: "trimmed", key: conversation.key, count: dropped });
    this.emit({ type: "added", key: conversation.key, item });
    if (countsAsUnread && conversation.key !== this.currentKey) {
      conversation.unread += 1;
      this.emit({ type: "conversations" });
    }
    return item;
  }

  /** A post that did not make it: shown in its conversation as not sent, with the reason. */
  failPost(post, reason) {
    const conversation = this.conversation(post.key) ?? this.current();
    const me = this.me ? this.me.name : this.wantedName;
    const direct = post.kind === "direct";
    this.add(
      conversation,
      {
        kind: direct ? "direct" : "chat",
        seq: null,
        ts: null,
        sender: direct ? `${me} → ${post.peerName}` : me,
        senderId: null,
        text: post.text,
        mine: true,
        failed: true,
        reason,
      },
      false
    );
  }

  /** The room's backlog is complete: posts from older connections that never echoed were lost. */
  settlePosts(room) {
    for (const post of this.posts.takeStale(this.connectionNo, (p) => p.key === room.key)) {
      this.failPost(post, "Not sent: the connection dropped before the server stored it");
    }
  }
}
