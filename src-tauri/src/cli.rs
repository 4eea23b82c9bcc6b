//! Command-line flags. Every flag can also be set from an environment variable (shown in
//! `--help`), which is how tests and the WebDriver harness configure the app.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, ValueEnum};

use crate::config::{
    AccessConfig, AuthMode, ClusterConfig, Durability, ServerConfig, StorageConfig, TlsMode,
};

/// The port used when neither `--port` nor `TRW_PORT` is given.
pub const DEFAULT_PORT: u16 = 8000;

/// A desktop chat room and notification hub: a built-in WebSocket server with one actor per
/// connection. The window and any browser tab on http://127.0.0.1:PORT share one live room.
#[derive(Debug, Clone, Parser)]
#[command(name = "tauri-ractor-websocket", version, about, long_about = None)]
pub struct Cli {
    /// Run only the server, without a window. Also chosen automatically when there is no display.
    /// In the variable, 1/true/yes/on mean yes.
    #[arg(long, env = "TRW_HEADLESS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub headless: bool,

    /// Address to listen on. Keep it on loopback unless you have read SECURITY.md.
    #[arg(long, env = "TRW_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on [default: 8000]. When given, the app fails rather than use another.
    #[arg(long, env = "TRW_PORT")]
    pub port: Option<u16>,

    /// Extra origin allowed to open WebSockets and POST broadcasts (repeatable, or
    /// comma-separated in the variable), e.g. http://192.168.1.20:8000.
    #[arg(
        long = "allow-origin",
        env = "TRW_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,

    /// Extra Host header name accepted besides loopback names and the bound address
    /// (repeatable, or comma-separated in the variable).
    #[arg(long = "allow-host", env = "TRW_ALLOW_HOSTS", value_delimiter = ',')]
    pub allow_hosts: Vec<String>,

    /// Most WebSockets open at once; more get HTTP 503 [default: the open-file limit minus 128].
    #[arg(long, env = "TRW_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Largest message a client may send, in bytes; larger ones close it with 1009 [default: 65536].
    #[arg(long, env = "TRW_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,

    /// Messages per second one client may send on average; 0 turns the limit off [default: 20].
    #[arg(long, env = "TRW_RATE_LIMIT")]
    pub rate_limit: Option<u32>,

    /// Messages one client may send in a burst [default: 40].
    #[arg(long, env = "TRW_RATE_BURST")]
    pub rate_burst: Option<u32>,

    /// Frames queued for one client before it is closed as a slow consumer (1013) [default: 1024].
    #[arg(long, env = "TRW_OUTBOUND_QUEUE")]
    pub outbound_queue: Option<usize>,

    /// Bytes queued for one client before it is closed as a slow consumer (1013) [default: 1048576].
    #[arg(long, env = "TRW_OUTBOUND_QUEUE_BYTES")]
    pub outbound_queue_bytes: Option<usize>,

    /// Most rooms alive at once; at the cap an empty room makes way, or joins are refused
    /// [default: 1000].
    #[arg(long, env = "TRW_MAX_ROOMS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rooms: Option<u64>,

    /// Numbered messages each room keeps for late joiners and resumes [default: 500].
    #[arg(long, env = "TRW_HISTORY", value_parser = clap::value_parser!(u64).range(1..))]
    pub history: Option<u64>,

    /// Bytes of history each room keeps [default: 4194304 (4 MiB)].
    #[arg(long, env = "TRW_ROOM_HISTORY_BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub room_history_bytes: Option<u64>,

    /// Bytes of history all rooms keep together in memory (with --in-memory); over it the
    /// largest room gives way [default: 67108864 (64 MiB)].
    #[arg(long, env = "TRW_HISTORY_BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub history_bytes: Option<u64>,

    /// Room restarts allowed within the restart window; one more shuts the server down
    /// (exit status 1) [default: 5].
    #[arg(long, env = "TRW_MAX_ROOM_RESTARTS")]
    pub max_room_restarts: Option<u32>,

    /// The window of --max-room-restarts, in seconds [default: 10].
    #[arg(long, env = "TRW_ROOM_RESTART_WINDOW_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub room_restart_window_secs: Option<u64>,

    /// Seconds between pings to each client [default: 10].
    #[arg(long, env = "TRW_HEARTBEAT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub heartbeat_secs: Option<u64>,

    /// Seconds of silence (not even a pong) after which a client is closed [default: 20].
    #[arg(long, env = "TRW_IDLE_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: Option<u64>,

    /// Seconds an HTTP client gets to send a complete request head; slower ones are closed
    /// [default: 10].
    #[arg(long, env = "TRW_HTTP_HEADER_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout_secs: Option<u64>,

