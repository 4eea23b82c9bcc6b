//! "Share on this network": a second listener on one of the machine's addresses, with token auth
//! forced on and TLS (self-signed) unless turned off.
//!
//! The main listener stays where it is (usually loopback, without a token). The shared one
//! answers on the chosen address, on the main port when it is free there (else on a port the
//! system picks), and its join URL carries the token: `https://192.168.1.20:8000/?token=…`,
//! which sets the cookie and leaves the address bar clean ([`super::middleware`]).
//!
//! Stopping cancels the listener's `closing` token: its accept loop ends, its HTTP connections
//! are dropped and its WebSockets are closed with 1001. Only one share at a time; sharing again
//! moves it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{tls, ListenerInfo};
use crate::config::AuthMode;
use crate::server::connections::{self, limits::per_peer_cap, transport};
use crate::server::request_guard::RequestPolicy;
use crate::server::routes;
use crate::server::state::AppState;

/// What the user asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    pub address: IpAddr,
    /// TLS with a self-signed certificate; on unless turned off.
    #[serde(default = "tls_default")]
    pub tls: bool,
}

fn tls_default() -> bool {
    true
}

/// One address that can be shared on.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Candidate {
    pub address: IpAddr,
    /// The interface's name (`wlan0`), or `configured` for `--share-address`.
    pub interface: String,
}

/// A share in force.
#[derive(Debug, Clone, Serialize)]
pub struct ShareStatus {
    pub address: IpAddr,
    pub port: u16,
    pub tls: bool,
    /// `https://192.168.1.20:8000`
    pub url: String,
    /// The URL with the token, for the QR code.
    pub join_url: String,
    /// SHA-256 of the self-signed certificate (`AB:CD:…`), to compare with what a browser shows.
    pub fingerprint: Option<String>,
}

/// Why sharing could not start.
#[derive(Debug)]
pub enum ShareError {
    /// Not one of [`candidates`].
    NotOffered(IpAddr),
    Bind(SocketAddr, std::io::Error),
    Tls(String),
    Token(std::io::Error),
}

impl std::fmt::Display for ShareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShareError::NotOffered(ip) => {
                write!(f, "{ip} is not one of this machine's shareable addresses")
            }
            ShareError::Bind(addr, error) => write!(f, "cannot listen on {addr}: {error}"),
            ShareError::Tls(error) => write!(f, "{error}"),
            ShareError::Token(error) => write!(f, "the access token: {error}"),
        }
    }
}

#[derive(Debug)]
struct Shared {
    listener: Arc<ListenerInfo>,
    fingerprint: Option<String>,
}

/// The share in force, if any, and who wants to know when it changes.
#[derive(Debug)]
pub struct ShareControl {
    current: tokio::sync::Mutex<Option<Shared>>,
    /// The share's URL (without the token), or `None`: the tray follows it, whoever started or
    /// stopped the share (the tray itself or the page).
    changes: tokio::sync::watch::Sender<Option<String>>,
}

impl Default for ShareControl {
    fn default() -> Self {
        Self {
            current: tokio::sync::Mutex::default(),
            changes: tokio::sync::watch::Sender::new(None),
        }
    }
}

impl ShareControl {
    /// Follows the share's URL (`None` when not sharing).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.changes.subscribe()
    }
}

/// The machine's addresses one could share on: every interface address but loopback and IPv6
/// link-local ones (they need a zone), then the configured extras (`--share-address`).
pub fn candidates(extra: &[IpAddr]) -> Vec<Candidate> {
    let mut found: Vec<Candidate> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|interface| {
            let ip = interface.ip();
            let link_local_v6 =
                matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
            !ip.is_loopback() && !link_local_v6
        })
        .map(|interface| Candidate {
            address: interface.ip(),
            interface: interface.name,
        })
        .collect();
    for ip in extra {
        if !found.iter().any(|candidate| candidate.address == *ip) {
            found.push(Candidate {
                address: *ip,
                interface: "configured".to_owned(),
            });
        }
    }
    found
}

