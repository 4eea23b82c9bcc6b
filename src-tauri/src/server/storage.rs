//! Which room log the server keeps its rooms' history in.
//!
//! - **SQLite** (the default): `<data dir>/rooms.sqlite3`, locked against a second process (see
//!   [`crate::room_log::sqlite`]). History, epochs and numbering survive restarts.
//! - **Redis**: with `--redis URL` (headless cluster nodes), see [`crate::room_log::redis`].
//! - **Memory**: with `--in-memory`, or when there is no data directory (tests and embedders that
//!   build a [`ServerConfig`] themselves get this unless they set `data_dir`).
//!
//! The count and byte limits (`--history`, `--room-history-bytes`) apply to both; the total
//! budget (`--history-bytes`) to memory only (disk is not the scarce resource it guards);
//! `--retention-days` to SQLite only (memory is gone at the next start anyway).

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Durability, ServerConfig};
use crate::metrics::ClusterCounters;
use crate::room_log::sqlite::{OpenError, Retention, SqliteOptions, FILE_NAME};
use crate::room_log::{
    HistoryLimits, LogError, LogStore, MemoryStore, RedisCounters, RedisStore, SqliteStore,
};

/// The store `config` asks for.
pub fn open_store(config: &ServerConfig) -> Result<Arc<dyn LogStore>, OpenError> {
    let data_dir = match (&config.data_dir, config.storage.in_memory) {
        (Some(dir), false) => dir,
        (None, false) => {
            tracing::warn!("no data directory: rooms' history is kept in memory only");
            return Ok(memory(config));
        }
        (_, true) => {
            tracing::info!("--in-memory: rooms' history is kept in memory only");
            return Ok(memory(config));
        }
    };
    let options = SqliteOptions {
        full_fsync: config.storage.durability == Durability::Full,
        retention: Retention {
            frames_per_room: u64::try_from(config.history_limit).unwrap_or(u64::MAX),
            bytes_per_room: u64::try_from(config.room_history_bytes).unwrap_or(u64::MAX),
            max_age: config
                .storage
                .retention_days
                .map(|days| Duration::from_secs(u64::from(days) * 24 * 3600)),
        },
        max_rooms: config.max_rooms,
    };
    let store = SqliteStore::open_in(data_dir, options)?;
    tracing::info!(
        file = %data_dir.join(FILE_NAME).display(),
        durability = ?config.storage.durability,
        "rooms' history is kept in SQLite"
    );
    Ok(Arc::new(store))
}

/// The cluster's store: the Redis at `url` (`--redis`), keeping `--history` frames per room.
/// Connects lazily, so a node starts while Redis is down and refuses posts until it is back.
/// Its Redis errors, reconnects and dropped live frames are counted in `counters`.
pub fn open_cluster_store(
    url: &str,
    config: &ServerConfig,
    counters: &ClusterCounters,
) -> Result<Arc<dyn LogStore>, LogError> {
    let counted = RedisCounters {
        errors: counters.redis_errors.clone(),
        reconnects: counters.redis_reconnects.clone(),
        live_dropped: counters.live_dropped.clone(),
    };
    let store = RedisStore::open_counted(url, config.history_limit, counted)?;
    tracing::info!(
        history = config.history_limit,
        "cluster node: rooms' history and numbering are kept in Redis"
    );
    Ok(Arc::new(store))
}

fn memory(config: &ServerConfig) -> Arc<dyn LogStore> {
    Arc::new(MemoryStore::new(HistoryLimits {
        frames_per_room: config.history_limit,
        bytes_per_room: config.room_history_bytes,
        total_bytes: config.history_bytes,
    }))
}
