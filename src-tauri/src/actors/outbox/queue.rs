//! The frames waiting for one connection's writer, and the flags its two sides signal with.
//!
//! Why not `tokio::sync::mpsc`? A bounded channel allocates its first block (32 slots) and its
//! cache-padded state when it is created: about 2 KiB per connection before a single frame is
//! sent, for life. Most connections are idle most of the time, so [`FrameQueue`] is a
//! `VecDeque` behind a mutex that allocates nothing until its first frame. The mutex is held for
//! a push or a pop only, never across an `.await`; producers (the room's fan-out, the connection
//! actor) and the one writer rarely meet.
//!
//! **Who frees the buffer, and when.** The buffer is allocated by a producer, on the room's
//! thread, and emptied by the writer, usually on the other worker thread. Giving it back every
//! time the writer empties the queue meant one `malloc` on one thread and one `free` on the
//! other per burst, and glibc serialises a free of another thread's memory on that thread's
//! arena lock: measured at 1,000 clients and 1,000–1,500 broadcasts/s, ~20,000 `futex` calls a
//! second, nine in ten of them from those two. So an emptied buffer of at most
//! [`KEPT_BUFFER_SLOTS`] frames stays while the connection is in use (a larger one, grown by a
//! rare large burst, is still given back as soon as it is emptied), and the writer gives the
//! small one back on its heartbeat tick when nothing is queued
//! ([`FrameQueue::give_back_idle_buffer`]): a connection sent nothing for a heartbeat holds no
//! queue memory, one in use at most `KEPT_BUFFER_SLOTS` frames' worth (448 bytes), and a busy
//! one at most its frame limit.
//!
//! Wake-ups: a producer notifies the writer only when it made the queue non-empty (the writer
//! only sleeps after it saw it empty, and [`Notify`] keeps one permit, so no wake-up is lost).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::Outgoing;

/// The largest buffer, in frames, that an emptied queue keeps until the writer's next heartbeat
/// (see the module docs). A burst to one client at 1,000 clients and 1,500 broadcasts/s is
/// about four frames.
const KEPT_BUFFER_SLOTS: usize = 8;

/// Why a frame could not be queued (it is dropped).
#[derive(Debug)]
pub(super) enum PushError {
    /// The frame limit is reached.
    Full,
    /// The writer is gone: nothing queued would ever be written.
    Closed,
}

/// A bounded FIFO that allocates lazily (see the module docs).
#[derive(Debug)]
pub(super) struct FrameQueue {
    frames: Mutex<Frames>,
    /// `frames.len()`, readable without the lock (metrics, pacing).
    len: AtomicUsize,
    max: usize,
    /// "The queue went from empty to non-empty", or "the last sender is gone".
    ready: Notify,
    /// Live [`Outbox`](super::Outbox) handles: at zero the writer ends, as with a channel.
    senders: AtomicUsize,
}

#[derive(Debug, Default)]
struct Frames {
    queue: VecDeque<Outgoing>,
    /// Set (under the lock) when the writer's side is dropped.
    closed: bool,
}

