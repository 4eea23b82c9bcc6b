/**
 * The composer: the chat box (Enter sends to the conversation on screen; in a direct
 * conversation a "→ name ✕" chip says so, and ✕ or Escape goes back to the room), and the
 * broadcast box, which POSTs to `/broadcast` over HTTP like any outside tool would.
 */

import { BROADCAST_TIMEOUT_MS } from "../config.js";
import { byId, setText } from "./dom.js";

export function createComposer(store, { onSend, onBackToRoom, httpBase }) {
  const form = byId("chat-form");
  const input = byId("chat-input");
  const send = byId("chat-send");
  const label = byId("chat-label");
  const chip = byId("dm-chip");
  const chipTarget = byId("dm-target");
  const chipCancel = byId("dm-cancel");
  const broadcastForm = byId("broadcast-form");
  const broadcastInput = byId("broadcast-input");
  const broadcastSend = byId("broadcast-send");
  const broadcastStatus = byId("broadcast-status");
  let state = "connecting";
  let hadFocus = false;
  let statusTimer = 0;

  function render() {
    const conversation = store.current();
    const direct = conversation.kind === "direct";
    chip.hidden = !direct;
    setText(chipTarget, direct ? conversation.name : "");
    if (direct) form.dataset.mode = "direct";
    else delete form.dataset.mode;
    setText(label, direct ? `Direct message to ${conversation.name}` : `Message to # ${conversation.name}`);
    if (state === "connected") input.placeholder = direct ? `Message ${conversation.name} directly…` : `Message # ${conversation.name}…`;
    else if (state === "foreign") input.placeholder = "Not connected: the port belongs to another program";
    else input.placeholder = "Waiting for the connection…";
  }

  /** The connection's state changed: enable or disable, and keep the focus where it was. */
  function setConnectionState(next) {
    state = next;
    const connected = state === "connected";
    if (!connected && document.activeElement === input) hadFocus = true;
    input.disabled = !connected;
    send.disabled = !connected;
    render();
    if (connected && (hadFocus || document.activeElement === document.body || !document.activeElement)) {
      input.focus();
      hadFocus = false;
    }
    if (state === "foreign") {
      broadcastInput.disabled = true;
      broadcastSend.disabled = true;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.disabled) return;
    if (onSend(input.value)) input.value = "";
  });
  chipCancel.addEventListener("click", () => {
    onBackToRoom();
    if (!input.disabled) input.focus();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && store.current().kind === "direct") {
      event.preventDefault();
      onBackToRoom();
    }
  });

  function setBroadcastStatus(text, level = "", clearAfterMs = 0) {
    clearTimeout(statusTimer);
    broadcastStatus.textContent = text;
    if (level) broadcastStatus.dataset.level = level;
    else delete broadcastStatus.dataset.level;
    if (clearAfterMs) statusTimer = setTimeout(() => setBroadcastStatus(""), clearAfterMs);
  }

  broadcastForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = broadcastInput.value;
    if (!message.trim() || state === "foreign" || broadcastSend.disabled) return;
    if (!httpBase) {
      setBroadcastStatus("Broadcast failed: no server address", "error");
      return;
    }
    broadcastSend.disabled = true;
    setBroadcastStatus("Sending broadcast…");
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), BROADCAST_TIMEOUT_MS);
    try {
      const response = await fetch(`${httpBase}/broadcast`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ message }),
        cache: "no-store",
        signal: abort.signal,
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new Error(String((body && (body.message || body.error)) || `HTTP ${response.status}`));
      if (broadcastInput.value === message) broadcastInput.value = "";
      const n = body && Number.isFinite(body.delivered_to) ? body.delivered_to : null;
      const done = n === null ? "Broadcast sent" : `Broadcast delivered to ${n} ${n === 1 ? "connection" : "connections"}`;
      setBroadcastStatus(done, "ok", 4000);
    } catch (error) {
      let why = (error && error.message) || "unknown error";
      if (error && error.name === "AbortError") why = "the server did not answer in time";
      else if (error instanceof TypeError) why = "could not reach the server";
      setBroadcastStatus(`Broadcast failed: ${why}`, "error");
    } finally {
      clearTimeout(timer);
      if (state !== "foreign") broadcastSend.disabled = false;
    }
  });

  store.subscribe((event) => {
    if (event.type === "switched" || event.type === "conversations") render();
  });

  return { render, setConnectionState, focus: () => !input.disabled && input.focus() };
}
