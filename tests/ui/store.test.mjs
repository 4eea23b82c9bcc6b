// Unit tests of the page's state (ui/store.js): `node --test tests/ui/` (scripts/test runs it).
//
// Each test plays the frames a server sends, in the order CONTRACT.md fixes, into a real
// ChatStore and checks what the page would show and what it would send back on reconnect.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { connectUrl } from "../../ui/frames.js";
import { ChatStore } from "../../ui/store.js";

const EPOCH = "e1Ab_9-x";
const NEW_EPOCH = "e2Zz";

/** A store with every event it emits collected in `events`. */
function newStore(options) {
  const store = new ChatStore(options);
  const events = [];
  store.subscribe((event) => events.push(event));
  return { store, events };
}

const welcome = (id, extra = {}) => ({
  type: "welcome",
  id,
  name: `guest-${id}`,
  room: "lobby",
  server: "tauri-ractor-websocket",
  version: "0.1.0",
  instance: "inst-1",
  heartbeat_ms: 10000,
  ...extra,
});
const joined = (room, lastSeq, extra = {}) => ({
  type: "joined",
  room,
  last_seq: lastSeq,
  members: [],
  member_count: 0,
  resumed_from: null,
  gap: false,
  ...extra,
});
const chat = (room, seq, text, senderId = 99) => ({
  type: "message",
  kind: "chat",
  room,
  seq,
  sender: `guest-${senderId}`,
  sender_id: senderId,
  text,
  ts: 1_700_000_000_000 + seq,
});
const broadcast = (seq, text) => ({
  type: "notification",
  source: "broadcast",
  room: "lobby",
  seq,
  title: "",
  text,
  level: "info",
  ts: 1,
});

/** Connect (welcome + the lobby's `joined`) and return what the page would send. */
function connect(store, id, lobby = joined("lobby", 0, { epoch: EPOCH }), extra = {}) {
  const frames = store.welcome(welcome(id, extra));
  store.receive(lobby);
  return frames;
}

const texts = (conversation) => conversation.items.filter((item) => item.kind !== "system").map((item) => item.text);
const notes = (conversation) => conversation.items.filter((item) => item.kind === "system").map((item) => item.text);

describe("resume points", () => {
  it("are kept across reconnects and sent back with the epoch", () => {
    const { store } = newStore();
    connect(store, 1);
    store.receive(chat("lobby", 1, "one"));
    store.receive(chat("lobby", 2, "two"));
    store.receive(joined("dev", 7, { epoch: NEW_EPOCH }));
    store.receive(chat("dev", 7, "seven"));
    assert.deepEqual(store.connectParams().since, [
      { room: "lobby", epoch: EPOCH, seq: 2 },
      { room: "dev", epoch: NEW_EPOCH, seq: 7 },
    ]);

    store.disconnected("Connection lost");
    // Still there while disconnected, and in the URL of the next attempt with session and name.
    store.session = "tok_123";
    const url = connectUrl("ws://127.0.0.1:9/ws", store.connectParams());
    assert.equal(url, `ws://127.0.0.1:9/ws?since=lobby:${EPOCH}:2,dev:${NEW_EPOCH}:7&session=tok_123&name=guest-1`);

    // The next welcome needs no join by hand: both rooms are resumed through ?since=.
    const frames = store.welcome(welcome(2, { session: "tok_456" }));
    assert.deepEqual(frames, []);
    assert.equal(store.session, "tok_456");
    store.receive(joined("lobby", 3, { epoch: EPOCH, resumed_from: 2 }));
    store.receive(chat("lobby", 3, "three"));
    assert.deepEqual(texts(store.rooms.get("lobby")), ["one", "two", "three"]);
    assert.equal(store.connectParams().since[0].seq, 3);
  });

  it("use the old room:seq form for a server without epochs", () => {
    const { store } = newStore();
    connect(store, 1, joined("lobby", 4));
    store.receive(chat("lobby", 4, "four"));
    assert.equal(connectUrl("ws://h/ws", store.connectParams()), "ws://h/ws?since=lobby:4&name=guest-1");
  });

  it("start at 0 for an empty room, so a reconnect replays the room from its start", () => {
    const { store } = newStore();
    connect(store, 1);
    assert.deepEqual(store.connectParams().since, [{ room: "lobby", epoch: EPOCH, seq: 0 }]);
  });

  it("survive a server restart when they carry an epoch; the server judges them", () => {
    const { store } = newStore();
    connect(store, 1);
    store.receive(chat("lobby", 1, "before the restart"));
    store.disconnected("Server shutting down", "1001");
    store.welcome(welcome(1, { instance: "inst-2" }));
    assert.deepEqual(store.connectParams().since, [{ room: "lobby", epoch: EPOCH, seq: 1 }]);
    assert.ok(notes(store.rooms.get("lobby")).includes("The server restarted"));
  });

  it("are dropped at a server restart when they have no epoch (numbers from another process)", () => {
    const { store } = newStore();
    connect(store, 1, joined("lobby", 0));
    store.receive(chat("lobby", 1, "old"));
    store.disconnected("Server shutting down", "1001");
    store.welcome(welcome(1, { instance: "inst-2" }));
    assert.deepEqual(store.connectParams().since, []);
    // The new process numbers from 1 again: its frame 1 is new, not a duplicate.
    store.receive(joined("lobby", 1));
    store.receive(chat("lobby", 1, "new"));
    assert.deepEqual(texts(store.rooms.get("lobby")), ["old", "new"]);
  });
});

