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
 * never goes to another server). `token` is the token, or a function that answers the current
 * one (it changes after a rotation). Without a token, `fetchFn` itself.
 */
export function withToken(fetchFn, httpBase, token) {
  const current = typeof token === "function" ? token : () => token;
  if (!httpBase || (typeof token !== "function" && !(typeof token === "string" && TOKEN_RE.test(token)))) return fetchFn;
  return (input, init = {}) => {
    const target = typeof input === "string" ? input : input && input.url;
    const token = current();
    if (
      typeof token !== "string" ||
      !TOKEN_RE.test(token) ||
      typeof target !== "string" ||
      !(target === httpBase || target.startsWith(`${httpBase}/`))
    ) {
      return fetchFn(input, init);
    }
    const headers = new Headers(init.headers ?? {});
    headers.set("Authorization", `Bearer ${token}`);
    return fetchFn(input, { ...init, headers });
  };
}

/**
 * After a 4003 in the desktop window: ask the app for its current token (Tauri command
 * `access_token`). Answers the new token when it differs from `old`, else null (then the page
 * stays stopped, as for any 4003).
 */
export async function freshToken(invoke, old) {
  if (typeof invoke !== "function") return null;
  try {
    const token = await invoke("access_token");
    return typeof token === "string" && TOKEN_RE.test(token) && token !== old ? token : null;
  } catch {
    return null;
  }
}
