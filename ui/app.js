// tauri-ractor-websocket web UI: one page for the desktop window and for browser tabs.
// Plain ES2020, no dependencies. Runs under a strict CSP (no inline scripts, no eval), and every
// piece of data from the wire is put into the DOM with textContent only.
"use strict";

(() => {
  const SERVER_NAME = "tauri-ractor-websocket";
  const MAX_ITEMS = 1000; // list items kept per room
  const LOBBY = "lobby";
  const ROOM_RE = /^[a-z0-9_-]{1,32}$/;
  const ACTORS_INTERVAL_MS = 1000;
  const ACTORS_RETRY_MS = 10000; // after a 404 (a server without the inspector)
  const ACTORS_TIMEOUT_MS = 1800;
  const TOAST_MS = 6000;
  const MAX_TOASTS = 3;
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
    me: $("me"),
    renameButton: $("rename-button"),
    renameForm: $("rename-form"),
    renameInput: $("rename-input"),
    renameCancel: $("rename-cancel"),
    renameError: $("rename-error"),
    roomList: $("room-list"),
    joinForm: $("join-room-form"),
    joinInput: $("join-room-input"),
    joinError: $("join-room-error"),
    onlineList: $("online-list"),
    chatLabel: $("chat-label"),
    dmChip: $("dm-chip"),
    dmTarget: $("dm-target"),
    dmCancel: $("dm-cancel"),
    toasts: $("toasts"),
    roomsPanel: $("rooms-panel"),
    actorsPanel: $("actors-panel"),
    toggleRooms: $("toggle-rooms"),
    toggleActors: $("toggle-actors"),
    actorsClose: $("actors-close"),
    actorsUpdated: $("actors-updated"),
    actorsSupervisor: $("actors-supervisor"),
    actorsRooms: $("actors-rooms"),
    actorsConnections: $("actors-connections"),
    actorsEvents: $("actors-events"),
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
  let justRestarted = false; // this connection found a new server instance
  let myName = ""; // the name to ask for again when reconnecting
  let currentRoomName = LOBBY;
  let dmTarget = null; // {id, name} while the composer is in direct-message mode
  let pendingJoin = ""; // a room we asked to join and wait for `joined`
  let pendingRename = ""; // a name we asked for and wait for `renamed`
  const lastSeq = new Map(); // room -> the highest seq seen (dedupe and resume)
  const rooms = new Map(); // room -> {name, items: [li], unread, members, backlogUntil, resumed, link}

  let reconnectTimer = 0;
  let countdownTimer = 0;
  let reconnectAt = 0;
  let welcomeTimer = 0;

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
    updateComposer();
    if (connected && (chatHadFocus || document.activeElement === document.body || !document.activeElement)) {
      ui.chatInput.focus();
      chatHadFocus = false;
    }
    if (state === "foreign") {
      ui.broadcastInput.disabled = true;
      ui.broadcastSend.disabled = true;
    }
    ui.renameButton.disabled = !connected;
    if (!connected) closeRename();
    if (connected) {
      healthPoller.soon(0);
      actorsPoller.soon(0);
    } else {
      healthPoller.stop();
      actorsPoller.stop();
      ui.counts.dataset.stale = "true";
      ui.actorsUpdated.dataset.stale = "true";
      ui.onlineList.dataset.stale = "true";
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
      sock = new WebSocket(connectUrl());
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
      try {
        onFrame(msg);
      } catch (err) {
        // A frame we could not handle must not take the connection down with it.
        console.error("could not handle a frame", msg, err);
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

  // Reconnecting resumes every room where we know the last seq, and keeps our name.
  function connectUrl() {
    const since = [];
    for (const [room, seq] of lastSeq) {
      if (rooms.has(room) && Number.isSafeInteger(seq)) since.push(`${room}:${seq}`);
    }
    const params = [];
    if (since.length) params.push(`since=${since.join(",")}`);
    if (myName) params.push(`name=${encodeURIComponent(myName)}`);
    if (!params.length) return cfg.wsUrl;
    return cfg.wsUrl + (cfg.wsUrl.includes("?") ? "&" : "?") + params.join("&");
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

  // ---------------------------------------------------------------- rooms

  function currentRoom() {
    return currentRoomName;
  }

  function getRoom(name) {
    let room = rooms.get(name);
    if (!room) {
      room = {
        name,
        items: [],
        unread: 0,
        members: null,
        backlogUntil: 0,
        resumed: false,
        afterGap: false,
        link: null,
      };
      rooms.set(name, room);
      renderRoomList();
    }
    return room;
  }

  function renderRoomList() {
    const items = [];
    for (const room of rooms.values()) {
      if (!room.link) room.link = buildRoomItem(room.name);
      items.push(room.link);
      updateRoomLink(room);
    }
    ui.roomList.replaceChildren(...items);
  }

  function buildRoomItem(name) {
    const li = document.createElement("li");
    li.className = "room-item";
    li.dataset.room = name;
    const a = document.createElement("a");
    a.className = "room-link";
    a.href = "#messages";
    a.dataset.room = name;
    const hash = document.createElement("span");
    hash.className = "room-hash";
    hash.setAttribute("aria-hidden", "true");
    hash.textContent = "#";
    const label = document.createElement("span");
    label.className = "room-name";
    label.textContent = name;
    const badge = document.createElement("span");
    badge.className = "room-unread";
    badge.hidden = true;
    a.append(hash, " ", label, badge);
    li.append(a);
    if (name !== LOBBY) {
      const leave = document.createElement("button");
      leave.type = "button";
      leave.className = "icon-button room-leave";
      leave.dataset.room = name;
      leave.textContent = "✕";
      leave.title = `Leave # ${name}`;
      leave.setAttribute("aria-label", `Leave # ${name}`);
      li.append(leave);
    }
    return li;
  }

  function updateRoomLink(room) {
    const li = room.link;
    if (!li) return;
    const a = li.querySelector(".room-link");
    const badge = li.querySelector(".room-unread");
    if (room.name === currentRoomName) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
    const n = room.name === currentRoomName ? 0 : room.unread;
    badge.hidden = n === 0;
    setText(badge, n > 99 ? "99+" : n ? String(n) : "");
    a.setAttribute("aria-label", n ? `# ${room.name}, ${n} unread` : `# ${room.name}`);
  }

  function switchRoom(name) {
    const room = getRoom(name);
    const previous = currentRoomName;
    currentRoomName = name;
    room.unread = 0;
    if (rooms.has(previous)) updateRoomLink(rooms.get(previous));
    updateRoomLink(room);
    setText(ui.roomName, name);
    ui.messages.setAttribute("aria-label", `Messages in # ${name}`);
    ui.messages.replaceChildren(...room.items);
    scrollToBottom();
    renderOnline();
    updateComposer();
    closePanelsOverlay();
  }

  function removeRoom(name) {
    if (name === LOBBY) return;
    const room = rooms.get(name);
    if (!room) return;
    rooms.delete(name);
    lastSeq.delete(name);
    if (room.link) room.link.remove();
    if (currentRoomName === name) switchRoom(LOBBY);
  }

  function updateComposer() {
    const room = currentRoom();
    let label;
    let placeholder;
    if (dmTarget) {
      label = `Direct message to ${dmTarget.name}`;
      placeholder = `Message ${dmTarget.name} directly…`;
    } else {
      label = `Message to # ${room}`;
      placeholder = `Message # ${room}…`;
    }
    setText(ui.chatLabel, label);
    if (state === "connected") ui.chatInput.placeholder = placeholder;
    else if (state === "foreign") ui.chatInput.placeholder = "Not connected: the port belongs to another program";
    else ui.chatInput.placeholder = "Waiting for the connection…";
  }

  ui.roomList.addEventListener("click", (ev) => {
    const leave = ev.target.closest(".room-leave");
    if (leave) {
      const name = leave.dataset.room;
      if (ws && ws.readyState === WebSocket.OPEN && state === "connected") {
        ws.send(JSON.stringify({ type: "leave", room: name }));
      } else {
        removeRoom(name); // offline: just forget it; nothing to rejoin
      }
      return;
    }
    const link = ev.target.closest(".room-link");
    if (!link) return;
    ev.preventDefault();
    switchRoom(link.dataset.room);
    if (state === "connected") ui.chatInput.focus();
  });

  function setJoinError(text) {
    setText(ui.joinError, text);
    ui.joinInput.setAttribute("aria-invalid", text ? "true" : "false");
  }

  ui.joinForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = ui.joinInput.value.trim().toLowerCase().replace(/^#\s*/, "");
    if (!name) return;
    if (!ROOM_RE.test(name)) {
      setJoinError("1–32 of a–z, 0–9, - and _");
      return;
    }
    setJoinError("");
    if (rooms.has(name)) {
      ui.joinInput.value = "";
      switchRoom(name);
      return;
    }
    if (state !== "connected" || !ws || ws.readyState !== WebSocket.OPEN) {
      setJoinError("Not connected");
      return;
    }
    pendingJoin = name;
    ws.send(JSON.stringify({ type: "join", room: name }));
  });

  ui.joinInput.addEventListener("input", () => setJoinError(""));
  ui.joinInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ui.joinInput.value = "";
      setJoinError("");
    }
  });

  // ---------------------------------------------------------------- presence

  function renderOnline() {
    const room = rooms.get(currentRoomName);
    const members = room && Array.isArray(room.members) ? room.members : null;
    if (!members) {
      const li = document.createElement("li");
      li.className = "placeholder";
      li.textContent = "—";
      ui.onlineList.replaceChildren(li);
      return;
    }
    const sorted = members.slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const items = sorted.map((m) => {
      const li = document.createElement("li");
      li.dataset.id = String(m.id);
      const isMe = me !== null && m.id === me.id;
      if (isMe) {
        li.className = "member member-me";
        const name = document.createElement("span");
        name.className = "member-name";
        name.textContent = String(m.name);
        const you = document.createElement("span");
        you.className = "member-you";
        you.textContent = " (you)";
        li.append(name, you);
      } else {
        li.className = "member";
        const b = document.createElement("button");
        b.type = "button";
        b.className = "member-button member-name";
        b.dataset.id = String(m.id);
        b.textContent = String(m.name);
        b.title = `Send a direct message to ${m.name}`;
        li.append(b);
      }
      if (dmTarget && dmTarget.id === m.id) li.dataset.dm = "true";
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "placeholder";
      li.textContent = "nobody";
      items.push(li);
    }
    const hidden = (room.memberCount ?? members.length) - members.length;
    if (hidden > 0) {
      const li = document.createElement("li");
      li.className = "placeholder member-more";
      li.textContent = `and ${hidden} more`;
      items.push(li);
    }
    ui.onlineList.replaceChildren(...items);
    ui.onlineList.dataset.stale = state === "connected" ? "false" : "true";
  }

  function setMembers(roomName, members, memberCount) {
    if (!Array.isArray(members)) return;
    const room = getRoom(roomName);
    room.members = members
      .filter((m) => m && typeof m === "object" && Number.isSafeInteger(m.id))
      .map((m) => ({ id: m.id, name: String(m.name ?? `#${m.id}`) }));
    // Large rooms list only their first members; the count says how many there really are.
    room.memberCount = Number.isSafeInteger(memberCount) ? memberCount : room.members.length;
    if (dmTarget) {
      // Keep the chip's name fresh when the target renames.
      const m = room.members.find((x) => x.id === dmTarget.id);
      if (m && m.name !== dmTarget.name) {
        dmTarget.name = m.name;
        setText(ui.dmTarget, m.name);
        updateComposer();
      }
    }
    if (roomName === currentRoomName) renderOnline();
  }

  ui.onlineList.addEventListener("click", (ev) => {
    const li = ev.target.closest("li[data-id]");
    if (!li) return;
    const id = Number(li.dataset.id);
    if (me !== null && id === me.id) return;
    const nameEl = li.querySelector(".member-name");
    startDm(id, nameEl ? nameEl.textContent : `#${id}`);
  });

  // ---------------------------------------------------------------- direct messages

  function startDm(id, name) {
    dmTarget = { id, name };
    setText(ui.dmTarget, name);
    ui.dmChip.hidden = false;
    ui.chatForm.dataset.mode = "direct";
    updateComposer();
    renderOnline();
    closePanelsOverlay();
    if (!ui.chatInput.disabled) ui.chatInput.focus();
  }

  function stopDm() {
    if (!dmTarget) return;
    dmTarget = null;
    ui.dmChip.hidden = true;
    delete ui.chatForm.dataset.mode;
    updateComposer();
    renderOnline();
  }

  ui.dmCancel.addEventListener("click", () => {
    stopDm();
    if (!ui.chatInput.disabled) ui.chatInput.focus();
  });

  ui.chatInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && dmTarget) {
      ev.preventDefault();
      stopDm();
    }
  });

  // ---------------------------------------------------------------- names

  function setMyName(name) {
    myName = name;
    setText(ui.myName, name || "—");
  }

  function openRename() {
    if (state !== "connected") return;
    ui.renameForm.hidden = false;
    ui.me.dataset.editing = "true";
    ui.me.parentElement.dataset.renaming = "true";
    ui.renameButton.setAttribute("aria-expanded", "true");
    ui.renameInput.value = me ? me.name : myName;
    setRenameError("");
    ui.renameInput.focus();
    ui.renameInput.select();
  }

  function closeRename(focusBack = false) {
    if (ui.renameForm.hidden) return;
    ui.renameForm.hidden = true;
    delete ui.me.dataset.editing;
    delete ui.me.parentElement.dataset.renaming;
    ui.renameButton.setAttribute("aria-expanded", "false");
    pendingRename = "";
    setRenameError("");
    if (focusBack) ui.renameButton.focus();
  }

  function setRenameError(text) {
    setText(ui.renameError, text);
    ui.renameInput.setAttribute("aria-invalid", text ? "true" : "false");
  }

  ui.renameButton.addEventListener("click", () => {
    if (ui.renameForm.hidden) openRename();
    else closeRename(true);
  });
  ui.myName.addEventListener("click", openRename);
  ui.renameCancel.addEventListener("click", () => closeRename(true));
  ui.renameInput.addEventListener("input", () => setRenameError(""));
  ui.renameForm.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      closeRename(true);
    }
  });

  ui.renameForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = ui.renameInput.value.trim();
    if (!name) {
      setRenameError("A name cannot be empty");
      return;
    }
    if ([...name].length > 32 || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
      setRenameError("1–32 characters, no control characters");
      return;
    }
    if (me && name === me.name) {
      closeRename(true);
      return;
    }
    if (state !== "connected" || !ws || ws.readyState !== WebSocket.OPEN) return;
    pendingRename = name;
    ws.send(JSON.stringify({ type: "rename", name }));
  });

  // ---------------------------------------------------------------- frames

  function onFrame(msg) {
    switch (msg.type) {
      case "message":
        onRoomFrame(msg);
        break;
      case "notification":
        onRoomFrame(msg);
        break;
      case "joined":
        onJoined(msg);
        break;
      case "left":
        if (typeof msg.room === "string") {
          if (pendingJoin === msg.room) pendingJoin = "";
          removeRoom(msg.room);
        }
        break;
      case "presence":
        if (typeof msg.room === "string") setMembers(msg.room, msg.members, msg.member_count);
        break;
      case "notice":
        onNotice(msg);
        break;
      case "renamed":
        onRenamed(msg);
        break;
      case "direct":
        onDirect(msg);
        break;
      case "error":
        onErrorFrame(msg);
        break;
      default:
        // Unknown frames are ignored so that newer servers can add types.
        break;
    }
  }

  function onWelcome(msg) {
    const instance = typeof msg.instance === "string" ? msg.instance : null;
    justRestarted = lastInstance !== null && instance !== lastInstance;
    if (justRestarted) {
      // Sequence numbers started again: what we knew about them means nothing now.
      lastSeq.clear();
      for (const room of rooms.values()) {
        room.backlogUntil = 0;
        for (const li of room.items) {
          if (li.dataset.seq !== undefined) {
            li.dataset.oldSeq = li.dataset.seq;
            delete li.dataset.seq;
          }
        }
      }
      systemLine("The server restarted", "info", "server restarted");
    }
    lastInstance = instance;
    const wanted = myName;
    me = { id: msg.id, name: String(msg.name ?? "") };
    setMyName(me.name);
    setText(ui.wsUrl, cfg.wsUrl);
    closeNote = "";
    setState("connected", "Connected");
    systemLine(`${everConnected ? "Reconnected" : "Connected"} as ${me.name}`, "info");
    if (everConnected && wanted && wanted !== me.name) {
      systemLine(`Could not keep the name ${wanted}`, "warn");
    }
    everConnected = true;

    // Rooms where we have no seq yet are not in ?since=: join them again by hand.
    for (const room of rooms.values()) {
      room.members = room.name === currentRoomName ? room.members : null;
      if (room.name !== LOBBY && !lastSeq.has(room.name)) {
        ws.send(JSON.stringify({ type: "join", room: room.name }));
      }
    }
    renderOnline();
  }

  function onJoined(msg) {
    if (typeof msg.room !== "string" || !msg.room) return;
    const name = msg.room;
    const isNew = !rooms.has(name);
    const room = getRoom(name);
    const lastKnown = Number.isSafeInteger(msg.last_seq) ? msg.last_seq : 0;
    room.backlogUntil = lastKnown;
    room.resumed = msg.resumed_from !== null && msg.resumed_from !== undefined && !msg.gap;
    if (msg.gap) {
      // After a restart the server cannot resume our old seqs: already said "server restarted".
      if (!justRestarted) systemLine("Some older messages are no longer available", "warn", "gap", name);
      const prev = lastSeq.get(name);
      if (prev !== undefined && lastKnown < prev) lastSeq.delete(name); // numbering started again
      else room.afterGap = true; // the next frame comes after a hole we already announced
    }
    // An empty room: remember seq 0 so that a reconnect resumes it from the start.
    if (lastKnown === 0 && !lastSeq.has(name)) lastSeq.set(name, 0);
    if (Array.isArray(msg.members)) setMembers(name, msg.members, msg.member_count);
    if (pendingJoin === name) {
      pendingJoin = "";
      ui.joinInput.value = "";
      setJoinError("");
      switchRoom(name);
    } else if (isNew && name === currentRoomName) {
      renderOnline();
    }
  }

  // `message` (chat, or a v1 broadcast) and `notification` frames: numbered by their room.
  function onRoomFrame(msg) {
    const isNotification = msg.type === "notification";
    const roomName =
      typeof msg.room === "string" && msg.room ? msg.room : LOBBY;
    const seq = Number.isSafeInteger(msg.seq) ? msg.seq : null;
    const room = getRoom(roomName);
    const backlog = seq !== null && seq <= room.backlogUntil;
    if (seq !== null) {
      const last = lastSeq.get(roomName);
      if (last !== undefined && seq <= last) return; // already shown: a resume overlap
      if (last !== undefined && seq > last + 1 && !room.afterGap) {
        const missed = seq - last - 1;
        systemLine(
          missed === 1
            ? `Missed 1 message (#${last + 1})`
            : `Missed ${missed} messages (#${last + 1}–#${seq - 1})`,
          "info",
          "",
          roomName
        );
      }
      lastSeq.set(roomName, seq);
      room.afterGap = false;
    }

    let kind;
    let senderText;
    let mine = false;
    const text = String(msg.text ?? "");
    if (isNotification) {
      kind = msg.source === "notify" ? "notification" : "broadcast";
      senderText = kind === "broadcast" ? "⚑ broadcast" : String(msg.title || "notification");
    } else if (msg.kind === "broadcast") {
      kind = "broadcast"; // a v1 server
      senderText = "⚑ broadcast";
    } else {
      kind = "chat";
      senderText = String(msg.sender ?? "?");
      mine = me !== null && msg.sender_id != null && msg.sender_id === me.id;
    }

    const li = messageItem(kind, msg.ts, senderText, text, mine);
    if (seq !== null) li.dataset.seq = String(seq);
    if (isNotification) {
      li.dataset.level = levelOf(msg.level);
      li.dataset.source = String(msg.source ?? "");
    }
    const seqEl = document.createElement("span");
    seqEl.className = "message-seq";
    seqEl.textContent = seq !== null ? `#${seq}` : "";
    seqEl.title = "Sequence number in the room";
    li.append(seqEl);

    addItem(roomName, li, { forceScroll: mine, unread: true });

    const live = !backlog;
    if (kind !== "chat" && (live || room.resumed)) {
      toast(levelOf(msg.level), kind === "broadcast" ? String(msg.title || "Broadcast") : senderText, text);
    }
    if (!mine && live) {
      notifyDesktop(kind, kind === "chat" ? senderText : String(msg.title || senderText), text, roomName);
    }
  }

  function levelOf(level) {
    return ["info", "success", "warning", "error"].includes(level) ? level : "info";
  }

  function messageItem(kind, ts, senderText, text, mine) {
    const li = document.createElement("li");
    li.className = "message";
    li.dataset.kind = kind;
    if (mine) {
      li.classList.add("mine");
      li.dataset.mine = "true";
    }
    li.append(timeElement(ts));
    const sender = document.createElement("span");
    sender.className = "message-sender";
    sender.textContent = senderText;
    sender.title = senderText;
    li.append(sender);
    const body = document.createElement("span");
    body.className = "message-text";
    body.textContent = text;
    li.append(body);
    return li;
  }

  function onDirect(msg) {
    const from = String(msg.from ?? `#${msg.from_id}`);
    const to = String(msg.to ?? `#${msg.to_id}`);
    const mine = me !== null && msg.from_id === me.id;
    const li = messageItem("direct", msg.ts, `${from} → ${to}`, String(msg.text ?? ""), mine);
    if (Number.isSafeInteger(msg.from_id)) li.dataset.from = String(msg.from_id);
    if (Number.isSafeInteger(msg.to_id)) li.dataset.to = String(msg.to_id);
    const tag = document.createElement("span");
    tag.className = "message-seq";
    tag.textContent = "DM";
    tag.title = "Direct message: only the two of you see it";
    li.append(tag);
    addItem(currentRoomName, li, { forceScroll: mine, unread: false });
    if (!mine) notifyDesktop("direct", from, String(msg.text ?? ""), "dm");
  }

  function onNotice(msg) {
    const roomName = typeof msg.room === "string" && msg.room ? msg.room : LOBBY;
    if (!rooms.has(roomName)) return;
    const name = String(msg.name ?? "someone");
    // Our own comings and goings (every reconnect) are not news to us.
    if (me !== null && msg.id === me.id && msg.event !== "renamed") return;
    let text;
    switch (msg.event) {
      case "joined":
        text = `${name} joined`;
        break;
      case "left":
        text = `${name} left`;
        break;
      case "renamed":
        text = `${String(msg.old_name ?? "someone")} is now ${name}`;
        break;
      default:
        return;
    }
    systemLine(text, "notice", "", roomName, msg.ts);
  }

  function onRenamed(msg) {
    const name = String(msg.name ?? "");
    if (!name) return;
    if (me) me.name = name;
    setMyName(name);
    pendingRename = "";
    closeRename();
    renderOnline();
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
    if ((code === "name_taken" || code === "invalid_name") && pendingRename && !ui.renameForm.hidden) {
      pendingRename = "";
      setRenameError(code === "name_taken" ? "That name is taken" : text);
      ui.renameInput.focus();
      return;
    }
    if ((code === "invalid_room" || code === "too_many_rooms") && pendingJoin) {
      pendingJoin = "";
      setJoinError(code === "too_many_rooms" ? "You are in too many rooms (16 at most)" : text);
      return;
    }
    systemLine(text, "error", code);
  }

  // ---------------------------------------------------------------- toasts

  function toast(level, title, text) {
    const el = document.createElement("div");
    el.className = "toast";
    el.dataset.level = level;
    el.setAttribute("role", "status");
    const body = document.createElement("div");
    body.className = "toast-body";
    const t = document.createElement("strong");
    t.className = "toast-title";
    t.textContent = title;
    const p = document.createElement("p");
    p.className = "toast-text";
    p.textContent = text;
    body.append(t, p);
    const close = document.createElement("button");
    close.type = "button";
    close.className = "icon-button toast-dismiss";
    close.setAttribute("aria-label", "Dismiss notification");
    close.title = "Dismiss";
    close.textContent = "✕";
    el.append(body, close);

    let timer = 0;
    const dismiss = () => {
      clearTimeout(timer);
      el.remove();
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(dismiss, TOAST_MS);
    };
    close.addEventListener("click", dismiss);
    el.addEventListener("mouseenter", () => clearTimeout(timer));
    el.addEventListener("mouseleave", arm);
    el.addEventListener("focusin", () => clearTimeout(timer));
    el.addEventListener("focusout", arm);
    arm();

    ui.toasts.append(el);
    while (ui.toasts.childElementCount > MAX_TOASTS) ui.toasts.firstElementChild.remove();
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

  // A line from the page itself (connection events, refusals, who joined) in a room's view:
  // the current room unless one is named.
  function systemLine(text, level = "info", code = "", roomName = currentRoomName, ts = Date.now()) {
    const li = document.createElement("li");
    li.className = "system";
    li.dataset.level = level;
    li.append(timeElement(ts));
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
    addItem(roomName, li, { forceScroll: false, unread: false });
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

  // Keep `li` in the room's store; show it if the room is the one on screen.
  function addItem(roomName, li, { forceScroll, unread }) {
    const room = getRoom(roomName);
    room.items.push(li);
    const shown = roomName === currentRoomName;
    while (room.items.length > MAX_ITEMS) {
      const old = room.items.shift();
      if (shown) old.remove();
    }
    if (shown) {
      ui.messages.append(li);
      if (stickToBottom || forceScroll) scrollToBottom();
      else ui.jumpLatest.hidden = false;
    } else if (unread) {
      room.unread += 1;
      updateRoomLink(room);
    }
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
    if (dmTarget) ws.send(JSON.stringify({ type: "direct", to: dmTarget.id, text }));
    else ws.send(JSON.stringify({ type: "chat", room: currentRoom(), text }));
    ui.chatInput.value = "";
    stickToBottom = true; // the echo should scroll into view
  });

  // ---------------------------------------------------------------- actor inspector (GET /api/actors)

  function actorsPanelShown() {
    return ui.actorsPanel.getClientRects().length > 0; // display:none below ~1024px unless opened
  }

  const actorsPoller = makePoller({
    path: "/api/actors",
    timeoutMs: ACTORS_TIMEOUT_MS,
    intervalMs: ACTORS_INTERVAL_MS,
    // Cheap check first: fetch only while someone can see the panel.
    wanted: actorsPanelShown,
    async onResponse(res, isCurrent) {
      if (res.status === 404) {
        throw Object.assign(new Error("This server has no actor inspector"), { retryMs: ACTORS_RETRY_MS });
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const tree = await res.json();
      if (!isCurrent()) return;
      renderActors(tree);
      ui.actorsUpdated.dataset.stale = "false";
      setText(ui.actorsUpdated, "live");
    },
    onError(err) {
      ui.actorsUpdated.dataset.stale = "true";
      setText(ui.actorsUpdated, "stale");
      if (err.retryMs) {
        ui.actorsSupervisor.className = "actor-supervisor placeholder";
        setText(ui.actorsSupervisor, err.message);
      }
    },
  });

  function num(n) {
    return Number.isFinite(n) ? String(n) : "–";
  }

  function age(sinceMs) {
    if (!Number.isFinite(sinceMs)) return "–";
    const s = Math.max(0, Math.floor((Date.now() - sinceMs) / 1000));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`;
    return `${Math.floor(s / 86400)}d`;
  }

  function span(cls, text, title) {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    if (title) el.title = title;
    return el;
  }

  function emptyItem(text) {
    const li = document.createElement("li");
    li.className = "placeholder";
    li.textContent = text;
    return li;
  }

  function renderActors(tree) {
    if (!tree || typeof tree !== "object") return;
    const sup = tree.supervisor && typeof tree.supervisor === "object" ? tree.supervisor : {};
    const status = String(sup.status ?? "unknown");
    ui.actorsSupervisor.className = "actor-supervisor";
    ui.actorsSupervisor.dataset.status = status;
    ui.actorsSupervisor.replaceChildren(
      span("actor-kind", "supervisor"),
      span("actor-id", String(sup.actor_id ?? "")),
      span("actor-status", status),
      span("actor-num", `${num(sup.children)} children`)
    );

    const roomsList = Array.isArray(tree.rooms) ? tree.rooms : [];
    ui.actorsRooms.replaceChildren(
      ...(roomsList.length
        ? roomsList.map((r) => {
            const li = document.createElement("li");
            li.className = "actor-room";
            li.dataset.room = String(r.name ?? "");
            li.title = `actor ${r.actor_id ?? "?"} · history ${num(r.history)}`;
            li.append(
              span("actor-name", `# ${r.name ?? "?"}`),
              span("actor-num", `${num(r.members)} ${r.members === 1 ? "member" : "members"}`),
              span("actor-num", `seq ${num(r.last_seq)}`)
            );
            return li;
          })
        : [emptyItem("no rooms")])
    );

    const conns = Array.isArray(tree.connections) ? tree.connections : [];
    ui.actorsConnections.replaceChildren(
      ...(conns.length
        ? conns.map((c) => {
            const li = document.createElement("li");
            li.className = "actor-connection";
            li.dataset.id = String(c.id ?? "");
            if (me !== null && c.id === me.id) li.dataset.me = "true";
            const head = document.createElement("div");
            head.className = "actor-line";
            head.append(
              span("actor-name", String(c.name ?? "?") + (me !== null && c.id === me.id ? " (you)" : "")),
              span("actor-num", `#${num(c.id)}`, "connection id"),
              span("actor-id", String(c.actor_id ?? ""), "actor id")
            );
            const stats = document.createElement("div");
            stats.className = "actor-line actor-stats";
            const depth = Number.isFinite(c.queue_depth) ? c.queue_depth : 0;
            const q = span("actor-num actor-queue", `q${num(c.queue_depth)}`, "outbound queue depth");
            if (depth > 0) q.dataset.busy = "true";
            stats.append(
              span("actor-num", `↑${num(c.messages_in)}`, "messages in"),
              span("actor-num", `↓${num(c.messages_out)}`, "messages out"),
              q,
              span("actor-num actor-age", age(c.connected_since_ms), "connected for")
            );
            const roomsLine = document.createElement("div");
            roomsLine.className = "actor-line actor-rooms-line";
            const names = Array.isArray(c.rooms) ? c.rooms.map((r) => `#${r}`).join(" ") : "";
            roomsLine.append(span("actor-rooms", names || "—"));
            li.append(head, stats, roomsLine);
            return li;
          })
        : [emptyItem("no connections")])
    );

    const events = Array.isArray(tree.events) ? tree.events.slice().reverse() : [];
    ui.actorsEvents.replaceChildren(
      ...(events.length
        ? events.map((e) => {
            const li = document.createElement("li");
            li.className = "actor-event";
            const kind = ["started", "stopped", "failed"].includes(e.event) ? e.event : "other";
            li.dataset.event = kind;
            li.append(
              span("actor-id", String(e.actor_id ?? "")),
              span("actor-event-name", String(e.event ?? "?")),
              span("actor-label", e.label ? `(${e.label})` : e.kind ? `(${e.kind})` : "")
            );
            if (e.reason) li.append(span("actor-reason", `: ${e.reason}`));
            const when = Number.isFinite(e.ts) ? new Date(e.ts).toLocaleTimeString() : "";
            li.title = [when, e.kind, e.label, e.reason].filter(Boolean).join(" · ");
            return li;
          })
        : [emptyItem("no events yet")])
    );
  }

  // Below ~1024px (actors) and ~640px (rooms) the panels are hidden; these buttons show them
  // as an overlay.
  function setPanelOpen(panel, button, open) {
    panel.dataset.open = open ? "true" : "false";
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function closePanelsOverlay() {
    setPanelOpen(ui.roomsPanel, ui.toggleRooms, false);
  }

  ui.toggleActors.addEventListener("click", () => {
    const open = ui.actorsPanel.dataset.open !== "true";
    setPanelOpen(ui.actorsPanel, ui.toggleActors, open);
    if (open) {
      setPanelOpen(ui.roomsPanel, ui.toggleRooms, false);
      actorsPoller.soon(0);
      ui.actorsClose.focus();
    }
  });
  ui.actorsClose.addEventListener("click", () => {
    setPanelOpen(ui.actorsPanel, ui.toggleActors, false);
    ui.toggleActors.focus();
  });
  ui.toggleRooms.addEventListener("click", () => {
    const open = ui.roomsPanel.dataset.open !== "true";
    setPanelOpen(ui.roomsPanel, ui.toggleRooms, open);
    if (open) setPanelOpen(ui.actorsPanel, ui.toggleActors, false);
  });
  // A click outside an open overlay closes it.
  document.addEventListener("click", (ev) => {
    for (const [panel, button] of [
      [ui.actorsPanel, ui.toggleActors],
      [ui.roomsPanel, ui.toggleRooms],
    ]) {
      if (panel.dataset.open !== "true") continue;
      if (panel.contains(ev.target) || button.contains(ev.target)) continue;
      if (getComputedStyle(panel).position !== "fixed") continue; // part of the layout, not an overlay
      setPanelOpen(panel, button, false);
    }
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape" || ev.defaultPrevented) return;
    if (ui.actorsPanel.dataset.open === "true") {
      setPanelOpen(ui.actorsPanel, ui.toggleActors, false);
      ui.toggleActors.focus();
    } else if (ui.roomsPanel.dataset.open === "true") {
      setPanelOpen(ui.roomsPanel, ui.toggleRooms, false);
      ui.toggleRooms.focus();
    }
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

  /**
   * One polling loop for a JSON endpoint of the server, shared by the live counts and the actor
   * inspector: fetch with a timeout, again every `intervalMs` while connected and visible, never
   * two requests at once, and `stop()` aborts the one in flight. `onResponse(res, isCurrent)`
   * reads the answer (`isCurrent()` is false once stopped); an error it throws goes to `onError`,
   * and may carry `retryMs` to slow the next attempt down.
   */
  function makePoller({ path, timeoutMs, intervalMs, wanted = () => true, onResponse, onError }) {
    let timer = 0;
    let controller = null;
    const active = () => state === "connected" && document.visibilityState !== "hidden" && cfg.httpBase;

    function soon(delay) {
      clearTimeout(timer);
      timer = 0;
      if (active()) timer = setTimeout(run, delay);
    }

    function stop() {
      clearTimeout(timer);
      timer = 0;
      if (controller) controller.abort();
      controller = null;
    }

    async function run() {
      timer = 0;
      if (!active() || controller) return;
      if (!wanted()) {
        soon(intervalMs);
        return;
      }
      const ctrl = new AbortController();
      controller = ctrl;
      const isCurrent = () => controller === ctrl;
      const abortTimer = setTimeout(() => ctrl.abort(), timeoutMs);
      let next = intervalMs;
      try {
        const res = await fetch(`${cfg.httpBase}${path}`, { cache: "no-store", signal: ctrl.signal });
        await onResponse(res, isCurrent);
      } catch (err) {
        if (err && err.retryMs) next = err.retryMs;
        if (isCurrent()) onError(err);
      } finally {
        clearTimeout(abortTimer);
        if (isCurrent()) {
          controller = null;
          soon(next);
        }
      }
    }

    return { soon, stop };
  }

  const healthPoller = makePoller({
    path: "/health",
    timeoutMs: HEALTH_TIMEOUT_MS,
    intervalMs: HEALTH_INTERVAL_MS,
    async onResponse(res, isCurrent) {
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const h = await res.json();
      if (!isCurrent()) return; // stopped meanwhile
      setCounts(h.active_websockets, h.active_actors);
      ui.counts.dataset.stale = "false";
    },
    onError() {
      ui.counts.dataset.stale = "true";
    },
  });

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
      healthPoller.soon(0);
      actorsPoller.soon(0);
      reconnectNow();
    } else {
      healthPoller.stop();
      actorsPoller.stop();
    }
  });

  window.addEventListener("online", reconnectNow);

  window.addEventListener("pagehide", () => {
    stopped = true;
    clearReconnect();
    healthPoller.stop();
    actorsPoller.stop();
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
  getRoom(LOBBY);
  connect();
})();
