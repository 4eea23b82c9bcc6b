//! The in-memory room log: every room's recent frames in process memory.
//!
//! One mutex guards all rooms, because one budget spans all rooms: **history is bounded in
//! frames and bytes per room, and in bytes in total** (`--history`, `--room-history-bytes`,
//! `--history-bytes`). Counting frames alone is not enough: 1,000 rooms × 500 frames of up to
//! 8 KiB of escaped text would be gigabytes. Every critical section is a few pointer moves (no
//! I/O, no await, no encoding), so one lock costs less than the bookkeeping a finer scheme needs.
//!
//! When the total is over budget, **the room with the most bytes gives way**, oldest frames first:
//! a busy room cannot wipe out the history of a quiet one. The frame just appended is always kept,
//! even when it alone is larger than a budget, so that a post is never stored and dropped at once.
//!
//! The futures it returns are ready at once: the work is done when the method is called. The room
//! relies on nothing of the sort (it treats every store as asynchronous), but it polls once before
//! spawning a task, so with this store a post costs no extra task hop.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use futures_util::future::{ready, FutureExt};

use super::{
    Appended, Epoch, LogError, LogFuture, LogHead, LogPage, LogStore, NewEntry, RoomLog,
    StoredFrame,
};

/// How much history the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Frames per room.
    pub frames_per_room: usize,
    /// Bytes per room.
    pub bytes_per_room: usize,
    /// Bytes for all rooms together.
    pub total_bytes: usize,
}

/// All rooms' logs, in memory. Clone it freely: clones share the same rooms.
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    limits: HistoryLimits,
    rooms: HashMap<String, History>,
    total_bytes: usize,
}

struct History {
    epoch: Epoch,
    last_seq: u64,
    /// Consecutive seqs, oldest first: trimming only ever pops the front.
    frames: VecDeque<(u64, Utf8Bytes)>,
    bytes: usize,
}

impl History {
    fn new() -> History {
        History {
            epoch: Epoch::random(),
            last_seq: 0,
            frames: VecDeque::new(),
            bytes: 0,
        }
    }

    fn first_kept(&self) -> u64 {
        self.frames
            .front()
            .map_or(self.last_seq.saturating_add(1), |(seq, _)| *seq)
    }

    /// Removes the oldest frame; returns its size.
    fn pop_oldest(&mut self) -> usize {
        let size = self
            .frames
            .pop_front()
            .map_or(0, |(_, frame)| frame.as_str().len());
        self.bytes -= size;
        size
    }

    fn head(&self) -> LogHead {
        LogHead {
            epoch: self.epoch.clone(),
            last_seq: self.last_seq,
            first_kept: self.first_kept(),
            kept_frames: self.frames.len(),
            kept_bytes: self.bytes,
        }
    }

    fn page(&self, frames: Vec<StoredFrame>) -> LogPage {
        LogPage {
            epoch: self.epoch.clone(),
            first_kept: self.first_kept(),
            last_seq: self.last_seq,
            frames,
        }
    }
}

impl MemoryStore {
    pub fn new(limits: HistoryLimits) -> MemoryStore {
        let limits = HistoryLimits {
            frames_per_room: limits.frames_per_room.max(1),
            bytes_per_room: limits.bytes_per_room.max(1),
            total_bytes: limits.total_bytes.max(1),
        };
        MemoryStore {
            shared: Arc::new(Mutex::new(Shared {
                limits,
                rooms: HashMap::new(),
                total_bytes: 0,
            })),
        }
    }

    /// Bytes kept for all rooms together.
    pub fn total_bytes(&self) -> usize {
        lock(&self.shared).total_bytes
    }
}

