//! The outbound half of one connection: a **bounded** queue drained by a single writer task.
//!
//! Why not let the actor write to the socket itself? A ractor mailbox is unbounded, and a
//! socket write can block for as long as the client does not read. An actor awaiting that write
//! would stop draining its mailbox, and every broadcast would pile up there without limit.
//!
//! Instead the connection actor owns an [`Outbox`]: producers (the actor, its room) call
//! [`Outbox::deliver`], which never waits. If the queue is full the client is too slow, and the
//! outbox closes it with 1013 so that it can reconnect. Memory per client is bounded by the
//! queue length, and a slow client never slows anybody else down.
//!
//! The writer task is the only code that touches the socket's write half. It also sends the
//! heartbeat pings, and the close frame when the connection ends, so every path out of a
//! connection goes through one place.
//!
//! **Pacing.** A backlog (the history a joining or resuming client is owed) can be far larger than
//! the queue. It is not the client's fault, so it must not get it closed: whoever delivers a
//! backlog calls [`Outbox::wait_for_room`] between pages, which resolves once the writer has
//! drained the queue to half its limits. The writer only pays for that (a wake-up after a flush)
//! while somebody waits.
//!
//! **Memory.** An idle connection's outbox is one allocation (this handle's shared state, a few
//! hundred bytes): the queue allocates on its first frame, and an emptied one keeps a small
//! buffer only until the writer's next heartbeat (see `queue.rs`); the close and finish signals
//! are flags in the same allocation, not cancellation tokens; the writer's rare, large close
//! path is boxed so that it does not sit in every writer task's future for the connection's
//! whole life.
//!
//! **Bounds.** At most [`OutboxLimits::frames`] frames and [`OutboxLimits::bytes`] payload bytes
//! wait per connection (1,024 and 1 MiB by default); the writer takes at most
//! [`MAX_FRAMES_PER_FLUSH`] of them per flush. That bounds both the memory a client can cost and
//! the queueing delay it can see: past the limit it is closed (1013), not queued for.
//!
//! **Metrics.** Every queued frame records the queue's depth (`trw_outbox_depth_frames`; a
//! fan-out tallies its members' depths on its stack and merges them once). A room's stored post
//! travels with a shared [`PostInFlight`], which the writer drops once the frame is flushed, so
//! the last recipient's write times the post (`trw_post_delivery_seconds`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitSink;
use tokio::sync::Notify;

use crate::metrics::{ConnectionStats, DepthTally, Metrics, PostInFlight};
use crate::protocol::CloseCode;

mod queue;
mod writer;

use queue::{Flag, FrameQueue, PushError};
use writer::Writer;

/// At most this many queued frames are written before one flush: one syscall for a burst.
pub const MAX_FRAMES_PER_FLUSH: usize = 64;

/// What happened to a frame handed to [`Outbox::deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the writer.
    Queued,
    /// The queue was full: the client has been told to go away (1013).
    Overflowed,
    /// The connection is already closing; nothing was queued.
    Closed,
}

/// A queued frame, with the post it belongs to when a room fanned it out (see the module docs).
#[derive(Debug)]
struct Outgoing {
    frame: Message,
    post: Option<Arc<PostInFlight>>,
}

impl Outgoing {
    fn plain(frame: Message) -> Outgoing {
        Outgoing { frame, post: None }
    }
}

/// How much one connection may have waiting to be written. Whichever fills first counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    pub frames: usize,
    pub bytes: usize,
}

/// A cheap, cloneable handle to one connection's outbound queue: one pointer.
#[derive(Debug)]
pub struct Outbox {
    shared: Arc<Shared>,
}

/// Everything both sides of one outbox share, in one allocation.
#[derive(Debug)]
struct Shared {
    queue: FrameQueue,
    close: CloseSignal,
    budget: ByteBudget,
    /// Wakes [`Outbox::wait_for_room`] after the writer drained some frames.
    room: RoomSignal,
    metrics: Arc<Metrics>,
}

