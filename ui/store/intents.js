/**
 * What the user asks for, and the server's `error` answers to it.
 *
 * An intent that needs the server returns `{frame}`; the caller sends it. Otherwise it returns
 * `{error}` (shown next to the control), or a note of what happened locally.
 */

import { LOBBY, MAX_CHAT_BYTES, ROOM_NAME_RE } from "../config.js";
import * as wire from "../frames.js";
import { roomKey } from "./conversation.js";
import { removeRoom } from "./rooms.js";

/** Send `body` to the conversation on screen: `{frame}` or `{error, code}`. */
export function compose(store, body) {
  if (!body.trim()) return { error: "" };
  const bytes = new TextEncoder().encode(body).length;
  if (bytes > MAX_CHAT_BYTES) {
    return { error: `Not sent: the message is ${bytes} bytes, the limit is ${MAX_CHAT_BYTES}.`, code: "text_too_long" };
  }
  if (!store.connected) return { error: "Not connected", code: "offline" };
  const conversation = store.current();
  const direct = conversation.kind === "direct";
  store.posts.add({
    key: conversation.key,
    kind: conversation.kind,
    peerName: direct ? conversation.name : "",
    text: body,
    connectionNo: store.connectionNo,
  });
  return { frame: direct ? wire.directFrame(conversation.peerId, body) : wire.chatFrame(conversation.name, body) };
}

/** "+ join…": `{frame}`, `{shown}` for a room the page is already in, or `{error}`. */
export function join(store, input) {
  const name = input.trim().toLowerCase().replace(/^#\s*/, "");
  if (!name) return { error: "" };
  if (!ROOM_NAME_RE.test(name)) return { error: "1–32 of a–z, 0–9, - and _" };
  if (store.rooms.has(name)) {
    store.show(roomKey(name));
    return { shown: true };
  }
  if (!store.connected) return { error: "Not connected" };
  store.pendingJoin = name;
  return { frame: wire.joinFrame(name) };
}

/** Leave a room: `{frame}` while connected; offline the room is just forgotten. */
export function leave(store, name) {
  if (name === LOBBY || !store.rooms.has(name)) return {};
  if (store.connected) return { frame: wire.leaveFrame(name) };
  removeRoom(store, name);
  return {};
}

/** A new name: `{frame}`, `{same}` (nothing to do) or `{error}`. */
export function rename(store, input) {
  const name = input.trim();
  if (!name) return { error: "A name cannot be empty" };
  if ([...name].length > 32 || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    return { error: "1–32 characters, no control characters" };
  }
  if (store.me && name === store.me.name) return { same: true };
  if (!store.connected) return { error: "Not connected" };
  store.pendingRename = name;
  return { frame: wire.renameFrame(name) };
}

/** An `error` frame: the answer to a pending rename, join, history request or post. */
export function onError(store, frame) {
  const code = typeof frame.code === "string" ? frame.code : "error";
  const message = typeof frame.message === "string" && frame.message ? frame.message : "The server refused that.";
  if ((code === "name_taken" || code === "invalid_name") && store.pendingRename) {
    store.pendingRename = "";
    store.emit({ type: "rename-failed", text: code === "name_taken" ? "That name is taken" : message });
    return;
  }
  if ((code === "invalid_room" || code === "too_many_rooms") && store.pendingJoin) {
    store.pendingJoin = "";
    const reason = code === "too_many_rooms" ? "You are in too many rooms (16 at most)" : message;
    store.emit({ type: "join-failed", text: reason });
    return;
  }
  if (code === "unknown_type" && store.historyRoom !== null) {
    // A server from before `history`: say so once, and stop asking until the next connection.
    const room = store.rooms.get(store.historyRoom);
    store.emit({ type: "history", room: store.historyRoom, loading: false });
    store.historyRoom = null;
    store.historySupported = false;
    if (room) store.note("This server cannot load older messages", "info", "history", room.key);
    return;
  }
  const post = store.posts.refused(code, store.connectionNo);
  if (post) store.failPost(post, message);
  else store.note(message, "error", code);
}
