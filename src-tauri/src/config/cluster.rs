//! Whether this instance is a node of a cluster: `--redis URL` (headless only).

/// The cluster settings. The default is no cluster: the room log is SQLite or memory
/// ([`super::StorageConfig`]), as without this struct.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterConfig {
    /// The Redis that names the cluster (`redis://host:port/db`). `Some`: rooms' history and
    /// numbering live there ([`crate::room_log::RedisStore`]), shared with every node on it.
    pub redis_url: Option<String>,
}
