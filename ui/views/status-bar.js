/**
 * The status bar: the connection's state (`#status[data-state]`: connecting, connected,
 * reconnecting with a countdown, gone, foreign, replaced, unauthorized), the WebSocket URL, the
 * live counts from `/health` (and the cluster's, when the server reports one), and the
 * "Reconnect" button shown when the page does not reconnect by itself (4001, 4003).
 */

import { byId, setText } from "./dom.js";

/** The states in which only the user can bring the connection back. */
const HALTED_BY_SERVER = new Set(["replaced", "unauthorized"]);

export function createStatusBar({ onReconnect }) {
  const status = byId("status");
  const statusText = byId("status-text");
  const countdown = byId("status-countdown");
  const reconnect = byId("reconnect-button");
  const wsUrl = byId("ws-url");
  const counts = byId("counts");
  const cluster = byId("cluster");
  let countdownTimer = 0;
  let current = null;

  function renderCountdown() {
    if (!current || current.retryAt === null) {
      setText(countdown, current && current.retryLabel ? current.retryLabel : "");
      return;
    }
    const seconds = Math.max(1, Math.ceil((current.retryAt - Date.now()) / 1000));
    setText(countdown, `${current.retryLabel} ${seconds} s`);
  }

  /** `{state, text, retryAt, retryLabel}` from the connection. */
  function show(next) {
    current = next;
    if (status.dataset.state !== next.state) status.dataset.state = next.state;
    setText(statusText, next.text);
    clearInterval(countdownTimer);
    countdownTimer = next.retryAt === null ? 0 : setInterval(renderCountdown, 250);
    renderCountdown();
    status.title = (next.text + countdown.textContent).trim();
    reconnect.hidden = !HALTED_BY_SERVER.has(next.state);
  }

  function setUrl(url) {
    setText(wsUrl, url);
  }

  function setCount(id, labelId, n, one, many) {
    setText(byId(id), Number.isFinite(n) ? String(n) : "–");
    setText(byId(labelId), n === 1 ? one : many);
  }

  /** A `/health` answer, or null when it failed (the counts go grey). */
  function showHealth(health) {
    counts.dataset.stale = health ? "false" : "true";
    if (!health) return;
    setCount("count-websockets", "count-websockets-label", health.active_websockets, "socket", "sockets");
    setCount("count-actors", "count-actors-label", health.active_actors, "actor", "actors");
    showCluster(health.cluster);
  }

  /** `/health`'s `cluster` (CONTRACT.md): shown only when the server has one. */
  function showCluster(info) {
    if (!info || typeof info !== "object") {
      cluster.hidden = true;
      return;
    }
    const redis = info.redis === "up" || info.redis === "down" ? info.redis : "unknown";
    const nodes = Number.isSafeInteger(info.nodes) ? info.nodes : null;
    const sockets = Number.isSafeInteger(info.active_websockets) ? info.active_websockets : null;
    cluster.hidden = false;
    cluster.dataset.redis = redis;
    setText(byId("cluster-nodes"), nodes === null ? "– nodes" : `${nodes} ${nodes === 1 ? "node" : "nodes"}`);
    setText(byId("cluster-redis"), `redis ${redis}`);
    cluster.title = `Cluster: ${nodes ?? "?"} nodes, ${sockets ?? "?"} sockets in all, Redis ${redis}`;
  }

  function staleCounts() {
    counts.dataset.stale = "true";
  }

  reconnect.addEventListener("click", () => onReconnect());
  showHealth({ active_websockets: NaN, active_actors: NaN });
  staleCounts();

  return { show, setUrl, showHealth, staleCounts };
}
