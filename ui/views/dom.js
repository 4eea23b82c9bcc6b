/**
 * Small DOM helpers shared by the views. Text from the wire only ever goes in through
 * `textContent` (never `innerHTML`): the page runs under a strict CSP and trusts no frame.
 */

export const byId = (id) => document.getElementById(id);

/** Sets `textContent` only when it changes (no needless mutations in live regions). */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** `<tag class=…>text</tag>`, with an optional title. */
export function element(tag, className = "", text = "", title = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  if (title) node.title = title;
  return node;
}

export function placeholderItem(text) {
  return element("li", "placeholder", text);
}

const pad2 = (n) => String(n).padStart(2, "0");

/** A `<time>` with HH:MM:SS shown and the full date as a tooltip. */
export function timeElement(ts) {
  const date = new Date(Number.isFinite(ts) ? ts : Date.now());
  const node = element("time", "message-time");
  node.dateTime = date.toISOString();
  node.textContent = `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  node.title = date.toLocaleString();
  return node;
}

/** "12s", "3m05s", "2h07m", "4d": how long ago `sinceMs` was. */
export function age(sinceMs, now = Date.now()) {
  if (!Number.isFinite(sinceMs)) return "–";
  const s = Math.max(0, Math.floor((now - sinceMs) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * Makes `list`'s children exactly `nodes`, in order, moving only what is out of place. Nodes
 * that stay keep their focus, so a list that re-renders while someone tabs through it does not
 * throw the keyboard focus away.
 */
export function reconcile(list, nodes) {
  nodes.forEach((node, index) => {
    const here = list.children[index] ?? null;
    if (here !== node) list.insertBefore(node, here);
  });
  while (list.children.length > nodes.length) list.lastElementChild.remove();
}
