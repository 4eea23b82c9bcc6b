//! Everything `GET /metrics` exports, and the per-connection counters of the actor inspector.
//!
//! **Why prometheus-client.** It is the Prometheus project's own Rust client
//! (`prometheus/client_rust`): it writes both OpenMetrics and the classic 0.0.4 text format with
//! the escaping, `# HELP`/`# TYPE` lines, `_total` suffixes and histogram series that scrapers
//! expect, and it has no global registry and no background thread. The alternatives were the
//! `metrics` facade with `metrics-exporter-prometheus` (a global recorder behind a macro API, and
//! an exporter that brings its own HTTP listener or a handle we would still have to wire into
//! axum) and the older `prometheus` crate (TiKV's, with a global default registry and protobuf
//! in its default features).
//!
//! **Cheap on the hot path.** Counters are prometheus-client's `Counter`s: one relaxed atomic add
//! each, like the plain atomics they replace. Histograms observed once per post or per request
//! use the crate's `Histogram` (a short uncontended lock per observation). The one observed once
//! per *recipient*, the outbox depth, is a lock-free [`DepthHistogram`] that the fan-out fills
//! through a stack-local [`DepthTally`]; the post-to-last-write time rides on reference counts
//! ([`PostInFlight`]). So a frame fanned out to N members takes no lock per member.
//!
//! **Gauges** (open sockets, live actors, rooms, HTTP connections) are not maintained here: the
//! scrape reads them from their sources of truth and sets them just before encoding.
//!
//! The histograms and their buckets:
//!
//! | series | observed | buckets |
//! |---|---|---|
//! | `trw_post_fanout_seconds` | once per stored post: the room queueing its frame for every member | 10 µs … 100 ms ([`FANOUT_BUCKETS`]) |
//! | `trw_post_delivery_seconds` | once per stored post: from the post to the write of its frame to the last live recipient | 0.5 ms … 10 s ([`POST_DELIVERY_BUCKETS`]) |
//! | `trw_outbox_depth_frames` | once per frame queued for a client: frames in its outbox, this one included | 1, 2, 4 … 1,024 ([`OUTBOX_DEPTH_BUCKETS`]) |
//! | `trw_actor_call_seconds{call}` | once per actor call, answered, refused or timed out | 100 µs … 5 s ([`ACTOR_CALL_BUCKETS`]) |

mod depth;
mod labels;
mod post_delivery;

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use depth::{DepthHistogram, DepthTally, OUTBOX_DEPTH_BUCKETS};
pub use labels::{ActorCall, DisconnectReason, HttpCloseReason};
pub use post_delivery::{PostInFlight, POST_DELIVERY_BUCKETS};

use labels::{CallLabel, ReasonLabel};

/// Upper bounds of `trw_post_fanout_seconds`: 10 µs (a handful of members) to 100 ms (tens of
/// thousands of members, or a starved core). Queueing a frame is a pointer copy and a channel
/// send, well under a microsecond per member.
pub const FANOUT_BUCKETS: [f64; 13] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,
];

/// Upper bounds of `trw_actor_call_seconds`: 100 µs (an idle actor) to 5 s, past the default
/// 2 s call timeout, so that timed-out calls show as their own bump.
pub const ACTOR_CALL_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The two encodings a scraper may ask for. Both come from prometheus-client's encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0 text, for scrapers that ask for it in `Accept` (Prometheus does).
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4, for everyone else (curl, older tools).
    PrometheusText,
}

impl Exposition {
    /// Picks the format from a request's `Accept` header.
    pub fn negotiate(accept: Option<&str>) -> Exposition {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => {
                Exposition::OpenMetrics
            }
            _ => Exposition::PrometheusText,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Exposition::PrometheusText => prometheus_text::CONTENT_TYPE,
        }
    }
}

