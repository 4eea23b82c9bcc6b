//! The room log in Redis: the shared history of a cluster of headless nodes (`--redis URL`).
//!
//! Several nodes post to one room, so **Redis assigns the seq**, never a node. Each room is three
//! keys and a channel ([`keys::RoomKeys`]), and every operation is one Lua script
//! ([`scripts`]), atomic in Redis:
//!
//! - **append** (publishing): for each frame, `INCR` the room's seq, `XADD` the frame (joined from
//!   its [`super::FrameTemplate`] around that seq) into the room's stream, trimmed to
//!   `--history` entries with `MAXLEN`, and `PUBLISH` it to the room's channel. The future
//!   resolves after the script returned, so **acknowledged means stored** in Redis.
//! - **range / before / head**: `XRANGE` / `XREVRANGE` on entry IDs `<seq>-0`, with the epoch,
//!   the last seq and the oldest kept entry, read in the same script (one consistent view).
//! - **the epoch** is a key per room made with `SET NX` by whichever script runs first. When
//!   Redis loses its data (a restart without persistence, `FLUSHALL`), the next script makes a new
//!   one; answers carry the epoch they were made under, so the room sees the change and resuming
//!   clients get `gap: true`.
//!
//! **Live frames** ([`live`]): a node listens on one pub/sub connection to the channels of the
//! rooms that have local members ([`RoomLog::subscribe`]), and each room delivers every seq once,
//! in order, filling holes from the stream ([`RoomLog::current_head`], `range`).
//!
//! **Errors.** Redis unreachable, a timeout or a script error is a [`LogError`] of kind
//! `Unavailable`: the room refuses the post (`unavailable`, HTTP 503) and keeps its connections.
//! [`LogStore::open`] needs no round trip, so a room can start while Redis is down, and works as
//! soon as it is back. A reply lost after the script ran (the connection dropped at that moment)
//! is refused to the client although the frame is in the stream: delivery into the stream is
//! **at least once**, never "acknowledged and lost".
//!
//! **Deleting.** The supervisor deletes the log of a room it evicts to make space for another
//! (`--max-rooms`). In a cluster that room may be busy on other nodes, so this store keeps it:
//! [`LogStore::delete`] leaves the shared history alone, and each room's stream is bounded by
//! `MAXLEN`.
//!
//! **Kept bytes** are not tracked ([`LogHead::kept_bytes`] is 0): Redis bounds each room by
//! entries (`--history`), and its own `maxmemory` bounds the whole.
//!
//! **Why the `redis` crate (redis-rs) and not `fred`:** both are maintained async clients with
//! tokio support and automatic reconnection. redis-rs is the most used Redis client for Rust, its
//! [`ConnectionManager`] is one multiplexed connection that reconnects by itself with
//! exponential backoff (exactly what a node needs: many rooms' scripts pipelined on one socket),
//! and its [`::redis::Script`] runs `EVALSHA` and reloads the script after Redis forgot it (a
//! restart). fred brings a larger API (pools, its own cluster and sentinel routing, a client
//! trait per command group) that this store does not use, and more dependencies.

pub mod keys;
pub mod live;
mod scripts;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{RedisError, Script};
use futures_util::FutureExt;
use prometheus_client::metrics::counter::Counter;

use super::{
    Appended, Epoch, LiveInbox, LiveSubscription, LogError, LogFuture, LogHead, LogPage, LogStore,
    NewEntry, RoomLog, StoredFrame,
};
use keys::RoomKeys;
use live::LiveHub;

/// The store's counters, exported by `/metrics` (the server registers them; this layer only
/// counts). Clones share their values.
#[derive(Debug, Clone, Default)]
pub struct RedisCounters {
    /// Failed Redis operations: commands and scripts that failed or timed out, failed connection
    /// attempts and lost connections of the live subscriber, unreadable channel messages.
    pub errors: Counter,
    /// Times the live subscriber connected again after losing its connection.
    pub reconnects: Counter,
    /// Live frames dropped because their room's inbox was full (the room re-reads them from the
    /// stream).
    pub live_dropped: Counter,
}

