/**
 * The two kinds of conversation the page shows, as plain data (no DOM, no socket).
 *
 * - A {@link Room} exists only once the server said `joined` (the lobby excepted: it is the
 *   page's home from the start, but takes frames only once joined). It keeps the room's
 *   **resume point**: the epoch of the room's log and the highest seq seen in it. A new epoch
 *   means the numbering started over; the items seen before stay on screen, marked as from an
 *   older log, and no longer count for dedupe or for "older history".
 * - A {@link Direct} holds the direct messages with one peer (by connection id).
 *
 * Items are what the message list shows, oldest first, at most `maxItems` of them.
 */

/** The store key of a conversation: `#room` or `@peerId`. */
export const roomKey = (name) => `#${name}`;
export const directKey = (peerId) => `@${peerId}`;

class Conversation {
  constructor(key) {
    this.key = key;
    /** @type {Array<object>} oldest first */
    this.items = [];
    this.unread = 0;
  }
}

export class Room extends Conversation {
  constructor(name) {
    super(roomKey(name));
    this.kind = "room";
    this.name = name;
    /** True between `joined` and the end of the connection (or `left`). */
    this.joined = false;
    /** The room log's epoch (null from servers before protocol v2). */
    this.epoch = null;
    /** Counts numbering restarts seen by this page; items carry the one they belong to. */
    this.era = 0;
    /** The highest seq seen in this era: the resume point, and the dedupe line. */
    this.lastSeq = null;
    /** Frames up to this seq are the backlog of the last `joined`, not live. */
    this.backlogUntil = 0;
    /** The last `joined` resumed without a gap: its backlog is news (toasts for broadcasts). */
    this.resumed = false;
    /** A gap was announced: do not report the hole again at the next frame. */
    this.afterGap = false;
    /** @type {Array<{id: number, name: string}>|null} */
    this.members = null;
    this.memberCount = 0;
    /** Whether the server has older messages (null: not known yet). */
    this.hasMore = null;
  }

  /** Where to resume: `{room, epoch, seq}`, or null when this room has none. */
  resumePoint() {
    return this.lastSeq === null ? null : { room: this.name, epoch: this.epoch, seq: this.lastSeq };
  }

  /** The oldest seq shown from the current log, or null. */
  oldestSeq() {
    const item = this.items.find((it) => it.seq !== null && it.era === this.era);
    return item ? item.seq : null;
  }

  /** Where older history goes: before the first numbered item of the current log. */
  historyIndex() {
    const index = this.items.findIndex((it) => it.seq !== null && it.era === this.era);
    return index === -1 ? this.items.length : index;
  }

  /** The numbering started over: forget the resume point, keep the items (as an older era). */
  restartNumbering() {
    this.era += 1;
    this.lastSeq = null;
    this.afterGap = false;
    this.hasMore = null;
  }
}

export class Direct extends Conversation {
  constructor(peerId, name) {
    super(directKey(peerId));
    this.kind = "direct";
    this.peerId = peerId;
    this.name = name;
    /** False once the peer's connection is known to be gone (its ids are not reused). */
    this.online = true;
  }
}

/**
 * Appends `item` and drops the oldest beyond `max`.
 * @returns {number} how many were dropped from the front
 */
export function appendItem(conversation, item, max) {
  conversation.items.push(item);
  const extra = conversation.items.length - max;
  if (extra <= 0) return 0;
  conversation.items.splice(0, extra);
  if (conversation.kind === "room") conversation.hasMore = null; // older ones exist again
  return extra;
}
