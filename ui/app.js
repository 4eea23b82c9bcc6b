// tauri-ractor-websocket web UI: one page for the desktop window and for browser tabs.
// Plain ES2020, no dependencies. Runs under a strict CSP (no inline scripts, no eval), and every
// piece of data from the wire is put into the DOM with textContent only.
"use strict";

(() => {
  const SERVER_NAME = "tauri-ractor-websocket";
  const MAX_ITEMS = 1000; // list items kept in the DOM
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const GONE_AFTER_FAILURES = 4; // consecutive failed attempts before we say "server unreachable"
  const STABLE_CONNECTION_MS = 5000; // a connection that lived this long resets the backoff
  const WELCOME_TIMEOUT_MS = 5000;
  const HEALTH_INTERVAL_MS = 2000;
  const HEALTH_TIMEOUT_MS = 1800;
  const BROADCAST_TIMEOUT_MS = 8000;
  const MAX_CHAT_BYTES = 8192;
  const STICK_THRESHOLD_PX = 48;
  const THEME_KEY = "trw-theme";

  const CLOSE_REASONS = {
    1001: "Server shutting down",
    1008: "Refused by the server (policy)",
    1009: "Message too big",
    1011: "Server error in this connection",
    1013: "Fell behind; reconnecting",
  };

  // ---------------------------------------------------------------- elements

  const $ = (id) => document.getElementById(id);
  const ui = {
    notice: $("notice"),
    noticeText: $("notice-text"),
    noticeDismiss: $("notice-dismiss"),
    status: $("status"),
    statusText: $("status-text"),
    statusCountdown: $("status-countdown"),
    wsUrl: $("ws-url"),
    myName: $("my-name"),
    counts: $("counts"),
    countWebsockets: $("count-websockets"),
    countWebsocketsLabel: $("count-websockets-label"),
    countActors: $("count-actors"),
    countActorsLabel: $("count-actors-label"),
    themeToggle: $("theme-toggle"),
    roomName: $("room-name"),
    scroller: $("message-scroller"),
    messages: $("messages"),
    jumpLatest: $("jump-latest"),
    chatForm: $("chat-form"),
    chatInput: $("chat-input"),
    chatSend: $("chat-send"),
    broadcastForm: $("broadcast-form"),
    broadcastInput: $("broadcast-input"),
    broadcastSend: $("broadcast-send"),
    broadcastStatus: $("broadcast-status"),
  };

  // ---------------------------------------------------------------- config

  function stripSlash(s) {
    return s.replace(/\/+$/, "");
  }

  function httpBaseFromWs(wsUrl) {
    try {
      const u = new URL(wsUrl);
      u.protocol = u.protocol === "wss:" ? "https:" : "http:";
      return u.origin;
    } catch (_) {
      return "";
    }
  }

  function readConfig() {
    const raw = window.__TRW_CONFIG__;
    if (raw && typeof raw === "object") {
      const wsUrl = typeof raw.wsUrl === "string" ? raw.wsUrl.trim() : "";
      const httpBase =
        typeof raw.httpBase === "string" && raw.httpBase.trim()
          ? stripSlash(raw.httpBase.trim())
          : httpBaseFromWs(wsUrl);
      return {
        desktop: true,
        wsUrl,
        httpBase,
        instance: typeof raw.instance === "string" && raw.instance ? raw.instance : null,
        notice: typeof raw.notice === "string" ? raw.notice.trim() : "",
      };
    }

    // A browser tab: the server that served this page is the one to talk to. For looking at the
    // page from a static file server during development, `?server=127.0.0.1:8000` points it
    // somewhere else.
    let host = location.host;
    let secure = location.protocol === "https:";
    const override = new URLSearchParams(location.search).get("server");
    if (override && /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i.test(override)) {
      host = override;
      secure = false;
    } else if (!/^https?:$/.test(location.protocol)) {
      return { desktop: false, wsUrl: "", httpBase: "", instance: null, notice: "" };
    }
    return {
      desktop: false,
      wsUrl: `${secure ? "wss" : "ws"}://${host}/ws`,
      httpBase: `${secure ? "https" : "http"}://${host}`,
      instance: null,
      notice: "",
    };
  }

  const cfg = readConfig();

  function serverPort() {
    try {
      const u = new URL(cfg.wsUrl);
      return u.port || (u.protocol === "wss:" ? "443" : "80");
    } catch (_) {
      return "?";
    }
  }

  // ---------------------------------------------------------------- state

  let ws = null; // the current socket (null between attempts)
  let state = "";
  let failures = 0; // consecutive attempts that did not lead to a stable connection
  let everConnected = false;
  let foreign = false; // the port belongs to another program: stop for good
  let stopped = false; // page is being unloaded
  let me = null; // {id, name}
  let closeNote = ""; // why the last connection ended, shown while we retry
  let lastInstance = null;
  const lastSeqByRoom = new Map();

  let reconnectTimer = 0;
  let countdownTimer = 0;
  let reconnectAt = 0;
  let welcomeTimer = 0;
  let healthTimer = 0;
  let healthController = null;

  let stickToBottom = true;
  let chatHadFocus = false;

  // ---------------------------------------------------------------- status bar

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function setState(next, label, countdown = "") {
    const changed = next !== state;
    state = next;
    if (ui.status.dataset.state !== next) ui.status.dataset.state = next;
    setText(ui.statusText, label);
    setText(ui.statusCountdown, countdown);
    ui.status.title = (label + countdown).trim();
    if (changed) onStateChanged();
  }

  function onStateChanged() {
    const connected = state === "connected";
    ui.myName.parentElement.dataset.stale = connected ? "false" : "true";
    if (!connected && document.activeElement === ui.chatInput) chatHadFocus = true;
    ui.chatInput.disabled = !connected;
    ui.chatSend.disabled = !connected;
    ui.chatInput.placeholder = connected
      ? `Message # ${currentRoom()}…`
      : state === "foreign"
        ? "Not connected: the port belongs to another program"
        : "Waiting for the connection…";
    if (connected && (chatHadFocus || document.activeElement === document.body || !document.activeElement)) {
      ui.chatInput.focus();
      chatHadFocus = false;
    }
    if (state === "foreign") {
      ui.broadcastInput.disabled = true;
      ui.broadcastSend.disabled = true;
    }
    if (connected) {
      pollHealthSoon(0);
    } else {
      stopHealth();
      ui.counts.dataset.stale = "true";
    }
  }

  function setCounts(sockets, actors) {
    const fmt = (n) => (Number.isFinite(n) ? String(n) : "–");
    setText(ui.countWebsockets, fmt(sockets));
    setText(ui.countActors, fmt(actors));
    setText(ui.countWebsocketsLabel, sockets === 1 ? "socket" : "sockets");
    setText(ui.countActorsLabel, actors === 1 ? "actor" : "actors");
  }

  // ---------------------------------------------------------------- connection

  function clearReconnect() {
    clearTimeout(reconnectTimer);
    clearInterval(countdownTimer);
    reconnectTimer = 0;
    countdownTimer = 0;
  }

  function connect() {
    clearReconnect();
    if (foreign || stopped || ws) return;
    if (!cfg.wsUrl) {
      setState("gone", "No server address");
      return;
    }

    if (failures >= GONE_AFTER_FAILURES) setState("gone", "Server unreachable", " · retrying now…");
    else if (everConnected || failures > 0) setState("reconnecting", closeNote || "Reconnecting…");
    else setState("connecting", "Connecting…");

    let sock;
    try {
      sock = new WebSocket(cfg.wsUrl);
    } catch (err) {
      // A malformed URL throws synchronously; treat like any failed attempt.
      failures += 1;
      closeNote = "";
      scheduleReconnect();
      return;
    }
    ws = sock;
    let welcomed = false;
    let connectedAt = 0;

    sock.addEventListener("open", () => {
      if (ws !== sock) return;
      clearTimeout(welcomeTimer);
      welcomeTimer = setTimeout(() => {
        if (ws === sock && !welcomed) sock.close(); // no welcome: counts as a failed attempt
      }, WELCOME_TIMEOUT_MS);
    });

    sock.addEventListener("message", (ev) => {
      if (ws !== sock) return;
      let msg = null;
      if (typeof ev.data === "string") {
        try {
          msg = JSON.parse(ev.data);
        } catch (_) {
          msg = null;
        }
      }
      if (!welcomed) {
        // The first frame decides whether this is our server at all.
        if (
          !msg ||
          typeof msg !== "object" ||
          msg.type !== "welcome" ||
          msg.server !== SERVER_NAME ||
          (cfg.instance !== null && msg.instance !== cfg.instance)
        ) {
          becomeForeign(sock);
          return;
        }
        welcomed = true;
        connectedAt = Date.now();
        clearTimeout(welcomeTimer);
        onWelcome(msg);
        return;
      }
      if (!msg || typeof msg !== "object") return;
      switch (msg.type) {
        case "message":
          onChatMessage(msg);
          break;
        case "error":
          onErrorFrame(msg);
          break;
        default:
          // Unknown frames are ignored so that newer servers can add types.
          break;
      }
    });

    sock.addEventListener("close", (ev) => {
      if (ws !== sock) return; // we already let go of this socket
      ws = null;
      clearTimeout(welcomeTimer);
      if (foreign || stopped) return;

      closeNote = CLOSE_REASONS[ev.code] || (welcomed ? "Connection lost" : "");
      if (welcomed) {
        const reason = CLOSE_REASONS[ev.code] || "Connection lost";
        systemLine(`Disconnected: ${reason}`, "warn", String(ev.code || ""));
        me = null;
      }
      if (welcomed && Date.now() - connectedAt >= STABLE_CONNECTION_MS) failures = 0;
      else failures += 1;
      scheduleReconnect();
    });
    // "error" is always followed by "close"; nothing to do there.
  }

  function backoffDelay() {
    // 0.5 s, 1 s, 2 s, 4 s, 8 s, 10 s, 10 s … with ±25 % jitter (never above the cap).
    const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
    const jittered = exp * (0.75 + Math.random() * 0.5);
    return Math.round(Math.min(BACKOFF_MAX_MS, Math.max(250, jittered)));
  }

  function scheduleReconnect() {
    clearReconnect();
    if (foreign || stopped) return;
    const delay = backoffDelay();
    reconnectAt = Date.now() + delay;
    reconnectTimer = setTimeout(connect, delay);
    countdownTimer = setInterval(renderCountdown, 250);
    renderCountdown();
  }

  function renderCountdown() {
    if (!reconnectTimer) return;
    const secs = Math.max(1, Math.ceil((reconnectAt - Date.now()) / 1000));
    if (failures >= GONE_AFTER_FAILURES) {
      setState("gone", "Server unreachable", ` · retrying in ${secs} s`);
    } else if (closeNote) {
      setState("reconnecting", closeNote, ` · reconnecting in ${secs} s`);
    } else {
      setState("reconnecting", "Reconnecting", ` in ${secs} s`);
    }
  }

  // Retry right away when there is a reason to believe it may work now.
  function reconnectNow() {
    if (reconnectTimer && !ws && !foreign && !stopped) connect();
  }

  function becomeForeign(sock) {
    foreign = true;
    clearReconnect();
    clearTimeout(welcomeTimer);
    ws = null; // before close(): the close handler then ignores this socket
    try {
      sock.close(1000);
    } catch (_) {
      /* already closing */
    }
    const port = serverPort();
    setState("foreign", `Port ${port} belongs to another program`);
    systemLine(
      `The server on port ${port} is not the one this window belongs to. Not connecting, nothing was sent.`,
      "error",
      "foreign"
    );
  }

  // ---------------------------------------------------------------- frames

  function currentRoom() {
    return ui.roomName.textContent || "lobby";
  }

  function onWelcome(msg) {
    if (lastInstance !== null && msg.instance !== lastInstance) {
      systemLine("The server was restarted", "info");
      lastSeqByRoom.clear();
    }
    lastInstance = typeof msg.instance === "string" ? msg.instance : null;
    me = { id: msg.id, name: String(msg.name ?? "") };
    setText(ui.myName, me.name || "—");
    setText(ui.wsUrl, cfg.wsUrl);
    if (typeof msg.room === "string" && msg.room) setRoom(msg.room);
    closeNote = "";
    setState("connected", "Connected");
    systemLine(`${everConnected ? "Reconnected" : "Connected"} as ${me.name}`, "info");
    everConnected = true;
  }

  function setRoom(room) {
    setText(ui.roomName, room);
    ui.messages.setAttribute("aria-label", `Messages in # ${room}`);
    const label = ui.chatForm.querySelector("label");
    if (label) label.textContent = `Message to # ${room}`;
    const link = document.querySelector('.room-link[aria-current="page"] .room-name');
    if (link) setText(link, room);
    if (state === "connected") ui.chatInput.placeholder = `Message # ${room}…`;
  }

  function onChatMessage(msg) {
    const room = typeof msg.room === "string" ? msg.room : "";
    const seq = Number.isSafeInteger(msg.seq) ? msg.seq : null;
    if (seq !== null) {
      const last = lastSeqByRoom.get(room);
      if (last !== undefined && seq > last + 1) {
        const missed = seq - last - 1;
        systemLine(
          missed === 1
            ? `Missed 1 message (#${last + 1})`
            : `Missed ${missed} messages (#${last + 1}–#${seq - 1})`,
          "info"
        );
      }
      if (last === undefined || seq > last) lastSeqByRoom.set(room, seq);
    }

    const kind = msg.kind === "broadcast" ? "broadcast" : "chat";
    const li = document.createElement("li");
    li.className = "message";
    li.dataset.kind = kind;
    if (seq !== null) li.dataset.seq = String(seq);
    const mine = kind === "chat" && me !== null && msg.sender_id != null && msg.sender_id === me.id;
    if (mine) {
      li.classList.add("mine");
      li.dataset.mine = "true";
    }

    li.append(timeElement(msg.ts));

    const sender = document.createElement("span");
    sender.className = "message-sender";
    sender.textContent = String(msg.sender ?? (kind === "broadcast" ? "broadcast" : "?"));
    sender.title = sender.textContent;
    li.append(sender);

    const text = document.createElement("span");
    text.className = "message-text";
    text.textContent = String(msg.text ?? "");
    li.append(text);

    const seqEl = document.createElement("span");
    seqEl.className = "message-seq";
    seqEl.textContent = seq !== null ? `#${seq}` : "";
    seqEl.title = "Sequence number in the room";
    li.append(seqEl);

    appendItem(li, mine);
    if (!mine) notifyDesktop(kind, li.querySelector(".message-sender").textContent, text.textContent, room);
  }

  // In the desktop window, ask the app for a native notification. The app itself decides
  // whether to show one (only while the window is unfocused, and if the user has not turned
  // notifications off in the tray menu). Browser tabs have no window.__TAURI__: nothing happens.
  function notifyDesktop(kind, sender, text, room) {
    const invoke = window.__TAURI__ && window.__TAURI__.core && window.__TAURI__.core.invoke;
    if (typeof invoke !== "function") return;
    invoke("notify", { message: { kind, sender, text, room } }).catch(() => {});
  }

  function onErrorFrame(msg) {
    const code = typeof msg.code === "string" ? msg.code : "error";
    const text = typeof msg.message === "string" && msg.message ? msg.message : "The server refused that.";
    systemLine(text, "error", code);
  }

  // ---------------------------------------------------------------- list

  function pad2(n) {
    return String(n).padStart(2, "0");
  }

  function timeElement(ts) {
    const d = new Date(Number.isFinite(ts) ? ts : Date.now());
    const t = document.createElement("time");
    t.className = "message-time";
    t.dateTime = d.toISOString();
    t.textContent = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
    t.title = d.toLocaleString();
    return t;
  }

  function systemLine(text, level = "info", code = "") {
    const li = document.createElement("li");
    li.className = "system";
    li.dataset.level = level;
    li.append(timeElement(Date.now()));
    const body = document.createElement("span");
    body.className = "system-text";
    if (code) {
      const c = document.createElement("code");
      c.className = "system-code";
      c.textContent = code;
      body.append(c);
    }
    body.append(document.createTextNode(text));
    li.append(body);
    appendItem(li, false);
  }

  function isNearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= STICK_THRESHOLD_PX;
  }

  function scrollToBottom() {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
    stickToBottom = true;
    ui.jumpLatest.hidden = true;
  }

  function appendItem(li, forceScroll) {
    ui.messages.append(li);
    while (ui.messages.childElementCount > MAX_ITEMS) ui.messages.firstElementChild.remove();
    if (stickToBottom || forceScroll) scrollToBottom();
    else ui.jumpLatest.hidden = false;
  }

  ui.scroller.addEventListener(
    "scroll",
    () => {
      stickToBottom = isNearBottom();
      if (stickToBottom) ui.jumpLatest.hidden = true;
    },
    { passive: true }
  );

  ui.jumpLatest.addEventListener("click", () => {
    scrollToBottom();
    ui.scroller.focus({ preventScroll: true });
  });

  if (typeof ResizeObserver === "function") {
    // Keep the bottom in view when the window (or the composer) changes size.
    new ResizeObserver(() => {
      if (stickToBottom) ui.scroller.scrollTop = ui.scroller.scrollHeight;
    }).observe(ui.scroller);
  }

  // ---------------------------------------------------------------- chat

  ui.chatForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = ui.chatInput.value;
    if (!text.trim()) return;
    if (state !== "connected" || !ws || ws.readyState !== WebSocket.OPEN) return;
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > MAX_CHAT_BYTES) {
      systemLine(
        `Not sent: the message is ${bytes} bytes, the limit is ${MAX_CHAT_BYTES}.`,
        "error",
        "text_too_long"
      );
      return;
    }
    ws.send(JSON.stringify({ type: "chat", text }));
    ui.chatInput.value = "";
    stickToBottom = true; // the echo should scroll into view
  });

  // ---------------------------------------------------------------- broadcast over HTTP

  let broadcastStatusTimer = 0;

  function setBroadcastStatus(text, level = "", clearAfterMs = 0) {
    clearTimeout(broadcastStatusTimer);
    ui.broadcastStatus.textContent = text;
    if (level) ui.broadcastStatus.dataset.level = level;
    else delete ui.broadcastStatus.dataset.level;
    if (clearAfterMs) {
      broadcastStatusTimer = setTimeout(() => setBroadcastStatus(""), clearAfterMs);
    }
  }

  ui.broadcastForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const message = ui.broadcastInput.value;
    if (!message.trim() || foreign || ui.broadcastSend.disabled) return;
    if (!cfg.httpBase) {
      setBroadcastStatus("Broadcast failed: no server address", "error");
      return;
    }
    ui.broadcastSend.disabled = true;
    setBroadcastStatus("Sending broadcast…");
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), BROADCAST_TIMEOUT_MS);
    try {
      const res = await fetch(`${cfg.httpBase}/broadcast`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ message }),
        cache: "no-store",
        signal: ctrl.signal,
      });
      let body = null;
      try {
        body = await res.json();
      } catch (_) {
        body = null;
      }
      if (!res.ok) {
        const why = (body && (body.message || body.error)) || `HTTP ${res.status}`;
        throw new Error(String(why));
      }
      if (ui.broadcastInput.value === message) ui.broadcastInput.value = "";
      const n = body && Number.isFinite(body.delivered_to) ? body.delivered_to : null;
      setBroadcastStatus(
        n === null ? "Broadcast sent" : `Broadcast delivered to ${n} ${n === 1 ? "connection" : "connections"}`,
        "ok",
        4000
      );
    } catch (err) {
      let why;
      if (err && err.name === "AbortError") why = "the server did not answer in time";
      else if (err instanceof TypeError) why = "could not reach the server";
      else why = (err && err.message) || "unknown error";
      setBroadcastStatus(`Broadcast failed: ${why}`, "error");
    } finally {
      clearTimeout(timer);
      if (!foreign) ui.broadcastSend.disabled = false;
    }
  });

  // ---------------------------------------------------------------- live counts (GET /health)

  function stopHealth() {
    clearTimeout(healthTimer);
    healthTimer = 0;
    if (healthController) healthController.abort();
    healthController = null;
  }

  function pollHealthSoon(delay) {
    clearTimeout(healthTimer);
    healthTimer = 0;
    if (state !== "connected" || document.visibilityState === "hidden" || !cfg.httpBase) return;
    healthTimer = setTimeout(pollHealth, delay);
  }

  async function pollHealth() {
    healthTimer = 0;
    if (state !== "connected" || document.visibilityState === "hidden" || healthController) return;
    const ctrl = new AbortController();
    healthController = ctrl;
    const timer = setTimeout(() => ctrl.abort(), HEALTH_TIMEOUT_MS);
    try {
      const res = await fetch(`${cfg.httpBase}/health`, { cache: "no-store", signal: ctrl.signal });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const h = await res.json();
      if (healthController !== ctrl) return; // stopped meanwhile
      setCounts(h.active_websockets, h.active_actors);
      ui.counts.dataset.stale = "false";
    } catch (_) {
      if (healthController === ctrl) ui.counts.dataset.stale = "true";
    } finally {
      clearTimeout(timer);
      if (healthController === ctrl) {
        healthController = null;
        pollHealthSoon(HEALTH_INTERVAL_MS);
      }
    }
  }

  // ---------------------------------------------------------------- notice

  if (cfg.notice) {
    ui.noticeText.textContent = cfg.notice;
    ui.notice.hidden = false;
  }
  ui.noticeDismiss.addEventListener("click", () => {
    ui.notice.hidden = true;
    if (state === "connected") ui.chatInput.focus();
  });

  // ---------------------------------------------------------------- theme (system / light / dark)

  const THEMES = ["system", "light", "dark"];
  const THEME_ICON = { system: "◐", light: "☼", dark: "☾" };
  const THEME_LABEL = { system: "follow system", light: "light", dark: "dark" };

  function loadTheme() {
    try {
      const t = localStorage.getItem(THEME_KEY);
      return THEMES.includes(t) ? t : "system";
    } catch (_) {
      return "system";
    }
  }

  function applyTheme(theme) {
    if (theme === "system") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    ui.themeToggle.textContent = `${THEME_ICON[theme]}\uFE0E`;
    const label = `Theme: ${THEME_LABEL[theme]} (click to change)`;
    ui.themeToggle.setAttribute("aria-label", label);
    ui.themeToggle.title = label;
  }

  let theme = loadTheme();
  applyTheme(theme);
  ui.themeToggle.addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    applyTheme(theme);
    try {
      if (theme === "system") localStorage.removeItem(THEME_KEY);
      else localStorage.setItem(THEME_KEY, theme);
    } catch (_) {
      /* storage unavailable: the choice lasts for this page only */
    }
  });

  // ---------------------------------------------------------------- page lifecycle

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      pollHealthSoon(0);
      reconnectNow();
    } else {
      stopHealth();
    }
  });

  window.addEventListener("online", reconnectNow);

  window.addEventListener("pagehide", () => {
    stopped = true;
    clearReconnect();
    stopHealth();
    if (ws) {
      const sock = ws;
      ws = null;
      try {
        sock.close(1000);
      } catch (_) {
        /* ignore */
      }
    }
  });

  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted && stopped) {
      // Restored from the back/forward cache: start over.
      stopped = false;
      if (!foreign) connect();
    }
  });

  // ---------------------------------------------------------------- start

  setText(ui.wsUrl, cfg.wsUrl || "no server address");
  setCounts(NaN, NaN);
  connect();
})();
