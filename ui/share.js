/**
 * "Share on this network": what the page makes of `GET /api/share` (no DOM, so it runs under
 * Node's test runner). The view is `views/share.js`.
 *
 * The server answers `{addresses: [{address, interface}], sharing: null | {address, port, tls,
 * url, join_url, fingerprint}}`; anything else is treated as "sharing is not available here"
 * (an older server, or a page that reached the app through the share itself, which gets 403).
 */

const IP_RE = /^[0-9a-fA-F:.]{2,45}$/;

/** The answer, checked; null when it is not one. */
export function parseShareState(answer) {
  if (!answer || typeof answer !== "object" || !Array.isArray(answer.addresses)) return null;
  const addresses = answer.addresses
    .filter((a) => a && typeof a.address === "string" && IP_RE.test(a.address))
    .map((a) => ({ address: a.address, interface: typeof a.interface === "string" ? a.interface : "" }));
  return { addresses, sharing: parseSharing(answer.sharing) };
}

/** A share in force, checked; null when there is none (or it is malformed). */
export function parseSharing(sharing) {
  if (!sharing || typeof sharing !== "object") return null;
  const { url, join_url: joinUrl } = sharing;
  if (typeof url !== "string" || typeof joinUrl !== "string" || !/^https?:\/\//.test(joinUrl)) return null;
  return {
    url,
    joinUrl,
    tls: sharing.tls === true,
    fingerprint: typeof sharing.fingerprint === "string" ? sharing.fingerprint : null,
  };
}

/** The label of one address in the picker: `192.168.1.20 (wlan0)`. */
export function addressLabel({ address, interface: name }) {
  return name ? `${address} (${name})` : address;
}

/** The line under the QR code. */
export function shareSummary(sharing) {
  if (!sharing) return "Not shared: only this machine can connect.";
  const tls = sharing.tls
    ? `Encrypted (self-signed certificate, SHA-256 ${sharing.fingerprint ?? "?"}): the browser will ask to trust it once.`
    : "Not encrypted: anyone on the network can read the traffic.";
  return `Shared at ${sharing.url}. Anyone with the link (it carries the access token) can join. ${tls}`;
}
