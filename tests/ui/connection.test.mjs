// Unit tests of reconnecting (ui/connection.js): the backoff schedule and the close-code rules.
//
// The Connection takes its socket class and clock as parameters. Here the socket is a scripted
// stand-in (the test plays the server's side: open, frames, close codes) and the clock is
// manual, so "reconnects 5 s later" is checked without waiting 5 s. The real socket path is
// covered by the browser tests (tests/e2e_page_protocol.rs).

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { afterClose, backoffDelay, Connection } from "../../ui/connection.js";

describe("backoff schedule", () => {
  it("doubles from 0.5 s to a 10 s cap, with ±25 % jitter", () => {
    const middle = () => 0.5; // no jitter
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 40].map((attempt) => backoffDelay(attempt, middle)),
      [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]
    );
    assert.equal(backoffDelay(3, () => 0), 1500); // -25 %
    assert.equal(backoffDelay(3, () => 0.999999), 2500); // +25 %
    assert.equal(backoffDelay(6, () => 0.999999), 10000, "never above the cap");
    assert.equal(backoffDelay(1, () => 0), 375);
  });

  it("spreads clients out: the same attempt gets different delays", () => {
    const delays = new Set();
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 50; i += 1) delays.add(backoffDelay(4, random));
    assert.ok(delays.size > 10, `only ${delays.size} distinct delays`);
    for (const delay of delays) assert.ok(delay >= 3000 && delay <= 5000, `${delay}`);
  });

  it("after a stable connection starts over; after 1013 and 1001 waits longer, never in a tight loop", () => {
    const random = () => 0.5;
    const stable = { welcomed: true, livedMs: 60_000, attempt: 3 };
    assert.deepEqual(afterClose({ ...stable, code: 1006 }, random), {
      halt: null,
      attempt: 1,
      delayMs: 500,
      note: "Connection lost",
    });
    // A server that keeps closing with 1013 right after each welcome: the delay grows.
    let attempt = 0;
    const delays = [];
    for (let i = 0; i < 5; i += 1) {
      const plan = afterClose({ code: 1013, welcomed: true, livedMs: 60_000, attempt }, random);
      delays.push(plan.delayMs);
      attempt = plan.attempt;
    }
    assert.deepEqual(delays, [5000, 5000, 5000, 5000, 8000]);
    const goingAway = afterClose({ ...stable, code: 1001 }, random);
    assert.ok(goingAway.delayMs >= 2000, `${goingAway.delayMs}`);
    assert.equal(goingAway.note, "Server shutting down");
    // With the most unlucky jitter, 1013 still waits 3.75 s at least.
    assert.ok(afterClose({ ...stable, code: 1013, attempt: 0 }, () => 0).delayMs >= 3750);
  });

  it("4001 and 4003 halt: no automatic reconnect", () => {
    assert.deepEqual(afterClose({ code: 4001, welcomed: true, livedMs: 1, attempt: 0 }), {
      halt: "replaced",
      note: "Replaced by another connection of yours",
    });
    assert.equal(afterClose({ code: 4003, welcomed: false, livedMs: 0, attempt: 0 }).halt, "unauthorized");
  });
});

/** A manual clock: timers run only when the test advances time. */
class ManualClock {
  constructor() {
    this.time = 0;
    this.timers = new Map();
    this.nextId = 1;
  }
  now() {
    return this.time;
  }
  setTimeout(fn, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  /** The delay until the next timer, or null when none is armed. */
  nextDelay() {
    const ats = [...this.timers.values()].map((t) => t.at);
    return ats.length ? Math.min(...ats) - this.time : null;
  }
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
    }
    this.time = end;
  }
}

/** The server's side of one socket, played by the test. */
class ScriptedSocket {
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.listeners = {};
    ScriptedSocket.made.push(this);
  }
  addEventListener(type, fn) {
    (this.listeners[type] ??= []).push(fn);
  }
  fire(type, event = {}) {
    for (const fn of this.listeners[type] ?? []) fn(event);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  // the server's moves
  open() {
    this.readyState = 1;
    this.fire("open");
  }
  frame(object) {
    this.fire("message", { data: JSON.stringify(object) });
  }
  closedByServer(code) {
    this.readyState = 3;
    this.fire("close", { code });
  }
}