    /// Seconds a keep-alive HTTP connection may sit idle between requests [default: 60].
    /// WebSockets follow --heartbeat-secs / --idle-timeout-secs instead.
    #[arg(long, env = "TRW_HTTP_IDLE_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub http_idle_timeout_secs: Option<u64>,

    /// Most connections waiting on their client for a request; when full, the oldest is closed
    /// [default: a quarter of --max-connections].
    #[arg(long, env = "TRW_MAX_PENDING_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending_connections: Option<u64>,

    /// Most simultaneous connections from one address; 0 turns the cap off
    /// [default: 256, off when listening on 127.0.0.1 or ::1].
    #[arg(long, env = "TRW_MAX_CONNECTIONS_PER_PEER")]
    pub max_connections_per_peer: Option<usize>,

    /// Reverse proxy whose X-Forwarded-For header is trusted (repeatable, or comma-separated in
    /// the variable). From any other address the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "TRW_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,

    /// Directory for the app's data [default: the per-user data directory,
    /// ~/.local/share/dev.tauri-ractor-websocket.hub on Linux].
    #[arg(long, env = "TRW_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    // --- The tray app and its log (issue 13) ---
    /// Start in the tray only, without opening the window (what "Start at login" runs). The
    /// tray's "Open window" opens it. Without a tray (no StatusNotifier host appears within a
    /// few seconds) the window opens anyway. In the variable, 1/true/yes/on mean yes.
    #[arg(long, env = "TRW_MINIMIZED", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub minimized: bool,

    /// Also write the log to this file, rolled over at 10 MiB, 5 files kept [default: none with
    /// --headless; <data dir>/logs/tauri-ractor-websocket.log for the desktop app].
    #[arg(long, env = "TRW_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    // --- Access: tokens and TLS (see SECURITY.md) ---
    /// Who may connect: `none`, or `token` (the access token in <data dir>/auth-token)
    /// [default: none on 127.0.0.1 and ::1, token on any other address].
    #[arg(long, env = "TRW_AUTH", value_name = "none|token")]
    pub auth: Option<AuthMode>,

    /// Replace the access token with a new one at start (connections that used the old one are
    /// refused from then on). In the variable, 1/true/yes/on mean yes.
    #[arg(long, env = "TRW_ROTATE_TOKEN", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub rotate_token: bool,

    /// `self-signed`: serve https and wss with a certificate made and kept in the data
    /// directory (its SHA-256 fingerprint is logged). `off` (the default): plain http.
    #[arg(
        long,
        env = "TRW_TLS",
        value_name = "self-signed|off",
        conflicts_with = "tls_cert"
    )]
    pub tls: Option<TlsChoice>,

    /// Serve https and wss with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "TRW_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TRW_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// An address to offer for "Share on this network" besides the machine's interfaces
    /// (repeatable, or comma-separated in the variable).
    #[arg(
        long = "share-address",
        env = "TRW_SHARE_ADDRESSES",
        value_delimiter = ','
    )]
    pub share_addresses: Vec<IpAddr>,

    /// Keep rooms' history in memory only: nothing is written to the data directory and the
    /// history is gone when the app stops. In the variable, 1/true/yes/on mean yes.
    #[arg(long, env = "TRW_IN_MEMORY", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub in_memory: bool,

    /// normal: a crash or kill -9 loses no acknowledged message, a power cut may lose the last
    /// ones; full: every message is synced to the disk before it is acknowledged
    /// [default: normal].
    #[arg(long, env = "TRW_DURABILITY", value_enum)]
    pub durability: Option<DurabilityArg>,

    /// Delete stored messages older than this many days [default: keep them, within --history
    /// and --room-history-bytes].
    #[arg(long, env = "TRW_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,

    // --- The cluster (issue 11) ---
    /// Headless only: make this instance a node of the cluster named by this Redis
    /// (redis://HOST:PORT/DB). Rooms' history and numbering live in Redis, shared by every node
    /// on it (docs/CLUSTER.md); --in-memory, --durability and --retention-days do not apply.
    #[arg(long = "redis", env = "TRW_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
}

/// `--tls` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsChoice {
    SelfSigned,
    Off,
}

/// The values of `--durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    Normal,
    Full,
}

