//! Counters for `GET /metrics` (Prometheus text format) and the actor inspector.
//!
//! Plain relaxed atomics: each counter is independent and only ever grows, so there is nothing
//! to keep consistent between them, and incrementing one costs about as much as an addition.
//! Gauges (open sockets, live actors) are not stored here: they are read from their sources of
//! truth when scraped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a connection ended, as counted in `trw_disconnects_total{reason=...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client sent a close frame.
    ClientClosed,
    /// The TCP connection ended without a close frame, or failed.
    ClientDropped,
    /// No frame, not even a pong, within the idle timeout.
    IdleTimeout,
    /// Its outbound queue filled up (1013).
    SlowConsumer,
    /// It kept flooding past the rate limit (1008).
    Flooding,
    /// It sent a message over the size limit (1009).
    MessageTooBig,
    /// Its actor failed (1011).
    ActorFailed,
    /// The server shut down (1001).
    ServerShutdown,
    /// Another connection presented its session token and took its place (4001).
    Replaced,
}

impl DisconnectReason {
    pub const ALL: [DisconnectReason; 9] = [
        DisconnectReason::ClientClosed,
        DisconnectReason::ClientDropped,
        DisconnectReason::IdleTimeout,
        DisconnectReason::SlowConsumer,
        DisconnectReason::Flooding,
        DisconnectReason::MessageTooBig,
        DisconnectReason::ActorFailed,
        DisconnectReason::ServerShutdown,
        DisconnectReason::Replaced,
    ];

    pub fn label(self) -> &'static str {
        match self {
            DisconnectReason::ClientClosed => "client_closed",
            DisconnectReason::ClientDropped => "client_dropped",
            DisconnectReason::IdleTimeout => "idle_timeout",
            DisconnectReason::SlowConsumer => "slow_consumer",
            DisconnectReason::Flooding => "flooding",
            DisconnectReason::MessageTooBig => "message_too_big",
            DisconnectReason::ActorFailed => "actor_failed",
            DisconnectReason::ServerShutdown => "server_shutdown",
            DisconnectReason::Replaced => "replaced",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why the server closed (or refused) an HTTP connection before it became a WebSocket, as
/// counted in `trw_http_closes_total{reason=...}`. See `server::connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpCloseReason {
    /// Its request head was not complete within the header timeout (slowloris).
    HeaderTimeout,
    /// A keep-alive connection sent no new request within the idle timeout.
    IdleTimeout,
    /// A request's body and answer took longer than the idle timeout.
    RequestTimeout,
    /// Closed to make room: the cap on pending connections was full and it was the oldest.
    PendingCap,
    /// Its peer address already held the most connections allowed per peer (refused at once;
    /// behind a trusted proxy, the request got 503 instead).
    PerPeerCap,
    /// Still open when the shutdown budget ran out.
    Shutdown,
}

impl HttpCloseReason {
    pub const ALL: [HttpCloseReason; 6] = [
        HttpCloseReason::HeaderTimeout,
        HttpCloseReason::IdleTimeout,
        HttpCloseReason::RequestTimeout,
        HttpCloseReason::PendingCap,
        HttpCloseReason::PerPeerCap,
        HttpCloseReason::Shutdown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            HttpCloseReason::HeaderTimeout => "header_timeout",
            HttpCloseReason::IdleTimeout => "idle_timeout",
            HttpCloseReason::RequestTimeout => "request_timeout",
            HttpCloseReason::PendingCap => "pending_cap",
            HttpCloseReason::PerPeerCap => "per_peer_cap",
            HttpCloseReason::Shutdown => "shutdown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Server-wide counters, shared by every connection through an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_opened: AtomicU64,
    pub connections_refused: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub chat_messages: AtomicU64,
    pub direct_messages: AtomicU64,
    pub broadcasts: AtomicU64,
    pub notifications: AtomicU64,
    pub queue_overflows: AtomicU64,
    pub rate_limited: AtomicU64,
    pub room_restarts: AtomicU64,
    pub posts_refused: AtomicU64,
    disconnects: [AtomicU64; DisconnectReason::ALL.len()],
    http_closes: [AtomicU64; HttpCloseReason::ALL.len()],
}

impl Metrics {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_disconnect(&self, reason: DisconnectReason) {
        Self::count(&self.disconnects[reason.index()]);
    }

    pub fn disconnects(&self, reason: DisconnectReason) -> u64 {
        self.disconnects[reason.index()].load(Ordering::Relaxed)
    }

    pub fn count_http_close(&self, reason: HttpCloseReason) {
        Self::count(&self.http_closes[reason.index()]);
    }

    pub fn http_closes(&self, reason: HttpCloseReason) -> u64 {
        self.http_closes[reason.index()].load(Ordering::Relaxed)
    }

