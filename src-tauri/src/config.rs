//! Server settings, with the defaults of the Python original where it had one.

mod cluster;
mod storage;

pub use cluster::ClusterConfig;
pub use storage::{Durability, StorageConfig};

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub mod access;
pub use access::{AccessConfig, AuthMode, TlsMode};

/// Everything the server needs to know to start. Built from the command line in `main.rs`,
/// or directly by tests (which use port 0 and short timers).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind. Loopback by default: see `SECURITY.md` before widening it.
    pub host: IpAddr,
    /// Port to bind; 0 asks the OS for a free one (tests do that).
    pub port: u16,
    /// How often the server pings each client.
    pub heartbeat_interval: Duration,
    /// A client that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// Outbound frames queued per connection before it counts as a slow consumer and is closed.
    pub outbound_queue_frames: usize,
    /// Outbound bytes queued per connection before it counts as a slow consumer and is closed.
    pub outbound_queue_bytes: usize,
    /// Largest WebSocket message accepted from a client, in bytes.
    pub max_message_bytes: usize,
    /// How long `/broadcast` waits for the room actor before answering 503.
    pub actor_call_timeout: Duration,
    /// On shutdown, how long clients get to receive their close frame before sockets are dropped.
    pub drain_timeout: Duration,
    /// Extra origins allowed to open WebSockets and call state-changing endpoints.
    pub extra_allowed_origins: Vec<String>,
    /// Extra `Host` header names accepted besides loopback names and the bound address.
    pub extra_allowed_hosts: Vec<String>,
    /// Chat messages per second a connection may send on average (0 = unlimited).
    pub rate_limit_per_sec: u32,
    /// Chat messages a connection may send in a burst.
    pub rate_limit_burst: u32,
    /// Refused messages in a row after which a flooding client is closed with 1008.
    pub rate_limit_strikes: u32,
    /// Numbered frames each room keeps for late joiners and resumes.
    pub history_limit: usize,
    /// Bytes of numbered frames each room keeps (whichever of frames and bytes fills first).
    pub room_history_bytes: usize,
    /// Bytes of numbered frames all rooms together keep; over it, the largest room gives way.
    pub history_bytes: usize,
    /// Room restarts allowed within [`ServerConfig::room_restart_window`]; one more and the
    /// server shuts down (OTP's restart intensity).
    pub max_room_restarts: u32,
    pub room_restart_window: Duration,
    /// Rooms up to this size announce every join/leave with the full member list; larger ones
    /// send a summary every 2 s (see [`crate::actors::room::PRESENCE_SUMMARY_INTERVAL`]).
    pub presence_limit: usize,
    /// Most rooms alive at once, the lobby included. Clients create rooms by naming them; at
    /// the cap an empty room is stopped to make space, or the join is refused.
    pub max_rooms: usize,
    /// Most WebSockets open at once; more get HTTP 503 before the upgrade.
    /// `None`: derived at start from the open-file limit (see [`crate::os_limits`]).
    pub max_connections: Option<usize>,
    /// An HTTP connection whose request head is not complete this long after it was accepted
    /// (or after the first byte of its next request) is closed: the slowloris defense.
    pub http_header_timeout: Duration,
    /// A keep-alive HTTP connection that sends no new request for this long is closed, and so
    /// is one whose request (body and answer) takes longer. WebSockets keep their own
    /// heartbeat rules (`heartbeat_interval`, `idle_timeout`).
    pub http_idle_timeout: Duration,
    /// Most connections at once that are waiting on their client for a request (not upgraded,
    /// not idle between requests); when full, the oldest is closed to make room.
    /// `None`: a quarter of the connection cap.
    pub max_pending_connections: Option<usize>,
    /// Most connections at once from one peer address (an IPv6 peer: its /64). `None`: 256
    /// unless listening on 127.0.0.1 or ::1, where it is off; `Some(0)`: off.
    pub max_connections_per_peer: Option<usize>,
    /// Reverse proxies whose `X-Forwarded-For` header names the real client (for the per-peer
    /// cap and the logs). From any other peer the header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// Where the server keeps what outlives the process (see [`crate::paths`]). `None` keeps
    /// nothing on disk: the default for tests and embedding ([`ServerConfig::ephemeral`]).
    pub data_dir: Option<PathBuf>,
    /// The log file being written, if any; only reported (`GET /api/about`), the server does
    /// not write it itself (see `logging`).
    pub log_file: Option<PathBuf>,
    /// Access tokens and TLS (see [`access`]).
    pub access: AccessConfig,
    /// The room log: SQLite in `data_dir` unless in memory (see [`StorageConfig`]).
    pub storage: StorageConfig,
    /// `--redis`: a node of the cluster named by that Redis (see [`ClusterConfig`]).
    pub cluster: ClusterConfig,
    /// Test-only hooks (`--features test-hooks`, never in a release build).
    #[cfg(feature = "test-hooks")]
    pub test_hooks: TestHooks,
}

/// Fault injection for tests; see `docs/TESTING.md`.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Default)]
pub struct TestHooks {
    /// The supervisor waits this long before answering `StartConnection` (after starting the
    /// actor), so that a test can make the WebSocket handler time out and check the rollback…
    pub start_connection_delay: Duration,
    /// …for this many connections, the first ones.
    pub delayed_starts: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            heartbeat_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(20),
            outbound_queue_frames: 1024,
            outbound_queue_bytes: 1024 * 1024,
            max_message_bytes: 64 * 1024,
            actor_call_timeout: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(1),
            extra_allowed_origins: Vec::new(),
            extra_allowed_hosts: Vec::new(),
            rate_limit_per_sec: 20,
            rate_limit_burst: 40,
            rate_limit_strikes: 40,
            max_connections: None,
            history_limit: 500,
            room_history_bytes: 4 * 1024 * 1024,
            history_bytes: 64 * 1024 * 1024,
            max_room_restarts: 5,
            room_restart_window: Duration::from_secs(10),
            presence_limit: 100,
            max_rooms: 1000,
            data_dir: None,
            log_file: None,
            access: AccessConfig::default(),
            storage: StorageConfig::default(),
            cluster: ClusterConfig::default(),
            http_header_timeout: Duration::from_secs(10),
            http_idle_timeout: Duration::from_secs(60),
            max_pending_connections: None,
            max_connections_per_peer: None,
            trusted_proxies: Vec::new(),
            #[cfg(feature = "test-hooks")]
            test_hooks: TestHooks::default(),
        }
    }
}

impl ServerConfig {
    /// A config for tests and embedding: an OS-chosen port on loopback, other values default.
    pub fn ephemeral() -> Self {
        Self {
            port: 0,
            ..Self::default()
        }
    }
}
