//! One measured run: start a server, connect N clients through shard processes, measure idle
//! memory, broadcast at a rate, collect what arrived, stop everything.
//!
//! ```text
//!   driver ──spawn──▶ server (ours: the release binary --headless; baseline: fanout --serve-baseline)
//!          ──spawn──▶ shard 1 … shard k  (fanout --client-shard, ≤ shard_size clients each)
//!          ◀─stdout── {"connected": …}                      all clients have their welcome
//!          reads /proc/SERVER/status                         RSS per idle connection
//!          ──HTTP───▶ /broadcast?message=t=<now> at `rate`   the broadcast phase
//!          ──stdin──▶ {"expect": done}  ◀─stdout── {"received": …, "latency_us": …}
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::broadcaster;
use crate::loadgen::{ShardCommand, ShardConnected, ShardReport, LATENCY_MAX_US};
use crate::proc_stats;

/// Which server a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ServerKind {
    /// This project: axum + one ractor actor per connection (the release binary, headless),
    /// with rooms' history in memory (`--in-memory`).
    Ours,
    /// The same, with the default SQLite room log in a fresh data directory: every broadcast
    /// is committed before it is fanned out and answered.
    OursSqlite,
    /// The same, one node with its room log in a `redis-server` of the run's own (`--redis`):
    /// every broadcast is a script call (seq, stream, publish) before it is fanned out.
    OursRedis,
    /// `baseline_server.rs`: axum + `tokio::sync::broadcast`, no actors, with the same
    /// tungstenite buffer sizes as ours.
    Baseline,
    /// The same baseline with axum's default buffers, as a user who sets nothing gets them.
    BaselineDefaults,
}

impl ServerKind {
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Ours => "ours (in memory)",
            ServerKind::OursSqlite => "ours (SQLite log)",
            ServerKind::OursRedis => "ours (Redis log, 1 node)",
            ServerKind::Baseline => "baseline",
            ServerKind::BaselineDefaults => "baseline (axum defaults)",
        }
    }
}

/// The knobs of one run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub server: ServerKind,
    pub conns: usize,
    /// Broadcasts per second asked.
    pub rate: f64,
    pub duration: Duration,
    /// Clients per shard process (each process may hold ~20k descriptors).
    pub shard_size: usize,
    pub connect_concurrency: usize,
    pub max_in_flight: usize,
    pub drain: Duration,
    /// Picks this run's loopback source addresses, distinct from every other run's.
    pub run_index: usize,
    /// Where the servers' logs go.
    pub log_dir: std::path::PathBuf,
    /// The Redis an [`ServerKind::OursRedis`] server uses.
    pub redis_url: Option<String>,
}

/// Everything measured in one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunResult {
    pub server: String,
    pub conns_asked: usize,
    pub conns_ok: usize,
    pub connect_failed: usize,
    pub connect_error: Option<String>,
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    pub rss_start_kib: u64,
    pub rss_idle_kib: u64,
    pub rss_busy_kib: u64,
    pub rss_per_idle_conn_kib: f64,
    pub server_fds: usize,
    /// Broadcasts per second asked in this phase.
    pub rate_asked: f64,
    pub broadcasts_asked: u64,
    pub broadcasts_done: u64,
    pub broadcasts_per_sec_done: f64,
    pub broadcast_error: Option<String>,
    pub min_delivered_to: usize,
    pub expected_deliveries: u64,
    pub received: u64,
    pub deliveries_per_sec: f64,
    pub lost: u64,
    pub closed_clients: usize,
    pub out_of_order: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub server_cpu_secs: f64,
    pub cpu_us_per_delivery: f64,
    /// The whole run this phase belongs to: server start, connects, every phase.
    pub wall_secs: f64,
}

pub(crate) struct Shard {
    pub child: Child,
    pub stdin: ChildStdin,
    pub stdout: Lines<BufReader<ChildStdout>>,
}

/// Runs one plan from start to finish; every child process is killed before it returns.
pub async fn run(plan: &RunPlan) -> Result<RunResult, String> {
    let mut results = ramp(plan, &[plan.rate], |_| Then::Stop).await?;
    results
        .pop()
        .ok_or_else(|| "no broadcast phase ran".to_owned())
}

/// What a ramp does after a phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Then {
    /// The next rate of the ladder.
    Next,
    /// The same rate once more.
    Repeat,
    /// This rate (broadcasts/s), off the ladder: a refinement between two of its steps.
    At(f64),
    Stop,
}