describe("an epoch change", () => {
  it("starts the numbering over: the new log's frames show even with lower seqs", () => {
    const { store } = newStore();
    connect(store, 1);
    for (let seq = 1; seq <= 5; seq += 1) store.receive(chat("lobby", seq, `old ${seq}`));
    store.disconnected("Connection lost");
    store.welcome(welcome(2));
    store.receive(joined("lobby", 2, { epoch: NEW_EPOCH, resumed_from: 5, gap: true }));
    store.receive(chat("lobby", 1, "new 1"));
    store.receive(chat("lobby", 2, "new 2"));
    const lobby = store.rooms.get("lobby");
    assert.deepEqual(texts(lobby), ["old 1", "old 2", "old 3", "old 4", "old 5", "new 1", "new 2"]);
    assert.deepEqual(store.connectParams().since, [{ room: "lobby", epoch: NEW_EPOCH, seq: 2 }]);
    // No "missed messages" line for the jump back to 1, and one line about the new log.
    assert.deepEqual(notes(lobby).filter((n) => n.startsWith("Missed")), []);
    assert.ok(notes(lobby).includes("This room's numbering started over (a new log)"));
    // Older history now means the new log's: the old items no longer count.
    assert.equal(lobby.oldestSeq(), 1);
  });

  it("is also detected from a v1 server whose last_seq is below what the page saw", () => {
    const { store } = newStore();
    connect(store, 1, joined("lobby", 0));
    for (let seq = 1; seq <= 9; seq += 1) store.receive(chat("lobby", seq, `m${seq}`));
    store.disconnected("Connection lost");
    store.welcome(welcome(2)); // same instance id: no restart announced
    store.receive(joined("lobby", 3, { resumed_from: 9, gap: true }));
    store.receive(chat("lobby", 3, "after"));
    assert.equal(texts(store.rooms.get("lobby")).at(-1), "after");
    assert.equal(store.rooms.get("lobby").lastSeq, 3);
  });
});

describe("a gap", () => {
  it("is announced once, then the kept history resumes without a 'missed' line", () => {
    const { store } = newStore();
    connect(store, 1);
    store.receive(chat("lobby", 1, "a"));
    store.disconnected("Connection lost");
    store.welcome(welcome(2));
    // Frames 2..600 are gone; the server sends what it kept: 601..603.
    store.receive(joined("lobby", 603, { epoch: EPOCH, resumed_from: 1, gap: true }));
    for (const seq of [601, 602, 603]) store.receive(chat("lobby", seq, `k${seq}`));
    const lobby = store.rooms.get("lobby");
    assert.deepEqual(texts(lobby), ["a", "k601", "k602", "k603"]);
    assert.equal(notes(lobby).filter((n) => n === "Some older messages are no longer available").length, 1);
    assert.deepEqual(notes(lobby).filter((n) => n.startsWith("Missed")), []);
  });

  it("inside a connection is reported with the missing numbers", () => {
    const { store } = newStore();
    connect(store, 1);
    store.receive(chat("lobby", 1, "a"));
    store.receive(chat("lobby", 4, "d"));
    assert.ok(notes(store.rooms.get("lobby")).includes("Missed 2 messages (#2–#3)"));
  });
});

