/**
 * The ACTORS panel: a live view of `GET /api/actors`: the supervisor, every room actor, every
 * connection actor (messages in and out, outbound queue depth, rooms, age) and the recent
 * lifecycle events. The user's own connection is marked "(you)".
 */

import { age, byId, element, placeholderItem, setText } from "./dom.js";

const num = (n) => (Number.isFinite(n) ? String(n) : "–");
const span = (className, text, title = "") => element("span", className, text, title);

function roomItem(room) {
  const li = element("li", "actor-room");
  li.dataset.room = String(room.name ?? "");
  li.title = `actor ${room.actor_id ?? "?"} · history ${num(room.history)}`;
  li.append(
    span("actor-name", `# ${room.name ?? "?"}`),
    span("actor-num", `${num(room.members)} ${room.members === 1 ? "member" : "members"}`),
    span("actor-num", `seq ${num(room.last_seq)}`)
  );
  return li;
}

function connectionItem(connection, mine) {
  const li = element("li", "actor-connection");
  li.dataset.id = String(connection.id ?? "");
  if (mine) li.dataset.me = "true";
  const head = element("div", "actor-line");
  head.append(
    span("actor-name", String(connection.name ?? "?") + (mine ? " (you)" : "")),
    span("actor-num", `#${num(connection.id)}`, "connection id"),
    span("actor-id", String(connection.actor_id ?? ""), "actor id")
  );
  const stats = element("div", "actor-line actor-stats");
  const queue = span("actor-num actor-queue", `q${num(connection.queue_depth)}`, "outbound queue depth");
  if (Number.isFinite(connection.queue_depth) && connection.queue_depth > 0) queue.dataset.busy = "true";
  stats.append(
    span("actor-num", `↑${num(connection.messages_in)}`, "messages in"),
    span("actor-num", `↓${num(connection.messages_out)}`, "messages out"),
    queue,
    span("actor-num actor-age", age(connection.connected_since_ms), "connected for")
  );
  const roomsLine = element("div", "actor-line actor-rooms-line");
  const names = Array.isArray(connection.rooms) ? connection.rooms.map((r) => `#${r}`).join(" ") : "";
  roomsLine.append(span("actor-rooms", names || "—"));
  li.append(head, stats, roomsLine);
  return li;
}

function eventItem(event) {
  const li = element("li", "actor-event");
  li.dataset.event = ["started", "stopped", "failed"].includes(event.event) ? event.event : "other";
  li.append(
    span("actor-id", String(event.actor_id ?? "")),
    span("actor-event-name", String(event.event ?? "?")),
    span("actor-label", event.label ? `(${event.label})` : event.kind ? `(${event.kind})` : "")
  );
  if (event.reason) li.append(span("actor-reason", `: ${event.reason}`));
  const when = Number.isFinite(event.ts) ? new Date(event.ts).toLocaleTimeString() : "";
  li.title = [when, event.kind, event.label, event.reason].filter(Boolean).join(" · ");
  return li;
}

export function createInspector(store) {
  const panel = byId("actors-panel");
  const updated = byId("actors-updated");
  const supervisor = byId("actors-supervisor");
  const rooms = byId("actors-rooms");
  const connections = byId("actors-connections");
  const events = byId("actors-events");

  function render(tree) {
    if (!tree || typeof tree !== "object") return;
    const sup = tree.supervisor && typeof tree.supervisor === "object" ? tree.supervisor : {};
    const status = String(sup.status ?? "unknown");
    supervisor.className = "actor-supervisor";
    supervisor.dataset.status = status;
    supervisor.replaceChildren(
      span("actor-kind", "supervisor"),
      span("actor-id", String(sup.actor_id ?? "")),
      span("actor-status", status),
      span("actor-num", `${num(sup.children)} children`)
    );
    const roomList = Array.isArray(tree.rooms) ? tree.rooms : [];
    rooms.replaceChildren(...(roomList.length ? roomList.map(roomItem) : [placeholderItem("no rooms")]));
    const connectionList = Array.isArray(tree.connections) ? tree.connections : [];
    connections.replaceChildren(
      ...(connectionList.length
        ? connectionList.map((c) => connectionItem(c, store.me !== null && c.id === store.me.id))
        : [placeholderItem("no connections")])
    );
    const eventList = Array.isArray(tree.events) ? tree.events.slice().reverse() : [];
    events.replaceChildren(...(eventList.length ? eventList.map(eventItem) : [placeholderItem("no events yet")]));
    updated.dataset.stale = "false";
    setText(updated, "live");
  }

  /** The last answer failed; `message` replaces the tree when the server has no inspector. */
  function stale(message = "") {
    updated.dataset.stale = "true";
    setText(updated, "stale");
    if (message) {
      supervisor.className = "actor-supervisor placeholder";
      setText(supervisor, message);
    }
  }

  return {
    render,
    stale,
    /** Shown at all? (below ~1024 px the panel is hidden unless opened) */
    visible: () => panel.getClientRects().length > 0,
  };
}
