//! The per-connection service hyper calls for each request head: the seam between one
//! connection's bookkeeping and the axum router.
//!
//! Before the router it marks the request started, works out who the client is (the TCP peer,
//! or behind a trusted proxy the address `X-Forwarded-For` names, held to the per-peer cap
//! there) and hands it to handlers as axum's `ConnectInfo<SocketAddr>`. After the router it
//! marks the request answered, or the connection upgraded on a 101.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use tower::ServiceExt;

use super::forwarded::forwarded_client;
use super::lifecycle::ConnectionState;
use super::HttpConnections;
use crate::metrics::HttpCloseReason;
use crate::server::access::ListenerInfo;
use crate::server::api_error::ApiError;

/// What a connection's requests need to know about it.
pub struct ConnectionContext {
    pub router: Router,
    pub state: Arc<ConnectionState>,
    pub peer: SocketAddr,
    /// The listener's per-peer cap, applied here to forwarded clients.
    pub per_peer_cap: Option<usize>,
    /// The peer is a trusted proxy: believe its `X-Forwarded-For`.
    pub from_trusted_proxy: bool,
    pub http: Arc<HttpConnections>,
    /// The listener it came through, handed to the router in each request's extensions.
    pub listener: Arc<ListenerInfo>,
}

impl ConnectionContext {
    pub async fn handle(&self, mut request: Request<Incoming>) -> Response {
        self.state.request_started();
        let client = if self.from_trusted_proxy {
            let client = forwarded_client(request.headers(), &self.http.limits)
                .unwrap_or_else(|| self.peer.ip());
            if let Some(cap) = self.per_peer_cap {
                match self.http.peers.try_take(client, cap) {
                    Some(slot) => self.state.hold_forwarded_slot(Some(slot)),
                    None => {
                        self.http
                            .metrics
                            .count_http_close(HttpCloseReason::PerPeerCap);
                        self.state.answered(false);
                        return too_many_from_peer(cap).into_response();
                    }
                }
            }
            SocketAddr::new(client, 0)
        } else {
            self.peer
        };
        request.extensions_mut().insert(ConnectInfo(client));
        request.extensions_mut().insert(Arc::clone(&self.listener));
        request
            .extensions_mut()
            .insert(self.listener.policy.clone());
        let response = match self.router.clone().oneshot(request.map(Body::new)).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        self.state
            .answered(response.status() == StatusCode::SWITCHING_PROTOCOLS);
        response
    }
}

/// The answer to a client over the per-peer cap.
pub fn too_many_from_peer(cap: usize) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_connections_from_peer",
        format!("this address already holds the most connections allowed ({cap}); close some and try again"),
    )
}