describe("dedupe", () => {
  it("drops the frames a resume replays, and keeps exactly the new ones in order", () => {
    const { store } = newStore();
    connect(store, 1);
    for (let seq = 1; seq <= 3; seq += 1) store.receive(chat("lobby", seq, `m${seq}`));
    store.disconnected("Connection lost");
    store.welcome(welcome(2));
    store.receive(joined("lobby", 5, { epoch: EPOCH, resumed_from: 3 }));
    // A server may overlap what the page has (here 2 and 3 again) before the new frames.
    for (let seq = 2; seq <= 5; seq += 1) store.receive(chat("lobby", seq, `m${seq}`));
    store.receive(chat("lobby", 5, "m5"));
    assert.deepEqual(texts(store.rooms.get("lobby")), ["m1", "m2", "m3", "m4", "m5"]);
  });

  it("keeps broadcasts in the backlog out of the toasts, unless the backlog is a resume", () => {
    const { store, events } = newStore();
    store.welcome(welcome(1));
    store.receive(joined("lobby", 2, { epoch: EPOCH }));
    store.receive(broadcast(1, "history"));
    store.receive(broadcast(2, "history too"));
    store.receive(broadcast(3, "live"));
    assert.deepEqual(
      events.filter((e) => e.type === "toast").map((e) => e.text),
      ["live"]
    );
  });
});

describe("rooms", () => {
  it("exist only after joined: frames after left do not bring a room back", () => {
    const { store, events } = newStore();
    connect(store, 1);
    store.receive(joined("dev", 0, { epoch: EPOCH }));
    store.receive(chat("dev", 1, "in dev"));
    store.receive({ type: "left", room: "dev" });
    const before = events.length;
    store.receive(chat("dev", 2, "late"));
    store.receive({ type: "presence", room: "dev", members: [{ id: 5, name: "x" }], member_count: 1 });
    store.receive({ type: "notice", room: "dev", event: "joined", id: 5, name: "x", ts: 1 });
    store.receive(chat("ghost", 1, "never joined"));
    assert.equal(store.rooms.has("dev"), false);
    assert.equal(store.rooms.has("ghost"), false);
    assert.equal(events.length, before, "late frames must not emit anything");
    assert.deepEqual(store.connectParams().since.map((p) => p.room), ["lobby"]);
  });

  it("leaving the room on screen goes back to the lobby", () => {
    const { store } = newStore();
    connect(store, 1);
    assert.deepEqual(store.join("dev"), { frame: { type: "join", room: "dev" } });
    store.receive(joined("dev", 0, { epoch: EPOCH }));
    assert.equal(store.currentKey, "#dev");
    store.receive({ type: "left", room: "dev" });
    assert.equal(store.currentKey, "#lobby");
  });

  it("takes no frames between a disconnect and the next joined", () => {
    const { store } = newStore();
    connect(store, 1);
    store.disconnected("Connection lost");
    store.welcome(welcome(2));
    store.receive(chat("lobby", 1, "before joined"));
    assert.deepEqual(texts(store.rooms.get("lobby")), []);
  });

  it("without a resume point are joined again by hand on reconnect", () => {
    const { store } = newStore();
    connect(store, 1);
    store.receive(joined("dev", 5, { epoch: EPOCH })); // a backlog was due but never came
    store.disconnected("Connection lost");
    assert.deepEqual(store.welcome(welcome(2)), [{ type: "join", room: "dev" }]);
  });

  it("count unread messages while another conversation is on screen", () => {
    const { store } = newStore();
    connect(store, 1);
    store.receive(joined("dev", 0, { epoch: EPOCH }));
    store.receive(chat("dev", 1, "x"));
    store.receive(chat("dev", 2, "y"));
    assert.equal(store.rooms.get("dev").unread, 2);
    store.show("#dev");
    assert.equal(store.rooms.get("dev").unread, 0);
  });
});