impl Clone for Outbox {
    fn clone(&self) -> Outbox {
        self.shared.queue.add_sender();
        Outbox {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // The last handle gone ends the writer, as the last sender of a channel would.
        self.shared.queue.remove_sender();
    }
}

/// "The queue has drained a bit": the writer notifies only while somebody waits.
#[derive(Debug, Default)]
struct RoomSignal {
    notify: Notify,
    waiters: AtomicUsize,
}

impl RoomSignal {
    /// Called by the writer after it handed frames to the socket.
    fn drained(&self) {
        // SeqCst pairs with the waiter's increment: either the writer sees the waiter, or the
        // waiter sees the drained counters.
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }
}

/// Payload bytes queued and not yet handed to the socket, against a limit.
///
/// Producers [`reserve`](Self::reserve) a frame's bytes *before* the frame becomes visible to
/// the writer, and the writer [`release`](Self::release)s them when it takes the frame. The
/// other order (queue, then count) lets the writer subtract a frame's bytes before they were
/// added: the counter wraps below zero, and the next producer sees a huge number (a spurious
/// 1013, or an overflow panic in a debug build).
#[derive(Debug)]
struct ByteBudget {
    queued: AtomicUsize,
    max: usize,
}

impl ByteBudget {
    fn new(max: usize) -> Self {
        Self {
            queued: AtomicUsize::new(0),
            max: max.max(1),
        }
    }

    /// Takes `size` bytes if they fit under the limit; on `false` nothing was taken.
    fn reserve(&self, size: usize) -> bool {
        self.queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |queued| {
                queued.checked_add(size).filter(|total| *total <= self.max)
            })
            .is_ok()
    }

    /// Gives back bytes taken by [`reserve`](Self::reserve): a frame written, or one that
    /// could not be queued after all.
    fn release(&self, size: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |queued| {
                Some(queued.saturating_sub(size))
            });
    }

    fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Default)]
struct CloseSignal {
    /// The first close request wins; later ones are ignored.
    code: OnceLock<CloseCode>,
    /// Raised when somebody asks the writer to close.
    requested: Flag,
    /// Raised when the writer has finished: the socket's write half is gone.
    finished: Flag,
}

/// The writer's end of the queue. Dropping it (the writer ended) closes the queue.
struct Intake {
    shared: Arc<Shared>,
}

impl Intake {
    /// Takes the next frame and releases its bytes from the budget.
    fn pop(&self) -> Option<Outgoing> {
        let frame = self.shared.queue.pop()?;
        self.shared.budget.release(payload_len(&frame.frame));
        Some(frame)
    }

    /// [`pop`](Self::pop), waiting for a frame; `None` once every [`Outbox`] is gone.
    async fn next(&self) -> Option<Outgoing> {
        let frame = self.shared.queue.next().await?;
        self.shared.budget.release(payload_len(&frame.frame));
        Some(frame)
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.shared.queue.close();
        self.shared.budget.queued.store(0, Ordering::SeqCst);
    }
}

impl Outbox {
    /// Creates the queue and spawns the writer task that owns `sink`.
    pub fn spawn_writer(
        sink: SplitSink<WebSocket, Message>,
        limits: OutboxLimits,
        heartbeat: Duration,
        stats: Arc<ConnectionStats>,
        metrics: Arc<Metrics>,
    ) -> Outbox {
        let (outbox, intake) = Outbox::unwired(limits, metrics);
        tokio::spawn(Writer::new(sink, intake, stats).run(heartbeat));
        outbox
    }

    /// The queue and its accounting, without a writer: `spawn_writer` attaches one.
    fn unwired(limits: OutboxLimits, metrics: Arc<Metrics>) -> (Outbox, Intake) {
        let shared = Arc::new(Shared {
            queue: FrameQueue::new(limits.frames),
            close: CloseSignal::default(),
            budget: ByteBudget::new(limits.bytes),
            room: RoomSignal::default(),
            metrics,
        });
        let intake = Intake {
            shared: Arc::clone(&shared),
        };
        (Outbox { shared }, intake)
    }

    /// Queues a frame without waiting. A full queue closes the connection as a slow consumer.
    pub fn deliver(&self, frame: Message) -> Delivery {
        let delivery = self.deliver_via(Outgoing::plain(frame), |frame| {
            self.shared.queue.push(frame)
        });
        if delivery == Delivery::Queued {
            self.shared
                .metrics
                .outbox_depth
                .observe(self.queued() as u64);
        }
        delivery
    }

