//! One load-generator *shard*: a process that holds many WebSocket clients and measures what
//! they receive.
//!
//! Why separate processes? A process may hold at most ~20,000 file descriptors here (the hard
//! limit), and each client socket is one. The driver therefore starts
//! `fanout --client-shard ...` several times, each with its own loopback source address
//! (127.x.y.z): a source address has ~28k ephemeral ports, and a fresh one per run also keeps
//! the previous run's TIME_WAIT sockets out of the way.
//!
//! The shard talks to the driver in JSON lines: it prints [`ShardConnected`] when every client
//! has connected (or failed), waits for a [`ShardCommand`] on stdin, and prints a [`ShardReport`].
//!
//! Latency: the driver writes `t=<nanoseconds since the Unix epoch>` into each broadcast's text
//! when it sends the HTTP request. A client that receives it records `now - t` into one
//! hdrhistogram per shard. Both ends read the same system clock, so no clock sync is needed.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use memchr::memmem::Finder;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Latencies are recorded in microseconds, up to a minute.
pub const LATENCY_MAX_US: u64 = 60_000_000;

/// What a shard is asked to do (its command line, parsed in `main.rs`).
#[derive(Debug, Clone)]
pub struct ShardArgs {
    pub target: SocketAddr,
    pub source_ip: IpAddr,
    pub conns: usize,
    /// Handshakes in flight at once (more would overflow the server's accept backlog).
    pub connect_concurrency: usize,
    /// Longest the shard may live, whatever happens.
    pub lifetime: Duration,
}

/// Printed once every client has connected or failed.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardConnected {
    pub connected: usize,
    pub failed: usize,
    pub connect_secs: f64,
    pub first_error: Option<String>,
}

/// Sent by the driver after the broadcast phase.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardCommand {
    /// Benchmark broadcasts every healthy client should have received.
    pub expect: u64,
    /// How long to wait for stragglers before counting what is missing as lost.
    pub drain_secs: f64,
}

/// The shard's measurements.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ShardReport {
    /// Benchmark broadcasts received, all clients together.
    pub received: u64,
    /// Clients still open at the end (the healthy ones).
    pub healthy: usize,
    /// Clients the server closed, or whose socket failed, during the run.
    pub closed: usize,
    /// Broadcasts healthy clients should have had and did not get.
    pub lost: u64,
    /// Frames that arrived with a seq not above the previous one (duplicates, reordering).
    pub out_of_order: u64,
    /// When the last benchmark broadcast arrived (nanoseconds since the Unix epoch).
    pub last_receipt_ns: u64,
    /// The latency histogram as (microseconds, count) pairs, to be merged by the driver.
    pub latency_us: Vec<(u64, u64)>,
}

/// What every client of a shard shares.
struct Shared {
    latency: Mutex<Histogram<u64>>,
    last_receipt_ns: AtomicU64,
    clients: Vec<ClientCounters>,
}

#[derive(Default)]
struct ClientCounters {
    received: AtomicU64,
    out_of_order: AtomicU64,
    open: AtomicBool,
}

/// Nanoseconds since the Unix epoch, the clock every process of the benchmark shares.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
}

/// Runs a shard to completion (see the module documentation for the protocol).
pub async fn run_shard(args: ShardArgs) -> Result<(), String> {
    if !args.target.ip().is_loopback() || !args.source_ip.is_loopback() {
        return Err("the load generator only targets loopback addresses (127.0.0.0/8)".into());
    }
    let histogram = Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)
        .map_err(|error| format!("histogram: {error}"))?;
    let shared = Arc::new(Shared {
        latency: Mutex::new(histogram),
        last_receipt_ns: AtomicU64::new(0),
        clients: (0..args.conns).map(|_| ClientCounters::default()).collect(),
    });
    let deadline = Instant::now() + args.lifetime;

    let connected = connect_all(&args, &shared).await;
    println!("{}", to_json(&connected)?);

    // One report per command: a run has one broadcast phase, a saturation ramp several. Each
    // report counts what arrived since the previous one. Ends at the deadline or when stdin
    // closes (the driver is done).
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .map_err(|_| "shard lifetime exceeded while waiting for the driver".to_owned())?
            .map_err(|error| format!("reading stdin: {error}"))?;
        let Some(line) = line else {
            return Ok(());
        };
        let command: ShardCommand = serde_json::from_str(&line)
            .map_err(|error| format!("bad command {line:?}: {error}"))?;
        let report = collect(&shared, &command).await;
        // Reset BEFORE the report goes out: the driver starts the next phase as soon as it has
        // every shard's report, and this process's other threads are already counting that
        // phase's first frames. Reset after the report, a preempted shard would zero frames of
        // the next phase and the next report would count them as lost (seen once: 13 "lost"
        // at N = 10,000 on an overloaded machine).
        reset(&shared);
        println!("{}", to_json(&report)?);
    }
}

/// Starts the next phase's counts from zero (every frame of the last phase has arrived or been
/// counted lost by then). Runs before the phase's report is printed, so before the next phase
/// can start.
fn reset(shared: &Shared) {
    for client in &shared.clients {
        client.received.store(0, Ordering::Relaxed);
        client.out_of_order.store(0, Ordering::Relaxed);
    }
    shared.last_receipt_ns.store(0, Ordering::Relaxed);
    if let Ok(mut histogram) = shared.latency.lock() {
        histogram.reset();
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|error| format!("encoding a report: {error}"))
}

