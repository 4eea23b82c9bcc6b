//! Live frames from other writers of a room's log (other nodes of a cluster), handed to the room
//! through a **bounded** inbox.
//!
//! A shared log (Redis) numbers frames posted on any node and publishes each one. The node's
//! subscriber (one task, one connection: [`super::redis::live`]) reads them and must hand them to
//! the room actor without ever waiting for it, and without a queue that grows with a slow room:
//!
//! - each room has one [`LiveInbox`] of at most [`INBOX_FRAMES`] frames. The subscriber pushes
//!   into it and, only when the inbox goes from idle to busy, rings the room's doorbell (one
//!   message to the actor). So the actor's mailbox holds at most one doorbell per room, whatever
//!   the rate;
//! - the room takes everything at once ([`LiveInbox::take`]) when it handles the doorbell;
//! - a frame that finds the inbox full is **dropped**, and the inbox asks the room to
//!   **re-sync**: read the log's head and fill what it missed from the log, in order, before
//!   anything newer. A slow room costs reads of the log, never memory.
//!
//! The subscriber also asks for a re-sync after (re)subscribing a room's channel (frames may have
//! been published while it was not listening) and after every reconnect.
//!
//! A store without other writers (memory, SQLite) hands out no subscription
//! ([`super::RoomLog::subscribe`] answers `None`), and nothing here runs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::Utf8Bytes;

use super::Epoch;

/// Most frames waiting in one room's inbox. Past that, frames are dropped and the room re-syncs
/// from the log (see the module docs). A room that falls this far behind the live stream is
/// better served by one read of the log than by a longer queue.
pub const INBOX_FRAMES: usize = 1024;

/// A numbered frame as another writer stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFrame {
    /// The incarnation of the log the seq belongs to.
    pub epoch: Arc<str>,
    pub seq: u64,
    /// Exactly as clients get it (the same bytes the log keeps).
    pub frame: Utf8Bytes,
}

/// What the room takes from its inbox at a time.
#[derive(Debug, Default)]
pub struct LiveBatch {
    /// In the order the log numbered them.
    pub frames: VecDeque<LiveFrame>,
    /// Read the head and fill from the log: frames were dropped, or the feed (re)connected.
    pub resync: bool,
}

#[derive(Default)]
struct InboxState {
    batch: LiveBatch,
    /// The doorbell rang and the room has not taken the inbox since.
    rung: bool,
}

/// One room's inbox of live frames; see the module docs.
pub struct LiveInbox {
    state: Mutex<InboxState>,
    capacity: usize,
    /// Rings the room's doorbell (a message to the room actor). Called without the lock held.
    doorbell: Box<dyn Fn() + Send + Sync>,
}

impl LiveInbox {
    /// An inbox of [`INBOX_FRAMES`] that calls `doorbell` when it has something for the room.
    pub fn new(doorbell: impl Fn() + Send + Sync + 'static) -> Arc<LiveInbox> {
        LiveInbox::with_capacity(INBOX_FRAMES, doorbell)
    }

    pub fn with_capacity(
        capacity: usize,
        doorbell: impl Fn() + Send + Sync + 'static,
    ) -> Arc<LiveInbox> {
        Arc::new(LiveInbox {
            state: Mutex::new(InboxState::default()),
            capacity: capacity.max(1),
            doorbell: Box::new(doorbell),
        })
    }

    /// Queues `frame` for the room. Returns false if it was dropped (the inbox was full; the room
    /// will re-sync from the log instead).
    pub fn push(&self, frame: LiveFrame) -> bool {
        let (kept, ring) = {
            let mut state = self.lock();
            let kept = state.batch.frames.len() < self.capacity;
            if kept {
                state.batch.frames.push_back(frame);
            } else {
                state.batch.resync = true;
            }
            (kept, !std::mem::replace(&mut state.rung, true))
        };
        if ring {
            (self.doorbell)();
        }
        kept
    }

    /// Asks the room to read the log's head and fill whatever it missed.
    pub fn request_resync(&self) {
        let ring = {
            let mut state = self.lock();
            state.batch.resync = true;
            !std::mem::replace(&mut state.rung, true)
        };
        if ring {
            (self.doorbell)();
        }
    }

    /// Everything waiting; the next push rings the doorbell again.
    pub fn take(&self) -> LiveBatch {
        let mut state = self.lock();
        state.rung = false;
        std::mem::take(&mut state.batch)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps a room's inbox subscribed to its log's live frames; dropping it unsubscribes.
pub struct LiveSubscription {
    _guard: Box<dyn Send + Sync>,
}

impl LiveSubscription {
    /// A subscription that ends when `guard` is dropped.
    pub fn new(guard: impl Send + Sync + 'static) -> LiveSubscription {
        LiveSubscription {
            _guard: Box::new(guard),
        }
    }
}

impl std::fmt::Debug for LiveSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveSubscription")
    }
}

/// True if `frame` belongs to `epoch`.
pub fn same_epoch(frame: &LiveFrame, epoch: &Epoch) -> bool {
    &*frame.epoch == epoch.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn frame(seq: u64) -> LiveFrame {
        LiveFrame {
            epoch: "e".into(),
            seq,
            frame: format!("{seq}").into(),
        }
    }

    #[test]
    fn the_doorbell_rings_once_until_the_room_takes_the_inbox() {
        let rings = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&rings);
        let inbox = LiveInbox::with_capacity(3, move || {
            counted.fetch_add(1, Ordering::Relaxed);
        });
        assert!(inbox.push(frame(1)));
        assert!(inbox.push(frame(2)));
        inbox.request_resync();
        assert_eq!(
            rings.load(Ordering::Relaxed),
            1,
            "one doorbell per idle-to-busy"
        );
        let batch = inbox.take();
        assert_eq!(batch.frames, [frame(1), frame(2)]);
        assert!(batch.resync);
        assert!(inbox.push(frame(3)));
        assert_eq!(rings.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_full_inbox_drops_frames_and_asks_for_a_resync() {
        let inbox = LiveInbox::with_capacity(2, || {});
        assert!(inbox.push(frame(1)));
        assert!(inbox.push(frame(2)));
        assert!(!inbox.push(frame(3)), "dropped, never queued without bound");
        let batch = inbox.take();
        assert_eq!(batch.frames, [frame(1), frame(2)]);
        assert!(
            batch.resync,
            "the room fills the dropped frames from the log"
        );
        assert!(!inbox.take().resync, "taken once");
    }
}
