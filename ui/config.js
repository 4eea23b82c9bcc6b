/**
 * Where the page connects, and the numbers it lives by.
 *
 * The same page runs in two places:
 * - in the desktop window, where the app injects `window.__TRW_CONFIG__` (the server's WebSocket
 *   URL, its HTTP base, its `instance` id and an optional notice) before any script runs;
 * - in a browser tab served by the app's server, where the server that served the page is the one
 *   to talk to (`?server=host:port` points a page from a static file server elsewhere).
 *
 * {@link readConfig} takes both inputs as arguments instead of reading globals, so it runs in
 * Node's test runner as well as in the page.
 */

/** What every `welcome` from our server says in its `server` field. */
export const SERVER_NAME = "tauri-ractor-websocket";
/** The room every connection is in; it cannot be left. */
export const LOBBY = "lobby";
/** Room names the server accepts. */
export const ROOM_NAME_RE = /^[a-z0-9_-]{1,32}$/;
/** A room log's epoch (CONTRACT.md): an opaque id in URL-safe characters. */
export const EPOCH_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** A session token from `welcome`: opaque, URL-safe. */
export const SESSION_RE = /^[A-Za-z0-9._~-]{1,512}$/;

/** Items (messages and page lines) kept per conversation. */
export const MAX_ITEMS = 1000;
/** The server's limit for one chat text. */
export const MAX_CHAT_BYTES = 8192;
/** Older messages asked for per `history` request. */
export const HISTORY_PAGE = 50;
/** The page's own connection ids it remembers (to recognise its echoes after reconnects). */
export const MAX_OWN_IDS = 64;

/** Reconnecting: the first delay, the cap, and the jitter around each delay (±). */
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 10_000;
export const BACKOFF_MIN_MS = 250;
export const BACKOFF_JITTER = 0.25;
/** Consecutive attempts without a `welcome` after which the page says "server unreachable". */
export const GONE_AFTER_FAILURES = 4;
/** A connection that lived this long resets the backoff (unless it was closed with 1001/1013). */
export const STABLE_CONNECTION_MS = 5000;
/** An open socket that sends no `welcome` within this is dropped and counts as a failure. */
export const WELCOME_TIMEOUT_MS = 5000;

export const HEALTH_INTERVAL_MS = 2000;
export const HEALTH_TIMEOUT_MS = 1800;
export const ACTORS_INTERVAL_MS = 1000;
export const ACTORS_TIMEOUT_MS = 1800;
/** After a 404 (a server without the inspector), ask again this much later. */
export const ACTORS_RETRY_MS = 10_000;
export const ABOUT_TIMEOUT_MS = 4000;
export const BROADCAST_TIMEOUT_MS = 8000;

export const TOAST_MS = 6000;
export const MAX_TOASTS = 3;
/** How close to the bottom (px) still counts as "at the bottom" of the message list. */
export const STICK_THRESHOLD_PX = 48;
/** How close to the top (px) asks for older messages. */
export const LOAD_OLDER_THRESHOLD_PX = 24;
export const THEME_KEY = "trw-theme";

function stripSlash(text) {
  return text.replace(/\/+$/, "");
}

/** `ws://host:port/ws` → `http://host:port` (wss → https); "" when it is not a URL. */
export function httpBaseFromWs(wsUrl) {
  try {
    const url = new URL(wsUrl);
    url.protocol = url.protocol === "wss:" ? "https:" : "http:";
    return url.origin;
  } catch {
    return "";
  }
}

/**
 * The page's configuration.
 *
 * @param {unknown} injected `window.__TRW_CONFIG__` (the desktop window), or undefined in a tab
 * @param {{host: string, protocol: string, search: string}} location the page's location
 * @returns {{desktop: boolean, wsUrl: string, httpBase: string, instance: string|null, notice: string, token: string|null}}
 */
export function readConfig(injected, location) {
  if (injected && typeof injected === "object") {
    const wsUrl = typeof injected.wsUrl === "string" ? injected.wsUrl.trim() : "";
    const httpBase =
      typeof injected.httpBase === "string" && injected.httpBase.trim()
        ? stripSlash(injected.httpBase.trim())
        : httpBaseFromWs(wsUrl);
    return {
      desktop: true,
      wsUrl,
      httpBase,
      instance: typeof injected.instance === "string" && injected.instance ? injected.instance : null,
      notice: typeof injected.notice === "string" ? injected.notice.trim() : "",
      // The access token, when the app's server wants one (see auth.js); never in a tab.
      token: typeof injected.token === "string" && injected.token ? injected.token : null,
    };
  }

  let host = location.host;
  let secure = location.protocol === "https:";
  const override = new URLSearchParams(location.search).get("server");
  if (override && /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i.test(override)) {
    host = override;
    secure = false;
  } else if (!/^https?:$/.test(location.protocol)) {
    return { desktop: false, wsUrl: "", httpBase: "", instance: null, notice: "", token: null };
  }
  return {
    desktop: false,
    wsUrl: `${secure ? "wss" : "ws"}://${host}/ws`,
    httpBase: `${secure ? "https" : "http"}://${host}`,
    instance: null,
    notice: "",
    token: null,
  };
}

/** The port of a WebSocket URL, for messages ("port 8000 belongs to another program"). */
export function serverPort(wsUrl) {
  try {
    const url = new URL(wsUrl);
    return url.port || (url.protocol === "wss:" ? "443" : "80");
  } catch {
    return "?";
  }
}