/// The lock, even if a thread panicked while holding it: every critical section leaves the data
/// consistent before anything that could panic, so the data is still good.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The history of `room` if it is still the incarnation `epoch`.
    fn history(&mut self, room: &str, epoch: &Epoch) -> Result<&mut History, LogError> {
        match self.rooms.get_mut(room) {
            Some(history) if history.epoch == *epoch => Ok(history),
            _ => Err(LogError::gone(room)),
        }
    }

    fn append(
        &mut self,
        room: &str,
        epoch: &Epoch,
        entries: Vec<NewEntry>,
    ) -> Result<Appended, LogError> {
        let limits = self.limits;
        let history = self.history(room, epoch)?;
        // Check before storing anything: all or nothing.
        let count = u64::try_from(entries.len())
            .map_err(|_| LogError::unavailable("too many entries in one batch"))?;
        if history.last_seq.checked_add(count).is_none() {
            return Err(LogError::unavailable(format!(
                "#{room} has used up its sequence numbers"
            )));
        }
        let mut stored = Vec::with_capacity(entries.len());
        let mut added = 0;
        for entry in entries {
            history.last_seq += 1;
            let frame = entry.template.encode(history.last_seq);
            added += frame.as_str().len();
            history.bytes += frame.as_str().len();
            history.frames.push_back((history.last_seq, frame.clone()));
            stored.push(StoredFrame {
                seq: history.last_seq,
                frame,
            });
        }
        let mut removed = 0;
        while history.frames.len() > 1
            && (history.frames.len() > limits.frames_per_room
                || history.bytes > limits.bytes_per_room)
        {
            removed += history.pop_oldest();
        }
        let epoch = history.epoch.clone();
        self.total_bytes = self.total_bytes + added - removed;
        self.enforce_total(room);
        Ok(Appended {
            epoch,
            frames: stored,
        })
    }

    /// While over the total budget, the room holding the most bytes drops its oldest frame. The
    /// newest frame of `appending` is never dropped.
    fn enforce_total(&mut self, appending: &str) {
        while self.total_bytes > self.limits.total_bytes {
            let largest = self
                .rooms
                .iter_mut()
                .filter(|(name, history)| {
                    let keep = usize::from(name.as_str() == appending);
                    history.frames.len() > keep
                })
                .max_by_key(|(_, history)| history.bytes);
            let Some((_, history)) = largest else { break };
            self.total_bytes -= history.pop_oldest();
        }
    }

    fn range(
        &mut self,
        room: &str,
        epoch: &Epoch,
        after: u64,
        limit: usize,
    ) -> Result<LogPage, LogError> {
        let history = self.history(room, epoch)?;
        let first = history.first_kept();
        // Seqs are consecutive, so the position of `after + 1` is an index.
        let skip = after.checked_add(1).map_or(usize::MAX, |next| {
            usize::try_from(next.saturating_sub(first)).unwrap_or(usize::MAX)
        });
        let frames = history
            .frames
            .iter()
            .skip(skip)
            .take(limit)
            .map(|(seq, frame)| StoredFrame {
                seq: *seq,
                frame: frame.clone(),
            })
            .collect();
        Ok(history.page(frames))
    }

    fn before(
        &mut self,
        room: &str,
        epoch: &Epoch,
        before: u64,
        limit: usize,
    ) -> Result<LogPage, LogError> {
        let history = self.history(room, epoch)?;
        let first = history.first_kept();
        let older = usize::try_from(before.saturating_sub(first))
            .unwrap_or(usize::MAX)
            .min(history.frames.len());
        let start = older.saturating_sub(limit);
        let frames = history
            .frames
            .range(start..older)
            .map(|(seq, frame)| StoredFrame {
                seq: *seq,
                frame: frame.clone(),
            })
            .collect();
        Ok(history.page(frames))
    }
}

/// A handle to one room's history in a [`MemoryStore`]. It names its incarnation (the epoch), so
/// a handle to a deleted log fails with [`super::LogErrorKind::Gone`] instead of writing into its
/// successor.
struct MemoryRoomLog {
    room: String,
    epoch: Epoch,
    shared: Arc<Mutex<Shared>>,
}

impl RoomLog for MemoryRoomLog {
    fn append(&self, entries: Vec<NewEntry>) -> LogFuture<'_, Appended> {
        let result = lock(&self.shared).append(&self.room, &self.epoch, entries);
        ready(result).boxed()
    }

    fn range(&self, after: u64, limit: usize) -> LogFuture<'_, LogPage> {
        let result = lock(&self.shared).range(&self.room, &self.epoch, after, limit);
        ready(result).boxed()
    }

    fn before(&self, before: u64, limit: usize) -> LogFuture<'_, LogPage> {
        let result = lock(&self.shared).before(&self.room, &self.epoch, before, limit);
        ready(result).boxed()
    }

    fn head(&self) -> LogFuture<'_, LogHead> {
        let result = lock(&self.shared)
            .history(&self.room, &self.epoch)
            .map(|history| history.head());
        ready(result).boxed()
    }
}

