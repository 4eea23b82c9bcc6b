/**
 * The WebSocket to the server: connect, check who answers, reconnect with backoff and jitter.
 *
 * One {@link Connection} owns at most one socket at a time. Its life:
 * 1. connect to `url()` (the caller puts the resume points, session and name in it);
 * 2. the first frame must be a `welcome` that `accept` approves (our server, and in the desktop
 *    window our own instance); anything else means the port belongs to another program, and the
 *    page stops for good;
 * 3. frames go to `onFrame` until the socket closes;
 * 4. {@link afterClose} decides what happens next from the close code (CONTRACT.md):
 *    - **4001** (another connection of ours took over) and **4003** (unauthorized): no automatic
 *      reconnect; the page says why and offers a button ({@link Connection#reconnect});
 *    - **1001** (server going away) and **1013** (try again later): reconnect later, with a floor
 *      under the delay and without resetting the backoff, so a server that keeps closing us
 *      never sees a tight loop;
 *    - anything else: reconnect with exponential backoff and ±25 % jitter (0.5 s, 1 s, 2 s, …,
 *      capped at 10 s); a connection that lived 5 s starts the schedule over.
 *
 * The socket class, the clock and the random source are parameters, so the schedule and the
 * close-code rules run under Node's test runner without a browser.
 */

import {
  BACKOFF_BASE_MS,
  BACKOFF_JITTER,
  BACKOFF_MAX_MS,
  BACKOFF_MIN_MS,
  GONE_AFTER_FAILURES,
  STABLE_CONNECTION_MS,
  WELCOME_TIMEOUT_MS,
} from "./config.js";
import { parseFrame } from "./frames.js";

/** What the page makes of each close code. `floorMs`: reconnect no sooner than about this. */
export const CLOSE_CODES = {
  1001: { note: "Server shutting down", floorMs: 2000 },
  1008: { note: "Refused by the server (policy)" },
  1009: { note: "Message too big" },
  1011: { note: "Server error in this connection" },
  1013: { note: "Server busy: this connection fell behind", floorMs: 5000 },
  4001: { note: "Replaced by another connection of yours", halt: "replaced" },
  4003: { note: "The access token is missing or no longer valid", halt: "unauthorized" },
};

/**
 * The delay before attempt number `attempt` (1, 2, …): 0.5 s doubling up to 10 s, at least
 * `floorMs`, then ±25 % jitter (so that clients closed together do not return together), and
 * never outside [250 ms, 10 s].
 */
export function backoffDelay(attempt, random = Math.random, floorMs = 0) {
  const exponential = BACKOFF_BASE_MS * 2 ** Math.max(0, Math.min(attempt, 30) - 1);
  const base = Math.min(BACKOFF_MAX_MS, Math.max(floorMs, exponential));
  const jittered = base * (1 - BACKOFF_JITTER + random() * 2 * BACKOFF_JITTER);
  return Math.round(Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, jittered)));
}

/**
 * What to do when a socket closed.
 *
 * @param {{code: number, welcomed: boolean, livedMs: number, attempt: number}} closed
 * @returns {{halt: string, note: string} | {halt: null, attempt: number, delayMs: number, note: string}}
 */
export function afterClose({ code, welcomed, livedMs, attempt }, random = Math.random) {
  const policy = CLOSE_CODES[code] ?? {};
  if (policy.halt) return { halt: policy.halt, note: policy.note };
  const floorMs = policy.floorMs ?? 0;
  const stable = welcomed && livedMs >= STABLE_CONNECTION_MS && floorMs === 0;
  const next = stable ? 1 : attempt + 1;
  const note = policy.note ?? (welcomed ? "Connection lost" : "");
  return { halt: null, attempt: next, delayMs: backoffDelay(next, random, floorMs), note };
}

const OPEN = 1; // WebSocket.OPEN

export class Connection {
  /**
   * @param {object} options
   * @param {() => string} options.url the URL of the next attempt ("" when there is none)
   * @param {(frame: object|null) => boolean} options.accept is the first frame our welcome?
   * @param {(frame: object) => void} options.onWelcome
   * @param {(frame: object) => void} options.onFrame
   * @param {(info: {code: number, note: string}) => void} options.onClosed a welcomed socket ended
   * @param {(status: object) => void} options.onStatus `{state, text, retryAt, retryLabel}`
   * @param {Function} options.WebSocket the socket class
   * @param {{setTimeout: Function, clearTimeout: Function, now: () => number}} options.clock
   * @param {() => number} [options.random]
   * @param {string} [options.foreignNote] the status text when another program answers
   */
  constructor(options) {
    this.options = options;
    this.random = options.random ?? Math.random;
    this.clock = options.clock;
    this.socket = null;
    /** Why the page stopped for good: "foreign", "replaced", "unauthorized"; or null. */
    this.halted = null;
    this.stopped = false; // the page is going away (or into the back/forward cache)
    this.attempt = 0;
    /** Attempts in a row that never got a welcome: "server unreachable" after a few. */
    this.unanswered = 0;
    this.everConnected = false;
    this.note = "";
    this.retryTimer = null;
    this.welcomeTimer = null;
    this.status = null;
  }

