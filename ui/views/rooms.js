/**
 * The ROOMS panel: the rooms the server confirmed, the direct conversations, and "+ join…".
 *
 * Each room is a link (Tab reaches it, Enter opens it) with an unread badge, and a leave button
 * for every room but the lobby; each direct conversation is a link with a close button. The
 * `<li>` of a conversation is made once and updated in place, so a badge that changes while the
 * user tabs through the list does not take the keyboard focus away.
 */

import { LOBBY } from "../config.js";
import { byId, element, reconcile, setText } from "./dom.js";

/**
 * `<li><a>#&nbsp;name&nbsp;3</a><button>✕</button></li>`. The link's name is its text (what a
 * screen reader says is what is shown, plus hidden words: "Direct messages with ", " unread").
 */
function conversationItem(conversation, sigil, closeLabel) {
  const li = element("li", "room-item");
  const link = element("a", "room-link");
  link.href = "#messages";
  link.dataset.key = conversation.key;
  const hash = element("span", "room-hash", sigil);
  hash.setAttribute("aria-hidden", "true");
  const prefix = element("span", "visually-hidden", conversation.kind === "direct" ? "Direct messages with " : "");
  const badge = element("span", "room-unread");
  badge.hidden = true;
  badge.append(element("span", "room-unread-count"), element("span", "visually-hidden", " unread"));
  link.append(hash, " ", prefix, element("span", "room-name"), " ", badge);
  li.append(link);
  if (closeLabel) {
    const close = element("button", "icon-button room-leave", "✕");
    close.type = "button";
    close.dataset.key = conversation.key;
    li.append(close);
  }
  return li;
}

function updateItem(li, conversation, current) {
  const link = li.querySelector(".room-link");
  if (conversation.key === current) link.setAttribute("aria-current", "page");
  else link.removeAttribute("aria-current");
  const unread = conversation.key === current ? 0 : conversation.unread;
  li.querySelector(".room-unread").hidden = unread === 0;
  setText(li.querySelector(".room-unread-count"), unread > 99 ? "99+" : unread ? String(unread) : "");
  const gone = conversation.kind === "direct" && !conversation.online;
  setText(li.querySelector(".room-name"), gone ? `${conversation.name} (left)` : conversation.name);
  li.dataset.room = conversation.kind === "room" ? conversation.name : "";
  li.classList.toggle("offline", gone);
  const close = li.querySelector(".room-leave");
  if (close) {
    const what = conversation.kind === "room" ? `Leave # ${conversation.name}` : `Close the conversation with ${conversation.name}`;
    close.title = what;
    close.setAttribute("aria-label", what);
  }
}

export function createRoomsView(store, { onLeave, onJoin, onOpen }) {
  const roomList = byId("room-list");
  const directSection = byId("direct-section");
  const directList = byId("direct-list");
  const joinForm = byId("join-room-form");
  const joinInput = byId("join-room-input");
  const joinError = byId("join-room-error");
  const items = new Map(); // key → li

  function itemFor(conversation) {
    let li = items.get(conversation.key);
    if (!li) {
      const closable = conversation.kind === "direct" || conversation.name !== LOBBY;
      li = conversationItem(conversation, conversation.kind === "room" ? "#" : "@", closable);
      items.set(conversation.key, li);
    }
    return li;
  }

  function render() {
    const rooms = [...store.rooms.values()];
    const directs = [...store.directs.values()];
    for (const key of items.keys()) if (!store.conversation(key)) items.delete(key);
    for (const conversation of [...rooms, ...directs]) updateItem(itemFor(conversation), conversation, store.currentKey);
    reconcile(roomList, rooms.map(itemFor));
    reconcile(directList, directs.map(itemFor));
    directSection.hidden = directs.length === 0;
  }

  function setJoinError(text) {
    setText(joinError, text);
    joinInput.setAttribute("aria-invalid", text ? "true" : "false");
  }

  const onListClick = (event) => {
    const close = event.target.closest(".room-leave");
    if (close) {
      onLeave(close.dataset.key);
      return;
    }
    const link = event.target.closest(".room-link");
    if (!link) return;
    event.preventDefault();
    onOpen(link.dataset.key);
  };
  roomList.addEventListener("click", onListClick);
  directList.addEventListener("click", onListClick);

  joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const answer = onJoin(joinInput.value);
    if (answer.error !== undefined) setJoinError(answer.error);
    else setJoinError("");
    if (answer.shown) joinInput.value = "";
  });
  joinInput.addEventListener("input", () => setJoinError(""));
  joinInput.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      joinInput.value = "";
      setJoinError("");
    }
  });

  store.subscribe((event) => {
    if (event.type === "conversations") render();
    else if (event.type === "join-failed") setJoinError(event.text);
    else if (event.type === "join-done") {
      joinInput.value = "";
      setJoinError("");
    }
  });

  return { render };
}
