//! Access: who may use the server (the access token) and over what (TLS), per listener; and
//! "Share on this network", a second listener that always wants the token.
//!
//! - [`token_store`]: the token, its file, rotation and the [`token_store::Grant`] that
//!   closes connections admitted with a rotated token (4003).
//! - [`credentials`]: where a request carries the token (Bearer, cookie, subprotocol entry).
//! - [`failures`]: wrong tokens rate limited per peer.
//! - [`middleware`]: the check itself, `GET /?token=` (cookie, then a redirect), 401 and 429.
//! - [`tls`]: rustls server configs from PEM files or a self-signed certificate (rcgen).
//! - [`share`]: the second listener and its join URL; [`routes`]: `/api/share…` (and its QR code) and `/api/auth/rotate`.
//!
//! Every listener has a [`ListenerInfo`], which the accept loop puts in each request's
//! extensions: its auth mode, scheme, origin policy and a token cancelled when it stops.

pub mod credentials;
pub mod failures;
pub mod middleware;
pub mod routes;
pub mod share;
pub mod tls;
pub mod token_store;

use std::net::IpAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::request_guard::RequestPolicy;
use crate::config::AuthMode;
use failures::FailureLimiter;
use share::ShareControl;
use token_store::TokenStore;

/// What a request needs to know about the listener it came through.
#[derive(Debug)]
pub struct ListenerInfo {
    pub auth: AuthMode,
    /// https and wss.
    pub secure: bool,
    pub ip: IpAddr,
    pub port: u16,
    /// Hosts and origins this listener answers to (they follow its scheme).
    pub policy: RequestPolicy,
    /// Cancelled when this listener stops (Stop sharing): its connections close, WebSockets
    /// with 1001.
    pub closing: CancellationToken,
    /// The "Share on this network" listener: it cannot start or stop sharing itself.
    pub shared: bool,
}

impl ListenerInfo {
    /// `http://127.0.0.1:8000`, `https://[fd00::1]:8443`.
    pub fn base_url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        let host = match self.ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        format!("{scheme}://{host}:{port}", port = self.port)
    }
}

/// The access state every request shares (part of the server's state).
#[derive(Debug)]
pub struct AccessControl {
    pub tokens: TokenStore,
    pub failures: FailureLimiter,
    pub share: ShareControl,
}

impl AccessControl {
    pub fn new(tokens: TokenStore) -> Arc<Self> {
        Arc::new(Self {
            tokens,
            failures: FailureLimiter::default(),
            share: ShareControl::default(),
        })
    }
}
