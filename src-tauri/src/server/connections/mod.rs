//! HTTP connection hygiene: a hand-written accept loop over hyper, so that slow and idle
//! clients cannot hold sockets forever (slowloris).
//!
//! `axum::serve` accepts every connection and keeps it as long as the client likes: a
//! connection that never finishes its request head, or a keep-alive connection that never
//! sends another request, holds a file descriptor until the client lets go. The field's answer
//! (nginx's `client_header_timeout`, `keepalive_timeout` and `limit_conn`) needs control over
//! each connection, which means owning the accept loop:
//!
//! 1. [`accept_loop`] accepts, applies the **per-peer cap** ([`peer_limit`]), registers the
//!    connection as **pending** ([`pending`]: when full, the oldest pending one is closed) and
//!    spawns one task per connection.
//! 2. That task runs hyper's HTTP/1.1 connection (`http1::Builder::serve_connection(..)
//!    .with_upgrades()`, so `/ws` can take the socket over) next to a **watchdog**
//!    ([`watchdog`]) that enforces the header and idle timeouts on the connection's
//!    [`lifecycle`] phase.
//! 3. The phase is fed by the socket wrapper ([`tracked_io`]: bytes arrived) and by the
//!    per-connection service ([`service`]: request started, answered, upgraded), which also
//!    resolves the client behind a trusted proxy ([`forwarded`]).
//! 4. A socket that closes first reads and discards what the client still sends, for up to
//!    1 s, so that our last words (a close frame, an error answer) reach it instead of a TCP
//!    reset ([`lingering_close`]).
//! 5. Shutdown: stop accepting, ask each connection to finish its request and close
//!    (`graceful_shutdown`), wait a bounded time ([`tokio_util::task::TaskTracker`]), then drop
//!    what is left.
//!
//! A listener is a [`TcpListener`](tokio::net::TcpListener) plus a [`transport::Transport`]
//! (plain TCP, or TLS through tokio-rustls), its own per-peer cap and its
//! [`ListenerInfo`](crate::server::access::ListenerInfo) (auth mode, scheme, policy, a `closing`
//! token that stops it alone: "Stop sharing"); all listeners of a server
//! share one [`HttpConnections`], so the caps count across them.

mod accept_loop;
mod forwarded;
mod lifecycle;
pub mod limits;
mod lingering_close;
pub(crate) mod peer_limit;
mod pending;
mod service;
mod tracked_io;
pub mod transport;
mod watchdog;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use accept_loop::{run as accept_loop, Listener};
pub use limits::ConnectionLimits;
use peer_limit::PeerCounts;
use pending::PendingConnections;

use crate::metrics::Metrics;

/// The connection bookkeeping every listener of one server shares.
#[derive(Debug)]
pub struct HttpConnections {
    limits: ConnectionLimits,
    pending: Arc<PendingConnections>,
    peers: Arc<PeerCounts>,
    tracker: TaskTracker,
    /// Closed sockets still lingering, at most [`lingering_close::MAX_LINGERING`].
    lingering: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    /// Cancelled at shutdown: accept loops stop.
    stop_accepting: CancellationToken,
    /// Cancelled at shutdown: each connection finishes its request in flight and closes.
    graceful: CancellationToken,
    /// Cancelled when the shutdown budget is spent: every connection is dropped at once.
    hard_stop: CancellationToken,
}

impl HttpConnections {
    pub fn new(limits: ConnectionLimits, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            pending: Arc::new(PendingConnections::new(limits.max_pending)),
            limits,
            peers: Arc::new(PeerCounts::default()),
            tracker: TaskTracker::new(),
            lingering: lingering_close::lingering_permits(),
            metrics,
            stop_accepting: CancellationToken::new(),
            graceful: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
        })
    }

    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// Open HTTP connections that are not (yet) WebSockets.
    pub fn open(&self) -> usize {
        self.tracker.len()
    }

    /// Connections waiting on their client for a request.
    pub fn pending(&self) -> usize {
        self.pending.count()
    }

    /// Stops every accept loop and asks every HTTP connection to finish and close.
    pub fn begin_shutdown(&self) {
        self.stop_accepting.cancel();
        self.graceful.cancel();
        self.tracker.close();
    }

    /// Waits up to `budget` for the HTTP connections to close, then drops the rest.
    pub async fn finish_shutdown(&self, budget: Duration) {
        self.begin_shutdown();
        if tokio::time::timeout(budget, self.tracker.wait())
            .await
            .is_err()
        {
            self.hard_stop.cancel();
        }
    }
}