describe("direct messages", () => {
  const direct = (fromId, toId, text) => ({
    type: "direct",
    from_id: fromId,
    from: `guest-${fromId}`,
    to_id: toId,
    to: `guest-${toId}`,
    text,
    ts: 5,
  });

  it("are kept per peer, never in a room", () => {
    const { store, events } = newStore();
    connect(store, 1);
    store.receive(joined("dev", 0, { epoch: EPOCH }));
    store.show("#dev");
    store.receive(direct(7, 1, "from seven"));
    store.receive(direct(8, 1, "from eight"));
    store.receive(direct(1, 7, "to seven")); // our own echo: filed under the recipient
    assert.deepEqual(texts(store.directs.get(7)), ["from seven", "to seven"]);
    assert.deepEqual(texts(store.directs.get(8)), ["from eight"]);
    assert.deepEqual(texts(store.rooms.get("dev")), []);
    assert.deepEqual(texts(store.rooms.get("lobby")), []);
    assert.equal(store.directs.get(7).unread, 1, "our own echo is not unread");
    assert.ok(events.some((e) => e.type === "toast" && e.title === "Direct message from guest-8"));
  });

  it("are written from the conversation on screen, and follow the peer's renames", () => {
    const { store } = newStore();
    connect(store, 1);
    store.openDirect(7, "guest-7");
    assert.equal(store.currentKey, "@7");
    assert.deepEqual(store.compose("hi"), { frame: { type: "direct", to: 7, text: "hi" } });
    store.receive({ type: "notice", room: "lobby", event: "renamed", id: 7, name: "ada", old_name: "guest-7", ts: 1 });
    assert.equal(store.directs.get(7).name, "ada");
    store.receive({ type: "notice", room: "lobby", event: "left", id: 7, name: "ada", ts: 2 });
    assert.equal(store.directs.get(7).online, false);
    store.closeDirect(7);
    assert.equal(store.currentKey, "#lobby");
  });

  it("cannot be opened with oneself", () => {
    const { store } = newStore();
    connect(store, 1);
    store.openDirect(1, "me");
    assert.equal(store.directs.size, 0);
  });
});

describe("posts", () => {
  it("an echo confirms a post; `unavailable` shows the oldest pending one as not sent", () => {
    const { store } = newStore();
    connect(store, 1);
    store.compose("stored");
    store.compose("refused");
    store.receive(chat("lobby", 1, "stored", 1));
    store.receive({ type: "error", code: "unavailable", message: "the log store is failing" });
    const lobby = store.rooms.get("lobby");
    const failed = lobby.items.filter((item) => item.failed);
    assert.deepEqual(failed.map((item) => [item.text, item.reason]), [["refused", "the log store is failing"]]);
    assert.equal(lobby.items.find((item) => item.text === "stored").mine, true);
    assert.equal(store.posts.pending.length, 0);
  });

  it("a rate-limit refusal is the newest post's, even while an older echo is on its way", () => {
    const { store } = newStore();
    connect(store, 1);
    store.compose("first");
    store.compose("second");
    store.receive({ type: "error", code: "rate_limited", message: "slow down" });
    store.receive(chat("lobby", 1, "first", 1));
    const failed = store.rooms.get("lobby").items.filter((item) => item.failed);
    assert.deepEqual(failed.map((item) => item.text), ["second"]);
  });

  it("a post whose echo is in the resumed backlog is confirmed, one that is not is shown as not sent", () => {
    const { store } = newStore();
    connect(store, 1);
    store.compose("made it");
    store.compose("lost");
    store.disconnected("Connection lost");
    store.welcome(welcome(2));
    store.receive(joined("lobby", 1, { epoch: EPOCH, resumed_from: 0 }));
    store.receive(chat("lobby", 1, "made it", 1)); // sent by our previous connection, id 1
    const lobby = store.rooms.get("lobby");
    assert.equal(lobby.items.find((item) => item.text === "made it" && !item.failed).mine, true);
    assert.deepEqual(lobby.items.filter((item) => item.failed).map((item) => item.text), ["lost"]);
  });

  it("an error that answers no post is a line in the conversation", () => {
    const { store } = newStore();
    connect(store, 1);
    store.receive({ type: "error", code: "invalid_json", message: "bad" });
    assert.ok(notes(store.rooms.get("lobby")).includes("bad"));
  });

  it("refuses too long a text before sending it", () => {
    const { store } = newStore();
    connect(store, 1);
    const answer = store.compose("x".repeat(8193));
    assert.equal(answer.code, "text_too_long");
    assert.equal(store.posts.pending.length, 0);
  });
});

