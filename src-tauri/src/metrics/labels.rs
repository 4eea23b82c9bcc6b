//! The label values of `/metrics`: why connections ended, and which actor calls are timed.
//!
//! Each enum lists every value in `ALL`, so that every series is exported from the start (at 0):
//! a dashboard or an alert sees the series before the first event, not only after it.

use prometheus_client::encoding::EncodeLabelSet;

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
    /// The access token it connected with was rotated away (4003).
    Unauthorized,
}

impl DisconnectReason {
    pub const ALL: [DisconnectReason; 10] = [
        DisconnectReason::ClientClosed,
        DisconnectReason::ClientDropped,
        DisconnectReason::IdleTimeout,
        DisconnectReason::SlowConsumer,
        DisconnectReason::Flooding,
        DisconnectReason::MessageTooBig,
        DisconnectReason::ActorFailed,
        DisconnectReason::ServerShutdown,
        DisconnectReason::Replaced,
        DisconnectReason::Unauthorized,
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
            DisconnectReason::Unauthorized => "unauthorized",
        }
    }

    pub(super) fn index(self) -> usize {
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

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// An actor call that `trw_actor_call_seconds{call=...}` times: a request/response between the
/// async side (HTTP handlers, connection actors) and an actor, answered or timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorCall {
    /// `/broadcast` and `/api/notify` waiting for the lobby to store and fan out a post.
    HttpToRoom,
    /// A WebSocket upgrade waiting for the supervisor to start its connection actor.
    HttpToSupervisor,
    /// A connection actor asking the directory (join, rename, room lookup, direct message).
    ConnectionToDirectory,
}

impl ActorCall {
    pub const ALL: [ActorCall; 3] = [
        ActorCall::HttpToRoom,
        ActorCall::HttpToSupervisor,
        ActorCall::ConnectionToDirectory,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ActorCall::HttpToRoom => "http_to_room",
            ActorCall::HttpToSupervisor => "http_to_supervisor",
            ActorCall::ConnectionToDirectory => "connection_to_directory",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// `{reason="..."}`: the one label of the disconnect and HTTP-close counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ReasonLabel {
    pub reason: &'static str,
}

/// `{call="..."}`: the one label of the actor-call histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct CallLabel {
    pub call: &'static str,
}