    /// [`deliver_text`](Self::deliver_text) for a room's fan-out: the depth goes into the
    /// fan-out's `tally` (merged once for all members), and the frame carries `post`, if it is
    /// one, until the writer has flushed it.
    pub fn deliver_fanned_out(
        &self,
        text: Utf8Bytes,
        post: Option<&Arc<PostInFlight>>,
        tally: &mut DepthTally,
    ) -> Delivery {
        let outgoing = Outgoing {
            frame: Message::Text(text),
            post: post.cloned(),
        };
        let delivery = self.deliver_via(outgoing, |frame| self.shared.queue.push(frame));
        if delivery == Delivery::Queued {
            tally.observe(self.queued() as u64);
        }
        delivery
    }

    /// [`deliver`](Self::deliver), with the step that makes the frame visible to the writer
    /// passed in (the tests use it to let the writer take the frame at the worst moment).
    fn deliver_via(
        &self,
        frame: Outgoing,
        enqueue: impl FnOnce(Outgoing) -> Result<(), PushError>,
    ) -> Delivery {
        // Every close path sets the code first, so this one atomic load tells whether the
        // connection is closing.
        if self.shared.close.code.get().is_some() {
            return Delivery::Closed;
        }
        let size = payload_len(&frame.frame);
        // Reserve first: once queued, the writer may take the frame and release its bytes
        // before `enqueue` has even returned.
        if !self.shared.budget.reserve(size) {
            return self.overflow();
        }
        match enqueue(frame) {
            Ok(()) => Delivery::Queued,
            Err(PushError::Full) => {
                self.shared.budget.release(size);
                self.overflow()
            }
            Err(PushError::Closed) => {
                self.shared.budget.release(size);
                Delivery::Closed
            }
        }
    }

    fn overflow(&self) -> Delivery {
        if self.close_code().is_none() {
            Metrics::count(&self.shared.metrics.queue_overflows);
        }
        self.close(CloseCode::SlowConsumer);
        Delivery::Overflowed
    }

    /// Queues a text frame that is already encoded (and possibly shared with other clients).
    pub fn deliver_text(&self, text: Utf8Bytes) -> Delivery {
        self.deliver(Message::Text(text))
    }

    /// Asks the writer to send a close frame with `code` and stop. Idempotent: the first code wins.
    pub fn close(&self, code: CloseCode) {
        if self.shared.close.code.set(code).is_ok() {
            self.shared.close.requested.raise();
        }
    }

    /// The code the connection was (or is being) closed with, if a close was requested.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.shared.close.code.get().copied()
    }

    /// Frames waiting in the queue right now.
    pub fn queued(&self) -> usize {
        self.shared.queue.len()
    }

    /// Payload bytes waiting in the queue right now.
    pub fn queued_bytes(&self) -> usize {
        self.shared.budget.queued()
    }

    /// The most this connection may have waiting.
    pub fn limits(&self) -> OutboxLimits {
        OutboxLimits {
            frames: self.shared.queue.max(),
            bytes: self.shared.budget.max,
        }
    }

    /// True while the queue is at most half full, in frames and in bytes.
    fn has_room(&self) -> bool {
        let limits = self.limits();
        self.queued() <= limits.frames / 2 && self.queued_bytes() <= limits.bytes / 2
    }

    /// Resolves once the queue is at most half full (true), or when the connection is closing
    /// (false). See "Pacing" in the module docs.
    pub async fn wait_for_room(&self) -> bool {
        let room = &self.shared.room;
        room.waiters.fetch_add(1, Ordering::SeqCst);
        let open = loop {
            let drained = room.notify.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.close_code().is_some() {
                break false;
            }
            if self.has_room() {
                break true;
            }
            tokio::select! {
                () = &mut drained => {}
                () = self.close_requested() => break false,
            }
        };
        room.waiters.fetch_sub(1, Ordering::SeqCst);
        open
    }

    /// Test-only: an outbox whose "socket" is a channel the test reads. With `reading`, a task
    /// drains the queue like a writer (so pacing works); without, nothing does, as with a client
    /// that never reads.
    #[cfg(test)]
    pub fn for_test(
        limits: OutboxLimits,
        reading: bool,
    ) -> (Outbox, tokio::sync::mpsc::UnboundedReceiver<Message>) {
        let (outbox, intake) = Outbox::unwired(limits, Arc::default());
        let (socket, received) = tokio::sync::mpsc::unbounded_channel();
        if reading {
            tokio::spawn(async move {
                while let Some(Outgoing { frame, .. }) = intake.next().await {
                    intake.shared.room.drained();
                    if socket.send(frame).is_err() {
                        break;
                    }
                }
            });
        } else {
            // Keep the intake alive (a full queue, not a closed one), forwarding nothing.
            tokio::spawn(async move {
                let _intake = intake;
                std::future::pending::<()>().await;
            });
            drop(socket);
        }
        (outbox, received)
    }

    /// Resolves when the writer has finished and the write half of the socket is gone.
    pub async fn finished(&self) {
        self.shared.close.finished.raised().await;
    }

    /// Resolves when a close has been requested (the writer may still be sending it).
    pub async fn close_requested(&self) {
        self.shared.close.requested.raised().await;
    }
}

