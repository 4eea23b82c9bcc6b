/**
 * The access token, where the page needs one (SECURITY.md, PROTOCOL.md "Credentials").
 *
 * A browser tab served by the app logs in once through `/?token=…` and then carries an
 * HttpOnly cookie: it never sees the token. The desktop window is not served by the app (its
 * origin is the WebView's), so the app hands it the token in `window.__TRW_CONFIG__.token`, and
 * the page sends it:
 * - on the WebSocket, as a subprotocol entry `trw.token.<token>` next to `trw.v1` (the server
 *   answers `trw.v1`), so that it never appears in a URL;
 * - on HTTP requests to its server, as `Authorization: Bearer <token>`.
 */

export const SUBPROTOCOL = "trw.v1";
export const TOKEN_PROTOCOL_PREFIX = "trw.token.";
/** What a token looks like (the server makes 64 hex characters). */
export const TOKEN_RE = /^[A-Za-z0-9_-]{16,256}$/;

/** The subprotocols to offer: none without a token. */
export function tokenProtocols(token) {
  return typeof token === "string" && TOKEN_RE.test(token) ? [SUBPROTOCOL, TOKEN_PROTOCOL_PREFIX + token] : [];
}

/**
 * `fetchFn` that adds the Bearer header to requests for `httpBase` (and only those: the token
 * never goes to another server). Without a token, `fetchFn` itself.
 */
export function withToken(fetchFn, httpBase, token) {
  if (!httpBase || typeof token !== "string" || !TOKEN_RE.test(token)) return fetchFn;
  return (input, init = {}) => {
    const target = typeof input === "string" ? input : input && input.url;
    if (typeof target !== "string" || !(target === httpBase || target.startsWith(`${httpBase}/`))) {
      return fetchFn(input, init);
    }
    const headers = new Headers(init.headers ?? {});
    headers.set("Authorization", `Bearer ${token}`);
    return fetchFn(input, { ...init, headers });
  };
}
