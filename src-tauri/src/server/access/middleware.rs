//! The access check, after the request guard (Host, Origin) and before any handler.
//!
//! - `GET /?token=T`: with the right token, sets the cookie (HttpOnly, SameSite=Strict, Secure
//!   over TLS) and redirects to `/`, so the token leaves the address bar and the history; with a
//!   wrong one, 401 (and it counts as a wrong try).
//! - On a listener with `auth = token`, the **API** (`/ws`, `/broadcast`, `/metrics`, `/api/…`,
//!   `/debug/…`) needs the token ([`super::credentials`]); without it, **401** with a JSON error,
//!   before any upgrade. A peer that sent too many wrong tokens gets **429** first.
//! - Always open: `/health` (counts and versions, no secrets) and the page's own files (the same
//!   for everybody; the page then connects with its cookie).
//!
//! An admitted request carries its [`super::token_store::Grant`] in its extensions: the WebSocket handler closes the
//! connection with 4003 when the grant is revoked. The token itself is never logged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::credentials::{cookie_name, presented};
use super::ListenerInfo;
use crate::config::AuthMode;
use crate::server::api_error::ApiError;
use crate::server::state::AppState;

/// How long the login cookie lasts (rotation ends it sooner).
const COOKIE_MAX_AGE_SECS: u64 = 30 * 24 * 3600;

/// Paths that need the token on a listener with `auth = token`.
pub fn is_protected(path: &str) -> bool {
    matches!(path, "/ws" | "/broadcast" | "/metrics")
        || path.starts_with("/api/")
        || path.starts_with("/debug/")
}

/// See the module docs.
pub async fn require(
    State(app): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let listener = request.extensions().get::<Arc<ListenerInfo>>().cloned();
    let (mode, port, secure) = match &listener {
        Some(listener) => (listener.auth, listener.port, listener.secure),
        None => (AuthMode::Token, 0, false), // not through an accept loop: be strict
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let login = request.method() == Method::GET && request.uri().path() == "/";
    let login_token = if login {
        query_token(request.uri().query())
    } else {
        None
    };
    let access = &app.access;
    if login_token.is_none() && (mode == AuthMode::None || !is_protected(request.uri().path())) {
        return next.run(request).await;
    }
    let now = Instant::now();
    if let Some(retry_after) = peer.and_then(|peer| access.failures.blocked(peer, now)) {
        let mut refusal = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_auth_failures",
            format!("too many wrong access tokens from this address; try again in {retry_after} s"),
        )
        .into_response();
        if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
            refusal.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return refusal;
    }
    let candidates = match &login_token {
        Some(token) => vec![token.clone()],
        None => presented(request.headers(), port),
    };
    let grant = candidates
        .iter()
        .find_map(|token| access.tokens.admit(token));
    match (grant, login_token) {
        (Some(_), Some(token)) => login_redirect(&token, port, secure),
        (Some(grant), None) => {
            request.extensions_mut().insert(grant);
            next.run(request).await
        }
        (None, _) if candidates.is_empty() => unauthorized("this server wants its access token"),
        (None, login) => {
            if let Some(peer) = peer {
                let failures = access.failures.record(peer, now);
                tracing::warn!(%peer, failures, path = request.uri().path(), "refused a wrong access token");
            }
            if login.is_some() && mode == AuthMode::None {
                // Nothing to log in to: just take the token out of the address bar.
                return redirect_home(None);
            }
            unauthorized("the access token is wrong or was replaced")
        }
    }
}

/// `token=…` from a query string.
fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}

fn unauthorized(why: &str) -> Response {
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        format!(
            "{why}: send `Authorization: Bearer <token>`, open /?token=<token> once in a \
             browser, or offer the WebSocket subprotocols `trw.v1, trw.token.<token>`"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn login_redirect(token: &str, port: u16, secure: bool) -> Response {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{name}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_SECS}{secure}",
        name = cookie_name(port)
    );
    redirect_home(HeaderValue::from_str(&cookie).ok())
}

fn redirect_home(cookie: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(cookie) = cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_is_protected_and_the_page_and_health_are_not() {
        for path in [
            "/ws",
            "/broadcast",
            "/metrics",
            "/api/actors",
            "/api/share",
            "/debug/panic",
        ] {
            assert!(is_protected(path), "{path}");
        }
        for path in [
            "/",
            "/health",
            "/index.html",
            "/main.js",
            "/styles/app.css",
            "/wsx",
        ] {
            assert!(!is_protected(path), "{path}");
        }
    }

    #[test]
    fn the_login_token_is_read_from_the_query() {
        assert_eq!(query_token(Some("a=1&token=abc")), Some("abc".to_owned()));
        assert_eq!(query_token(Some("token=")), None);
        assert_eq!(query_token(None), None);
    }
}