/// Bytes a frame will occupy on the wire, give or take its few header bytes.
fn payload_len(frame: &Message) -> usize {
    match frame {
        Message::Text(text) => text.as_str().len(),
        Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
        Message::Close(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Message {
        Message::Text("x".repeat(len).into())
    }

    fn unwired(frames: usize, bytes: usize) -> (Outbox, Intake) {
        Outbox::unwired(OutboxLimits { frames, bytes }, Arc::new(Metrics::default()))
    }

    /// What the writer does with each frame it takes (see `Writer::write_burst`).
    fn take(_outbox: &Outbox, queue: &mut Intake) -> Option<Message> {
        queue.pop().map(|Outgoing { frame, .. }| frame)
    }

    #[test]
    fn the_writer_taking_a_frame_before_deliver_returns_leaves_the_count_exact() {
        let (outbox, mut queue) = unwired(8, 100);
        // The race, made deterministic: the writer takes the frame (and releases its bytes)
        // right after it is queued, before `deliver` has returned; another producer delivers
        // in that same window.
        let delivered = outbox.deliver_via(Outgoing::plain(text(60)), |frame| {
            outbox.shared.queue.push(frame)?;
            assert!(take(&outbox, &mut queue).is_some(), "the writer took it");
            assert_eq!(
                outbox.deliver(text(60)),
                Delivery::Queued,
                "the other producer sees an honest count, not a wrapped one"
            );
            Ok(())
        });
        assert_eq!(delivered, Delivery::Queued);
        while take(&outbox, &mut queue).is_some() {}
        assert_eq!(
            outbox.shared.budget.queued(),
            0,
            "everything taken, nothing counted"
        );
        assert_eq!(outbox.close_code(), None, "no spurious 1013");
    }

    #[test]
    fn the_byte_limit_counts_queued_frames_and_frees_them_when_written() {
        let (outbox, mut queue) = unwired(8, 100);
        assert_eq!(outbox.deliver(text(60)), Delivery::Queued);
        assert_eq!(outbox.deliver(text(40)), Delivery::Queued);
        assert_eq!(outbox.shared.budget.queued(), 100);
        take(&outbox, &mut queue);
        assert_eq!(outbox.shared.budget.queued(), 40);
        assert_eq!(outbox.deliver(text(60)), Delivery::Queued, "room again");
        assert_eq!(
            outbox.deliver(text(1)),
            Delivery::Overflowed,
            "over by one byte"
        );
        assert_eq!(outbox.close_code(), Some(CloseCode::SlowConsumer));
    }

    #[test]
    fn a_frame_that_cannot_be_queued_gives_its_bytes_back() {
        // A full queue (by frames): the refused frame's reservation is rolled back.
        let (outbox, _queue) = unwired(1, 1000);
        assert_eq!(outbox.deliver(text(10)), Delivery::Queued);
        assert_eq!(outbox.deliver(text(20)), Delivery::Overflowed);
        assert_eq!(outbox.shared.budget.queued(), 10);

        // The writer is gone: nothing queued, nothing counted.
        let (outbox, queue) = unwired(4, 1000);
        drop(queue);
        assert_eq!(outbox.deliver(text(10)), Delivery::Closed);
        assert_eq!(outbox.shared.budget.queued(), 0);
    }

    #[test]
    fn a_huge_frame_cannot_overflow_the_count() {
        let (outbox, _queue) = unwired(4, 100);
        outbox.shared.budget.reserve(50);
        assert!(
            !outbox.shared.budget.reserve(usize::MAX),
            "checked, not wrapped"
        );
        assert_eq!(outbox.shared.budget.queued(), 50);
    }
}
