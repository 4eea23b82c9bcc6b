// Unit tests of the page's access-token handling (ui/auth.js) and of the "Share" panel's
// reading of `GET /api/share` (ui/share.js). The real flows (cookie login in Chromium, the
// desktop window's subprotocol entry) run in tests/e2e_access.rs and tests/e2e_desktop_share.rs.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { freshToken, SUBPROTOCOL, tokenProtocols, withToken } from "../../ui/auth.js";
import { readConfig } from "../../ui/config.js";
import { addressLabel, parseShareState, shareSummary } from "../../ui/share.js";

const TOKEN = "0123456789abcdef".repeat(4);

describe("the desktop window's token", () => {
  it("is read from the injected config, and never in a tab", () => {
    const injected = { wsUrl: "ws://127.0.0.1:8000/ws", instance: "abc", token: TOKEN };
    assert.equal(readConfig(injected, {}).token, TOKEN);
    assert.equal(readConfig({ wsUrl: "ws://127.0.0.1:8000/ws" }, {}).token, null);
    const tab = readConfig(undefined, { host: "127.0.0.1:8000", protocol: "http:", search: "?token=x" });
    assert.equal(tab.token, null);
  });

  it("goes in a subprotocol entry next to the one the server answers", () => {
    assert.deepEqual(tokenProtocols(TOKEN), [SUBPROTOCOL, `trw.token.${TOKEN}`]);
    assert.deepEqual(tokenProtocols(null), []);
    assert.deepEqual(tokenProtocols("has space"), [], "not a token: nothing offered");
  });

  it("goes as a Bearer header to its own server only", async () => {
    const seen = [];
    const fetchFn = async (input, init = {}) => {
      seen.push([input, new Headers(init.headers ?? {}).get("Authorization")]);
      return "ok";
    };
    const authorized = withToken(fetchFn, "http://127.0.0.1:8000", TOKEN);
    await authorized("http://127.0.0.1:8000/api/actors", { cache: "no-store" });
    await authorized("http://127.0.0.1:8000");
    await authorized("http://127.0.0.1:80001/api/actors");
    await authorized("https://elsewhere.example/x");
    assert.deepEqual(seen, [
      ["http://127.0.0.1:8000/api/actors", `Bearer ${TOKEN}`],
      ["http://127.0.0.1:8000", `Bearer ${TOKEN}`],
      ["http://127.0.0.1:80001/api/actors", null],
      ["https://elsewhere.example/x", null],
    ]);
    assert.equal(withToken(fetchFn, "http://127.0.0.1:8000", null), fetchFn);
  });
});

describe("after a rotation", () => {
  it("the fetch wrapper follows the current token", async () => {
    let token = TOKEN;
    const seen = [];
    const fetchFn = async (input, init = {}) => seen.push(new Headers(init.headers ?? {}).get("Authorization"));
    const authorized = withToken(fetchFn, "http://127.0.0.1:8000", () => token);
    await authorized("http://127.0.0.1:8000/health");
    token = "f".repeat(64);
    await authorized("http://127.0.0.1:8000/health");
    assert.deepEqual(seen, [`Bearer ${TOKEN}`, `Bearer ${"f".repeat(64)}`]);
  });

  it("the window takes the app's new token, and only a new one", async () => {
    const newer = "a".repeat(64);
    assert.equal(await freshToken(async (command) => (command === "access_token" ? newer : null), TOKEN), newer);
    assert.equal(await freshToken(async () => TOKEN, TOKEN), null, "the same token: stay stopped");
    assert.equal(await freshToken(async () => null, TOKEN), null);
    assert.equal(await freshToken(async () => { throw new Error("no such command"); }, TOKEN), null);
    assert.equal(await freshToken(undefined, TOKEN), null, "a browser tab has no app to ask");
  });
});

describe("the share panel's state", () => {
  it("reads addresses and a share in force", () => {
    const state = parseShareState({
      addresses: [{ address: "192.168.1.20", interface: "wlan0" }, { address: "<script>" }, null],
      sharing: { url: "https://192.168.1.20:8000", join_url: `https://192.168.1.20:8000/?token=${TOKEN}`, tls: true, fingerprint: "AB:CD" },
    });
    assert.deepEqual(state.addresses, [{ address: "192.168.1.20", interface: "wlan0" }]);
    assert.equal(state.sharing.joinUrl.endsWith(TOKEN), true);
    assert.equal(addressLabel(state.addresses[0]), "192.168.1.20 (wlan0)");
    assert.match(shareSummary(state.sharing), /Shared at https:\/\/192\.168\.1\.20:8000.*SHA-256 AB:CD/);
  });

  it("treats anything else as not available", () => {
    assert.equal(parseShareState(null), null);
    assert.equal(parseShareState({ error: "not_here" }), null);
    const notSharing = parseShareState({ addresses: [], sharing: { url: 1 } });
    assert.equal(notSharing.sharing, null);
    assert.match(shareSummary(null), /Not shared/);
    assert.match(
      shareSummary({ url: "http://10.0.0.2:8000", joinUrl: "http://10.0.0.2:8000/?token=x", tls: false, fingerprint: null }),
      /Not encrypted/
    );
  });
});