/// How long one Redis command may take before it counts as failed (the room then answers
/// `unavailable`). Generous: a loaded machine, a Redis busy with a large `XRANGE`.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting to Redis may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The reconnect backoff: from 100 ms, doubling, up to 2 s between attempts.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(2);
/// Reconnect attempts per failed command (each later command starts another round).
const RECONNECT_RETRIES: usize = 2;

/// All rooms' logs in one Redis. Clone it freely: clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Shared {
    connection: ConnectionManager,
    /// The node's one pub/sub connection, for rooms with local members (see [`live`]).
    live: LiveHub,
    counters: RedisCounters,
    append: Script,
    read: Script,
    /// Entries each room's stream keeps (`--history`).
    frames_per_room: usize,
    /// The last head read of each room: what [`RoomLog::head`] answers while Redis is down, so a
    /// room (re)started meanwhile starts (and refuses posts) instead of crash-looping, which
    /// would soon exceed the restart intensity and stop the whole node. A room this node never
    /// read gets a provisional head ([`PROVISIONAL_EPOCH`]).
    heads: Mutex<HashMap<String, LogHead>>,
}

impl RedisStore {
    /// A store on the Redis at `url` (`redis://host:port/db`), keeping `frames_per_room` frames
    /// per room. Connects lazily: this fails only on a malformed URL, never because Redis is
    /// down (the operations fail then, and succeed again once it is back).
    pub fn open(url: &str, frames_per_room: usize) -> Result<RedisStore, LogError> {
        RedisStore::open_counted(url, frames_per_room, RedisCounters::default())
    }