/// Starts sharing on `request.address` (moving an existing share there).
pub async fn start(app: &Arc<AppState>, request: ShareRequest) -> Result<ShareStatus, ShareError> {
    let offered = candidates(&app.config.access.share_addresses);
    if !offered
        .iter()
        .any(|candidate| candidate.address == request.address)
    {
        return Err(ShareError::NotOffered(request.address));
    }
    let mut current = app.access.share.current.lock().await;
    if let Some(old) = current.take() {
        old.listener.closing.cancel();
    }
    let token = app.access.tokens.token().map_err(ShareError::Token)?;
    let main_port = app.local_addr.port();
    let tcp = match TcpListener::bind((request.address, main_port)).await {
        Ok(tcp) => tcp,
        Err(_) => {
            let any = SocketAddr::new(request.address, 0);
            TcpListener::bind(any)
                .await
                .map_err(|error| ShareError::Bind(any, error))?
        }
    };
    let bound = tcp
        .local_addr()
        .map_err(|error| ShareError::Bind(SocketAddr::new(request.address, 0), error))?;
    let tls = if request.tls {
        Some(
            tls::self_signed(app.config.data_dir.as_deref(), request.address)
                .map_err(ShareError::Tls)?,
        )
    } else {
        None
    };
    let listener = Arc::new(ListenerInfo {
        auth: AuthMode::Token,
        secure: tls.is_some(),
        ip: request.address,
        port: bound.port(),
        policy: RequestPolicy::for_listener(
            &app.config,
            request.address,
            bound.port(),
            tls.is_some(),
        ),
        closing: CancellationToken::new(),
        shared: true,
    });
    let cap = per_peer_cap(app.config.max_connections_per_peer, request.address);
    let router = routes::router(Arc::clone(app));
    let http = Arc::clone(&app.http);
    let fingerprint = tls.as_ref().map(|setup| setup.fingerprint.clone());
    match tls {
        Some(setup) => {
            let listener = connections::Listener {
                tcp,
                transport: transport::Tls(tokio_rustls::TlsAcceptor::from(setup.config)),
                per_peer_cap: cap,
                info: Arc::clone(&listener),
            };
            tokio::spawn(connections::accept_loop(listener, router, http));
        }
        None => {
            let listener = connections::Listener {
                tcp,
                transport: transport::PlainTcp,
                per_peer_cap: cap,
                info: Arc::clone(&listener),
            };
            tokio::spawn(connections::accept_loop(listener, router, http));
        }
    }
    let shared = Shared {
        listener,
        fingerprint,
    };
    let status = describe(&shared, &token);
    tracing::info!(
        url = %status.url,
        fingerprint = status.fingerprint.as_deref().unwrap_or("none (no TLS)"),
        "sharing on this network (token auth on)"
    );
    *current = Some(shared);
    app.access
        .share
        .changes
        .send_replace(Some(status.url.clone()));
    Ok(status)
}

/// Stops sharing: the listener and every connection that came through it. `false` when there
/// was no share.
pub async fn stop(app: &AppState) -> bool {
    let Some(shared) = app.access.share.current.lock().await.take() else {
        return false;
    };
    shared.listener.closing.cancel();
    app.access.share.changes.send_replace(None);
    tracing::info!(url = %shared.listener.base_url(), "stopped sharing on this network");
    true
}

/// The share in force, with the current token in its join URL.
pub async fn status(app: &AppState) -> Option<ShareStatus> {
    let current = app.access.share.current.lock().await;
    let shared = current.as_ref()?;
    let token = app.access.tokens.token().ok()?;
    Some(describe(shared, &token))
}

fn describe(shared: &Shared, token: &str) -> ShareStatus {
    let url = shared.listener.base_url();
    ShareStatus {
        address: shared.listener.ip,
        port: shared.listener.port,
        tls: shared.listener.secure,
        join_url: format!("{url}/?token={token}"),
        url,
        fingerprint: shared.fingerprint.clone(),
    }
}

/// The join URL as an SVG QR code (drawn here: no network, no script).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_addresses_are_offered_and_loopback_interfaces_are_not() {
        let extra: IpAddr = "127.0.0.2".parse().expect("ip");
        let offered = candidates(&[extra]);
        assert!(offered.iter().any(|candidate| candidate.address == extra));
        assert!(!offered
            .iter()
            .any(|candidate| candidate.address == IpAddr::from([127, 0, 0, 1])));
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("https://192.168.1.20:8000/?token=00").expect("svg");
        assert!(svg.contains("<svg"), "{svg}");
    }
}
