//! Live fan-out across nodes: **one** pub/sub connection per node, subscribed to the channel of
//! every room that has local members, handing each frame to the room's bounded
//! [`LiveInbox`](crate::room_log::LiveInbox).
//!
//! ```text
//!   node A room ──EVALSHA append──▶ Redis: INCR, XADD, PUBLISH trw:{dev}:live "<epoch> <seq> <frame>"
//!                                     │
//!   node B subscriber task ◀──────────┘  (one connection, SUBSCRIBE per room with local members)
//!        └─▶ room dev's inbox (≤ 1,024 frames) ─doorbell─▶ room dev actor: deliver in seq order
//! ```
//!
//! **Why redis-rs's `aio::PubSub`, split, on its own connection**, rather than RESP3 pushes on
//! the store's [`::redis::aio::ConnectionManager`]: the subscriber must know *exactly* when it
//! stopped listening, because every frame published meanwhile has to be filled from the stream.
//! With `PubSub::split` the message stream ends when the connection does, so this task sees the
//! loss, reconnects with its own backoff, re-subscribes every room in one `SUBSCRIBE` and asks
//! each room to re-sync. The connection manager re-subscribes by itself on reconnect, but
//! silently, and only over RESP3 (a second protocol mode to configure and test). A dedicated
//! connection also keeps large bursts of published frames from queueing behind the rooms'
//! scripts on the shared multiplexed connection.
//!
//! **Exactly once, in order** is the room's job (`actors::room::live`): it drops seqs it already
//! has (its own posts come back on the channel too), and fills a jump in the numbering from the
//! stream before delivering anything newer. This task only guarantees that every loss of the
//! connection, every new subscription and every dropped frame is followed by a re-sync request.
//!
//! **Liveness.** A `PING` every [`PING_EVERY`] on the subscribed connection (allowed in RESP2
//! subscribe mode): a connection that stopped answering (Redis frozen, a half-open TCP connection)
//! counts as lost after [`PING_TIMEOUT`].
//!
//! The task stops when the store is dropped (its [`CancellationToken`] fires).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use ::redis::aio::{PubSubSink, PubSubStream};
use ::redis::Msg;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::RedisCounters;
use crate::room_log::{LiveFrame, LiveInbox, LiveSubscription};

/// How often the subscriber pings Redis, and how long an answer may take.
pub const PING_EVERY: Duration = Duration::from_secs(5);
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting and (un)subscribing may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// The reconnect backoff: from 100 ms, doubling, up to 2 s between attempts (as the store's).
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(2);

/// The rooms this node listens to, and the task that listens. Shared by the store's clones.
pub struct LiveHub {
    shared: Arc<HubShared>,
    client: ::redis::Client,
    started: Mutex<bool>,
}

struct HubShared {
    /// Channel → the subscribed room's inbox, with the id of its subscription.
    rooms: Mutex<HashMap<String, (u64, Arc<LiveInbox>)>>,
    next_id: AtomicU64,
    /// Rung when `rooms` changed (a permit is kept if the task is busy: nothing is missed).
    changed: Arc<Notify>,
    stop: CancellationToken,
    counters: RedisCounters,
}

impl Drop for HubShared {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl LiveHub {
    pub fn new(client: ::redis::Client, counters: RedisCounters) -> LiveHub {
        LiveHub {
            shared: Arc::new(HubShared {
                rooms: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                changed: Arc::new(Notify::new()),
                stop: CancellationToken::new(),
                counters,
            }),
            client,
            started: Mutex::new(false),
        }
    }

    /// Listens to `channel` for `inbox` until the subscription is dropped. Starts the task on
    /// first use (it needs the runtime, which the store's constructor may not run in).
    pub fn subscribe(&self, channel: &str, inbox: Arc<LiveInbox>) -> LiveSubscription {
        self.start_once();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.rooms).insert(channel.to_owned(), (id, inbox));
        self.shared.changed.notify_one();
        LiveSubscription::new(Unsubscribe {
            hub: Arc::downgrade(&self.shared),
            channel: channel.to_owned(),
            id,
        })
    }

