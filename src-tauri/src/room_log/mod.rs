//! The room log: each room's numbered history, owned **outside** the room actor.
//!
//! A room actor may crash and be restarted; its numbering must not. So the sequence counter and
//! the kept frames live here, in a [`RoomLog`] handed out by a [`LogStore`] that outlives every
//! room actor. A restarted room opens the same log and carries on from its `last_seq`.
//!
//! This trait is the seam of the next two steps, and is shaped for them:
//!
//! - **In memory** ([`MemoryStore`], today): a map of ring buffers bounded in frames and bytes.
//! - **SQLite** ([`SqliteStore`], the default of the app): one writer per process. A room commits
//!   its batch on its own thread when the writer is free, and otherwise queues it for the writer
//!   thread's group commit. [`RoomLog::append`] takes a *batch*, so the posts that reach a room
//!   while its previous batch is being written share one transaction (with other rooms' batches,
//!   on the thread), and the future resolves only after the commit.
//! - **Redis** (cluster): a Lua script does `INCR` seq, `XADD` the frame and `PUBLISH`. Several
//!   nodes post to one room, so **the log assigns the seq**, never the caller. A numbered frame
//!   contains its seq, so the caller hands over a [`FrameTemplate`] (the encoded frame cut around
//!   a placeholder seq) and the log joins `head + seq + tail` where the number is made. The epoch
//!   is a key made with `SET NX`, and may change under a running room when Redis loses its data,
//!   so every answer carries the epoch it was made under instead of a getter fixed at open.
//!
//! **Why boxed futures** ([`LogFuture`]) rather than `async fn` in the trait: the store is picked
//! at run time (memory, SQLite, Redis), so the trait must be object-safe (`Arc<dyn LogStore>`),
//! which native `async fn` in traits is not; and the futures must be `Send` for the multi-thread
//! runtime. `async-trait` would generate exactly this boxing behind a macro; writing the
//! `BoxFuture` out costs one line per method and no dependency. The allocation is per batch or per
//! page, never per frame or per recipient.
//!
//! **Errors.** Any operation may fail ([`LogError`]): a full disk, Redis down. The caller then
//! refuses what it could not store (the room answers `unavailable`, HTTP answers 503), and carries
//! on: a failed append assigns no seq, so the next one leaves no gap.

pub mod history;
pub mod live;
mod memory;
pub mod redis;
pub mod sqlite;
#[cfg(test)]
pub mod test_double;
#[cfg(test)]
pub mod test_entries;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::future::BoxFuture;

pub use self::redis::{RedisCounters, RedisStore};
pub use crate::protocol::FrameTemplate;
pub use live::{LiveBatch, LiveFrame, LiveInbox, LiveSubscription};
pub use memory::{HistoryLimits, MemoryStore};
pub use sqlite::SqliteStore;

/// What every log operation returns: a boxed, `Send` future (see the module docs for why).
pub type LogFuture<'a, T> = BoxFuture<'a, Result<T, LogError>>;

/// The id of one incarnation of a room's log: random, made when the log is created. A client
/// that resumes with another epoch's seq gets `gap: true`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Epoch(Arc<str>);

impl Epoch {
    /// A fresh random epoch (32 hex characters).
    pub fn random() -> Epoch {
        Epoch(crate::protocol::token::random_hex(crate::protocol::token::EPOCH_BYTES).into())
    }

    /// An epoch read back from a store.
    pub fn from_stored(epoch: String) -> Epoch {
        Epoch(epoch.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Epoch({})", self.0)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A frame to number and store.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub template: FrameTemplate,
    /// When the room accepted it (milliseconds since the Unix epoch), for stores that expire by age.
    pub ts: u64,
}

/// A stored, numbered frame, exactly as it is sent to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFrame {
    pub seq: u64,
    pub frame: Utf8Bytes,
}

impl StoredFrame {
    pub fn len(&self) -> usize {
        self.frame.as_str().len()
    }

