/**
 * The About panel: what the server says about itself (`GET /api/about`: version, instance, data
 * directory, log file, addresses, uptime, limits; docs/PROTOCOL.md), what the page knows (where it
 * runs, the connection, the live counts), and "Copy diagnostics", which puts all of it on the
 * clipboard as readable text for a bug report. A server without `/api/about` (404) still gets
 * the page's half.
 */

import { ABOUT_TIMEOUT_MS } from "../config.js";
import { byId, element, setText } from "./dom.js";
import { createModal } from "./dialogs.js";

const LABELS = {
  version: "Version",
  instance: "Instance",
  data_dir: "Data directory",
  log_file: "Log file",
  listening: "Listening on",
  uptime_ms: "Up for",
  open_file_limit: "Open-file limit",
  connection_cap: "Connection cap",
};

/** `3 d 4 h 5 min 6 s`, leaving out leading zero units; "–" for a missing value. */
export function duration(ms) {
  if (!Number.isFinite(ms)) return "–";
  const s = Math.floor(ms / 1000);
  const parts = [[Math.floor(s / 86400), "d"], [Math.floor(s / 3600) % 24, "h"], [Math.floor(s / 60) % 60, "min"], [s % 60, "s"]];
  return parts.filter(([n], i) => n > 0 || i === 3).map(([n, unit]) => `${n} ${unit}`).join(" ");
}

/** One value as text: null is "none", lists are comma-separated, objects are JSON. */
function valueText(key, value) {
  if (value === null || value === undefined) return "none";
  if (key === "uptime_ms") return duration(value);
  if (Array.isArray(value)) return value.map(String).join(", ") || "none";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const labelOf = (key) => LABELS[key] ?? key.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

/** `[label, text]` rows: the known keys in order, then any others the server added. */
export function aboutRows(about) {
  if (!about || typeof about !== "object") return [];
  const keys = [...Object.keys(LABELS).filter((k) => k in about), ...Object.keys(about).filter((k) => !(k in LABELS))];
  return keys.map((key) => [labelOf(key), valueText(key, about[key])]);
}

/**
 * The diagnostics as readable text. `page` and `health` come from the page's own state; `now`
 * (a Date) is when they were collected.
 */
export function diagnosticsText(about, aboutNote, page, health, now = new Date()) {
  const lines = ["tauri-ractor-websocket diagnostics", `collected ${now.toISOString()}`, "", "[server: /api/about]"];
  const rows = aboutRows(about);
  if (rows.length) for (const [label, text] of rows) lines.push(`${label}: ${text}`);
  else lines.push(aboutNote);
  lines.push("", "[page]");
  for (const [label, text] of Object.entries(page)) lines.push(`${label}: ${text}`);
  lines.push("", "[server: /health]");
  lines.push(health ? JSON.stringify(health) : "no answer yet");
  return lines.join("\n");
}

export function createAbout({ httpBase, pageInfo, lastHealth }) {
  const dialog = byId("about-dialog");
  const list = byId("about-list");
  const note = byId("about-note");
  const copy = byId("about-copy");
  const copied = byId("about-copied");
  const fallback = byId("about-text");
  let about = null;
  let aboutNote = "";

  function render() {
    const rows = aboutRows(about);
    list.replaceChildren(...rows.flatMap(([label, text]) => [element("dt", "", label), element("dd", "", text)]));
    const page = pageInfo();
    for (const [label, text] of Object.entries(page)) list.append(element("dt", "", label), element("dd", "", text));
    setText(note, aboutNote);
    note.hidden = !aboutNote;
  }

  async function load() {
    about = null;
    aboutNote = "Asking the server…";
    setText(copied, "");
    fallback.hidden = true;
    render();
    if (!httpBase) {
      aboutNote = "No server address.";
      render();
      return;
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), ABOUT_TIMEOUT_MS);
    try {
      const response = await fetch(`${httpBase}/api/about`, { cache: "no-store", signal: abort.signal });
      if (response.status === 404) aboutNote = "This server does not describe itself (no /api/about): it is older than this page.";
      else if (!response.ok) aboutNote = `The server answered HTTP ${response.status}.`;
      else {
        about = await response.json();
        aboutNote = "";
      }
    } catch (error) {
      aboutNote = error && error.name === "AbortError" ? "The server did not answer in time." : "Could not reach the server.";
    } finally {
      clearTimeout(timer);
    }
    if (dialog.open) render();
  }

  async function copyDiagnostics() {
    const text = diagnosticsText(about, aboutNote, pageInfo(), lastHealth());
    try {
      await navigator.clipboard.writeText(text);
      setText(copied, "Copied to the clipboard.");
      fallback.hidden = true;
    } catch {
      // No clipboard access (an insecure origin, a denied permission): select it for Ctrl+C.
      fallback.value = text;
      fallback.hidden = false;
      fallback.focus();
      fallback.select();
      setText(copied, "Could not copy by itself: the text is selected below, press Ctrl+C.");
    }
  }

  copy.addEventListener("click", copyDiagnostics);
  createModal(dialog, byId("about-button"), byId("about-close"), load);
  return { load };
}