    fn start_once(&self) {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if *started {
            return;
        }
        *started = true;
        let task = Subscriber {
            hub: Arc::downgrade(&self.shared),
            changed: Arc::clone(&self.shared.changed),
            stop: self.shared.stop.clone(),
            client: self.client.clone(),
            counters: self.shared.counters.clone(),
        };
        tokio::spawn(task.run());
    }
}

/// Removes a room's inbox when its subscription is dropped, unless a newer subscription of the
/// same channel (the room's next incarnation) replaced it meanwhile.
struct Unsubscribe {
    hub: Weak<HubShared>,
    channel: String,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let mut rooms = lock(&hub.rooms);
        if rooms
            .get(&self.channel)
            .is_some_and(|(id, _)| *id == self.id)
        {
            rooms.remove(&self.channel);
            drop(rooms);
            hub.changed.notify_one();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why [`Subscriber::serve`] returned.
enum Ended {
    /// The store is gone: stop.
    Stopped,
    /// The connection failed: reconnect.
    Lost(String),
}

/// The task: connect, subscribe, read; on loss, reconnect with backoff.
struct Subscriber {
    hub: Weak<HubShared>,
    changed: Arc<Notify>,
    stop: CancellationToken,
    client: ::redis::Client,
    counters: RedisCounters,
}

impl Subscriber {
    async fn run(self) {
        let mut delay = RECONNECT_MIN_DELAY;
        let mut connected_before = false;
        loop {
            let connect = tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub());
            let connected = tokio::select! {
                () = self.stop.cancelled() => return,
                connected = connect => connected,
            };
            let pubsub = match connected {
                Ok(Ok(pubsub)) => pubsub,
                Ok(Err(error)) => {
                    self.failed(&format!("{error}"), &mut delay).await;
                    continue;
                }
                Err(_) => {
                    self.failed("connecting timed out", &mut delay).await;
                    continue;
                }
            };
            if connected_before {
                self.counters.reconnects.inc();
                tracing::info!("Redis pub/sub reconnected: re-subscribing every room with local members, each fills its gaps from the stream");
            }
            connected_before = true;
            delay = RECONNECT_MIN_DELAY;
            let (sink, stream) = pubsub.split();
            match self.serve(sink, stream).await {
                Ended::Stopped => return,
                Ended::Lost(reason) => {
                    self.counters.errors.inc();
                    tracing::warn!(%reason, "Redis pub/sub connection lost; reconnecting");
                }
            }
        }
    }

    /// Counts a failed connection attempt and waits out the backoff.
    async fn failed(&self, reason: &str, delay: &mut Duration) {
        self.counters.errors.inc();
        tracing::debug!(%reason, retry_in_ms = delay.as_millis() as u64, "cannot connect to Redis pub/sub");
        tokio::select! {
            () = self.stop.cancelled() => {}
            () = tokio::time::sleep(*delay) => {}
        }
        *delay = (*delay * 2).min(RECONNECT_MAX_DELAY);
    }

    /// Keeps the subscriptions in step with the rooms, and hands every message to its room.
    async fn serve(&self, mut sink: PubSubSink, mut stream: PubSubStream) -> Ended {
        let mut subscribed: HashSet<String> = HashSet::new();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await; // the first tick is immediate
        loop {
            if let Err(reason) = self.sync(&mut sink, &mut subscribed).await {
                return reason;
            }
            loop {
                tokio::select! {
                    () = self.stop.cancelled() => return Ended::Stopped,
                    () = self.changed.notified() => break,
                    message = stream.next() => match message {
                        Some(message) => self.deliver(&message),
                        None => return Ended::Lost("the connection closed".to_owned()),
                    },
                    _ = ping.tick() => {
                        // In subscribe mode Redis answers `["pong", ""]`, not `+PONG`: any
                        // answer will do.
                        match tokio::time::timeout(PING_TIMEOUT, sink.ping::<::redis::Value>()).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(error)) => return Ended::Lost(format!("PING failed: {error}")),
                            Err(_) => return Ended::Lost("PING timed out".to_owned()),
                        }
                    }
                }
            }
        }
    }

    /// Subscribes the rooms that have local members and are not subscribed yet (then asks each
    /// to re-sync: frames published before the subscription took effect are in the stream only),
    /// and unsubscribes the others.
    async fn sync(
        &self,
        sink: &mut PubSubSink,
        subscribed: &mut HashSet<String>,
    ) -> Result<(), Ended> {
        let Some(hub) = self.hub.upgrade() else {
            return Err(Ended::Stopped);
        };
        let wanted: HashSet<String> = lock(&hub.rooms).keys().cloned().collect();
        drop(hub);
        let new: Vec<String> = wanted.difference(subscribed).cloned().collect();
        let gone: Vec<String> = subscribed.difference(&wanted).cloned().collect();
        if !new.is_empty() {
            match tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(&new)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(Ended::Lost(format!("SUBSCRIBE failed: {error}"))),
                Err(_) => return Err(Ended::Lost("SUBSCRIBE timed out".to_owned())),
            }
            let Some(hub) = self.hub.upgrade() else {
                return Err(Ended::Stopped);
            };
            let rooms = lock(&hub.rooms);
            for channel in &new {
                if let Some((_, inbox)) = rooms.get(channel) {
                    inbox.request_resync();
                }
            }
            drop(rooms);
            subscribed.extend(new);
        }
        if !gone.is_empty() {
            match tokio::time::timeout(COMMAND_TIMEOUT, sink.unsubscribe(&gone)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(Ended::Lost(format!("UNSUBSCRIBE failed: {error}"))),
                Err(_) => return Err(Ended::Lost("UNSUBSCRIBE timed out".to_owned())),
            }
            for channel in &gone {
                subscribed.remove(channel);
            }
        }
        Ok(())
    }

    /// Hands a published frame to its room's inbox (dropped if the room is gone or its inbox is
    /// full: the room re-syncs from the stream).
    fn deliver(&self, message: &Msg) {
        let Some(frame) = parse(message.get_payload_bytes()) else {
            self.counters.errors.inc();
            tracing::warn!(channel = message.get_channel_name(), "unreadable frame on a room channel; the room fills it from the stream at its next frame");
            return;
        };
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let inbox = lock(&hub.rooms)
            .get(message.get_channel_name())
            .map(|(_, inbox)| Arc::clone(inbox));
        if let Some(inbox) = inbox {
            if !inbox.push(frame) {
                self.counters.live_dropped.inc();
            }
        }
    }
}

/// A channel message `<epoch> <seq> <frame>` (as the publishing script writes it).
pub fn parse(payload: &[u8]) -> Option<LiveFrame> {
    let text = std::str::from_utf8(payload).ok()?;
    let (epoch, rest) = text.split_once(' ')?;
    let (seq, frame) = rest.split_once(' ')?;
    if epoch.is_empty() {
        return None;
    }
    Some(LiveFrame {
        epoch: epoch.into(),
        seq: seq.parse().ok()?,
        frame: frame.to_owned().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn channel_messages_parse_or_are_refused() {
        let frame = parse(br#"e1 42 {"type":"message","text":"a b"}"#).expect("parses");
        assert_eq!((&*frame.epoch, frame.seq), ("e1", 42));
        assert_eq!(frame.frame.as_str(), r#"{"type":"message","text":"a b"}"#);
        for bad in [
            &b""[..],
            b"e1",
            b"e1 42",
            b"e1 x {}",
            b" 42 {}",
            b"e1 -1 {}",
            b"e1 99999999999999999999999 {}",
            b"\xff 1 {}",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
