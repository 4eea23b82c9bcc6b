// Unit tests of the About panel's text (ui/views/about.js): the rows shown for `GET /api/about`
// and the "Copy diagnostics" text. The panel itself (fetching, the dialog, the clipboard) runs in
// the browser tests; here only the formatting, which is what ends up in bug reports.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { aboutRows, diagnosticsText, duration } from "../../ui/views/about.js";

/** An answer shaped like the server's (src-tauri/src/server/about.rs). */
const ABOUT = {
  version: "0.1.0",
  instance: "k3x9",
  data_dir: "/home/ada/.local/share/dev.tauri-ractor-websocket.hub",
  log_file: "/home/ada/.local/share/dev.tauri-ractor-websocket.hub/logs/tauri-ractor-websocket.log",
  listening: ["127.0.0.1:8000"],
  uptime_ms: 93_784_000,
  open_file_limit: 524288,
  connection_cap: 524160,
};

describe("about rows", () => {
  it("labels every field of /api/about, in a fixed order", () => {
    assert.deepEqual(aboutRows(ABOUT), [
      ["Version", "0.1.0"],
      ["Instance", "k3x9"],
      ["Data directory", ABOUT.data_dir],
      ["Log file", ABOUT.log_file],
      ["Listening on", "127.0.0.1:8000"],
      ["Up for", "1 d 2 h 3 min 4 s"],
      ["Open-file limit", "524288"],
      ["Connection cap", "524160"],
    ]);
  });

  it("says none for a missing log file or an unknown limit, and keeps fields it does not know", () => {
    const rows = aboutRows({ ...ABOUT, log_file: null, open_file_limit: null, listening: [], tls_fingerprint: "ab:cd" });
    const text = Object.fromEntries(rows);
    assert.equal(text["Log file"], "none");
    assert.equal(text["Open-file limit"], "none");
    assert.equal(text["Listening on"], "none");
    assert.equal(text["Tls fingerprint"], "ab:cd", "a newer server's extra field is shown too");
    assert.equal(rows.at(-1)[0], "Tls fingerprint", "after the known ones");
  });

  it("has nothing for a missing answer", () => {
    assert.deepEqual(aboutRows(null), []);
    assert.deepEqual(aboutRows("oops"), []);
  });

  it("writes durations the short way", () => {
    assert.equal(duration(0), "0 s");
    assert.equal(duration(59_999), "59 s");
    assert.equal(duration(61_000), "1 min 1 s");
    assert.equal(duration(3_600_000), "1 h 0 s");
    assert.equal(duration(undefined), "–");
  });
});

describe("diagnostics text", () => {
  const page = { "Runs in": "a browser tab", Connection: "open: Connected" };
  const health = { active_websockets: 2, draining: false };
  const when = new Date(Date.UTC(2026, 11, 5, 17, 0, 0));

  it("has the server's half, the page's half and /health, one fact a line", () => {
    const text = diagnosticsText(ABOUT, "", page, health, when);
    assert.equal(
      text,
      [
        "tauri-ractor-websocket diagnostics",
        "collected 2026-12-05T17:00:00.000Z",
        "",
        "[server: /api/about]",
        "Version: 0.1.0",
        "Instance: k3x9",
        `Data directory: ${ABOUT.data_dir}`,
        `Log file: ${ABOUT.log_file}`,
        "Listening on: 127.0.0.1:8000",
        "Up for: 1 d 2 h 3 min 4 s",
        "Open-file limit: 524288",
        "Connection cap: 524160",
        "",
        "[page]",
        "Runs in: a browser tab",
        "Connection: open: Connected",
        "",
        "[server: /health]",
        '{"active_websockets":2,"draining":false}',
      ].join("\n")
    );
  });

  it("says why the server's half is missing", () => {
    const text = diagnosticsText(null, "The server did not answer in time.", page, null, when);
    assert.match(text, /\[server: \/api\/about\]\nThe server did not answer in time\.\n/);
    assert.match(text, /\[server: \/health\]\nno answer yet$/);
  });
});
