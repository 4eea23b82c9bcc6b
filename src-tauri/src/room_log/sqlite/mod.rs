//! The durable room log: every room's history in one SQLite file, `<data dir>/rooms.sqlite3`.
//!
//! **Why rusqlite (with `bundled`)** rather than sqlx: SQLite is a synchronous library, and this
//! store gives it **one writer thread** that owns the writing connection, which is how SQLite
//! wants to be written (one writer at a time). rusqlite is the thin, widely used binding for
//! exactly that; sqlx would add an async pool and a second runtime layer around the same calls.
//! `bundled` compiles a known SQLite into the binary (WAL, incremental vacuum), so the app behaves
//! the same whatever the system has.
//!
//! **Writes: one thread, group commit.** Every append, open and delete is a command sent to the
//! writer thread ([`writer`]). The thread takes every command waiting in its queue, runs them all
//! in **one transaction**, commits, and only then answers each one: so a post is acknowledged
//! (echoed, HTTP 200) only after the transaction holding it has committed, and the posts that
//! arrive while a commit is in progress (from any room) share the next one. The rooms already
//! gather their posts while their previous append is in flight, so under load a transaction
//! holds many posts of many rooms, and the commit cost is shared by all of them.
//!
//! **A room commits its own append when the writer is free** ([`direct`]): it takes the
//! writer's connection with `try_lock` and commits on its own thread, so the append is answered
//! at its first poll. Only when the writer is busy does the append go to the thread's queue.
//!
//! **Rooms wait for a queued commit where they are**, for at most [`INLINE_APPEND_WAIT`]
//! ([`RoomLog::inline_append_wait`]), when the runtime is crowded: the answer comes from the
//! writer thread, and a task woken from outside the runtime would only run after every connection
//! task already queued, a whole round of socket writes at 10,000 members (see
//! `actors::room::inline_wait`).
//!
//! **Durability.** The file is in WAL mode. With `synchronous=NORMAL` (the default) a commit is
//! in the operating system's hands when it returns: a killed process (kill -9, a crash) loses
//! nothing acknowledged, while a power cut or an OS crash may lose the last commits (the WAL is
//! synced at checkpoints). `--durability full` sets `synchronous=FULL`: every commit is synced to
//! the disk before it is acknowledged, at the cost of one fsync per transaction (such commits are
//! left to the writer thread). Checkpoints run on the writer thread, never inside a commit
//! ([`checkpoint`]).
//!
//! **Reads** (catch-ups, history pages) use separate read-only connections on tokio's blocking
//! pool, at most [`READERS`] at once; in WAL mode they never wait for the writer and see only
//! committed frames. A room's head (epoch, last seq, what is kept) is answered from memory.
//!
//! **Retention** (per room, by count, by bytes and optionally by age) and the deletion of
//! evicted rooms' frames run in small batches between commands; see [`retention`].
//!
//! **Failures.** A write that fails (a full disk, an I/O error) rolls the whole transaction back
//! and every append and delete in it fails with
//! [`LogErrorKind::Unavailable`](super::LogErrorKind): posts are refused, no seq is used up,
//! nothing is acknowledged, and the next transaction tries again. A room being opened meanwhile
//! is opened all the same, without a row yet (see [`writer`]): a room that cannot start would
//! count against the restart intensity, and a full disk must not shut the server down. The
//! writer thread never panics on a database error; if it ended anyway, every later operation
//! would fail as unavailable (and rooms would refuse posts) instead of hanging.
//!
//! **One process per data directory:** [`SqliteStore::open_in`] takes an advisory lock on the
//! directory first ([`lock`]), and an existing file is checked before anything is written to it
//! ([`schema`]).

mod checkpoint;
mod direct;
mod lock;
mod reader;
mod retention;
pub mod schema;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use rusqlite::Connection;
use tokio::sync::{oneshot, Semaphore};

use super::{Appended, Epoch, LogError, LogFuture, LogHead, LogPage, LogStore, NewEntry, RoomLog};
pub use checkpoint::CHECKPOINT_PAGES;
pub use direct::DIRECT_COMMIT_LIMIT;
pub use lock::{DataDirLock, LOCK_FILE};
pub use schema::OpenError;

/// The room log's file name inside the data directory.
pub const FILE_NAME: &str = "rooms.sqlite3";

/// Most read-only connections in use at once.
pub const READERS: usize = 4;

/// How long a room waits for its append on its own thread before it awaits it in a task: far
/// above a commit with `synchronous=NORMAL` (a fraction of a millisecond here), above most
/// fsyncs with `--durability full`, and short enough that a stalled disk holds a room's joins
/// and leaves back by no more than that.
pub const INLINE_APPEND_WAIT: Duration = Duration::from_millis(20);

/// What the store keeps, per room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Frames per room (`--history`).
    pub frames_per_room: u64,
    /// Bytes per room (`--room-history-bytes`).
    pub bytes_per_room: u64,
    /// Frames older than this are deleted (`--retention-days`); `None` keeps them.
    pub max_age: Option<Duration>,
}