describe("older history", () => {
  it("asks before the oldest seq shown, puts the answer in front, deduped", () => {
    const { store, events } = newStore();
    connect(store, 1, joined("lobby", 60, { epoch: EPOCH }));
    for (let seq = 11; seq <= 60; seq += 1) store.receive(chat("lobby", seq, `m${seq}`));
    const request = store.older("lobby");
    assert.deepEqual(request, { type: "history", room: "lobby", limit: 50, before: 11 });
    assert.equal(store.older("lobby"), null, "one request at a time");
    const messages = [9, 10, 10, 11, 12].map((seq) => chat("lobby", seq, `m${seq}`));
    store.receive({ type: "history", room: "lobby", epoch: EPOCH, messages, has_more: true });
    const lobby = store.rooms.get("lobby");
    assert.deepEqual(texts(lobby).slice(0, 4), ["m9", "m10", "m11", "m12"]);
    assert.equal(texts(lobby).length, 52);
    assert.equal(lobby.hasMore, true);
    const inserted = events.find((e) => e.type === "inserted");
    assert.equal(inserted.before.text, "m11");
    assert.deepEqual(store.older("lobby").before, 9);
  });

  it("ignores an answer from another log, and stops at seq 1", () => {
    const { store } = newStore();
    connect(store, 1, joined("lobby", 3, { epoch: EPOCH }));
    for (let seq = 2; seq <= 3; seq += 1) store.receive(chat("lobby", seq, `m${seq}`));
    store.older("lobby");
    store.receive({ type: "history", room: "lobby", epoch: NEW_EPOCH, messages: [chat("lobby", 1, "x")], has_more: false });
    assert.deepEqual(texts(store.rooms.get("lobby")), ["m2", "m3"]);
    store.older("lobby");
    store.receive({ type: "history", room: "lobby", epoch: EPOCH, messages: [chat("lobby", 1, "m1")], has_more: false });
    assert.deepEqual(texts(store.rooms.get("lobby")), ["m1", "m2", "m3"]);
    assert.equal(store.older("lobby"), null);
  });

  it("copes with a server that answers unknown_type: says so once and stops asking", () => {
    const { store } = newStore();
    connect(store, 1, joined("lobby", 70, { epoch: EPOCH }));
    store.receive(chat("lobby", 70, "last"));
    assert.notEqual(store.older("lobby"), null);
    store.receive({ type: "error", code: "unknown_type", message: "unknown message type: history" });
    assert.equal(store.older("lobby"), null);
    const lobby = store.rooms.get("lobby");
    assert.deepEqual(notes(lobby).filter((n) => n.includes("older messages")), ["This server cannot load older messages"]);
    assert.equal(lobby.items.filter((item) => item.kind === "system" && item.level === "error").length, 0);
  });
});

describe("sessions and names", () => {
  it("gives the session token up when another connection took it over (4001)", () => {
    const { store } = newStore();
    connect(store, 1, joined("lobby", 0, { epoch: EPOCH }), { session: "mine" });
    store.disconnected("Connection lost", "1006");
    assert.equal(store.connectParams().session, "mine");
    store.welcome(welcome(2, { session: "mine-2" }));
    store.disconnected("Replaced by another connection of yours", "4001");
    assert.equal(store.connectParams().session, null);
    assert.equal(store.connectParams().since.length, 1, "the resume points stay");
  });

  it("keeps the session token of the welcome, and ignores one that is not URL-safe", () => {
    const { store } = newStore();
    store.welcome(welcome(1, { session: "abc-DEF_123" }));
    assert.equal(store.session, "abc-DEF_123");
    store.welcome(welcome(2, { session: "a b&c" }));
    assert.equal(store.session, null);
  });

  it("asks for the same name again and says when it could not be kept", () => {
    const { store } = newStore();
    connect(store, 1);
    store.rename("ada");
    store.receive({ type: "renamed", id: 1, name: "ada", old_name: "guest-1" });
    store.disconnected("Connection lost");
    assert.equal(store.connectParams().name, "ada");
    store.welcome(welcome(2));
    assert.ok(notes(store.rooms.get("lobby")).includes("Could not keep the name ada"));
  });
});