    /// [`RedisStore::open`], counting into `counters` (the ones `/metrics` exports).
    pub fn open_counted(
        url: &str,
        frames_per_room: usize,
        counters: RedisCounters,
    ) -> Result<RedisStore, LogError> {
        let client = ::redis::Client::open(url)
            .map_err(|error| LogError::unavailable(format!("bad Redis URL: {error}")))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY)
            .set_number_of_retries(RECONNECT_RETRIES);
        let live = LiveHub::new(client.clone(), counters.clone());
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(redis_error)?;
        Ok(RedisStore {
            shared: Arc::new(Shared {
                connection,
                live,
                counters,
                append: scripts::append(),
                read: scripts::read(),
                frames_per_room: frames_per_room.max(1),
                heads: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn log(&self, room: &str) -> Arc<dyn RoomLog> {
        Arc::new(RedisRoomLog {
            room: room.to_owned(),
            keys: RoomKeys::new(room),
            shared: Arc::clone(&self.shared),
        })
    }
}

fn redis_error(error: RedisError) -> LogError {
    LogError::unavailable(format!("Redis: {error}"))
}

impl Shared {
    /// A failed Redis operation: counted, and turned into an `Unavailable` log error.
    fn failed(&self, error: RedisError) -> LogError {
        self.counters.errors.inc();
        redis_error(error)
    }
}

/// What the reading script answers (see [`scripts`]).
type ReadReply = (String, String, String, u64, Vec<String>);

/// [`ReadReply`] checked: the room's head, and the entries as `id, frame, id, frame, …`.
struct ReadResult {
    epoch: Epoch,
    last_seq: u64,
    first_kept: u64,
    kept: u64,
    flat: Vec<String>,
}

/// Which entries the reading script returns.
enum Read {
    /// Up to `count` entries with `seq >= from`, oldest first.
    From { from: u64, count: usize },
    /// Up to `count` entries with `seq <= to`, newest first.
    UpTo { to: u64, count: usize },
    /// None: only the head.
    Head,
}

struct RedisRoomLog {
    room: String,
    keys: RoomKeys,
    shared: Arc<Shared>,
}

impl RedisRoomLog {
    async fn append_batch(&self, entries: Vec<NewEntry>) -> Result<Appended, LogError> {
        if entries.is_empty() {
            let head = self.read(Read::Head).await?;
            return Ok(Appended {
                epoch: head.epoch,
                frames: Vec::new(),
            });
        }
        let mut invocation = self.shared.append.prepare_invoke();
        invocation
            .key(&self.keys.epoch)
            .key(&self.keys.seq)
            .key(&self.keys.stream)
            .arg(Epoch::random().as_str())
            .arg(self.shared.frames_per_room)
            .arg(&self.keys.channel);
        for entry in &entries {
            let (head, tail) = entry.template.parts();
            invocation.arg(head).arg(tail);
        }
        let mut connection = self.shared.connection.clone();
        let (epoch, first): (String, String) = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.shared.failed(error))?;
        let first: u64 = first
            .parse()
            .map_err(|_| LogError::unavailable(format!("Redis answered seq {first:?}")))?;
        let mut frames = Vec::with_capacity(entries.len());
        let mut seq = first;
        for entry in entries {
            frames.push(StoredFrame {
                seq,
                frame: entry.template.encode(seq),
            });
            seq = seq
                .checked_add(1)
                .ok_or_else(|| LogError::unavailable("seq overflow"))?;
        }
        Ok(Appended {
            epoch: Epoch::from_stored(epoch),
            frames,
        })
    }

    async fn read(&self, read: Read) -> Result<LogPage, LogError> {
        let (mode, bound, count) = match read {
            Read::From { from, count } => ("after", from, count),
            Read::UpTo { to, count } => ("before", to, count),
            Read::Head => ("head", 0, 0),
        };
        let reply = self
            .run_read(if count == 0 { "head" } else { mode }, bound, count)
            .await?;
        let flat = reply.flat;
        let mut frames = Vec::with_capacity(flat.len() / 2);
        let mut pairs = flat.into_iter();
        while let (Some(id), Some(frame)) = (pairs.next(), pairs.next()) {
            frames.push(StoredFrame {
                seq: entry_seq(&id)?,
                frame: frame.into(),
            });
        }
        if matches!(read, Read::UpTo { .. }) {
            frames.reverse();
        }
        Ok(LogPage {
            epoch: reply.epoch,
            first_kept: reply.first_kept,
            last_seq: reply.last_seq,
            frames,
        })
    }

    /// The head from Redis, or while Redis fails, the last one this store read.
    async fn head_of(&self) -> Result<LogHead, LogError> {
        let heads = || {
            self.shared
                .heads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        match self.read_head().await {
            Ok(head) => {
                heads().insert(self.room.clone(), head.clone());
                Ok(head)
            }
            Err(error) => {
                let known = heads().get(&self.room).cloned();
                tracing::warn!(room = %self.room, %error, known = known.is_some(), "Redis is unavailable: the room starts from the last head this node knew, or a provisional one");
                Ok(known.unwrap_or_else(provisional_head))
            }
        }
    }

    async fn read_head(&self) -> Result<LogHead, LogError> {
        let reply = self.run_read("head", 0, 0).await?;
        Ok(LogHead {
            epoch: reply.epoch,
            last_seq: reply.last_seq,
            first_kept: reply.first_kept,
            kept_frames: usize::try_from(reply.kept).unwrap_or(usize::MAX),
            kept_bytes: 0,
        })
    }

    /// Runs the reading script (`mode` is `head`, `after` or `before`) and checks its head.
    async fn run_read(&self, mode: &str, bound: u64, count: usize) -> Result<ReadResult, LogError> {
        let mut connection = self.shared.connection.clone();
        let (epoch, last_seq, first_id, kept, flat): ReadReply = self
            .shared
            .read
            .key(&self.keys.epoch)
            .key(&self.keys.seq)
            .key(&self.keys.stream)
            .arg(Epoch::random().as_str())
            .arg(mode)
            .arg(bound)
            .arg(count)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.shared.failed(error))?;
        let last_seq: u64 = last_seq
            .parse()
            .map_err(|_| LogError::unavailable(format!("Redis answered seq {last_seq:?}")))?;
        let first_kept = if first_id.is_empty() {
            last_seq.saturating_add(1)
        } else {
            entry_seq(&first_id)?
        };
        Ok(ReadResult {
            epoch: Epoch::from_stored(epoch),
            last_seq,
            first_kept,
            kept,
            flat,
        })
    }
}

/// The epoch of a room that started while Redis was down and this node never read its head.
/// Not a random epoch (those are 32 hex characters), so it never matches a real one: a client
/// resuming there is told `gap: true`. The room's first post after Redis is back carries the real
/// epoch, and the room switches to it (and fills the hole from the stream).
pub const PROVISIONAL_EPOCH: &str = "unavailable";

fn provisional_head() -> LogHead {
    LogHead {
        epoch: Epoch::from_stored(PROVISIONAL_EPOCH.to_owned()),
        last_seq: 0,
        first_kept: 1,
        kept_frames: 0,
        kept_bytes: 0,
    }
}

/// The seq of a stream entry ID `<seq>-0`.
fn entry_seq(id: &str) -> Result<u64, LogError> {
    id.split_once('-')
        .and_then(|(seq, _)| seq.parse().ok())
        .ok_or_else(|| LogError::unavailable(format!("unexpected stream entry id {id:?}")))
}

impl RoomLog for RedisRoomLog {
    fn append(&self, entries: Vec<NewEntry>) -> LogFuture<'_, Appended> {
        self.append_batch(entries).boxed()
    }

    fn range(&self, after: u64, limit: usize) -> LogFuture<'_, LogPage> {
        let read = match after.checked_add(1) {
            Some(from) => Read::From { from, count: limit },
            None => Read::Head,
        };
        self.read(read).boxed()
    }

    fn before(&self, before: u64, limit: usize) -> LogFuture<'_, LogPage> {
        let read = match before.checked_sub(1) {
            Some(to) if to > 0 => Read::UpTo { to, count: limit },
            _ => Read::Head,
        };
        self.read(read).boxed()
    }