/// Opens every client, at most `connect_concurrency` handshakes at a time.
async fn connect_all(args: &ShardArgs, shared: &Arc<Shared>) -> ShardConnected {
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let mut handshakes = Vec::with_capacity(args.conns);
    for index in 0..args.conns {
        let Ok(permit) = Arc::clone(&gate).acquire_owned().await else {
            break;
        };
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let shared = Arc::clone(shared);
        let (target, source) = (args.target, args.source_ip);
        tokio::spawn(async move {
            match open_client(target, source).await {
                Ok(socket) => {
                    shared.clients[index].open.store(true, Ordering::Relaxed);
                    let _ = ready_tx.send(Ok(()));
                    drop(permit);
                    receive(socket, &shared, index).await;
                    shared.clients[index].open.store(false, Ordering::Relaxed);
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                }
            }
        });
        handshakes.push(ready_rx);
    }
    let (mut connected, mut failed, mut first_error) = (0, 0, None);
    for ready in handshakes {
        match ready.await {
            Ok(Ok(())) => connected += 1,
            Ok(Err(error)) => {
                failed += 1;
                first_error.get_or_insert(error);
            }
            Err(_) => failed += 1,
        }
    }
    ShardConnected {
        connected,
        failed,
        connect_secs: started.elapsed().as_secs_f64(),
        first_error,
    }
}

type Client = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// TCP connect from `source`, WebSocket handshake, then wait for the `welcome` frame: a client
/// counts as connected only once the server has set it up completely.
async fn open_client(target: SocketAddr, source: IpAddr) -> Result<Client, String> {
    let socket = TcpSocket::new_v4().map_err(|error| format!("socket: {error}"))?;
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(|error| format!("bind {source}: {error}"))?;
    let stream = socket
        .connect(target)
        .await
        .map_err(|error| format!("connect {target}: {error}"))?;
    // Small buffers: the generator holds as many sockets as the server.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let url = format!("ws://{target}/ws");
    let (mut client, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|error| format!("handshake: {error}"))?;
    let welcome = tokio::time::timeout(Duration::from_secs(30), client.next())
        .await
        .map_err(|_| "no welcome frame within 30 s".to_owned())?;
    match welcome {
        Some(Ok(Message::Text(text))) if text.contains("\"welcome\"") => Ok(client),
        other => Err(format!("expected a welcome frame, got {other:?}")),
    }
}

/// Reads frames until the connection ends, counting and timing benchmark broadcasts.
async fn receive(mut client: Client, shared: &Shared, index: usize) {
    let counters = &shared.clients[index];
    let mut last_seq = 0;
    while let Some(Ok(message)) = client.next().await {
        let Message::Text(text) = message else {
            continue; // pings are answered by tungstenite itself
        };
        let received_ns = now_ns();
        // Only benchmark broadcasts carry `t=`; the welcome and the warm-up do not.
        let Some((seq, sent_ns)) = parse_broadcast(text.as_str()) else {
            continue;
        };
        if seq <= last_seq {
            counters.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        last_seq = seq;
        counters.received.fetch_add(1, Ordering::Relaxed);
        shared
            .last_receipt_ns
            .fetch_max(received_ns, Ordering::Relaxed);
        let latency_us = received_ns.saturating_sub(sent_ns) / 1_000;
        if let Ok(mut histogram) = shared.latency.lock() {
            histogram.saturating_record(latency_us.clamp(1, LATENCY_MAX_US));
        }
    }
}

/// Finds `seq` and the `t=` timestamp in a `message` frame without a full JSON parse (the
/// generator shares two cores with the server; every cycle it spends is one the server lacks).
/// Both servers encode with the same serde type, so the field order is fixed.
///
/// The two markers are searched with `memchr`'s precompiled SIMD finders: `str::split_once`
/// built a new two-way searcher for every frame, and with the digit scan below that was about a
/// quarter of the generator's CPU (`perf record` on a shard, 1,000 clients at 1.5 M deliveries/s).
pub fn parse_broadcast(frame: &str) -> Option<(u64, u64)> {
    static SEQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"seq\":"));
    static STAMP: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"text\":\"t="));
    let bytes = frame.as_bytes();
    let seq_at = SEQ.find(bytes)? + SEQ.needle().len();
    let seq = leading_number(&bytes[seq_at..])?;
    let stamp_at = seq_at + STAMP.find(&bytes[seq_at..])? + STAMP.needle().len();
    let sent = leading_number(&bytes[stamp_at..])?;
    Some((seq, sent))
}

/// The decimal number at the start of `bytes`; `None` if there is none or it overflows a `u64`.
fn leading_number(bytes: &[u8]) -> Option<u64> {
    let digits = bytes.iter().take_while(|byte| byte.is_ascii_digit());
    let mut value: Option<u64> = None;
    for digit in digits {
        let next = value.unwrap_or(0).checked_mul(10)?;
        value = Some(next.checked_add(u64::from(digit - b'0'))?);
    }
    value
}

/// Waits until every healthy client has everything (or the drain time is up), then counts.
async fn collect(shared: &Shared, command: &ShardCommand) -> ShardReport {
    let deadline = Instant::now() + Duration::from_secs_f64(command.drain_secs);
    loop {
        let missing = shared.clients.iter().any(|client| {
            client.open.load(Ordering::Relaxed)
                && client.received.load(Ordering::Relaxed) < command.expect
        });
        if !missing || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut report = ShardReport {
        last_receipt_ns: shared.last_receipt_ns.load(Ordering::Relaxed),
        ..ShardReport::default()
    };
    for client in &shared.clients {
        let received = client.received.load(Ordering::Relaxed);
        report.received += received;
        report.out_of_order += client.out_of_order.load(Ordering::Relaxed);
        if client.open.load(Ordering::Relaxed) {
            report.healthy += 1;
            report.lost += command.expect.saturating_sub(received);
        } else {
            report.closed += 1;
        }
    }
    if let Ok(histogram) = shared.latency.lock() {
        report.latency_us = histogram
            .iter_recorded()
            .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
            .collect();
    }
    report
}