/// One server, N clients connected once, then a broadcast phase per rate of `rates` in turn,
/// as `then` decides after each phase (every phase is kept). The saturation sweep's ramp.
pub async fn ramp(
    plan: &RunPlan,
    rates: &[f64],
    mut then: impl FnMut(&RunResult) -> Then,
) -> Result<Vec<RunResult>, String> {
    let wall = std::time::Instant::now();
    let port = free_port()?;
    let mut server = start_server(plan, port)?;
    let mut shards = Vec::new();
    let outcome = async {
        let connected = connect(plan, port, &mut server, &mut shards).await?;
        let mut results = Vec::new();
        let mut step = 0;
        let mut next_rate = rates.first().copied();
        while let Some(rate) = next_rate {
            let result = phase(plan, rate, &connected, &mut shards).await?;
            let next = then(&result);
            results.push(result);
            next_rate = match next {
                Then::Next => {
                    step += 1;
                    rates.get(step).copied()
                }
                Then::Repeat => Some(rate),
                Then::At(other) => Some(other),
                Then::Stop => None,
            };
        }
        Ok::<_, String>(results)
    }
    .await;
    for shard in &mut shards {
        let _ = shard.child.kill().await;
    }
    let _ = server.kill().await;
    let mut results = outcome?;
    // The whole run (server start, connects, every phase), on each of its phases.
    let wall_secs = wall.elapsed().as_secs_f64();
    for result in &mut results {
        result.wall_secs = wall_secs;
    }
    Ok(results)
}

/// What the connect step measured, shared by every phase of a run.
struct Connected {
    pid: u32,
    base_url: String,
    http: reqwest::Client,
    base: RunResult,
}

/// Starts the clients, measures idle memory, warms the room up.
async fn connect(
    plan: &RunPlan,
    port: u16,
    server: &mut Child,
    shards: &mut Vec<Shard>,
) -> Result<Connected, String> {
    let pid = server.id().ok_or("the server exited at once")?;
    let base_url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|error| format!("HTTP client: {error}"))?;
    wait_until_up(&http, &base_url, server).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_start_kib = rss(pid)?;
    let mut result = RunResult {
        server: plan.server.label().to_owned(),
        conns_asked: plan.conns,
        rss_start_kib,
        ..RunResult::default()
    };

    // 1. Connect every client, shard by shard in parallel.
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let mut remaining = plan.conns;
    while remaining > 0 {
        let conns = remaining.min(plan.shard_size.max(1));
        remaining -= conns;
        let source = source_ip(plan.run_index, shards.len());
        shards.push(spawn_shard(target, source, conns, plan)?);
    }
    for shard in shards.iter_mut() {
        let line = next_line(&mut shard.stdout, Duration::from_secs(120)).await?;
        let connected: ShardConnected =
            serde_json::from_str(&line).map_err(|error| format!("shard said {line:?}: {error}"))?;
        result.conns_ok += connected.connected;
        result.connect_failed += connected.failed;
        result.connect_secs = result.connect_secs.max(connected.connect_secs);
        if result.connect_error.is_none() {
            result.connect_error = connected.first_error;
        }
    }
    result.connects_per_sec = result.conns_ok as f64 / result.connect_secs.max(1e-9);

    // 2. Idle memory: every client has its welcome and nothing else.
    tokio::time::sleep(Duration::from_secs(1)).await;
    result.rss_idle_kib = rss(pid)?;
    result.server_fds = proc_stats::open_fds(pid).unwrap_or(0);
    result.rss_per_idle_conn_kib =
        (result.rss_idle_kib as f64 - rss_start_kib as f64) / result.conns_ok.max(1) as f64;

    // 3. Warm up until one broadcast reaches every client (each has joined the room).
    warm_up(&http, &base_url, result.conns_ok).await?;
    Ok(Connected {
        pid,
        base_url,
        http,
        base: result,
    })
}