impl Cli {
    /// The server configuration these flags describe.
    pub fn server_config(&self) -> ServerConfig {
        let defaults = ServerConfig::default();
        ServerConfig {
            host: self.host,
            port: self.port.unwrap_or(DEFAULT_PORT),
            extra_allowed_origins: self.allow_origins.clone(),
            extra_allowed_hosts: self.allow_hosts.clone(),
            max_connections: self.max_connections,
            max_message_bytes: self.max_message_bytes.unwrap_or(defaults.max_message_bytes),
            rate_limit_per_sec: self.rate_limit.unwrap_or(defaults.rate_limit_per_sec),
            rate_limit_burst: self.rate_burst.unwrap_or(defaults.rate_limit_burst),
            outbound_queue_frames: self
                .outbound_queue
                .unwrap_or(defaults.outbound_queue_frames),
            outbound_queue_bytes: self
                .outbound_queue_bytes
                .unwrap_or(defaults.outbound_queue_bytes),
            max_rooms: self.max_rooms.map_or(defaults.max_rooms, saturating_usize),
            history_limit: self
                .history
                .map_or(defaults.history_limit, saturating_usize),
            room_history_bytes: self
                .room_history_bytes
                .map_or(defaults.room_history_bytes, saturating_usize),
            history_bytes: self
                .history_bytes
                .map_or(defaults.history_bytes, saturating_usize),
            max_room_restarts: self.max_room_restarts.unwrap_or(defaults.max_room_restarts),
            room_restart_window: self
                .room_restart_window_secs
                .map_or(defaults.room_restart_window, Duration::from_secs),
            heartbeat_interval: self
                .heartbeat_secs
                .map_or(defaults.heartbeat_interval, Duration::from_secs),
            idle_timeout: self
                .idle_timeout_secs
                .map_or(defaults.idle_timeout, Duration::from_secs),
            http_header_timeout: self
                .http_header_timeout_secs
                .map_or(defaults.http_header_timeout, Duration::from_secs),
            http_idle_timeout: self
                .http_idle_timeout_secs
                .map_or(defaults.http_idle_timeout, Duration::from_secs),
            max_pending_connections: self
                .max_pending_connections
                .map(|cap| usize::try_from(cap).unwrap_or(usize::MAX)),
            max_connections_per_peer: self.max_connections_per_peer,
            trusted_proxies: self.trusted_proxies.clone(),
            data_dir: self.data_dir(),
            log_file: self.log_file.clone(),
            access: self.access_config(),
            storage: self.storage_config(),
            cluster: ClusterConfig {
                redis_url: self.redis_url.clone(),
            },
            ..defaults
        }
    }

    /// The data directory: `--data-dir`, else the per-user default.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.data_dir
            .clone()
            .or_else(crate::paths::default_data_dir)
    }

    /// The log file to write when running with a window: `--log-file`, else
    /// `<data dir>/logs/tauri-ractor-websocket.log` (headless mode uses `--log-file` alone).
    pub fn desktop_log_file(&self) -> Option<PathBuf> {
        self.log_file.clone().or_else(|| {
            self.data_dir()
                .map(|dir| crate::paths::default_log_file(&dir))
        })
    }

    /// The access part of the configuration (see [`AccessConfig`]).
    pub fn access_config(&self) -> AccessConfig {
        let tls = match (&self.tls_cert, &self.tls_key, self.tls) {
            (Some(cert), Some(key), _) => TlsMode::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            (_, _, Some(TlsChoice::SelfSigned)) => TlsMode::SelfSigned,
            _ => TlsMode::Off,
        };
        AccessConfig {
            auth: self.auth,
            rotate_token: self.rotate_token,
            tls,
            share_addresses: self.share_addresses.clone(),
        }
    }

    /// `--in-memory`, `--durability`, `--retention-days`.
    fn storage_config(&self) -> StorageConfig {
        StorageConfig {
            in_memory: self.in_memory,
            durability: match self.durability {
                Some(DurabilityArg::Full) => Durability::Full,
                Some(DurabilityArg::Normal) | None => Durability::Normal,
            },
            retention_days: self.retention_days,
        }
    }

    /// Whether the user insisted on a port (then we never silently pick another one).
    pub fn port_is_forced(&self) -> bool {
        self.port.is_some()
    }
}