impl FrameQueue {
    pub(super) fn new(max: usize) -> FrameQueue {
        FrameQueue {
            frames: Mutex::default(),
            len: AtomicUsize::new(0),
            max: max.max(1),
            ready: Notify::new(),
            senders: AtomicUsize::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Frames> {
        // Nothing panics while the lock is held; if something did, the queue is still valid.
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frame` without waiting.
    pub(super) fn push(&self, frame: Outgoing) -> Result<(), PushError> {
        let mut frames = self.lock();
        if frames.closed {
            return Err(PushError::Closed);
        }
        if frames.queue.len() >= self.max {
            return Err(PushError::Full);
        }
        let was_empty = frames.queue.is_empty();
        frames.queue.push_back(frame);
        self.len.store(frames.queue.len(), Ordering::Release);
        drop(frames);
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Takes the oldest frame. Emptying the queue gives a buffer larger than
    /// [`KEPT_BUFFER_SLOTS`] back; a smaller one waits for
    /// [`give_back_idle_buffer`](Self::give_back_idle_buffer).
    pub(super) fn pop(&self) -> Option<Outgoing> {
        let mut frames = self.lock();
        let next = frames.queue.pop_front();
        if frames.queue.is_empty() && frames.queue.capacity() > KEPT_BUFFER_SLOTS {
            frames.queue = VecDeque::new();
        }
        self.len.store(frames.queue.len(), Ordering::Release);
        next
    }

    /// The next frame, waiting for one; `None` once every sender is gone and nothing is left.
    /// Cancel-safe: a frame is only ever taken by the call that returns it.
    pub(super) async fn next(&self) -> Option<Outgoing> {
        loop {
            if let Some(frame) = self.pop() {
                return Some(frame);
            }
            if self.senders.load(Ordering::Acquire) == 0 {
                return None;
            }
            self.ready.notified().await;
        }
    }

    /// Frees the buffer if nothing is queued. The writer calls it once per heartbeat, so a
    /// connection that goes quiet holds no queue memory after at most one interval.
    pub(super) fn give_back_idle_buffer(&self) {
        let emptied = {
            let mut frames = self.lock();
            if !frames.queue.is_empty() || frames.queue.capacity() == 0 {
                return;
            }
            std::mem::take(&mut frames.queue)
        };
        drop(emptied);
    }

    /// Test-only: frames the buffer has room for without allocating.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.lock().queue.capacity()
    }

    /// Frames waiting right now.
    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub(super) fn max(&self) -> usize {
        self.max
    }

    /// The writer's side is gone: refuse new frames and drop the queued ones (their posts
    /// stop waiting for them).
    pub(super) fn close(&self) {
        let dropped = {
            let mut frames = self.lock();
            frames.closed = true;
            self.len.store(0, Ordering::Release);
            std::mem::take(&mut frames.queue)
        };
        drop(dropped);
    }

    pub(super) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn remove_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.ready.notify_one();
        }
    }
}

/// A one-way flag that can be awaited: "close requested", "writer finished".
///
/// Cheaper than a `CancellationToken` (which allocates a tree node each, and locks a mutex on
/// every check): an atomic and a [`Notify`], inside the outbox's one allocation.
#[derive(Debug, Default)]
pub(super) struct Flag {
    raised: AtomicBool,
    notify: Notify,
}

impl Flag {
    /// Raises the flag and wakes everybody waiting for it. Idempotent.
    pub(super) fn raise(&self) {
        if !self.raised.swap(true, Ordering::SeqCst) {
            self.notify.notify_waiters();
        }
    }

    pub(super) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Resolves once the flag is raised (at once if it already is).
    pub(super) async fn raised(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check: a `raise` in between still wakes this waiter.
            notified.as_mut().enable();
            if self.is_raised() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::Message;

    fn frame(text: &str) -> Outgoing {
        Outgoing::plain(Message::Text(text.into()))
    }

    #[test]
    fn a_new_queue_holds_no_buffer_and_a_used_one_keeps_a_small_one_until_the_heartbeat() {
        let queue = FrameQueue::new(64);
        assert_eq!(queue.capacity(), 0, "nothing before the first frame");
        queue.push(frame("a")).expect("room");
        queue.push(frame("b")).expect("room");
        assert!(queue.pop().is_some());
        assert_eq!(queue.len(), 1);
        assert!(queue.pop().is_some());
        let kept = queue.capacity();
        assert!(
            (1..=KEPT_BUFFER_SLOTS).contains(&kept),
            "emptied while in use: the small buffer stays for the next frame ({kept} slots)"
        );
        queue.push(frame("c")).expect("room");
        queue.give_back_idle_buffer();
        assert_eq!(queue.capacity(), kept, "never while a frame waits");
        assert!(queue.pop().is_some());
        queue.give_back_idle_buffer();
        assert_eq!(queue.capacity(), 0, "quiet for a heartbeat: given back");
        assert!(queue.pop().is_none());
    }

    #[test]
    fn a_buffer_grown_by_a_large_burst_is_given_back_as_soon_as_it_is_emptied() {
        let queue = FrameQueue::new(64);
        for index in 0..=KEPT_BUFFER_SLOTS {
            queue.push(frame(&index.to_string())).expect("room");
        }
        assert!(queue.capacity() > KEPT_BUFFER_SLOTS);
        while queue.pop().is_some() {}
        assert_eq!(queue.capacity(), 0);
    }

    /// The module docs put a kept buffer at 448 bytes: eight queued frames of at most 56.
    #[test]
    fn a_queued_frame_takes_at_most_56_bytes() {
        let size = std::mem::size_of::<Outgoing>();
        assert!(size <= 56, "a queued frame is {size} bytes");
    }

    #[test]
    fn the_frame_limit_refuses_and_returns_the_frame() {
        let queue = FrameQueue::new(2);
        queue.push(frame("a")).expect("room");
        queue.push(frame("b")).expect("room");
        assert!(matches!(queue.push(frame("c")), Err(PushError::Full)));
        queue.close();
        assert!(matches!(queue.push(frame("d")), Err(PushError::Closed)));
        assert_eq!(queue.len(), 0, "closing drops what was queued");
        assert!(queue.pop().is_none());
    }

    #[tokio::test]
    async fn next_wakes_for_a_frame_and_ends_with_the_last_sender() {
        let queue = std::sync::Arc::new(FrameQueue::new(4));
        let reader = {
            let queue = std::sync::Arc::clone(&queue);
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(Outgoing { frame, .. }) = queue.next().await {
                    got.push(frame);
                }
                got
            })
        };
        tokio::task::yield_now().await;
        queue.push(frame("a")).expect("room");
        tokio::task::yield_now().await;
        queue.push(frame("b")).expect("room");
        queue.remove_sender();
        let got = reader.await.expect("reader");
        assert_eq!(got.len(), 2, "both frames, then the end");
    }

    #[tokio::test]
    async fn a_flag_wakes_waiters_raised_before_or_after_they_wait() {
        let flag = std::sync::Arc::new(Flag::default());
        let waiter = {
            let flag = std::sync::Arc::clone(&flag);
            tokio::spawn(async move { flag.raised().await })
        };
        tokio::task::yield_now().await;
        flag.raise();
        waiter.await.expect("woken");
        flag.raised().await; // already raised: at once
    }
}
