//! The accept loop of one listener, and the task that serves each connection it accepts.
//!
//! ```text
//! accept ─> admit (per-peer cap; refused: a 503 written without waiting, then closed)
//!        ─> register as pending (the oldest pending connection may be evicted)
//!        ─> spawn one task: select! {
//!               hard stop at shutdown,
//!               the watchdog (header / idle / request timeout, eviction),
//!               transport handshake, then hyper's HTTP/1.1 connection with upgrades,
//!           }
//! ```
//!
//! The socket itself closes with a linger, whenever and wherever it is dropped (see
//! [`super::lingering_close`]).
//!
//! Whichever branch finishes first ends the task; dropping the others drops the connection
//! and closes the socket. A WebSocket upgrade ends hyper's connection future normally: the
//! socket lives on inside the WebSocket's own task, and the watchdog's work is done.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::lifecycle::ConnectionState;
use super::lingering_close::LingeringStream;
use super::peer_limit::PeerSlot;
use super::service::{too_many_from_peer, ConnectionContext};
use super::tracked_io::TrackedIo;
use super::transport::Transport;
use super::{watchdog, HttpConnections};
use crate::metrics::HttpCloseReason;
use crate::server::access::ListenerInfo;

/// After an accept error that is not about one connection (typically EMFILE: out of file
/// descriptors), wait this long before accepting again rather than spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A bound socket, how to speak over its connections, and its per-peer cap.
pub struct Listener<T> {
    pub tcp: TcpListener,
    pub transport: T,
    /// `None`: no per-peer cap on this listener (see [`super::limits::per_peer_cap`]).
    pub per_peer_cap: Option<usize>,
    /// Put in every request's extensions; its `closing` token stops this listener alone (and
    /// drops its HTTP connections).
    pub info: Arc<ListenerInfo>,
}

/// Accepts until [`HttpConnections::begin_shutdown`]; each connection gets its own task,
/// tracked by `http` so that shutdown can wait for them.
pub async fn run<T: Transport>(listener: Listener<T>, router: Router, http: Arc<HttpConnections>) {
    let Listener {
        tcp: tcp_listener,
        transport,
        per_peer_cap,
        info,
    } = listener;
    let transport = Arc::new(transport);
    let mut failing = false;
    loop {
        let accepted = tokio::select! {
            biased;
            () = http.stop_accepting.cancelled() => break,
            () = info.closing.cancelled() => break,
            accepted = tcp_listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                failing = false;
                accepted
            }
            Err(error) if is_per_connection_error(&error) => continue,
            Err(error) => {
                if !failing {
                    tracing::error!(%error, "accepting connections fails; retrying");
                }
                failing = true;
                tokio::select! {
                    () = http.stop_accepting.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
                continue;
            }
        };
        let from_trusted_proxy = http.limits.is_trusted_proxy(peer.ip());
        let peer_slot = match (per_peer_cap, from_trusted_proxy) {
            // A trusted proxy carries many clients: they are counted per request instead.
            (Some(cap), false) => match http.peers.try_take(peer.ip(), cap) {
                Some(slot) => Some(slot),
                None => {
                    refuse(tcp, peer, cap);
                    http.metrics.count_http_close(HttpCloseReason::PerPeerCap);
                    continue;
                }
            },
            _ => None,
        };
        // Registered here, in accept order, so that "oldest" means what it says.
        let state = ConnectionState::accepted(Arc::clone(&http.pending));
        let finish = FinishOnDrop(Arc::clone(&state));
        let context = ConnectionContext {
            router: router.clone(),
            state,
            peer,
            per_peer_cap,
            from_trusted_proxy,
            http: Arc::clone(&http),
            listener: Arc::clone(&info),
        };
        http.tracker.spawn(serve_connection(
            tcp,
            peer_slot,
            Arc::clone(&transport),
            context,
            finish,
        ));
    }
    tracing::debug!("stopped accepting connections");
}

/// One connection, from accept to close or upgrade (see the module docs).
async fn serve_connection<T: Transport>(
    tcp: TcpStream,
    peer_slot: Option<PeerSlot>,
    transport: Arc<T>,
    context: ConnectionContext,
    finish: FinishOnDrop,
) {
    let context = Arc::new(context);
    let state = Arc::clone(&context.state);
    let http = Arc::clone(&context.http);
    let tcp = LingeringStream::new(tcp, Arc::clone(&http.lingering));
    let io = TrackedIo::new(tcp, Arc::clone(&state), peer_slot);
    let peer = context.peer;
    let listener_closing = context.listener.closing.clone();
    let closed_by = tokio::select! {
        () = http.hard_stop.cancelled() => Some(HttpCloseReason::Shutdown),
        () = listener_closing.cancelled() => Some(HttpCloseReason::Shutdown),
        reason = watchdog::expired(&state, http.limits.header_timeout, http.limits.idle_timeout) => Some(reason),
        () = speak_http(io, &*transport, context, &http.graceful) => None,
    };
    drop(finish);
    if let Some(reason) = closed_by {
        http.metrics.count_http_close(reason);
        tracing::debug!(%peer, reason = reason.label(), "closed an HTTP connection");
    }
}

/// Marks the connection finished (out of the pending registry) however its task ends: normally,
/// by a panic in a handler, or dropped unpolled when the runtime stops.
struct FinishOnDrop(Arc<ConnectionState>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// The transport handshake, then HTTP/1.1 until the connection closes or is upgraded.
async fn speak_http<T: Transport>(
    io: TrackedIo<LingeringStream>,
    transport: &T,
    context: Arc<ConnectionContext>,
    graceful: &CancellationToken,
) {
    let io = match transport.handshake(io).await {
        Ok(io) => io,
        Err(error) => {
            tracing::debug!(peer = %context.peer, %error, "transport handshake failed");
            return;
        }
    };
    let service = service_fn(move |request| {
        let context = Arc::clone(&context);
        async move { Ok::<_, Infallible>(context.handle(request).await) }
    });
    let connection = http1::Builder::new()
        // Our watchdog keeps the header timeout: hyper's would also cut idle keep-alive
        // connections (see `watchdog`).
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = graceful.cancelled() => {
            // Finish the request in flight, if any, then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::trace!(%error, "HTTP connection ended with an error");
    }
}

/// Writes a short 503 without waiting and closes. Nothing is read and no task is spawned:
/// refusing must cost less than accepting. The write goes straight to the socket (tokio's
/// `try_write` answers `WouldBlock` while its reactor has not yet seen the socket writable,
/// which a just-accepted socket may not have); a fresh socket's send buffer is empty, so the
/// few bytes fit. If the client's request is still unread, the
/// close resets the connection, after the answer.
fn refuse(tcp: TcpStream, peer: SocketAddr, cap: usize) {
    use std::io::Write as _;

    tracing::debug!(%peer, cap, "refused a connection: per-peer cap reached");
    let refusal = too_many_from_peer(cap);
    let body = serde_json::json!({ "error": refusal.code, "message": refusal.message }).to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Ok(mut socket) = tcp.into_std() {
        let _ = socket.write(response.as_bytes());
    }
}

/// Errors about one connection (it was reset before we took it); the next accept may work.
fn is_per_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
