//! The task that owns a connection's socket write half: frames in bursts, heartbeat pings, and
//! the close frame on every way out.
//!
//! Its future sits in a tokio task for the connection's whole life, so its size is memory per
//! connection: the close path (a timeout around a send) runs once and is boxed, a burst's state
//! is boxed while it is written, and the loop keeps only what every turn needs. `tests::the_writer_future_stays_small` pins the size.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use super::{Intake, Outgoing, Shared, MAX_FRAMES_PER_FLUSH};
use crate::metrics::{ConnectionStats, Metrics, PostInFlight};
use crate::protocol::CloseCode;

/// A frame at least this large (a `joined` or `presence` with its member list, a history page)
/// is flushed on its own, never batched with others. tungstenite formats every frame into one
/// write buffer per connection that keeps its largest size for the connection's life; batched
/// with its neighbours, a 3 KiB member list would leave a 6–7 KiB buffer behind in every idle
/// connection, alone it leaves 3 KiB. Small frames (chat, broadcasts) are still batched.
const LARGE_FRAME_BYTES: usize = 1024;

/// How long the writer tries to get a close frame out before it gives up on the client.
const CLOSE_SEND_TIMEOUT: Duration = Duration::from_millis(500);

pub(super) struct Writer {
    sink: SplitSink<WebSocket, Message>,
    intake: Intake,
    stats: Arc<ConnectionStats>,
    /// The posts of the frames written since the last flush: dropped after it (see the module
    /// docs). Allocated on the first post, then reused.
    flushed: Vec<Arc<PostInFlight>>,
}

