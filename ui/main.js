/**
 * The page's entry point: one page for the desktop window and for browser tabs.
 *
 * It wires the parts together and owns nothing else:
 * - `config.js` says where the server is;
 * - `connection.js` keeps one WebSocket open (backoff, close codes) and hands over frames;
 * - `store.js` turns frames and user intents into state and events (no DOM, no socket);
 * - `views/` render the store's events and report what the user does;
 * - `poller.js` polls `/health` and `/api/actors`; `theme.js` keeps the chosen theme.
 *
 * Runs under a strict CSP (`script-src 'self'`: no inline scripts, no eval), as a native ES
 * module with no build step; everything from the wire reaches the DOM through `textContent`.
 */

import {
  ACTORS_INTERVAL_MS,
  ACTORS_RETRY_MS,
  ACTORS_TIMEOUT_MS,
  HEALTH_INTERVAL_MS,
  HEALTH_TIMEOUT_MS,
  readConfig,
  SERVER_NAME,
  serverPort,
} from "./config.js";
import { freshToken, tokenProtocols, withToken } from "./auth.js";
import { Connection } from "./connection.js";
import { connectUrl } from "./frames.js";
import { makePoller } from "./poller.js";
import { ChatStore, roomKey } from "./store.js";
import { setUpTheme } from "./theme.js";
import { createAbout } from "./views/about.js";
import { createComposer } from "./views/composer.js";
import { createPanels, showNotice } from "./views/dialogs.js";
import { byId } from "./views/dom.js";
import { createInspector } from "./views/inspector.js";
import { createMessagesView } from "./views/messages.js";
import { createNamesView } from "./views/names.js";
import { createPresenceView } from "./views/presence.js";
import { createRoomsView } from "./views/rooms.js";
import { createSharePanel } from "./views/share.js";
import { createStatusBar } from "./views/status-bar.js";
import { createToasts } from "./views/toasts.js";

const config = readConfig(window.__TRW_CONFIG__, location);
// The desktop window's token (auth.js): on every request to its own server, and nowhere else.
// It changes when the app rotates it (then the socket gets 4003 and the page asks for the new one).
let accessToken = config.token;
window.fetch = withToken(window.fetch.bind(window), config.httpBase, () => accessToken);
const port = serverPort(config.wsUrl);
const store = new ChatStore();
let lastHealth = null;
let serverVersion = "";

/** Lines the page adds when the connection stops for good, by the state it stopped in. */
const HALT_LINES = {
  foreign: [`The server on port ${port} is not the one this window belongs to. Not connecting, nothing was sent.`, "error"],
  replaced: ["Another connection of yours took over this session. Not reconnecting by itself: use Reconnect.", "warn"],
  unauthorized: ["The access token is missing or no longer valid. Not reconnecting by itself.", "error"],
};

const connection = new Connection({
  url: () => (config.wsUrl ? connectUrl(config.wsUrl, store.connectParams()) : ""),
  // The first frame decides: our server, and in the window our own instance of it.
  accept: (frame) =>
    frame !== null &&
    frame.type === "welcome" &&
    frame.server === SERVER_NAME &&
    (config.instance === null || frame.instance === config.instance),
  onWelcome(frame) {
    serverVersion = typeof frame.version === "string" ? frame.version : "";
    for (const rejoin of store.welcome(frame)) connection.send(rejoin);
  },
  onFrame: (frame) => store.receive(frame),
  onClosed: ({ code, note }) => store.disconnected(note, String(code)),
  onStatus,
  WebSocket,
  protocols: () => tokenProtocols(accessToken),
  clock: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (id) => clearTimeout(id), now: () => Date.now() },
  foreignNote: `Port ${port} belongs to another program`,
});

const send = (frame) => frame && connection.send(frame);

// ------------------------------------------------------------------------------ views

const toasts = createToasts();
const statusBar = createStatusBar({ onReconnect: () => connection.reconnect() });
const inspector = createInspector(store);
const panels = createPanels({ onActorsOpened: () => actorsPoller.soon(0) });
const messages = createMessagesView(store, { onLoadOlder: () => send(store.older(store.current().name)) });
const composer = createComposer(store, {
  httpBase: config.httpBase,
  onSend(text) {
    const answer = store.compose(text);
    if (answer.frame) {
      send(answer.frame);
      messages.stickToBottom(); // the echo should scroll into view
      return true;
    }
    if (answer.code === "text_too_long") store.note(answer.error, "error", answer.code);
    return false;
  },
  onBackToRoom: () => store.show(roomKey(store.lastRoom)),
});
const rooms = createRoomsView(store, {
  onOpen(key) {
    store.show(key);
    panels.closeRoomsOverlay();
    composer.focus();
  },
  onLeave(key) {
    const conversation = store.conversation(key);
    if (!conversation) return;
    if (conversation.kind === "room") send(store.leave(conversation.name).frame);
    else store.closeDirect(conversation.peerId);
  },
  onJoin(input) {
    const answer = store.join(input);
    send(answer.frame);
    return answer;
  },
});
const presence = createPresenceView(store, {
  onPick(id, name) {
    store.openDirect(id, name);
    panels.closeRoomsOverlay();
    composer.focus();
  },
});
const names = createNamesView(store, {
  onRename(input) {
    const answer = store.rename(input);
    send(answer.frame);
    return answer;
  },
});
createAbout({ httpBase: config.httpBase, pageInfo, lastHealth: () => lastHealth });
createSharePanel({ httpBase: config.httpBase });

