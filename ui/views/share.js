/**
 * The "Share" panel: pick one of the machine's addresses, share there (token auth on, TLS unless
 * unticked), show the join link and its QR code (drawn by the app: `GET /api/share/qr.svg`, no
 * network), stop sharing. The button stays hidden where sharing is not available (see
 * `share.js`).
 */

import { addressLabel, parseShareState, shareSummary } from "../share.js";
import { byId, element, setText } from "./dom.js";
import { createModal } from "./dialogs.js";

export function createSharePanel({ httpBase }) {
  const button = byId("share-button");
  const dialog = byId("share-dialog");
  const picker = byId("share-address");
  const tls = byId("share-tls");
  const start = byId("share-start");
  const stop = byId("share-stop");
  const link = byId("share-link");
  const qr = byId("share-qr");
  const summary = byId("share-summary");
  const error = byId("share-error");
  let qrVersion = 0;

  function render(state) {
    const sharing = state ? state.sharing : null;
    if (state) {
      const chosen = picker.value;
      picker.replaceChildren(...state.addresses.map((a) => {
        const option = element("option", "", addressLabel(a));
        option.value = a.address;
        return option;
      }));
      if (chosen) picker.value = chosen;
      start.disabled = state.addresses.length === 0;
    }
    setText(summary, shareSummary(sharing));
    stop.disabled = !sharing;
    link.hidden = !sharing;
    qr.hidden = !sharing;
    if (sharing) {
      setText(link, sharing.joinUrl);
      loadQr();
    } else {
      qr.removeAttribute("src");
    }
  }

  /** The SVG is fetched and shown as a data: URL (the window's CSP allows images from 'self'
   * and data: only). */
  async function loadQr() {
    const version = ++qrVersion;
    try {
      const response = await fetch(`${httpBase}/api/share/qr.svg`, { cache: "no-store" });
      if (!response.ok || version !== qrVersion) return;
      const svg = await response.text();
      if (version === qrVersion) qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    } catch {
      /* the link is still shown */
    }
  }

  async function call(method, path, body) {
    setText(error, "");
    try {
      const response = await fetch(`${httpBase}${path}`, {
        method,
        cache: "no-store",
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      const answer = await response.json().catch(() => null);
      if (!response.ok) {
        setText(error, (answer && answer.message) || `The server answered ${response.status}.`);
        return null;
      }
      return answer;
    } catch {
      setText(error, "The server did not answer.");
      return null;
    }
  }

  async function refresh() {
    const state = parseShareState(await call("GET", "/api/share"));
    button.hidden = state === null;
    render(state);
  }

  start.addEventListener("click", async () => {
    if (!picker.value) return;
    await call("POST", "/api/share", { address: picker.value, tls: tls.checked });
    await refresh();
  });
  stop.addEventListener("click", async () => {
    await call("POST", "/api/share/stop");
    await refresh();
  });
  createModal(dialog, button, byId("share-close"), refresh);
  refresh();
}