/// The gauges a scrape reads from their sources of truth.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrapeGauges {
    pub websockets: usize,
    pub connection_actors: usize,
    pub rooms: usize,
    pub http_connections: usize,
    pub http_pending_connections: usize,
}

/// Server-wide metrics, shared by every connection through an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    pub connections_opened: Counter,
    pub connections_refused: Counter,
    pub messages_in: Counter,
    pub messages_out: Counter,
    pub chat_messages: Counter,
    pub direct_messages: Counter,
    pub broadcasts: Counter,
    pub notifications: Counter,
    pub queue_overflows: Counter,
    pub rate_limited: Counter,
    pub room_restarts: Counter,
    pub posts_refused: Counter,
    /// Cluster (`--redis`): see [`ClusterCounters`].
    pub cluster: ClusterCounters,
    /// Time a room spends queueing one stored post's frame for all its members.
    pub post_fanout: Histogram,
    /// Time from a post to the write of its frame to the last live recipient.
    pub post_delivery: Histogram,
    /// Frames waiting in a client's outbox right after a frame joined them.
    pub outbox_depth: DepthHistogram,
    disconnects: [Counter; DisconnectReason::ALL.len()],
    http_closes: [Counter; HttpCloseReason::ALL.len()],
    actor_calls: [Histogram; ActorCall::ALL.len()],
    gauges: GaugeSet,
    registry: Registry,
}

#[derive(Debug, Default)]
struct GaugeSet {
    websockets: Gauge,
    connection_actors: Gauge,
    rooms: Gauge,
    http_connections: Gauge,
    http_pending_connections: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Creates every series and registers it, in the order `/metrics` lists them.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let gauges = GaugeSet::default();
        for (name, help, gauge) in [
            (
                "trw_websockets",
                "Open WebSocket connections",
                &gauges.websockets,
            ),
            (
                "trw_connection_actors",
                "Live connection actors (process group members)",
                &gauges.connection_actors,
            ),
            ("trw_rooms", "Room actors", &gauges.rooms),
        ] {
            registry.register(name, help, gauge.clone());
        }

        // Registered without `_total`: prometheus-client adds it to every counter.
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let connections_opened = counter(
            &mut registry,
            "trw_connections_opened",
            "WebSocket connections accepted",
        );
        let connections_refused = counter(
            &mut registry,
            "trw_connections_refused",
            "WebSocket upgrades refused (cap reached or shutting down)",
        );
        let messages_in = counter(
            &mut registry,
            "trw_messages_in",
            "Frames received from clients",
        );
        let messages_out = counter(
            &mut registry,
            "trw_messages_out",
            "Frames written to clients",
        );
        let chat_messages = counter(
            &mut registry,
            "trw_chat_messages",
            "Chat messages stored by rooms",
        );
        let direct_messages = counter(
            &mut registry,
            "trw_direct_messages",
            "Direct messages delivered",
        );
        let broadcasts = counter(
            &mut registry,
            "trw_broadcasts",
            "Broadcasts sent through /broadcast",
        );
        let notifications = counter(
            &mut registry,
            "trw_notifications",
            "Notifications sent through /api/notify",
        );
        let queue_overflows = counter(
            &mut registry,
            "trw_queue_overflows",
            "Clients closed because their outbound queue was full",
        );
        let rate_limited = counter(
            &mut registry,
            "trw_rate_limited",
            "Client messages refused by the rate limit",
        );
        let room_restarts = counter(
            &mut registry,
            "trw_room_restarts",
            "Room actors restarted by the supervisor after a failure",
        );
        let posts_refused = counter(
            &mut registry,
            "trw_posts_refused",
            "Posts refused because the room log could not store them",
        );

        let cluster = ClusterCounters::register(&mut registry);

        let disconnects = reason_counters(
            &mut registry,
            "trw_disconnects",
            "Connections ended, by reason",
            DisconnectReason::ALL.map(DisconnectReason::label),
        );

