/**
 * The wire format, seen from the page (docs/PROTOCOL.md; CONTRACT.md for protocol v2).
 *
 * Two halves, both pure functions:
 * - **reading**: the server's JSON text frames become plain objects the store can trust. Every
 *   field that reaches the store is checked here (a string is a string, a seq is a safe
 *   non-negative integer, an epoch matches its pattern); anything else is dropped. The DOM only
 *   ever receives these values through `textContent`.
 * - **writing**: the client frames the page sends, built in one place.
 *
 * New fields and frame types from a newer server are ignored, so the page works with old and new
 * servers alike.
 */

import { EPOCH_RE, LOBBY, ROOM_NAME_RE, SESSION_RE } from "./config.js";

/** JSON text → a frame object, or null (binary data, bad JSON, not an object with a type). */
export function parseFrame(data) {
  if (typeof data !== "string") return null;
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  if (!frame || typeof frame !== "object" || Array.isArray(frame)) return null;
  return typeof frame.type === "string" ? frame : null;
}

/** A safe non-negative integer, or null. */
export function seqOf(value) {
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}

/** A valid epoch, or null (absent on servers before protocol v2). */
export function epochOf(value) {
  return typeof value === "string" && EPOCH_RE.test(value) ? value : null;
}

/** A valid session token, or null. */
export function sessionOf(value) {
  return typeof value === "string" && SESSION_RE.test(value) ? value : null;
}

function text(value, fallback = "") {
  return value === undefined || value === null ? fallback : String(value);
}

function timestamp(value) {
  return Number.isFinite(value) ? value : null;
}

const LEVELS = ["info", "success", "warning", "error"];

/** A notification level the page knows, "info" otherwise. */
export function levelOf(level) {
  return LEVELS.includes(level) ? level : "info";
}

/** The room a numbered frame belongs to (frames from v1 servers may leave it out: the lobby). */
export function roomOf(frame) {
  return typeof frame.room === "string" && frame.room ? frame.room : LOBBY;
}

/**
 * A numbered room frame (`message` or `notification`) → the item the page shows.
 * Returns null for anything else. `mine` is decided by the caller, who knows its own ids.
 *
 * @returns {null | {kind: "chat"|"broadcast"|"notification", seq: number|null, ts: number|null,
 *   sender: string, senderId: number|null, text: string, level?: string, source?: string,
 *   title?: string}}
 */
export function roomItemOf(frame) {
  if (!frame || (frame.type !== "message" && frame.type !== "notification")) return null;
  const seq = seqOf(frame.seq);
  const ts = timestamp(frame.ts);
  const body = text(frame.text);
  if (frame.type === "notification") {
    const kind = frame.source === "notify" ? "notification" : "broadcast";
    return {
      kind,
      seq,
      ts,
      sender: kind === "broadcast" ? "⚑ broadcast" : text(frame.title, "notification") || "notification",
      senderId: null,
      text: body,
      level: levelOf(frame.level),
      source: text(frame.source),
      title: text(frame.title),
    };
  }
  if (frame.kind === "broadcast") {
    // A v1 server sent broadcasts as `message` frames.
    return { kind: "broadcast", seq, ts, sender: "⚑ broadcast", senderId: null, text: body, level: "info" };
  }
  return {
    kind: "chat",
    seq,
    ts,
    sender: text(frame.sender, "?"),
    senderId: seqOf(frame.sender_id),
    text: body,
  };
}

/** Members of a `joined`/`presence` frame: `{id, name}` with a safe integer id. */
export function membersOf(list) {
  if (!Array.isArray(list)) return null;
  return list
    .filter((m) => m && typeof m === "object" && Number.isSafeInteger(m.id))
    .map((m) => ({ id: m.id, name: text(m.name, `#${m.id}`) }));
}

// ------------------------------------------------------------------------------ client frames

export function chatFrame(room, body) {
  return { type: "chat", room, text: body };
}

export function directFrame(to, body) {
  return { type: "direct", to, text: body };
}

export function renameFrame(name) {
  return { type: "rename", name };
}

/** `join`, resuming after `since` in log `epoch` when the page has a resume point. */
export function joinFrame(room, resume = null) {
  const frame = { type: "join", room };
  if (resume && seqOf(resume.seq) !== null) {
    frame.since = resume.seq;
    if (epochOf(resume.epoch)) frame.epoch = resume.epoch;
  }
  return frame;
}

export function leaveFrame(room) {
  return { type: "leave", room };
}

/** Older messages: `before` omitted means "the newest ones". */
export function historyFrame(room, before, limit) {
  const frame = { type: "history", room, limit };
  if (seqOf(before) !== null) frame.before = before;
  return frame;
}

/**
 * The `?since=` value: `room:EPOCH:SEQ` where the epoch is known, the older `room:SEQ` otherwise.
 * Every part is checked against its pattern, so the value needs no escaping.
 *
 * @param {Array<{room: string, epoch: string|null, seq: number}>} points
 */
export function sinceParam(points) {
  return points
    .filter(({ room, seq }) => ROOM_NAME_RE.test(room) && seqOf(seq) !== null)
    .map(({ room, epoch, seq }) => (epochOf(epoch) ? `${room}:${epoch}:${seq}` : `${room}:${seq}`))
    .join(",");
}

/** The WebSocket URL with `?since=`, `?session=` and `?name=` added (each only when known). */
export function connectUrl(wsUrl, { since = [], session = null, name = "" } = {}) {
  const params = [];
  const resume = sinceParam(since);
  if (resume) params.push(`since=${resume}`);
  if (sessionOf(session)) params.push(`session=${encodeURIComponent(session)}`);
  if (name) params.push(`name=${encodeURIComponent(name)}`);
  if (!params.length) return wsUrl;
  return wsUrl + (wsUrl.includes("?") ? "&" : "?") + params.join("&");
}