/// One broadcast phase at `rate`, then every shard's report.
async fn phase(
    plan: &RunPlan,
    rate: f64,
    connected: &Connected,
    shards: &mut [Shard],
) -> Result<RunResult, String> {
    let pid = connected.pid;
    let mut result = connected.base.clone();
    result.rate_asked = rate;

    // 4. The broadcast phase.
    let cpu_before = proc_stats::cpu_seconds(pid).unwrap_or(0.0);
    let sent = broadcaster::run(
        &connected.http,
        &connected.base_url,
        rate,
        plan.duration,
        plan.max_in_flight,
    )
    .await;
    result.broadcasts_asked = sent.asked;
    result.broadcasts_done = sent.done;
    result.broadcasts_per_sec_done = sent.done as f64 / sent.elapsed.as_secs_f64().max(1e-9);
    result.broadcast_error = sent.first_error;
    result.min_delivered_to = sent.min_delivered_to;

    // 5. Collect: each shard waits for its stragglers, then reports.
    let collected = collect(shards, sent.done, plan.drain).await?;
    result.received += collected.received;
    result.lost += collected.lost;
    result.closed_clients += collected.closed;
    result.out_of_order += collected.out_of_order;
    let (latency, last_receipt_ns) = (collected.latency, collected.last_receipt_ns);
    let server_cpu = proc_stats::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    result.rss_busy_kib = rss(pid)?;

    result.expected_deliveries = sent.done * result.conns_ok as u64;
    let span_ns = last_receipt_ns.saturating_sub(sent.first_sent_ns).max(1);
    result.deliveries_per_sec = result.received as f64 / (span_ns as f64 / 1e9);
    let ms = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1000.0;
    (result.p50_ms, result.p90_ms, result.p99_ms, result.p999_ms) =
        (ms(0.5), ms(0.9), ms(0.99), ms(0.999));
    result.max_ms = latency.max() as f64 / 1000.0;
    result.server_cpu_secs = server_cpu;
    result.cpu_us_per_delivery = server_cpu * 1e6 / result.received.max(1) as f64;
    Ok(result)
}

/// What the shards received in one broadcast phase, summed over shards.
pub(crate) struct Collected {
    pub received: u64,
    pub lost: u64,
    pub closed: usize,
    pub out_of_order: u64,
    /// The latest arrival of any broadcast at any client (nanoseconds since the Unix epoch).
    pub last_receipt_ns: u64,
    /// Every delivery's latency, in µs.
    pub latency: Histogram<u64>,
}

/// Tells every shard how many broadcasts were accepted (`expect`), lets each wait up to `drain`
/// for its stragglers, and sums their reports.
pub(crate) async fn collect(
    shards: &mut [Shard],
    expect: u64,
    drain: Duration,
) -> Result<Collected, String> {
    let command = ShardCommand {
        expect,
        drain_secs: drain.as_secs_f64(),
    };
    let command = serde_json::to_string(&command).map_err(|error| error.to_string())? + "\n";
    for shard in shards.iter_mut() {
        shard
            .stdin
            .write_all(command.as_bytes())
            .await
            .map_err(|error| format!("writing to a shard: {error}"))?;
    }
    let mut collected = Collected {
        received: 0,
        lost: 0,
        closed: 0,
        out_of_order: 0,
        last_receipt_ns: 0,
        latency: Histogram::<u64>::new_with_bounds(1, LATENCY_MAX_US, 3)
            .map_err(|error| error.to_string())?,
    };
    let wait = drain + Duration::from_secs(30);
    for shard in shards.iter_mut() {
        let line = next_line(&mut shard.stdout, wait).await?;
        let report: ShardReport = serde_json::from_str(&line)
            .map_err(|error| format!("shard report {line:?}: {error}"))?;
        collected.received += report.received;
        collected.lost += report.lost;
        collected.closed += report.closed;
        collected.out_of_order += report.out_of_order;
        collected.last_receipt_ns = collected.last_receipt_ns.max(report.last_receipt_ns);
        for (value, count) in report.latency_us {
            let _ = collected
                .latency
                .record_n(value.clamp(1, LATENCY_MAX_US), count);
        }
    }
    Ok(collected)
}

fn rss(pid: u32) -> Result<u64, String> {
    proc_stats::rss_kib(pid).map_err(|error| format!("server memory: {error}"))
}

/// A free port on loopback, below the kernel's ephemeral range (`tests/support/free_port.rs`).
pub(crate) fn free_port() -> Result<u16, String> {
    crate::free_port_choice::try_free_port()
        .map_err(|error| format!("finding a free port: {error}"))
}

/// `127.<a>.<b>.<c>`: distinct per benchmark process, run and shard, so that no run meets
/// another's TIME_WAIT sockets on its source address (each address has ~28k ephemeral ports).
pub(crate) fn source_ip(run_index: usize, shard: usize) -> IpAddr {
    let process = (std::process::id() % 200) as u8 + 20;
    let run = (run_index % 250) as u8 + 1;
    let shard = (shard % 250) as u8 + 1;
    IpAddr::V4(Ipv4Addr::new(127, process, run, shard))
}

