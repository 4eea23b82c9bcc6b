//! The frames waiting for one connection's writer, and the flags its two sides signal with.
//!
//! Why not `tokio::sync::mpsc`? A bounded channel allocates its first block (32 slots) and its
//! cache-padded state when it is created: about 2 KiB per connection before a single frame is
//! sent, for life. Most connections are idle most of the time, so [`FrameQueue`] is a
//! `VecDeque` behind a mutex that allocates nothing until its first frame and gives its buffer
//! back whenever the writer empties it: an idle connection holds no queue memory at all, and a
//! busy one at most its frame limit. The mutex is held for a push or a pop only, never across an
//! `.await`; producers (the room's fan-out, the connection actor) and the one writer rarely meet.
//!
//! Wake-ups: a producer notifies the writer only when it made the queue non-empty (the writer
//! only sleeps after it saw it empty, and [`Notify`] keeps one permit, so no wake-up is lost).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::Outgoing;

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

    /// Takes the oldest frame. Emptying the queue gives its buffer back.
    pub(super) fn pop(&self) -> Option<Outgoing> {
        let mut frames = self.lock();
        let next = frames.queue.pop_front();
        if frames.queue.is_empty() && frames.queue.capacity() > 0 {
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
    fn an_idle_queue_holds_no_buffer_and_an_emptied_one_gives_it_back() {
        let queue = FrameQueue::new(8);
        assert_eq!(
            queue.lock().queue.capacity(),
            0,
            "nothing before the first frame"
        );
        queue.push(frame("a")).expect("room");
        queue.push(frame("b")).expect("room");
        assert!(queue.lock().queue.capacity() >= 2);
        assert!(queue.pop().is_some());
        assert_eq!(queue.len(), 1);
        assert!(queue.pop().is_some());
        assert_eq!(
            queue.lock().queue.capacity(),
            0,
            "emptied: buffer given back"
        );
        assert!(queue.pop().is_none());
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