impl Writer {
    pub(super) fn new(
        sink: SplitSink<WebSocket, Message>,
        intake: Intake,
        stats: Arc<ConnectionStats>,
    ) -> Writer {
        Writer {
            sink,
            intake,
            stats,
            flushed: Vec::new(),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.intake.shared
    }

    pub(super) async fn run(mut self, heartbeat: Duration) {
        let mut ping = interval_at(Instant::now() + heartbeat, heartbeat);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let shared = Arc::clone(self.shared());
        // Created once and polled by reference, rather than a new waiter per loop turn.
        let close_requested = shared.close.requested.raised();
        tokio::pin!(close_requested);

        let healthy = loop {
            tokio::select! {
                biased;
                () = &mut close_requested => break true,
                frame = self.intake.next() => {
                    let Some(frame) = frame else { break true };
                    // The write itself may block on a client that does not read: let a close
                    // request interrupt it. Boxed (one allocation per burst, next to a syscall):
                    // the burst's state would otherwise sit in every writer's future for life.
                    let written = tokio::select! {
                        biased;
                        () = &mut close_requested => break true,
                        written = Box::pin(self.write_burst(frame)) => written,
                    };
                    if written.is_err() {
                        break false;
                    }
                    shared.room.drained();
                }
                _ = ping.tick() => {
                    // Nothing queued at this tick: the buffer goes back, so an idle
                    // connection holds none after one interval (see `queue`).
                    self.shared().queue.give_back_idle_buffer();
                    // Like a frame write, a ping can block on a client that stopped reading:
                    // a close request interrupts it too.
                    let pinged = tokio::select! {
                        biased;
                        () = &mut close_requested => break true,
                        pinged = self.sink.send(Message::Ping(Default::default())) => pinged,
                    };
                    if pinged.is_err() {
                        break false;
                    }
                }
            }
        };
        // Once per connection: boxed, so its timer is not part of every writer's future.
        Box::pin(self.finish(healthy)).await;
    }

    /// Sends the close frame (best effort, when the socket still works), then tells everyone.
    async fn finish(mut self, healthy: bool) {
        let shared = Arc::clone(self.shared());
        if healthy {
            let code = shared
                .close
                .code
                .get()
                .copied()
                .unwrap_or(CloseCode::Normal);
            let frame = CloseFrame {
                code: code.code(),
                reason: Utf8Bytes::from_static(code.reason()),
            };
            // A client that does not read will not get it, and that is fine.
            let _ = tokio::time::timeout(
                CLOSE_SEND_TIMEOUT,
                self.sink.send(Message::Close(Some(frame))),
            )
            .await;
        }
        // Make sure nobody waits on a close that can no longer be sent.
        let _ = shared.close.code.set(CloseCode::Normal);
        shared.close.requested.raise();
        // The queue closes (and drops what is left) before anyone hears "finished".
        drop(self);
        shared.close.finished.raise();
    }

    /// Writes `first` and whatever else is already queued, then flushes once. A large frame
    /// is flushed on its own (see [`LARGE_FRAME_BYTES`]).
    async fn write_burst(&mut self, first: Outgoing) -> Result<(), axum::Error> {
        let mut frame = first;
        let mut unflushed = 0;
        for written in 1..=MAX_FRAMES_PER_FLUSH {
            let size = super::payload_len(&frame.frame);
            let large = size >= LARGE_FRAME_BYTES;
            if large && unflushed > 0 {
                self.sink.flush().await?;
            }
            self.feed(frame).await?;
            if large {
                self.sink.flush().await?;
                unflushed = 0;
            } else {
                unflushed += size;
            }
            if written == MAX_FRAMES_PER_FLUSH {
                break;
            }
            match self.intake.pop() {
                Some(next) => frame = next,
                None => break,
            }
        }
        let flushed = self.sink.flush().await;
        // Written (or failed): either way this recipient no longer holds its posts up.
        self.flushed.clear();
        flushed
    }

    async fn feed(&mut self, Outgoing { frame, post }: Outgoing) -> Result<(), axum::Error> {
        if let Some(post) = post {
            self.flushed.push(post);
        }
        ConnectionStats::count(&self.stats.messages_out);
        Metrics::count(&self.shared().metrics.messages_out);
        self.sink.feed(frame).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::outbox::{Outbox, OutboxLimits};
    use axum::extract::WebSocketUpgrade;
    use futures_util::StreamExt;
    use tokio::sync::oneshot;
    use tokio_tungstenite::tungstenite::Message as ClientMessage;

    /// A real WebSocket whose write half belongs to a [`Writer`] with `heartbeat`: the server's
    /// outbox and the client's end of the socket.
    async fn socket_with_writer(
        heartbeat: Duration,
    ) -> (
        Outbox,
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) {
        let (hand_over, outbox) = oneshot::channel();
        let hand_over = Arc::new(std::sync::Mutex::new(Some(hand_over)));
        let app = axum::Router::new().route(
            "/ws",
            axum::routing::get(move |upgrade: WebSocketUpgrade| {
                let hand_over = Arc::clone(&hand_over);
                async move {
                    upgrade.on_upgrade(move |socket| async move {
                        let (sink, mut stream) = socket.split();
                        let limits = OutboxLimits {
                            frames: 64,
                            bytes: 64 * 1024,
                        };
                        let stats = Arc::new(ConnectionStats::new(0));
                        let outbox =
                            Outbox::spawn_writer(sink, limits, heartbeat, stats, Arc::default());
                        let taken = hand_over.lock().ok().and_then(|mut slot| slot.take());
                        if let Some(hand_over) = taken {
                            let _ = hand_over.send(outbox);
                        }
                        // Read on (the client's pongs) until it goes.
                        while let Some(Ok(_)) = stream.next().await {}
                    })
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("handshake");
        let outbox = outbox.await.expect("the server's outbox");
        (outbox, client)
    }

    /// The queue keeps a small buffer while frames flow (no allocation on one thread and free on
    /// another per burst) and the writer gives it back on its heartbeat tick once nothing waits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_quiet_connection_gives_its_queue_buffer_back_on_the_next_heartbeat() {
        let (outbox, mut client) = socket_with_writer(Duration::from_secs(1)).await;
        outbox.deliver_text("one".into());
        let first = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
        assert!(
            matches!(first, Ok(Some(Ok(ClientMessage::Text(ref text)))) if text.as_str() == "one"),
            "the frame arrives: {first:?}"
        );
        assert!(
            outbox.shared.queue.capacity() > 0,
            "written, and the buffer is kept for the next frame"
        );
        // The writer gives the buffer back just before it sends its heartbeat ping.
        let ping = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(message)) = client.next().await {
                if message.is_ping() {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ping, Ok(true), "a heartbeat ping arrives");
        assert_eq!(
            outbox.shared.queue.capacity(),
            0,
            "quiet for a heartbeat: no queue memory"
        );
    }

    /// The size of the future `make` would return, without making one.
    fn size_of_output<A, F: std::future::Future>(_make: impl Fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every connection's writer task holds this future for its whole life: a branch that
    /// grows it (say, an inline timeout) costs that much memory per connection. Debug build (what
    /// `cargo test` measures): 880 bytes with the close path and a burst's state inline, 584 with
    /// both boxed.
    #[test]
    fn the_writer_future_stays_small() {
        let size = size_of_output(|(writer, heartbeat): (Writer, Duration)| writer.run(heartbeat));
        assert!(size <= 640, "Writer::run's future is {size} bytes");
    }
}