/** What the page knows, for the About panel and the diagnostics. */
function pageInfo() {
  const status = connection.status;
  const roomList = [...store.rooms.values()].map((room) => {
    const point = room.resumePoint();
    return point ? `#${room.name} (log ${room.epoch ?? "without epoch"}, seq ${point.seq})` : `#${room.name}`;
  });
  return {
    "Runs in": config.desktop ? "the desktop window" : "a browser tab",
    WebSocket: config.wsUrl || "none",
    Connection: status ? `${status.state}: ${status.text}` : "not started",
    "Connected as": store.me ? `${store.me.name} (connection #${store.me.id})` : "not connected",
    "Server version": serverVersion || "unknown",
    "Session token": store.session ? "yes (kept for reconnects)" : "none from this server",
    Rooms: roomList.join(", "),
    "User agent": navigator.userAgent,
  };
}

// ------------------------------------------------------------------------------ store events

store.subscribe((event) => {
  if (event.type === "toast") toasts.toast(event.level, event.title, event.text);
  else if (event.type === "notify") notifyDesktop(event);
});

/**
 * In the desktop window, ask the app for a native notification. The app decides whether to
 * show one (only while the window is unfocused, and if the user has not turned them off in the
 * tray menu). Browser tabs have no `window.__TAURI__`: nothing happens.
 */
function notifyDesktop({ kind, sender, text, room }) {
  const invoke = window.__TAURI__ && window.__TAURI__.core && window.__TAURI__.core.invoke;
  if (typeof invoke !== "function") return;
  invoke("notify", { message: { kind, sender, text, room } }).catch(() => {});
}

// ------------------------------------------------------------------------------ connection state

function onStatus(status) {
  statusBar.show(status);
  composer.setConnectionState(status.state);
  if (status.state === "connected") {
    statusBar.setUrl(config.wsUrl);
    healthPoller.soon(0);
    actorsPoller.soon(0);
  } else {
    healthPoller.stop();
    actorsPoller.stop();
    statusBar.staleCounts();
    inspector.stale();
    presence.render();
  }
  const halt = HALT_LINES[status.state];
  if (halt) store.note(halt[0], halt[1], status.state);
  if (status.state === "unauthorized" && config.desktop) renewToken();
  // Never let in: a browser tab may lack its cookie; a window re-created after a rotation starts
  // with the old token (the app has the new one).
  if (status.state === "gone" && !connection.everConnected) {
    if (config.desktop) renewToken();
    else explainRefusal();
  }
}

/**
 * A server that answers but never lets the socket in may want its access token (a 401 before
 * the upgrade is invisible to a WebSocket): ask an API path once and say so.
 */
let refusalExplained = false;
async function explainRefusal() {
  if (refusalExplained || !config.httpBase) return;
  refusalExplained = true;
  try {
    const response = await fetch(`${config.httpBase}/api/actors`, { cache: "no-store" });
    if (response.status === 401) {
      store.note(
        "This server wants its access token. Open the join link (…/?token=…) from the machine that shares it, once; the page then remembers it.",
        "error",
        "token-needed"
      );
    } else {
      refusalExplained = false;
    }
  } catch {
    refusalExplained = false;
  }
}

/** The desktop window after a 4003: the app's new token, then reconnect (see auth.js). */
async function renewToken() {
  const tauri = window.__TAURI__;
  const invoke = tauri && tauri.core && tauri.core.invoke;
  const token = await freshToken(invoke, accessToken);
  if (!token) return;
  accessToken = token;
  store.note("The app's access token was replaced; reconnecting with the new one.", "info", "token-renewed");
  connection.reconnect();
}

const pollingActive = () => connection.connected && document.visibilityState !== "hidden" && Boolean(config.httpBase);

const healthPoller = makePoller({
  url: () => `${config.httpBase}/health`,
  timeoutMs: HEALTH_TIMEOUT_MS,
  intervalMs: HEALTH_INTERVAL_MS,
  active: pollingActive,
  async onResponse(response, isCurrent) {
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const health = await response.json();
    if (!isCurrent()) return; // stopped meanwhile
    lastHealth = health;
    statusBar.showHealth(health);
  },
  onError: () => statusBar.staleCounts(),
});

const actorsPoller = makePoller({
  url: () => `${config.httpBase}/api/actors`,
  timeoutMs: ACTORS_TIMEOUT_MS,
  intervalMs: ACTORS_INTERVAL_MS,
  active: pollingActive,
  wanted: inspector.visible, // fetch only while someone can see the panel
  async onResponse(response, isCurrent) {
    if (response.status === 404) {
      throw Object.assign(new Error("This server has no actor inspector"), { retryMs: ACTORS_RETRY_MS });
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const tree = await response.json();
    if (isCurrent()) inspector.render(tree);
  },
  onError: (error) => inspector.stale(error && error.retryMs ? error.message : ""),
});

// ------------------------------------------------------------------------------ page lifecycle

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    healthPoller.soon(0);
    actorsPoller.soon(0);
    connection.retryNow();
  } else {
    healthPoller.stop();
    actorsPoller.stop();
  }
});
window.addEventListener("online", () => connection.retryNow());
window.addEventListener("pagehide", () => {
  healthPoller.stop();
  actorsPoller.stop();
  connection.stop();
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted) connection.resume(); // back from the back/forward cache
});

// ------------------------------------------------------------------------------ start

setUpTheme(document.documentElement, byId("theme-toggle"));
statusBar.setUrl(config.wsUrl || "no server address");
if (config.notice) showNotice(config.notice, () => composer.focus());
rooms.render();
messages.renderAll();
presence.render();
names.render();
composer.render();
connection.start();