        for (name, help, gauge) in [
            (
                "trw_http_connections",
                "Open HTTP connections that have not become WebSockets",
                &gauges.http_connections,
            ),
            (
                "trw_http_pending_connections",
                "HTTP connections waiting on their client for a request (capped)",
                &gauges.http_pending_connections,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        let http_closes = reason_counters(
            &mut registry,
            "trw_http_closes",
            "HTTP connections closed or refused by the connection limits, by reason",
            HttpCloseReason::ALL.map(HttpCloseReason::label),
        );

        let post_fanout = Histogram::new(FANOUT_BUCKETS);
        registry.register_with_unit(
            "trw_post_fanout",
            "Time a room takes to queue one stored post for all its members",
            Unit::Seconds,
            post_fanout.clone(),
        );
        let post_delivery = Histogram::new(POST_DELIVERY_BUCKETS);
        registry.register_with_unit(
            "trw_post_delivery",
            "Time from a post to the write of its frame to the last live recipient",
            Unit::Seconds,
            post_delivery.clone(),
        );
        let outbox_depth = DepthHistogram::default();
        registry.register_with_unit(
            "trw_outbox_depth",
            "Frames in a client's outbound queue right after a frame was queued, that one included",
            Unit::Other("frames".to_owned()),
            outbox_depth.clone(),
        );
        let call_family: Family<CallLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(ACTOR_CALL_BUCKETS));
        let actor_calls = ActorCall::ALL.map(|call| {
            call_family
                .get_or_create(&CallLabel { call: call.label() })
                .clone()
        });
        registry.register_with_unit(
            "trw_actor_call",
            "Actor calls from the async side, answered or timed out, by caller and callee",
            Unit::Seconds,
            call_family,
        );

        Metrics {
            connections_opened,
            connections_refused,
            messages_in,
            messages_out,
            chat_messages,
            direct_messages,
            broadcasts,
            notifications,
            queue_overflows,
            rate_limited,
            room_restarts,
            posts_refused,
            cluster,
            post_fanout,
            post_delivery,
            outbox_depth,
            disconnects,
            http_closes,
            actor_calls,
            gauges,
            registry,
        }
    }

    pub fn count(counter: &Counter) {
        counter.inc();
    }

    pub fn count_disconnect(&self, reason: DisconnectReason) {
        self.disconnects[reason.index()].inc();
    }

    pub fn disconnects(&self, reason: DisconnectReason) -> u64 {
        self.disconnects[reason.index()].get()
    }

    pub fn count_http_close(&self, reason: HttpCloseReason) {
        self.http_closes[reason.index()].inc();
    }

    pub fn http_closes(&self, reason: HttpCloseReason) -> u64 {
        self.http_closes[reason.index()].get()
    }

    /// Times an actor call (answered, refused, timed out or cancelled) in
    /// `trw_actor_call_seconds{call=...}` until the returned guard is dropped.
    ///
    /// A guard rather than an `async fn` wrapping the call's future: such a wrapper holds the
    /// future twice (its argument, then pinned for the await), and a connection's task and
    /// actor keep the size of their largest state for the connection's whole life (measured:
    /// about 1 KiB more per idle connection).
    pub fn call_timer(&self, call: ActorCall) -> CallTimer<'_> {
        CallTimer {
            histogram: &self.actor_calls[call.index()],
            started: Instant::now(),
        }
    }

    /// The exposition in `format`, with the gauges read by the caller.
    ///
    /// Two scrapes at once each set the shared gauges to what they read; either value is current.
    pub fn render(&self, gauges: ScrapeGauges, format: Exposition) -> String {
        let set = |gauge: &Gauge, value: usize| {
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set(&self.gauges.websockets, gauges.websockets);
        set(&self.gauges.connection_actors, gauges.connection_actors);
        set(&self.gauges.rooms, gauges.rooms);
        set(&self.gauges.http_connections, gauges.http_connections);
        set(
            &self.gauges.http_pending_connections,
            gauges.http_pending_connections,
        );
        let mut out = String::with_capacity(8192);
        let encoded = match format {
            Exposition::OpenMetrics => text::encode(&mut out, &self.registry),
            Exposition::PrometheusText => prometheus_text::encode(&mut out, &self.registry),
        };
        // Writing into a String cannot fail; the encoders only return what `fmt::Write` does.
        if let Err(error) = encoded {
            tracing::error!(%error, "could not encode the metrics");
        }
        out
    }
}