fn start_server(plan: &RunPlan, port: u16) -> Result<Child, String> {
    let mut command = match plan.server {
        ServerKind::Ours => {
            let mut command = Command::new(env!("CARGO_BIN_EXE_tauri-ractor-websocket"));
            command.args(["--headless", "--port", &port.to_string(), "--in-memory"]);
            command
        }
        ServerKind::OursSqlite => {
            // A fresh data directory per run (never the user's).
            let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join("bench-data")
                .join(format!("run-{}-{}", std::process::id(), plan.run_index));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
            let mut command = Command::new(env!("CARGO_BIN_EXE_tauri-ractor-websocket"));
            command
                .args(["--headless", "--port", &port.to_string(), "--data-dir"])
                .arg(dir);
            command
        }
        ServerKind::OursRedis => {
            let url = plan
                .redis_url
                .as_deref()
                .ok_or("the Redis row needs a redis-server (RunPlan::redis_url)")?;
            let mut command = Command::new(env!("CARGO_BIN_EXE_tauri-ractor-websocket"));
            command.args(["--headless", "--port", &port.to_string(), "--redis", url]);
            command
        }
        ServerKind::Baseline | ServerKind::BaselineDefaults => {
            let exe = std::env::current_exe().map_err(|error| error.to_string())?;
            let mut command = Command::new(exe);
            command.args(["--serve-baseline", "--port", &port.to_string()]);
            if plan.server == ServerKind::BaselineDefaults {
                command.arg("--axum-default-buffers");
            }
            command
        }
    };
    let log_path = plan
        .log_dir
        .join(format!("server-{}-{}.log", plan.run_index, plan.conns));
    let log = log_file(&log_path)?;
    command
        // One log line per connection would measure the logger; warnings still show.
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    command
        .spawn()
        .map_err(|error| format!("starting the {} server: {error}", plan.server.label()))
}

fn log_file(path: &Path) -> Result<std::fs::File, String> {
    std::fs::File::create(path).map_err(|error| format!("{}: {error}", path.display()))
}

pub(crate) async fn wait_until_up(
    http: &reqwest::Client,
    base_url: &str,
    server: &mut Child,
) -> Result<(), String> {
    for _ in 0..200 {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!("the server exited early ({status})"));
        }
        if let Ok(response) = http.get(format!("{base_url}/health")).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{base_url}/health did not answer within 10 s"))
}

/// Broadcasts `warmup` until one reaches every connected client: a client has its welcome
/// slightly before it joins the room.
pub(crate) async fn warm_up(
    http: &reqwest::Client,
    base_url: &str,
    clients: usize,
) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..100 {
        match broadcaster::broadcast(http, base_url, "warmup").await {
            Ok(receipt) if receipt.delivered_to >= clients => return Ok(()),
            Ok(receipt) => last = format!("reached {} of {clients}", receipt.delivered_to),
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "warm-up broadcast never reached every client of {base_url}: {last}"
    ))
}

pub(crate) fn spawn_shard(
    target: SocketAddr,
    source: IpAddr,
    conns: usize,
    plan: &RunPlan,
) -> Result<Shard, String> {
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    // A safety net only (the driver kills its shards): room for a saturation ramp's phases.
    let lifetime = 180 + 12 * (plan.duration.as_secs() + plan.drain.as_secs());
    let mut child = Command::new(exe)
        .arg("--client-shard")
        .args(["--target", &target.to_string()])
        .args(["--source-ip", &source.to_string()])
        .args(["--conns", &conns.to_string()])
        .args([
            "--connect-concurrency",
            &plan.connect_concurrency.to_string(),
        ])
        .args(["--lifetime-secs", &lifetime.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("starting a client shard: {error}"))?;
    let stdin = child.stdin.take().ok_or("shard stdin")?;
    let stdout = child.stdout.take().ok_or("shard stdout")?;
    Ok(Shard {
        child,
        stdin,
        stdout: BufReader::new(stdout).lines(),
    })
}

pub(crate) async fn next_line(
    lines: &mut Lines<BufReader<ChildStdout>>,
    within: Duration,
) -> Result<String, String> {
    match tokio::time::timeout(within, lines.next_line()).await {
        Ok(Ok(Some(line))) => Ok(line),
        Ok(Ok(None)) => Err("a client shard exited early (see its error above)".into()),
        Ok(Err(error)) => Err(format!("reading a shard: {error}")),
        Err(_) => Err(format!("a client shard said nothing for {within:?}")),
    }
}