    fn head(&self) -> LogFuture<'_, LogHead> {
        self.head_of().boxed()
    }

    fn current_head(&self) -> LogFuture<'_, LogHead> {
        async move {
            let head = self.read_head().await?;
            self.shared
                .heads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(self.room.clone(), head.clone());
            Ok(head)
        }
        .boxed()
    }

    /// Listens to the room's channel on the node's pub/sub connection (see [`live`]).
    fn subscribe(&self, inbox: Arc<LiveInbox>) -> Option<LiveSubscription> {
        Some(self.shared.live.subscribe(&self.keys.channel, inbox))
    }
}

impl LogStore for RedisStore {
    /// Hands out the log without a round trip to Redis: the first operation makes the room's
    /// epoch if it has none. So a room starts (and refuses posts) while Redis is down.
    fn open<'a>(&'a self, room: &'a str) -> LogFuture<'a, Arc<dyn RoomLog>> {
        let log = self.log(room);
        async move { Ok(log) }.boxed()
    }

    fn find<'a>(&'a self, room: &'a str) -> LogFuture<'a, Option<Arc<dyn RoomLog>>> {
        async move {
            let keys = RoomKeys::new(room);
            let mut connection = self.shared.connection.clone();
            let exists: bool = ::redis::cmd("EXISTS")
                .arg(&keys.epoch)
                .query_async(&mut connection)
                .await
                .map_err(|error| self.shared.failed(error))?;
            Ok(exists.then(|| self.log(room)))
        }
        .boxed()
    }

    /// Keeps the shared history (see the module docs): other nodes may still serve the room.
    fn delete<'a>(&'a self, _room: &'a str) -> LogFuture<'a, ()> {
        async { Ok(()) }.boxed()
    }
}
