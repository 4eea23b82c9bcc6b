//! Where rooms' history is kept, and how safely: `--in-memory`, `--durability`,
//! `--retention-days` (the count and byte limits are the history flags of [`super::ServerConfig`]).

/// How far a commit goes before a post is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The commit is in the operating system's hands (`synchronous=NORMAL`): a killed process
    /// loses nothing acknowledged; a power cut may lose the last commits.
    #[default]
    Normal,
    /// Every commit is synced to the disk first (`synchronous=FULL`).
    Full,
}

/// The room log's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageConfig {
    /// Keep history in process memory only, as before the SQLite log existed. Also what happens
    /// when there is no data directory ([`super::ServerConfig::data_dir`] is `None`).
    pub in_memory: bool,
    pub durability: Durability,
    /// Delete frames older than this many days; `None` keeps them (within the count and byte
    /// limits).
    pub retention_days: Option<u32>,
}