/// A byte count from the command line, capped to what this platform can address.
fn saturating_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_hygiene_flags_reach_the_config() {
        let cli = Cli::try_parse_from([
            "tauri-ractor-websocket",
            "--http-header-timeout-secs",
            "3",
            "--http-idle-timeout-secs",
            "7",
            "--max-pending-connections",
            "50",
            "--max-connections-per-peer",
            "5",
            "--trusted-proxy",
            "10.0.0.1",
            "--trusted-proxy",
            "::1",
        ])
        .expect("valid flags");
        let config = cli.server_config();
        assert_eq!(config.http_header_timeout, Duration::from_secs(3));
        assert_eq!(config.http_idle_timeout, Duration::from_secs(7));
        assert_eq!(config.max_pending_connections, Some(50));
        assert_eq!(config.max_connections_per_peer, Some(5));
        assert_eq!(
            config.trusted_proxies,
            vec![
                "10.0.0.1".parse::<IpAddr>().expect("ip"),
                "::1".parse::<IpAddr>().expect("ip")
            ]
        );
    }

    #[test]
    fn connection_hygiene_defaults() {
        let config = Cli::try_parse_from(["tauri-ractor-websocket"])
            .expect("no flags")
            .server_config();
        assert_eq!(config.http_header_timeout, Duration::from_secs(10));
        assert_eq!(config.http_idle_timeout, Duration::from_secs(60));
        assert_eq!(config.max_pending_connections, None);
        assert_eq!(config.max_connections_per_peer, None);
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn log_file_and_minimized_flags() {
        let cli = Cli::try_parse_from(["tauri-ractor-websocket", "--data-dir", "/d"])
            .expect("valid flags");
        assert!(!cli.minimized);
        assert_eq!(
            cli.server_config().log_file,
            None,
            "headless: no file by default"
        );
        assert_eq!(
            cli.desktop_log_file(),
            Some(PathBuf::from("/d/logs/tauri-ractor-websocket.log"))
        );
        let cli = Cli::try_parse_from([
            "tauri-ractor-websocket",
            "--minimized",
            "--log-file",
            "/tmp/x.log",
        ])
        .expect("valid flags");
        assert!(cli.minimized);
        assert_eq!(cli.desktop_log_file(), Some(PathBuf::from("/tmp/x.log")));
        assert_eq!(
            cli.server_config().log_file,
            Some(PathBuf::from("/tmp/x.log"))
        );
    }

    #[test]
    fn access_flags_reach_the_config() {
        let config = Cli::try_parse_from([
            "tauri-ractor-websocket",
            "--auth",
            "token",
            "--rotate-token",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--share-address",
            "127.0.0.2",
        ])
        .expect("valid flags")
        .server_config();
        assert_eq!(config.access.auth, Some(AuthMode::Token));
        assert!(config.access.rotate_token);
        assert_eq!(
            config.access.tls,
            TlsMode::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            }
        );
        assert_eq!(
            config.access.share_addresses,
            vec![IpAddr::from([127, 0, 0, 2])]
        );
        let self_signed = Cli::try_parse_from(["tauri-ractor-websocket", "--tls", "self-signed"])
            .expect("valid")
            .server_config();
        assert_eq!(self_signed.access.tls, TlsMode::SelfSigned);
        assert_eq!(self_signed.access.auth, None);
        assert!(Cli::try_parse_from(["tauri-ractor-websocket", "--tls-cert", "c.pem"]).is_err());
        assert!(Cli::try_parse_from(["tauri-ractor-websocket", "--auth", "maybe"]).is_err());
    }

    #[test]
    fn the_redis_flag_makes_a_cluster_node_and_nothing_changes_without_it() {
        let config = Cli::try_parse_from([
            "tauri-ractor-websocket",
            "--headless",
            "--redis",
            "redis://127.0.0.1:6379/0",
        ])
        .expect("valid flags")
        .server_config();
        assert_eq!(
            config.cluster.redis_url.as_deref(),
            Some("redis://127.0.0.1:6379/0")
        );
        let defaults = Cli::try_parse_from(["tauri-ractor-websocket"])
            .expect("no flags")
            .server_config();
        assert_eq!(defaults.cluster, ClusterConfig::default());
        assert_eq!(defaults.cluster.redis_url, None);
    }

    #[test]
    fn storage_flags_reach_the_config() {
        let config = Cli::try_parse_from([
            "tauri-ractor-websocket",
            "--in-memory",
            "--durability",
            "full",
            "--retention-days",
            "30",
            "--data-dir",
            "/tmp/trw-x",
        ])
        .expect("valid flags")
        .server_config();
        assert_eq!(
            config.storage,
            StorageConfig {
                in_memory: true,
                durability: Durability::Full,
                retention_days: Some(30),
            }
        );
        assert_eq!(config.data_dir, Some(PathBuf::from("/tmp/trw-x")));
        let defaults = Cli::try_parse_from(["tauri-ractor-websocket"])
            .expect("no flags")
            .server_config()
            .storage;
        assert_eq!(defaults, StorageConfig::default());
        assert!(!defaults.in_memory, "the SQLite log is on by default");
        assert!(
            Cli::try_parse_from(["tauri-ractor-websocket", "--durability", "sometimes"]).is_err()
        );
        assert!(Cli::try_parse_from(["tauri-ractor-websocket", "--retention-days", "0"]).is_err());
    }

    #[test]
    fn zero_timeouts_are_refused() {
        assert!(
            Cli::try_parse_from(["tauri-ractor-websocket", "--http-header-timeout-secs", "0"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from(["tauri-ractor-websocket", "--max-pending-connections", "0"])
                .is_err()
        );
    }
}