function newConnection() {
  ScriptedSocket.made = [];
  const clock = new ManualClock();
  const seen = { statuses: [], welcomes: 0, closed: [] };
  const connection = new Connection({
    url: () => "ws://127.0.0.1:1/ws",
    accept: (frame) => frame !== null && frame.type === "welcome" && frame.server === "tauri-ractor-websocket",
    onWelcome: () => (seen.welcomes += 1),
    onFrame: () => {},
    onClosed: (info) => seen.closed.push(info),
    onStatus: (status) => seen.statuses.push(status),
    WebSocket: ScriptedSocket,
    clock,
    random: () => 0.5,
  });
  connection.start();
  return { connection, clock, seen };
}

const WELCOME = { type: "welcome", server: "tauri-ractor-websocket", id: 1, name: "guest-1", instance: "i" };

function welcomed(socket) {
  socket.open();
  socket.frame(WELCOME);
}

describe("Connection", () => {
  it("reconnects after 1013 no sooner than the floor, and the next socket is a new one", () => {
    const { clock, seen } = newConnection();
    welcomed(ScriptedSocket.made[0]);
    clock.advance(60_000);
    ScriptedSocket.made[0].closedByServer(1013);
    assert.equal(seen.closed[0].code, 1013);
    assert.equal(seen.statuses.at(-1).state, "reconnecting");
    assert.equal(clock.nextDelay(), 5000);
    clock.advance(4999);
    assert.equal(ScriptedSocket.made.length, 1, "no reconnect before the delay");
    clock.advance(1);
    assert.equal(ScriptedSocket.made.length, 2);
  });

  it("after 1001 waits at least 2 s", () => {
    const { clock } = newConnection();
    welcomed(ScriptedSocket.made[0]);
    ScriptedSocket.made[0].closedByServer(1001);
    assert.ok(clock.nextDelay() >= 2000);
  });

  it("after 4001 or 4003 never reconnects by itself, until the user asks", () => {
    for (const [code, state] of [
      [4001, "replaced"],
      [4003, "unauthorized"],
    ]) {
      const { connection, clock, seen } = newConnection();
      welcomed(ScriptedSocket.made[0]);
      ScriptedSocket.made[0].closedByServer(code);
      assert.equal(seen.statuses.at(-1).state, state);
      assert.equal(clock.nextDelay(), null, "no timer armed");
      connection.retryNow(); // "online" or the tab shown again: still no
      clock.advance(3_600_000);
      assert.equal(ScriptedSocket.made.length, 1);
      connection.reconnect(); // the Reconnect button
      assert.equal(ScriptedSocket.made.length, 2);
      welcomed(ScriptedSocket.made[1]);
      assert.equal(seen.statuses.at(-1).state, "connected");
    }
  });

  it("says the server is unreachable after attempts that never got a welcome, and keeps trying", () => {
    const { clock, seen } = newConnection();
    for (let i = 0; i < 4; i += 1) {
      ScriptedSocket.made.at(-1).closedByServer(1006);
      clock.advance(clock.nextDelay());
    }
    ScriptedSocket.made.at(-1).closedByServer(1006);
    assert.equal(seen.statuses.at(-1).state, "gone");
    assert.equal(clock.nextDelay(), 8000, "backing off, but still retrying");
  });

  it("stops for good when another program answers", () => {
    const { clock, seen } = newConnection();
    ScriptedSocket.made[0].open();
    ScriptedSocket.made[0].frame({ hello: "I am not your server", type: "x" });
    assert.equal(seen.statuses.at(-1).state, "foreign");
    assert.equal(clock.nextDelay(), null);
    assert.equal(seen.welcomes, 0);
  });

  it("drops a socket that opens but sends no welcome, and tries again", () => {
    const { clock } = newConnection();
    ScriptedSocket.made[0].open();
    clock.advance(5000); // the welcome timeout closes it...
    ScriptedSocket.made[0].closedByServer(1006); // ...and the browser reports the close
    clock.advance(clock.nextDelay());
    assert.equal(ScriptedSocket.made.length, 2);
  });
});
