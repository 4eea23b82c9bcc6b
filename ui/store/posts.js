/**
 * Posts the page sent whose echo has not come back yet ("acknowledged means stored": the server
 * echoes a post only once it is stored, and refuses it with an `error` otherwise).
 *
 * Error frames do not say which post they refuse, so {@link PostLedger#refused} picks one by
 * where each kind of refusal comes from:
 * - `unavailable` comes from the room after the posts before it, in order: the **oldest** one;
 * - the connection's own refusals (`rate_limited`, `text_too_long`, ...) answer the frame just
 *   read, possibly ahead of older posts' echoes still on their way: the **newest** one.
 *
 * Posts from an earlier connection are settled by the store once a resume shows whether their
 * echo is in the room's log. The ledger is bounded: past {@link MAX_PENDING} the oldest goes.
 */

export const MAX_PENDING = 256;

/** Refusal code → which pending post it refuses (`oldest`/`newest`) and of which kind. */
const REFUSALS = {
  unavailable: { pick: "oldest" },
  rate_limited: { pick: "newest" },
  text_too_long: { pick: "newest" },
  empty_text: { pick: "newest" },
  not_in_room: { pick: "newest", kind: "room" },
  unknown_recipient: { pick: "newest", kind: "direct" },
};

export class PostLedger {
  constructor() {
    /** @type {Array<{key: string, kind: string, peerName: string, text: string, connectionNo: number}>} */
    this.pending = [];
  }

  /** A post just sent; its text is kept as the server will echo it (trimmed). */
  add(post) {
    this.pending.push({ ...post, text: post.text.trim() });
    if (this.pending.length > MAX_PENDING) this.pending.shift();
  }

  /** An echo of ours arrived in conversation `key`: that post is stored. */
  confirm(key, text) {
    const index = this.pending.findIndex((post) => post.key === key && post.text === text);
    if (index !== -1) this.pending.splice(index, 1);
    return index !== -1;
  }

  /** An `error` frame with `code` arrived on connection `connectionNo`: the post it refused. */
  refused(code, connectionNo) {
    const rule = REFUSALS[code];
    if (!rule) return null;
    const candidates = this.pending.filter(
      (post) => post.connectionNo === connectionNo && (!rule.kind || post.kind === rule.kind)
    );
    const post = rule.pick === "oldest" ? candidates[0] : candidates[candidates.length - 1];
    if (!post) return null;
    this.pending.splice(this.pending.indexOf(post), 1);
    return post;
  }

  /** Removes and returns the posts sent before connection `connectionNo` that match `filter`. */
  takeStale(connectionNo, filter) {
    const stale = this.pending.filter((post) => post.connectionNo < connectionNo && filter(post));
    if (stale.length) this.pending = this.pending.filter((post) => !stale.includes(post));
    return stale;
  }

  /** The conversation is gone: forget its posts. */
  drop(key) {
    this.pending = this.pending.filter((post) => post.key !== key);
  }
}