impl LogStore for MemoryStore {
    fn open<'a>(&'a self, room: &'a str) -> LogFuture<'a, Arc<dyn RoomLog>> {
        let epoch = lock(&self.shared)
            .rooms
            .entry(room.to_owned())
            .or_insert_with(History::new)
            .epoch
            .clone();
        let log: Arc<dyn RoomLog> = Arc::new(MemoryRoomLog {
            room: room.to_owned(),
            epoch,
            shared: Arc::clone(&self.shared),
        });
        ready(Ok(log)).boxed()
    }

    fn find<'a>(&'a self, room: &'a str) -> LogFuture<'a, Option<Arc<dyn RoomLog>>> {
        let epoch = lock(&self.shared)
            .rooms
            .get(room)
            .map(|history| history.epoch.clone());
        let log = epoch.map(|epoch| {
            let log: Arc<dyn RoomLog> = Arc::new(MemoryRoomLog {
                room: room.to_owned(),
                epoch,
                shared: Arc::clone(&self.shared),
            });
            log
        });
        ready(Ok(log)).boxed()
    }

    fn delete<'a>(&'a self, room: &'a str) -> LogFuture<'a, ()> {
        let mut shared = lock(&self.shared);
        if let Some(history) = shared.rooms.remove(room) {
            shared.total_bytes -= history.bytes;
        }
        ready(Ok(())).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room_log::test_entries::{append_entries, chat_entry, seqs};

    fn entry(text: &str) -> NewEntry {
        chat_entry("r", text, 0)
    }

    fn roomy() -> HistoryLimits {
        HistoryLimits {
            frames_per_room: 100,
            bytes_per_room: 1 << 20,
            total_bytes: 1 << 20,
        }
    }

    async fn append(log: &Arc<dyn RoomLog>, texts: &[&str]) -> Vec<u64> {
        append_entries(log, texts.iter().map(|text| entry(text)).collect()).await
    }

    #[tokio::test]
    async fn append_numbers_a_batch_consecutively_and_range_reads_it_back() {
        let store = MemoryStore::new(roomy());
        let log = store.open("dev").await.expect("open");
        assert_eq!(append(&log, &["a", "b"]).await, vec![1, 2]);
        assert_eq!(append(&log, &["c"]).await, vec![3]);

        let page = log.range(1, 10).await.expect("range");
        assert_eq!(seqs(&page), vec![2, 3]);
        assert_eq!((page.first_kept, page.last_seq), (1, 3));
        assert!(page.frames[0].frame.as_str().contains(r#""seq":2,"#));
        assert!(page.frames[0].frame.as_str().contains(r#""text":"b""#));
        assert_eq!(seqs(&log.range(0, 2).await.expect("range")), vec![1, 2]);
        assert!(log.range(3, 10).await.expect("range").frames.is_empty());
        assert!(log
            .range(u64::MAX, 10)
            .await
            .expect("range")
            .frames
            .is_empty());
        assert!(log.range(0, 0).await.expect("range").frames.is_empty());

        let head = log.head().await.expect("head");
        assert_eq!(
            (head.last_seq, head.first_kept, head.kept_frames),
            (3, 1, 3)
        );
    }

    #[tokio::test]
    async fn before_pages_backwards() {
        let store = MemoryStore::new(roomy());
        let log = store.open("dev").await.expect("open");
        append(&log, &["1", "2", "3", "4", "5"]).await;
        assert_eq!(seqs(&log.before(5, 2).await.expect("before")), vec![3, 4]);
        assert_eq!(seqs(&log.before(3, 10).await.expect("before")), vec![1, 2]);
        assert!(log.before(1, 10).await.expect("before").frames.is_empty());
        assert!(log.before(0, 10).await.expect("before").frames.is_empty());
        assert_eq!(
            seqs(&log.before(u64::MAX, 2).await.expect("before")),
            vec![4, 5]
        );
    }

    #[tokio::test]
    async fn the_frame_count_per_room_is_bounded() {
        let store = MemoryStore::new(HistoryLimits {
            frames_per_room: 3,
            ..roomy()
        });
        let log = store.open("dev").await.expect("open");
        append(&log, &["1", "2", "3", "4", "5"]).await;
        let page = log.range(0, 10).await.expect("range");
        assert_eq!(seqs(&page), vec![3, 4, 5]);
        assert_eq!(page.first_kept, 3);
        // Asking for what is gone gives what is kept.
        assert_eq!(seqs(&log.range(1, 10).await.expect("range")), vec![3, 4, 5]);
    }

    #[tokio::test]
    async fn the_bytes_per_room_are_bounded_but_the_newest_frame_stays() {
        let one = entry(&"x".repeat(1000)).template.encode(1).as_str().len();
        let store = MemoryStore::new(HistoryLimits {
            bytes_per_room: 3 * one + one / 2,
            ..roomy()
        });
        let log = store.open("dev").await.expect("open");
        let big = "x".repeat(1000);
        for _ in 0..10 {
            append(&log, &[&big]).await;
        }
        let head = log.head().await.expect("head");
        assert_eq!(head.kept_frames, 3);
        assert!(head.kept_bytes <= 3 * one + one / 2);
        assert_eq!(store.total_bytes(), head.kept_bytes);

        // A single frame over the budget is still kept: stored means stored.
        let huge = "y".repeat(8000);
        append(&log, &[&huge]).await;
        let head = log.head().await.expect("head");
        assert_eq!((head.kept_frames, head.last_seq), (1, 11));
    }

    #[tokio::test]
    async fn over_the_total_budget_the_largest_room_gives_way() {
        // Frames numbered up to 99 are at most one byte longer than frame 1.
        let one = entry(&"x".repeat(1000)).template.encode(10).as_str().len();
        let store = MemoryStore::new(HistoryLimits {
            frames_per_room: 100,
            bytes_per_room: 100 * one,
            total_bytes: 10 * one,
        });
        let quiet = store.open("quiet").await.expect("open");
        let busy = store.open("busy").await.expect("open");
        let text = "x".repeat(1000);
        for _ in 0..3 {
            append(&quiet, &[&text]).await;
        }
        for _ in 0..30 {
            append(&busy, &[&text]).await;
        }
        let quiet_head = quiet.head().await.expect("head");
        let busy_head = busy.head().await.expect("head");
        assert_eq!(
            quiet_head.kept_frames, 3,
            "the quiet room keeps its history"
        );
        assert_eq!(busy_head.kept_frames, 7);
        assert!(store.total_bytes() <= 10 * one);
        assert_eq!(
            store.total_bytes(),
            quiet_head.kept_bytes + busy_head.kept_bytes
        );
    }

    #[tokio::test]
    async fn deleting_a_log_frees_its_bytes_and_the_next_one_has_a_new_epoch() {
        let store = MemoryStore::new(roomy());
        let old = store.open("dev").await.expect("open");
        append(&old, &["a", "b"]).await;
        let old_epoch = old.head().await.expect("head").epoch;
        store.delete("dev").await.expect("delete");
        assert_eq!(store.total_bytes(), 0);
        assert_eq!(
            old.append(vec![entry("late")]).await.map(|_| ()),
            Err(LogError::gone("dev"))
        );

        let new = store.open("dev").await.expect("open");
        let head = new.head().await.expect("head");
        assert_ne!(head.epoch, old_epoch);
        assert_eq!((head.last_seq, head.kept_frames), (0, 0));
        assert_eq!(append(&new, &["c"]).await, vec![1]);
        // The stale handle still cannot write into its successor.
        assert!(old.range(0, 10).await.is_err());
    }

    #[tokio::test]
    async fn reopening_returns_the_same_log() {
        let store = MemoryStore::new(roomy());
        let first = store.open("lobby").await.expect("open");
        append(&first, &["a"]).await;
        let again = store.open("lobby").await.expect("open");
        assert_eq!(
            append(&again, &["b"]).await,
            vec![2],
            "numbering carries on"
        );
        assert_eq!(
            first.head().await.expect("head").epoch,
            again.head().await.expect("head").epoch
        );
    }
}