  get connected() {
    return this.status !== null && this.status.state === "connected";
  }

  start() {
    this.connect();
  }

  /** Send a client frame; false when there is no open, welcomed socket. */
  send(frame) {
    if (!this.connected || !this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** There is reason to believe the server is back (the network, the tab shown): try now. */
  retryNow() {
    if (this.retryTimer !== null && !this.socket && !this.halted && !this.stopped) this.connect();
  }

  /** The user asks to connect again after 4001/4003. */
  reconnect() {
    if (this.halted === "foreign" || this.socket) return;
    this.halted = null;
    this.attempt = 0;
    this.unanswered = 0;
    this.note = "";
    this.connect();
  }

  /** The page is being hidden for good (pagehide): close without reconnecting. */
  stop() {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000);
  }

  /** Back from the back/forward cache. */
  resume() {
    if (!this.stopped) return;
    this.stopped = false;
    if (!this.halted) this.connect();
  }

  setStatus(state, text, retryAt = null, retryLabel = "") {
    this.status = { state, text, retryAt, retryLabel };
    this.options.onStatus(this.status);
  }

  clearTimers() {
    this.clock.clearTimeout(this.retryTimer);
    this.clock.clearTimeout(this.welcomeTimer);
    this.retryTimer = null;
    this.welcomeTimer = null;
  }

  connect() {
    this.clearTimers();
    if (this.halted || this.stopped || this.socket) return;
    const url = this.options.url();
    if (!url) {
      this.setStatus("gone", "No server address");
      return;
    }
    if (this.unanswered >= GONE_AFTER_FAILURES) this.setStatus("gone", "Server unreachable", null, " · retrying now…");
    else if (this.everConnected || this.attempt > 0) this.setStatus("reconnecting", this.note || "Reconnecting…");
    else this.setStatus("connecting", "Connecting…");

    let socket;
    try {
      const protocols =
        (typeof this.options.protocols === "function" ? this.options.protocols() : this.options.protocols) ?? [];
      socket = protocols.length ? new this.options.WebSocket(url, protocols) : new this.options.WebSocket(url);
    } catch {
      // A malformed URL throws at once: like any failed attempt.
      this.onSocketClosed(null, { code: 1006 }, false, 0);
      return;
    }
    this.socket = socket;
    let welcomed = false;
    let connectedAt = 0;
    socket.addEventListener("open", () => {
      if (this.socket !== socket) return;
      this.clock.clearTimeout(this.welcomeTimer);
      this.welcomeTimer = this.clock.setTimeout(() => {
        if (this.socket === socket && !welcomed) socket.close(); // no welcome: a failed attempt
      }, WELCOME_TIMEOUT_MS);
    });
    socket.addEventListener("message", (event) => {
      if (this.socket !== socket) return;
      const frame = parseFrame(event.data);
      if (welcomed) {
        if (frame) this.deliver(frame);
        return;
      }
      // The first frame decides whether this is our server at all.
      if (!this.options.accept(frame)) {
        this.halt(socket);
        return;
      }
      welcomed = true;
      connectedAt = this.clock.now();
      this.clock.clearTimeout(this.welcomeTimer);
      this.unanswered = 0;
      this.everConnected = true;
      this.note = "";
      this.setStatus("connected", "Connected");
      this.options.onWelcome(frame);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return; // already let go of
      this.socket = null;
      this.onSocketClosed(socket, event, welcomed, welcomed ? this.clock.now() - connectedAt : 0);
    });
    // "error" is always followed by "close": nothing to do there.
  }

  deliver(frame) {
    try {
      this.options.onFrame(frame);
    } catch (error) {
      // A frame the page could not handle must not take the connection down with it.
      console.error("could not handle a frame", frame, error);
    }
  }

  onSocketClosed(socket, event, welcomed, livedMs) {
    this.clock.clearTimeout(this.welcomeTimer);
    if (this.halted || this.stopped) return;
    const code = Number.isInteger(event.code) ? event.code : 1006;
    const plan = afterClose({ code, welcomed, livedMs, attempt: this.attempt }, this.random);
    if (welcomed) this.options.onClosed({ code, note: plan.note || "Connection lost" });
    else this.unanswered += 1;
    if (plan.halt) {
      this.halted = plan.halt;
      this.setStatus(plan.halt, plan.note);
      return;
    }
    this.attempt = plan.attempt;
    this.note = plan.note;
    this.retryTimer = this.clock.setTimeout(() => this.connect(), plan.delayMs);
    const retryAt = this.clock.now() + plan.delayMs;
    if (this.unanswered >= GONE_AFTER_FAILURES) this.setStatus("gone", "Server unreachable", retryAt, " · retrying in");
    else if (this.note) this.setStatus("reconnecting", this.note, retryAt, " · reconnecting in");
    else this.setStatus("reconnecting", "Reconnecting", retryAt, " in");
  }

  /** Not our server: close, and never try again. */
  halt(socket) {
    this.halted = "foreign";
    this.clearTimers();
    this.socket = null; // before close(): the close handler then ignores this socket
    try {
      socket.close(1000);
    } catch {
      /* already closing */
    }
    this.setStatus("foreign", this.options.foreignNote ?? "Not our server");
  }
}