/// How the store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// `synchronous=FULL` (fsync every commit) instead of `NORMAL`.
    pub full_fsync: bool,
    pub retention: Retention,
    /// Most rooms kept in the file. The directory caps the rooms alive at once; rooms stored by
    /// an earlier run that nobody reopened are deleted, least recently active first, when new
    /// rooms need the space.
    pub max_rooms: usize,
}

/// What the store knows about an opened room; the writer keeps it equal to the room's row.
#[derive(Debug, Clone)]
struct RoomMeta {
    /// The row's id; [`UNSAVED`] while the room has no row yet (see [`writer`]).
    id: i64,
    epoch: Epoch,
    last_seq: u64,
    first_kept: u64,
    kept_frames: u64,
    kept_bytes: u64,
}

impl RoomMeta {
    fn head(&self) -> LogHead {
        LogHead {
            epoch: self.epoch.clone(),
            last_seq: self.last_seq,
            first_kept: self.first_kept,
            kept_frames: usize::try_from(self.kept_frames).unwrap_or(usize::MAX),
            kept_bytes: usize::try_from(self.kept_bytes).unwrap_or(usize::MAX),
        }
    }
}

/// The id of an opened room whose row could not be written yet (a full disk when it was
/// opened): its first append writes the row. Row ids start at 1.
const UNSAVED: i64 = 0;

/// A request to the writer thread; the answer comes after the commit.
enum Command {
    Open {
        room: String,
        reply: oneshot::Sender<Result<RoomMeta, LogError>>,
    },
    Append {
        room: String,
        epoch: Epoch,
        entries: Vec<NewEntry>,
        reply: oneshot::Sender<Result<Appended, LogError>>,
    },
    Delete {
        room: String,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
    /// Nothing to answer: a commit made on a room's thread left the writer thread work of its
    /// own (a checkpoint, maintenance), and this wakes it to look.
    Wake,
    /// Unit tests: the writer holds its lock, says so on `paused`, and waits until `release`'s
    /// sender is dropped or sends, so that commands queue up behind it.
    #[cfg(test)]
    Pause {
        paused: mpsc::Sender<()>,
        release: mpsc::Receiver<()>,
    },
}

/// Counters, for tests and the benchmark.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed for commands (not maintenance).
    pub commits: AtomicU64,
    /// Frames stored.
    pub frames: AtomicU64,
    /// Frames deleted by retention or room deletion.
    pub frames_deleted: AtomicU64,
    /// Transactions rolled back after a write error.
    pub failures: AtomicU64,
    /// Appends committed on a room's own thread ([`direct`]).
    pub direct_commits: AtomicU64,
    /// WAL checkpoints run ([`checkpoint`]).
    pub checkpoints: AtomicU64,
    /// The writer thread is waiting for a command, not holding the writer.
    pub waiting: AtomicBool,
}

/// The opened rooms, by name: written by the writer thread after each commit, read by `head`.
type Opened = Arc<Mutex<HashMap<String, RoomMeta>>>;

/// The SQLite room log. Clone it freely: clones share the file, the writer and the readers.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    commands: mpsc::Sender<Command>,
    /// The writing connection and its bookkeeping: the writer thread's, and a room's while it
    /// commits its own append ([`direct`]).
    writer: Arc<Mutex<writer::Writer>>,
    direct: Arc<direct::DirectCommits>,
    checkpoint_wanted: checkpoint::CheckpointWanted,
    opened: Opened,
    readers: Mutex<Vec<Connection>>,
    reader_permits: Semaphore,
    stats: Arc<WriterStats>,
    /// The data directory's lock, released when the last clone of the store is dropped.
    _lock: Option<DataDirLock>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SqliteStore {
    /// Locks `dir` (creating it if needed) and opens `dir/`[`FILE_NAME`]: the app's way in.
    pub fn open_in(dir: &Path, options: SqliteOptions) -> Result<SqliteStore, OpenError> {
        let lock = DataDirLock::acquire(dir)?;
        let mut store = SqliteStore::open(&dir.join(FILE_NAME), options)?;
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner._lock = Some(lock);
        }
        Ok(store)
    }

    /// Opens (or creates) `path` and starts its writer thread. An existing file is checked
    /// before anything is written to it (see [`schema`]); the caller holds the data directory's
    /// lock, so no other process writes it.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<SqliteStore, OpenError> {
        let mut connection = schema::open_checked(path)?;
        schema::prepare(&connection, path, options.full_fsync)?;
        let checkpoint_wanted = checkpoint::CheckpointWanted::default();
        checkpoint::watch_wal(&mut connection, checkpoint_wanted.clone()).map_err(|error| {
            OpenError::Setup {
                path: path.to_owned(),
                detail: format!("cannot watch the write-ahead log: {error}"),
            }
        })?;
        let opened: Opened = Arc::default();
        let stats = Arc::new(WriterStats::default());
        let (commands, queue) = mpsc::channel();
        let writer = Arc::new(Mutex::new(writer::Writer::new(
            connection,
            options,
            Arc::clone(&opened),
            Arc::clone(&stats),
        )));
        let direct = Arc::new(direct::DirectCommits::new(!options.full_fsync));
        let thread = writer::WriterThread {
            writer: Arc::clone(&writer),
            direct: Arc::clone(&direct),
            checkpoint_wanted: checkpoint_wanted.clone(),
            stats: Arc::clone(&stats),
        };
        std::thread::Builder::new()
            .name("room-log-writer".to_owned())
            .spawn(move || thread.run(queue))
            .map_err(|error| OpenError::Setup {
                path: path.to_owned(),
                detail: format!("cannot start the writer thread: {error}"),
            })?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                commands,
                writer,
                direct,
                checkpoint_wanted,
                opened,
                readers: Mutex::new(Vec::new()),
                reader_permits: Semaphore::new(READERS),
                stats,
                _lock: None,
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.inner.stats
    }

    /// Commits so far (for tests of group commit).
    pub fn commits(&self) -> u64 {
        self.inner.stats.commits.load(Ordering::Relaxed)
    }

    /// Sends `command` to the writer and waits for its answer.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, LogError>>) -> Command,
    ) -> Result<T, LogError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(make(reply))
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Unit tests: holds the writer (its thread has the lock) until the returned sender is
    /// dropped.
    #[cfg(test)]
    fn pause(&self) -> mpsc::Sender<()> {
        let (release_sender, release) = mpsc::channel();
        let (paused, is_paused) = mpsc::channel();
        let _ = self.inner.commands.send(Command::Pause { paused, release });
        let _ = is_paused.recv();
        release_sender
    }
}