    pub fn is_empty(&self) -> bool {
        self.frame.as_str().is_empty()
    }
}

/// What [`RoomLog::append`] stored: one frame per entry, in order, with consecutive seqs.
#[derive(Debug, Clone)]
pub struct Appended {
    pub epoch: Epoch,
    pub frames: Vec<StoredFrame>,
}

/// An answer to [`RoomLog::range`] or [`RoomLog::before`].
#[derive(Debug, Clone)]
pub struct LogPage {
    pub epoch: Epoch,
    /// The oldest seq still kept (`last_seq + 1` when nothing is kept).
    pub first_kept: u64,
    pub last_seq: u64,
    /// Ascending by seq.
    pub frames: Vec<StoredFrame>,
}

/// A log's vital signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    pub epoch: Epoch,
    pub last_seq: u64,
    /// The oldest seq still kept (`last_seq + 1` when nothing is kept).
    pub first_kept: u64,
    pub kept_frames: usize,
    pub kept_bytes: usize,
}

/// Why a log operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogErrorKind {
    /// The store cannot serve right now (disk full, connection lost); a retry may succeed.
    Unavailable,
    /// This log was deleted (its room was evicted); the handle is stale.
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError {
    pub kind: LogErrorKind,
    pub message: String,
}

impl LogError {
    pub fn unavailable(message: impl Into<String>) -> LogError {
        LogError {
            kind: LogErrorKind::Unavailable,
            message: message.into(),
        }
    }

    pub fn gone(room: &str) -> LogError {
        LogError {
            kind: LogErrorKind::Gone,
            message: format!("the log of #{room} was deleted"),
        }
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LogError {}

/// One room's numbered history. Cheap to share (`Arc<dyn RoomLog>`): the room actor appends, its
/// catch-up tasks and the inspector read, concurrently.
pub trait RoomLog: Send + Sync + 'static {
    /// Numbers and stores `entries`, in order, as one unit: either all are stored with
    /// consecutive seqs, or none is and no seq is used up.
    fn append(&self, entries: Vec<NewEntry>) -> LogFuture<'_, Appended>;

    /// Up to `limit` kept frames with `seq > after`, oldest first.
    fn range(&self, after: u64, limit: usize) -> LogFuture<'_, LogPage>;

    /// Up to `limit` kept frames with `seq < before`, the newest of them, oldest first (older
    /// history, a page at a time: `has_more` is `first_kept < frames[0].seq`).
    fn before(&self, before: u64, limit: usize) -> LogFuture<'_, LogPage>;

    /// Epoch, last seq and what is kept.
    fn head(&self) -> LogFuture<'_, LogHead>;

    /// The head as the store has it **now**, or an error: never a remembered one. A running room
    /// checks with it whether it missed frames or the log has a new epoch (see [`live`]).
    /// [`RoomLog::head`] may answer from memory while a shared store is unreachable, so that a
    /// room can start; this one may not. Stores with a single writer have nothing to remember.
    fn current_head(&self) -> LogFuture<'_, LogHead> {
        self.head()
    }

    /// How long a room may wait for an append **on its own thread** before it awaits it in a
    /// task instead (see `actors::room::inline_wait`). `None`, the default: not at all. Only for
    /// stores whose appends finish on a thread of this process in well under a millisecond, so
    /// that waiting where the room is beats being woken at the back of the runtime's queue.
    fn inline_append_wait(&self) -> Option<Duration> {
        None
    }

    /// Hands the frames **other writers** store in this log (other nodes of a cluster) to
    /// `inbox`, until the returned subscription is dropped. `None` for stores that only this
    /// process writes (memory, SQLite): the room already has every frame.
    fn subscribe(&self, _inbox: Arc<LiveInbox>) -> Option<LiveSubscription> {
        None
    }
}

/// Where room logs live. Outlives every room actor.
///
/// A room opens its log and reads its head when it starts; if either fails, the start counts as
/// a room failure, against the restart intensity. So a store that is only *temporarily*
/// unreachable (Redis restarting) should still hand out a log and its head (the last one it
/// knew), and fail the other operations with [`LogErrorKind::Unavailable`] until it is back: posts
/// are then refused while connections stay open, instead of the room crash-looping.
pub trait LogStore: Send + Sync + 'static {
    /// The log of `room`, created (with a new epoch) if it does not exist.
    fn open<'a>(&'a self, room: &'a str) -> LogFuture<'a, Arc<dyn RoomLog>>;

    /// The log of `room` if it exists (stored by this run or an earlier one); never creates
    /// one. For readers that must not make rooms (the history API).
    fn find<'a>(&'a self, room: &'a str) -> LogFuture<'a, Option<Arc<dyn RoomLog>>>;

    /// Deletes the log of `room` and its history. The next [`LogStore::open`] makes a new epoch.
    fn delete<'a>(&'a self, room: &'a str) -> LogFuture<'a, ()>;
}
