//! Who may talk to this server. A server on localhost is reachable by every web page the user
//! opens, so the browser's own signals are checked before anything happens:
//!
//! - **Host** (against DNS rebinding): a page on `evil.example` that re-points its name to
//!   127.0.0.1 still sends `Host: evil.example`. Only loopback names and the configured host pass.
//!   A request with two `Host` headers is malformed (RFC 9112, section 3.2) and gets 400: which
//!   one a proxy or a handler believes would otherwise be anybody's guess.
//! - **Origin** (against cross-site WebSocket hijacking and CSRF): browsers always send it on
//!   WebSocket handshakes and cross-origin POSTs. Only this server's own origins, the desktop
//!   WebView's and configured extras pass. Non-browser clients send none and are allowed.
//! - **Sec-Fetch-Site** on `GET /broadcast`: an `<img src=".../broadcast?message=...">` on another
//!   site sends `cross-site` (and often no Origin), so it is refused; curl sends nothing.
//!
//! The same origin list drives CORS, so the window (origin `tauri://localhost`) can read
//! `/health` and POST `/broadcast`, and no other site can.
//!
//! Each listener has its own policy (the main one, and the "Share on this network" one with its
//! own address), which the accept loop puts in the request's extensions; the own origins follow
//! the listener's scheme (`https://…` over TLS). The middleware's state is the fallback.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::api_error::ApiError;
use crate::config::ServerConfig;

/// Origins of the desktop WebView: Linux and macOS, then Windows (http and https variants).
const WEBVIEW_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

/// Where `cargo tauri dev` serves the frontend when `devUrl` is not set. Debug builds only.
const DEV_SERVER_PORT: u16 = 1430;

/// The allow-lists, computed once the port is known.
#[derive(Debug, Clone)]
pub struct RequestPolicy {
    origins: Arc<HashSet<String>>,
    extra_hosts: Arc<HashSet<String>>,
}

impl RequestPolicy {
    /// The main listener's policy: bound at `config.host`, TLS as configured.
    pub fn new(config: &ServerConfig, bound: SocketAddr) -> Self {
        Self::for_listener(config, config.host, bound.port(), config.access.tls.is_on())
    }

    /// A listener on `host:port`, over TLS when `secure`.
    pub fn for_listener(config: &ServerConfig, host: IpAddr, port: u16, secure: bool) -> Self {
        let scheme = if secure { "https" } else { "http" };
        let mut origins: HashSet<String> = WEBVIEW_ORIGINS.iter().map(|o| o.to_string()).collect();
        let mut own_hosts = vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            "[::1]".to_owned(),
        ];
        // The address listened on is an own origin even inside 127.0.0.0/8 (127.0.0.2).
        if !host.is_unspecified() && !own_hosts.contains(&host_literal(host)) {
            own_hosts.push(host_literal(host));
        }
        for own in &own_hosts {
            origins.insert(format!("{scheme}://{own}:{port}"));
        }
        if cfg!(debug_assertions) {
            for host in ["127.0.0.1", "localhost"] {
                origins.insert(format!("http://{host}:{DEV_SERVER_PORT}"));
            }
        }
        origins.extend(
            config
                .extra_allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_owned()),
        );

        let mut extra_hosts: HashSet<String> = config
            .extra_allowed_hosts
            .iter()
            .map(|host| host.to_ascii_lowercase())
            .collect();
        if !host.is_loopback() && !host.is_unspecified() {
            extra_hosts.insert(host_literal(host));
        }
        Self {
            origins: Arc::new(origins),
            extra_hosts: Arc::new(extra_hosts),
        }
    }

    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.contains(origin)
    }

    /// `host` is the Host header: a name or IP literal, maybe with a port.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host);
        if name.eq_ignore_ascii_case("localhost")
            || name.to_ascii_lowercase().ends_with(".localhost")
        {
            return true;
        }
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            if ip.is_loopback() {
                return true;
            }
        }
        self.extra_hosts.contains(&name.to_ascii_lowercase())
    }

    /// CORS for the allowed origins only.
    pub fn cors_layer(&self) -> CorsLayer {
        let policy = self.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(
                move |origin: &HeaderValue, parts: &axum::http::request::Parts| {
                    let policy = parts.extensions.get::<RequestPolicy>().unwrap_or(&policy);
                    origin
                        .to_str()
                        .is_ok_and(|origin| policy.origin_allowed(origin))
                },
            ))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
    }
}