fn writer_gone() -> LogError {
    LogError::unavailable("the room log's writer has stopped")
}

/// A handle to one room's log, naming its incarnation (its epoch): a handle to a deleted room
/// fails with `Gone` instead of touching its successor.
struct SqliteRoomLog {
    store: SqliteStore,
    room: String,
    epoch: Epoch,
}

impl RoomLog for SqliteRoomLog {
    fn append(&self, entries: Vec<NewEntry>) -> LogFuture<'_, Appended> {
        let entries = match self.store.append_here(&self.room, &self.epoch, entries) {
            Ok(committed) => return futures_util::future::ready(committed).boxed(),
            Err(writer_busy) => writer_busy,
        };
        let room = self.room.clone();
        let epoch = self.epoch.clone();
        async move {
            self.store
                .ask(|reply| Command::Append {
                    room,
                    epoch,
                    entries,
                    reply,
                })
                .await
        }
        .boxed()
    }

    fn inline_append_wait(&self) -> Option<Duration> {
        Some(INLINE_APPEND_WAIT)
    }

    fn range(&self, after: u64, limit: usize) -> LogFuture<'_, LogPage> {
        let query = reader::Query::After(after);
        reader::page(Arc::clone(&self.store.inner), self.target(), query, limit).boxed()
    }

    fn before(&self, before: u64, limit: usize) -> LogFuture<'_, LogPage> {
        let query = reader::Query::Before(before);
        reader::page(Arc::clone(&self.store.inner), self.target(), query, limit).boxed()
    }

    fn head(&self) -> LogFuture<'_, LogHead> {
        let head = match lock(&self.store.inner.opened).get(&self.room) {
            Some(meta) if meta.epoch == self.epoch => Ok(meta.head()),
            _ => Err(LogError::gone(&self.room)),
        };
        futures_util::future::ready(head).boxed()
    }
}

impl SqliteRoomLog {
    fn target(&self) -> reader::Target {
        reader::Target {
            room: self.room.clone(),
            epoch: self.epoch.clone(),
        }
    }
}

impl LogStore for SqliteStore {
    fn open<'a>(&'a self, room: &'a str) -> LogFuture<'a, Arc<dyn RoomLog>> {
        async move {
            let known = lock(&self.inner.opened).get(room).cloned();
            let meta = match known {
                Some(meta) => meta,
                None => {
                    self.ask(|reply| Command::Open {
                        room: room.to_owned(),
                        reply,
                    })
                    .await?
                }
            };
            let log: Arc<dyn RoomLog> = Arc::new(SqliteRoomLog {
                store: self.clone(),
                room: room.to_owned(),
                epoch: meta.epoch,
            });
            Ok(log)
        }
        .boxed()
    }

    fn find<'a>(&'a self, room: &'a str) -> LogFuture<'a, Option<Arc<dyn RoomLog>>> {
        async move {
            let known = lock(&self.inner.opened)
                .get(room)
                .map(|meta| meta.epoch.clone());
            let found = match known {
                Some(found) => Some(found),
                None => reader::find(Arc::clone(&self.inner), room.to_owned()).await?,
            };
            Ok(found.map(|epoch| {
                let log: Arc<dyn RoomLog> = Arc::new(SqliteRoomLog {
                    store: self.clone(),
                    room: room.to_owned(),
                    epoch,
                });
                log
            }))
        }
        .boxed()
    }

    fn delete<'a>(&'a self, room: &'a str) -> LogFuture<'a, ()> {
        async move {
            self.ask(|reply| Command::Delete {
                room: room.to_owned(),
                reply,
            })
            .await
        }
        .boxed()
    }
}

#[cfg(test)]
mod commit_path_tests;
#[cfg(test)]
mod tests;
