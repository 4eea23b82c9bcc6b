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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::metrics::{ConnectionStats, Metrics};
use crate::protocol::CloseCode;

/// How long the writer tries to get a close frame out before it gives up on the client.
const CLOSE_SEND_TIMEOUT: Duration = Duration::from_millis(500);

/// At most this many queued frames are written before one flush: one syscall for a burst.
const MAX_FRAMES_PER_FLUSH: usize = 64;

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

/// How much one connection may have waiting to be written. Whichever fills first counts.
#[derive(Debug, Clone, Copy)]
pub struct OutboxLimits {
    pub frames: usize,
    pub bytes: usize,
}

/// A cheap, cloneable handle to one connection's outbound queue.
#[derive(Clone, Debug)]
pub struct Outbox {
    queue: mpsc::Sender<Message>,
    close: Arc<CloseSignal>,
    /// Payload bytes queued and not yet handed to the socket.
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct CloseSignal {
    /// The first close request wins; later ones are ignored.
    code: OnceLock<CloseCode>,
    /// Cancelled when somebody asks the writer to close.
    requested: CancellationToken,
    /// Cancelled when the writer has finished: the socket's write half is gone.
    finished: CancellationToken,
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
        let (queue, receiver) = mpsc::channel(limits.frames.max(1));
        let close = Arc::new(CloseSignal::default());
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            sink,
            queue: receiver,
            close: Arc::clone(&close),
            queued_bytes: Arc::clone(&queued_bytes),
            stats,
            metrics: Arc::clone(&metrics),
        };
        tokio::spawn(writer.run(heartbeat));
        Outbox {
            queue,
            close,
            queued_bytes,
            max_bytes: limits.bytes.max(1),
            metrics,
        }
    }

    /// Queues a frame without waiting. A full queue closes the connection as a slow consumer.
    pub fn deliver(&self, frame: Message) -> Delivery {
        // Every close path sets the code first, so this one atomic load tells whether the
        // connection is closing (cheaper than asking the cancellation token, which locks).
        if self.close.code.get().is_some() {
            return Delivery::Closed;
        }
        let size = payload_len(&frame);
        if self.queued_bytes.load(Ordering::Relaxed) + size > self.max_bytes {
            return self.overflow();
        }
        match self.queue.try_send(frame) {
            Ok(()) => {
                self.queued_bytes.fetch_add(size, Ordering::Relaxed);
                Delivery::Queued
            }
            Err(mpsc::error::TrySendError::Full(_)) => self.overflow(),
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Closed,
        }
    }

    fn overflow(&self) -> Delivery {
        if self.close_code().is_none() {
            Metrics::count(&self.metrics.queue_overflows);
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
        if self.close.code.set(code).is_ok() {
            self.close.requested.cancel();
        }
    }

    /// The code the connection was (or is being) closed with, if a close was requested.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.close.code.get().copied()
    }

    /// Frames waiting in the queue right now.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Resolves when the writer has finished and the write half of the socket is gone.
    pub async fn finished(&self) {
        self.close.finished.cancelled().await;
    }

    /// Resolves when a close has been requested (the writer may still be sending it).
    pub async fn close_requested(&self) {
        self.close.requested.cancelled().await;
    }
}

/// The task that owns the socket's write half.
struct Writer {
    sink: SplitSink<WebSocket, Message>,
    queue: mpsc::Receiver<Message>,
    close: Arc<CloseSignal>,
    queued_bytes: Arc<AtomicUsize>,
    stats: Arc<ConnectionStats>,
    metrics: Arc<Metrics>,
}

impl Writer {
    async fn run(mut self, heartbeat: Duration) {
        let mut ping = interval_at(Instant::now() + heartbeat, heartbeat);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let close = Arc::clone(&self.close);
        // Created once and polled by reference: building a new waiter per loop turn would
        // register and deregister it with the token each time.
        let close_requested = close.requested.cancelled();
        tokio::pin!(close_requested);

        let healthy = loop {
            tokio::select! {
                biased;
                () = &mut close_requested => break true,
                frame = self.queue.recv() => {
                    let Some(frame) = frame else { break true };
                    // The write itself may block on a client that does not read: let a close
                    // request interrupt it.
                    let written = tokio::select! {
                        biased;
                        () = &mut close_requested => break true,
                        written = self.write_burst(frame) => written,
                    };
                    if written.is_err() {
                        break false;
                    }
                }
                _ = ping.tick() => {
                    if self.sink.send(Message::Ping(Default::default())).await.is_err() {
                        break false;
                    }
                }
            }
        };

        if healthy {
            let code = close.code.get().copied().unwrap_or(CloseCode::Normal);
            let frame = CloseFrame {
                code: code.code(),
                reason: Utf8Bytes::from_static(code.reason()),
            };
            // Best effort: a client that does not read will not get it, and that is fine.
            let _ = tokio::time::timeout(
                CLOSE_SEND_TIMEOUT,
                self.sink.send(Message::Close(Some(frame))),
            )
            .await;
        }
        // Make sure nobody waits on a close that can no longer be sent.
        let _ = close.code.set(CloseCode::Normal);
        close.requested.cancel();
        close.finished.cancel();
    }

    /// Writes `first` and whatever else is already queued, then flushes once.
    async fn write_burst(&mut self, first: Message) -> Result<(), axum::Error> {
        self.feed(first).await?;
        for _ in 1..MAX_FRAMES_PER_FLUSH {
            match self.queue.try_recv() {
                Ok(next) => self.feed(next).await?,
                Err(_) => break,
            }
        }
        self.sink.flush().await
    }

    async fn feed(&mut self, frame: Message) -> Result<(), axum::Error> {
        self.queued_bytes
            .fetch_sub(payload_len(&frame), Ordering::Relaxed);
        Metrics::count(&self.stats.messages_out);
        Metrics::count(&self.metrics.messages_out);
        self.sink.feed(frame).await
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