/// The counters of a cluster node (`--redis`); they stay at 0 on a single node.
///
/// The Redis store counts the first three (it lives below this module, so it gets clones of
/// these counters: see `RedisCounters`), the rooms the others.
#[derive(Debug, Clone)]
pub struct ClusterCounters {
    /// `trw_redis_errors_total`: failed Redis commands and scripts, failed pub/sub connection
    /// attempts, lost pub/sub connections, unreadable channel messages.
    pub redis_errors: Counter,
    /// `trw_redis_reconnects_total`: the live (pub/sub) connection re-established after a loss.
    pub redis_reconnects: Counter,
    /// `trw_live_frames_dropped_total`: live frames dropped at a full room inbox (re-read from
    /// the stream instead).
    pub live_dropped: Counter,
    /// `trw_gap_fills_total`: holes in a room's numbering filled from the log before anything
    /// newer was delivered.
    pub gap_fills: Counter,
    /// `trw_gap_filled_frames_total`: the seqs those holes spanned.
    pub gap_filled_frames: Counter,
    /// `trw_epoch_resyncs_total`: running rooms that re-synced their members to a new epoch
    /// (the shared log was lost and made again).
    pub epoch_resyncs: Counter,
}

impl ClusterCounters {
    fn register(registry: &mut Registry) -> ClusterCounters {
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        ClusterCounters {
            redis_errors: counter(
                "trw_redis_errors",
                "Failed Redis operations: commands, scripts, pub/sub connections and messages",
            ),
            redis_reconnects: counter(
                "trw_redis_reconnects",
                "Times the Redis pub/sub connection was re-established after a loss",
            ),
            live_dropped: counter(
                "trw_live_frames_dropped",
                "Live frames from other nodes dropped at a full room inbox (re-read from the stream)",
            ),
            gap_fills: counter(
                "trw_gap_fills",
                "Holes in a room's numbering filled from the log before newer frames",
            ),
            gap_filled_frames: counter(
                "trw_gap_filled_frames",
                "Sequence numbers spanned by the holes filled from the log",
            ),
            epoch_resyncs: counter(
                "trw_epoch_resyncs",
                "Running rooms re-synced to a new epoch of their log",
            ),
        }
    }
}

/// Records the time since it was made in `trw_actor_call_seconds` when dropped; see
/// [`Metrics::call_timer`].
#[derive(Debug)]
pub struct CallTimer<'a> {
    histogram: &'a Histogram,
    started: Instant,
}

impl Drop for CallTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

/// A counter family with one `reason` label, every value created up front (so each series is
/// exported from the start, at 0). Returns the counters in `reasons`' order: they share their
/// values with the registered family, and incrementing one takes no lock (the family's map is
/// only locked here and at scrape time).
fn reason_counters<const N: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    reasons: [&'static str; N],
) -> [Counter; N] {
    let family = Family::<ReasonLabel, Counter>::default();
    let counters = reasons.map(|reason| family.get_or_create(&ReasonLabel { reason }).clone());
    registry.register(name, help, family);
    counters
}

/// Per-connection counters, shared by its reader, actor and writer, and read by the inspector.
/// Plain relaxed atomics: each only grows, and nothing needs to stay consistent between them.
#[derive(Debug)]
pub struct ConnectionStats {
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub connected_since_ms: u64,
}

impl ConnectionStats {
    pub fn new(connected_since_ms: u64) -> Self {
        Self {
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            connected_since_ms,
        }
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