/// Middleware applying the checks described in the module docs. It needs nothing but the
/// policy (`middleware::from_fn_with_state(policy, guard)`), so it depends on no server state.
pub async fn guard(State(policy): State<RequestPolicy>, request: Request, next: Next) -> Response {
    let policy = request
        .extensions()
        .get::<RequestPolicy>()
        .unwrap_or(&policy);
    if let Err(refusal) = check(
        policy,
        request.method(),
        request.uri().path(),
        request.headers(),
    ) {
        tracing::warn!(
            method = %request.method(),
            path = request.uri().path(),
            reason = refusal.code,
            "refused a request"
        );
        return refusal.into_response();
    }
    next.run(request).await
}

fn check(
    policy: &RequestPolicy,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "duplicate_host",
            "a request carries at most one Host header (RFC 9112, section 3.2)",
        ));
    }
    if let Some(host) = host {
        let allowed = host.to_str().is_ok_and(|host| policy.host_allowed(host));
        if !allowed {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                "this server only answers to loopback host names; see SECURITY.md (--allow-host)",
            ));
        }
    }
    // Every POST changes something (sharing, rotating the token, notifying…), and so does /ws.
    let state_changing = matches!(path, "/ws" | "/broadcast") || method == Method::POST;
    if state_changing {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let allowed = origin
                .to_str()
                .is_ok_and(|origin| policy.origin_allowed(origin));
            if !allowed {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden_origin",
                    "pages from this origin may not use this server; see SECURITY.md (--allow-origin)",
                ));
            }
        }
    }
    if path == "/broadcast" && method == Method::GET {
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes() == b"cross-site");
        if cross_site {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_site_request",
                "GET /broadcast refuses cross-site requests; use POST with a JSON body",
            ));
        }
    }
    Ok(())
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8000 → [::1]
        return match rest.find(']') {
            Some(end) => &host[..end + 2],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn host_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RequestPolicy {
        RequestPolicy::new(
            &ServerConfig::default(),
            SocketAddr::from(([127, 0, 0, 1], 8000)),
        )
    }

    #[test]
    fn own_and_webview_origins_pass() {
        let policy = policy();
        assert!(policy.origin_allowed("http://127.0.0.1:8000"));
        assert!(policy.origin_allowed("http://localhost:8000"));
        assert!(policy.origin_allowed("tauri://localhost"));
        assert!(!policy.origin_allowed("http://127.0.0.1:8001"));
        assert!(!policy.origin_allowed("https://evil.example"));
        assert!(!policy.origin_allowed("null"));
    }

    #[test]
    fn a_listeners_own_origin_follows_its_address_and_scheme() {
        let config = ServerConfig::default();
        let other = "127.0.0.2".parse().expect("ip");
        let plain = RequestPolicy::for_listener(&config, other, 9000, false);
        assert!(plain.origin_allowed("http://127.0.0.2:9000"));
        assert!(!plain.origin_allowed("https://127.0.0.2:9000"));
        let secure = RequestPolicy::for_listener(&config, other, 9000, true);
        assert!(secure.origin_allowed("https://127.0.0.2:9000"));
        assert!(secure.origin_allowed("https://localhost:9000"));
        assert!(!secure.origin_allowed("http://127.0.0.2:9000"));
    }

    #[test]
    fn two_host_headers_are_a_bad_request_even_if_both_pass() {
        let mut headers = HeaderMap::new();
        headers.append(header::HOST, HeaderValue::from_static("127.0.0.1:8000"));
        assert!(check(&policy(), &Method::GET, "/health", &headers).is_ok());
        headers.append(header::HOST, HeaderValue::from_static("localhost:8000"));
        let refusal = check(&policy(), &Method::GET, "/health", &headers)
            .expect_err("two Host headers are refused");
        assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
        assert_eq!(refusal.code, "duplicate_host");
    }

    #[test]
    fn only_loopback_hosts_pass() {
        let policy = policy();
        for host in [
            "127.0.0.1:8000",
            "localhost:8000",
            "[::1]:8000",
            "127.0.0.2",
            "LOCALHOST",
        ] {
            assert!(policy.host_allowed(host), "{host}");
        }
        for host in [
            "evil.example:8000",
            "192.168.1.5:8000",
            "localhost.evil.example",
        ] {
            assert!(!policy.host_allowed(host), "{host}");
        }
    }
}