    /// The HTTP connection series: two gauges read by the caller, and closes by reason.
    pub fn render_http_connections(&self, open: usize, pending: usize) -> String {
        let mut out = String::with_capacity(1024);
        for (name, help, value) in [
            (
                "trw_http_connections",
                "Open HTTP connections that have not become WebSockets.",
                open,
            ),
            (
                "trw_http_pending_connections",
                "HTTP connections waiting on their client for a request (capped).",
                pending,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let name = "trw_http_closes_total";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP connections closed or refused by the connection limits, by reason.\n# TYPE {name} counter"
        );
        for reason in HttpCloseReason::ALL {
            let _ = writeln!(
                out,
                "{name}{{reason=\"{}\"}} {}",
                reason.label(),
                self.http_closes(reason)
            );
        }
        out
    }

    /// The Prometheus text exposition, with the two gauges read by the caller.
    pub fn render(&self, open_websockets: usize, live_actors: usize, rooms: usize) -> String {
        let mut out = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            "trw_websockets",
            "Open WebSocket connections.",
            open_websockets as u64,
        );
        gauge(
            "trw_connection_actors",
            "Live connection actors (process group members).",
            live_actors as u64,
        );
        gauge("trw_rooms", "Room actors.", rooms as u64);

        let counters: [(&str, &str, &AtomicU64); 12] = [
            (
                "trw_connections_opened_total",
                "WebSocket connections accepted.",
                &self.connections_opened,
            ),
            (
                "trw_connections_refused_total",
                "WebSocket upgrades refused (cap reached or shutting down).",
                &self.connections_refused,
            ),
            (
                "trw_messages_in_total",
                "Frames received from clients.",
                &self.messages_in,
            ),
            (
                "trw_messages_out_total",
                "Frames written to clients.",
                &self.messages_out,
            ),
            (
                "trw_chat_messages_total",
                "Chat messages stored by rooms.",
                &self.chat_messages,
            ),
            (
                "trw_direct_messages_total",
                "Direct messages delivered.",
                &self.direct_messages,
            ),
            (
                "trw_broadcasts_total",
                "Broadcasts sent through /broadcast.",
                &self.broadcasts,
            ),
            (
                "trw_notifications_total",
                "Notifications sent through /api/notify.",
                &self.notifications,
            ),
            (
                "trw_queue_overflows_total",
                "Clients closed because their outbound queue was full.",
                &self.queue_overflows,
            ),
            (
                "trw_rate_limited_total",
                "Client messages refused by the rate limit.",
                &self.rate_limited,
            ),
            (
                "trw_room_restarts_total",
                "Room actors restarted by the supervisor after a failure.",
                &self.room_restarts,
            ),
            (
                "trw_posts_refused_total",
                "Posts refused because the room log could not store them.",
                &self.posts_refused,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let name = "trw_disconnects_total";
        let _ = writeln!(
            out,
            "# HELP {name} Connections ended, by reason.\n# TYPE {name} counter"
        );
        for reason in DisconnectReason::ALL {
            let _ = writeln!(
                out,
                "{name}{{reason=\"{}\"}} {}",
                reason.label(),
                self.disconnects(reason)
            );
        }
        out
    }
}

/// Per-connection counters, shared by its reader, actor and writer, and read by the inspector.
#[derive(Debug)]
pub struct ConnectionStats {
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub connected_since_ms: u64,
}

impl ConnectionStats {
    pub fn new(connected_since_ms: u64) -> Self {
        Self {
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            connected_since_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series() {
        let metrics = Metrics::default();
        Metrics::count(&metrics.broadcasts);
        metrics.count_disconnect(DisconnectReason::SlowConsumer);
        let text = metrics.render(3, 3, 1);
        assert!(text.contains("trw_websockets 3"));
        assert!(text.contains("trw_broadcasts_total 1"));
        assert!(text.contains("trw_disconnects_total{reason=\"slow_consumer\"} 1"));
        assert!(text.contains("trw_disconnects_total{reason=\"client_closed\"} 0"));
    }

    #[test]
    fn renders_http_closes_by_reason() {
        let metrics = Metrics::default();
        metrics.count_http_close(HttpCloseReason::HeaderTimeout);
        metrics.count_http_close(HttpCloseReason::HeaderTimeout);
        let text = metrics.render_http_connections(7, 2);
        assert!(text.contains("trw_http_connections 7"));
        assert!(text.contains("trw_http_pending_connections 2"));
        assert!(text.contains("trw_http_closes_total{reason=\"header_timeout\"} 2"));
        assert!(text.contains("trw_http_closes_total{reason=\"per_peer_cap\"} 0"));
    }
}
