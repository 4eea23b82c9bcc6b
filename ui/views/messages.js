/**
 * The message list of the conversation on screen: `#messages`, a polite ARIA live region, so a
 * screen reader reads new messages as they arrive (additions only).
 *
 * It mirrors `store.current().items` one `<li>` per item, built once per item and cached, so
 * switching conversations is cheap. Bulk changes (a switch, older history put in front) are
 * made with `aria-busy` set, so they are not read out as a flood of "new" messages.
 *
 * Scrolling: the list sticks to the bottom while the user is there; otherwise a "New messages"
 * button appears. Reaching the top, or the "Load older messages" button above the list (there
 * when the server may have older ones), asks for older history (`onLoadOlder`); the scroll
 * position is kept while it is put in front.
 */

import { LOAD_OLDER_THRESHOLD_PX, STICK_THRESHOLD_PX } from "../config.js";
import { byId, element, setText, timeElement } from "./dom.js";

/** The `<li>` for one item (a message, a direct message, or a line from the page). */
function itemElement(item) {
  if (item.kind === "system") {
    const li = element("li", "system");
    li.dataset.level = item.level;
    const body = element("span", "system-text");
    if (item.code) body.append(element("code", "system-code", item.code));
    body.append(document.createTextNode(item.text));
    li.append(timeElement(item.ts), body);
    return li;
  }
  const li = element("li", "message");
  li.dataset.kind = item.kind;
  if (item.mine) {
    li.classList.add("mine");
    li.dataset.mine = "true";
  }
  if (item.seq !== null) li.dataset.seq = String(item.seq);
  if (item.level && item.kind !== "chat") li.dataset.level = item.level;
  if (item.source) li.dataset.source = item.source;
  li.append(
    timeElement(item.ts),
    element("span", "message-sender", item.sender, item.sender),
    element("span", "message-text", item.text)
  );
  if (item.failed) {
    li.dataset.failed = "true";
    li.append(element("span", "message-seq message-failed", "not sent", item.reason));
    li.append(element("span", "message-reason", item.reason));
  } else if (item.kind === "direct") {
    li.append(element("span", "message-seq", "DM", "Direct message: only the two of you see it"));
  } else {
    li.append(element("span", "message-seq", item.seq !== null ? `#${item.seq}` : "", "Sequence number in the room"));
  }
  return li;
}

export function createMessagesView(store, { onLoadOlder }) {
  const scroller = byId("message-scroller");
  const list = byId("messages");
  const jumpLatest = byId("jump-latest");
  const title = byId("room-name");
  const sigil = byId("room-sigil");
  const titlePrefix = byId("room-title-prefix");
  const historyStatus = byId("history-status");
  const loadOlder = byId("load-older");
  const nodes = new WeakMap();
  let stickToBottom = true;

  const nodeFor = (item) => {
    let node = nodes.get(item);
    if (!node) {
      node = itemElement(item);
      nodes.set(item, node);
    }
    return node;
  };

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    stickToBottom = true;
    jumpLatest.hidden = true;
  }

  /** Changes that are not news for a screen reader. */
  function quietly(change) {
    list.setAttribute("aria-busy", "true");
    change();
    // Cleared after this task: assistive tech sees the list settled, not each insertion.
    setTimeout(() => list.setAttribute("aria-busy", "false"), 0);
  }

  function renderTitle() {
    const conversation = store.current();
    const direct = conversation.kind === "direct";
    setText(sigil, direct ? "@" : "#");
    setText(titlePrefix, direct ? "Direct messages with " : "");
    setText(title, conversation.name);
    list.setAttribute("aria-label", direct ? `Direct messages with ${conversation.name}` : `Messages in # ${conversation.name}`);
  }

  function renderAll() {
    renderTitle();
    setText(historyStatus, "");
    quietly(() => list.replaceChildren(...store.current().items.map(nodeFor)));
    scrollToBottom();
  }

  function onAdded(item) {
    list.append(nodeFor(item));
    if (stickToBottom || item.mine) scrollToBottom();
    else jumpLatest.hidden = false;
  }

  function onInserted(items, before) {
    const anchor = before ? nodes.get(before) ?? null : null;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    quietly(() => list.insertBefore(fragmentOf(items.map(nodeFor)), anchor));
    scroller.scrollTop = scroller.scrollHeight - fromBottom; // what was on screen stays there
  }

  function fragmentOf(children) {
    const fragment = document.createDocumentFragment();
    fragment.append(...children);
    return fragment;
  }

  function renderHistoryBar() {
    loadOlder.hidden = store.historyRoom !== null || !store.mayHaveOlder();
  }

  store.subscribe((event) => {
    const here = event.key === store.currentKey;
    renderHistoryBar();
    switch (event.type) {
      case "added":
        if (here) onAdded(event.item);
        break;
      case "trimmed":
        if (here) for (let i = 0; i < event.count && list.firstElementChild; i += 1) list.firstElementChild.remove();
        break;
      case "inserted":
        if (here) onInserted(event.items, event.before);
        break;
      case "switched":
        renderAll();
        break;
      case "conversations":
        if (store.current().kind === "direct") renderTitle(); // the peer may have renamed
        break;
      case "history":
        if (event.room === store.current().name && store.current().kind === "room") {
          setText(historyStatus, event.loading ? "Loading older messages…" : "");
        }
        break;
      default:
        break;
    }
  });

  scroller.addEventListener(
    "scroll",
    () => {
      stickToBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= STICK_THRESHOLD_PX;
      if (stickToBottom) jumpLatest.hidden = true;
      const scrolled = scroller.scrollHeight > scroller.clientHeight;
      if (scrolled && scroller.scrollTop <= LOAD_OLDER_THRESHOLD_PX && !loadOlder.hidden) onLoadOlder();
    },
    { passive: true }
  );
  loadOlder.addEventListener("click", () => onLoadOlder());
  jumpLatest.addEventListener("click", () => {
    scrollToBottom();
    scroller.focus({ preventScroll: true });
  });
  if (typeof ResizeObserver === "function") {
    // Keep the bottom in view when the window (or the composer) changes size.
    new ResizeObserver(() => {
      if (stickToBottom) scroller.scrollTop = scroller.scrollHeight;
    }).observe(scroller);
  }

  return {
    renderAll,
    /** The user sent something: the echo should scroll into view. */
    stickToBottom: () => {
      stickToBottom = true;
    },
    renderHistoryBar,
  };
}
