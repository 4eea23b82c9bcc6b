//! The cluster row (`--cluster`, issue 11): 2 nodes (the release binary, `--headless --redis`)
//! and a `redis-server` of its own on this machine, 1,000 clients split between the nodes, 300
//! broadcasts/s (half sent to each node), against the same load on one node.
//!
//! ```text
//!   redis-server (own port, no persistence)
//!     ▲  EVALSHA append (INCR, XADD, PUBLISH)      ▲ SUBSCRIBE trw:{lobby}:live
//!   node A ◀── /broadcast 150/s               node B ◀── /broadcast 150/s
//!     ▲ 500 clients (shard)                      ▲ 500 clients (shard)
//! ```
//!
//! Three runs, same clients, same rate: one node in memory, one node on Redis, two nodes on
//! Redis. Every client must get every broadcast (from either node) once, in seq order. Measured:
//! deliveries/s, latency (p50, p99) from the broadcast's send to its arrival, loss, and CPU time
//! of the nodes and of Redis, per delivery and per broadcast (one publishing script each). The
//! result replaces the section between the `cluster` markers in `docs/BENCHMARKS.md` (the fan-out
//! sweep keeps it), and feeds the projection in `docs/CLUSTER.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::driver::{
    free_port, next_line, source_ip, spawn_shard, wait_until_up, warm_up, RunPlan,
};
use crate::loadgen::ShardConnected;
use crate::redis_server::RedisServer;
use crate::{broadcaster, driver, proc_stats, report_sections};

/// The cluster bench's settings.
pub struct ClusterPlan {
    pub conns: usize,
    pub rate: f64,
    pub duration: Duration,
    pub drain: Duration,
    pub max_in_flight: usize,
    pub connect_concurrency: usize,
    pub out_dir: PathBuf,
    pub log_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    OneNodeMemory,
    OneNodeRedis,
    TwoNodesRedis,
}

impl Layout {
    fn label(self) -> &'static str {
        match self {
            Layout::OneNodeMemory => "1 node, in memory",
            Layout::OneNodeRedis => "1 node, Redis",
            Layout::TwoNodesRedis => "2 nodes, Redis",
        }
    }

    fn nodes(self) -> usize {
        if self == Layout::TwoNodesRedis {
            2
        } else {
            1
        }
    }
}

/// One run's numbers.
#[derive(Debug, Default, Clone)]
struct ClusterResult {
    label: String,
    conns_ok: usize,
    broadcasts_asked: u64,
    broadcasts_done: u64,
    received: u64,
    expected: u64,
    lost: u64,
    closed: usize,
    out_of_order: u64,
    deliveries_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    node_cpu_secs: f64,
    redis_cpu_secs: f64,
    broadcast_error: Option<String>,
}

impl ClusterResult {
    fn node_us_per_delivery(&self) -> f64 {
        self.node_cpu_secs * 1e6 / self.received.max(1) as f64
    }

    fn redis_us_per_broadcast(&self) -> f64 {
        self.redis_cpu_secs * 1e6 / self.broadcasts_done.max(1) as f64
    }
}

/// Runs the three layouts and writes the section; fails if a client lost a broadcast.
pub async fn run(plan: &ClusterPlan) -> Result<(), String> {
    let mut redis = RedisServer::start();
    let mut results = Vec::new();
    for (index, layout) in [
        Layout::OneNodeMemory,
        Layout::OneNodeRedis,
        Layout::TwoNodesRedis,
    ]
    .into_iter()
    .enumerate()
    {
        redis.command(&["FLUSHALL"]);
        eprintln!(
            "==> cluster: {} ({} clients, {:.0} broadcasts/s)",
            layout.label(),
            plan.conns,
            plan.rate
        );
        let result = run_layout(plan, layout, &redis, 200 + index).await?;
        eprintln!(
            "    {:.0} deliveries/s, p50 {:.1} ms, p99 {:.1} ms, lost {}, out of order {}, \
             {:.2} µs node CPU/delivery, {:.0} µs Redis CPU/broadcast",
            result.deliveries_per_sec,
            result.p50_ms,
            result.p99_ms,
            result.lost,
            result.out_of_order,
            result.node_us_per_delivery(),
            result.redis_us_per_broadcast()
        );
        results.push(result);
    }
    redis.kill();
    let section = markdown(plan, &results);
    let path = plan.out_dir.join("BENCHMARKS.md");
    report_sections::replace(&path, report_sections::CLUSTER, &section)?;
    eprintln!("wrote the cluster section of {}", path.display());
    match results.iter().find(|r| r.lost > 0 || r.out_of_order > 0) {
        Some(r) => Err(format!(
            "{}: {} broadcasts lost, {} out of order",
            r.label, r.lost, r.out_of_order
        )),
        None => Ok(()),
    }
}

async fn run_layout(
    plan: &ClusterPlan,
    layout: Layout,
    redis: &RedisServer,
    run_index: usize,
) -> Result<ClusterResult, String> {
    let mut nodes = Vec::new();
    for node in 0..layout.nodes() {
        let port = free_port()?;
        let log = plan
            .log_dir
            .join(format!("cluster-{run_index}-node-{node}.log"));
        let log =
            std::fs::File::create(&log).map_err(|error| format!("{}: {error}", log.display()))?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_tauri-ractor-websocket"));
        command.args(["--headless", "--port", &port.to_string()]);
        match layout {
            Layout::OneNodeMemory => {
                command.arg("--in-memory");
            }
            _ => {
                command.args(["--redis", &redis.url()]);
            }
        }
        let child = command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("starting a node: {error}"))?;
        nodes.push((port, child));
    }
    let outcome = measure(plan, layout, redis, run_index, &mut nodes).await;
    for (_, child) in &mut nodes {
        let _ = child.kill().await;
    }
    outcome
}

async fn measure(
    plan: &ClusterPlan,
    layout: Layout,
    redis: &RedisServer,
    run_index: usize,
    nodes: &mut [(u16, Child)],
) -> Result<ClusterResult, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|error| format!("HTTP client: {error}"))?;
    let urls: Vec<String> = nodes
        .iter()
        .map(|(port, _)| format!("http://127.0.0.1:{port}"))
        .collect();
    for ((_, child), url) in nodes.iter_mut().zip(&urls) {
        wait_until_up(&http, url, child).await?;
    }
    let pids: Vec<u32> = nodes.iter().filter_map(|(_, child)| child.id()).collect();

    // Clients: split evenly between the nodes, one shard process per node.
    let shard_plan = RunPlan {
        server: driver::ServerKind::Ours,
        conns: plan.conns,
        rate: plan.rate,
        duration: plan.duration,
        shard_size: plan.conns,
        connect_concurrency: plan.connect_concurrency,
        max_in_flight: plan.max_in_flight,
        drain: plan.drain,
        run_index,
        log_dir: plan.log_dir.clone(),
        redis_url: None,
    };
    let per_node = plan.conns / nodes.len();
    let mut shards = Vec::new();
    for (index, (port, _)) in nodes.iter().enumerate() {
        let conns = if index + 1 == nodes.len() {
            plan.conns - per_node * index
        } else {
            per_node
        };
        let target = SocketAddr::from(([127, 0, 0, 1], *port));
        shards.push(spawn_shard(
            target,
            source_ip(run_index, index),
            conns,
            &shard_plan,
        )?);
    }
    let mut result = ClusterResult {
        label: layout.label().to_owned(),
        ..ClusterResult::default()
    };
    let mut per_node_clients = Vec::new();
    for shard in &mut shards {
        let line = next_line(&mut shard.stdout, Duration::from_secs(120)).await?;
        let connected: ShardConnected =
            serde_json::from_str(&line).map_err(|error| format!("shard said {line:?}: {error}"))?;
        result.conns_ok += connected.connected;
        per_node_clients.push(connected.connected);
    }

    // Warm up: a broadcast on each node reaches all its own clients (each has joined), then one
    // more so the other node's subscription is surely up (it re-syncs from the stream anyway).
    for (url, clients) in urls.iter().zip(&per_node_clients) {
        warm_up(&http, url, *clients).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The broadcast phase: the rate split between the nodes.
    let node_cpu_before: f64 = pids
        .iter()
        .filter_map(|pid| proc_stats::cpu_seconds(*pid).ok())
        .sum();
    let redis_cpu_before = cpu_seconds(redis);
    let rate_per_node = plan.rate / nodes.len() as f64;
    let sends = urls
        .iter()
        .map(|url| broadcaster::run(&http, url, rate_per_node, plan.duration, plan.max_in_flight));
    let outcomes = futures_util::future::join_all(sends).await;
    let first_sent_ns = outcomes.iter().map(|o| o.first_sent_ns).min().unwrap_or(0);
    for outcome in &outcomes {
        result.broadcasts_asked += outcome.asked;
        result.broadcasts_done += outcome.done;
        if result.broadcast_error.is_none() {
            result.broadcast_error = outcome.first_error.clone();
        }
    }

    // Collect: every client should have every broadcast, from either node.
    let collected = driver::collect(&mut shards, result.broadcasts_done, plan.drain).await?;
    result.received += collected.received;
    result.lost += collected.lost;
    result.closed += collected.closed;
    result.out_of_order += collected.out_of_order;
    let (latency, last_receipt_ns) = (collected.latency, collected.last_receipt_ns);
    let node_cpu_after: f64 = pids
        .iter()
        .filter_map(|pid| proc_stats::cpu_seconds(*pid).ok())
        .sum();
    result.node_cpu_secs = node_cpu_after - node_cpu_before;
    result.redis_cpu_secs = cpu_seconds(redis) - redis_cpu_before;
    for shard in &mut shards {
        let _ = shard.child.kill().await;
    }
    result.expected = result.broadcasts_done * result.conns_ok as u64;
    let span_ns = last_receipt_ns.saturating_sub(first_sent_ns).max(1);
    result.deliveries_per_sec = result.received as f64 / (span_ns as f64 / 1e9);
    let ms = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1000.0;
    result.p50_ms = ms(0.5);
    result.p99_ms = ms(0.99);
    result.max_ms = latency.max() as f64 / 1000.0;
    Ok(result)
}

fn markdown(plan: &ClusterPlan, results: &[ClusterResult]) -> String {
    let mut md = String::new();
    md.push_str(report_sections::CLUSTER.0);
    md.push_str("\n## Cluster: 2 nodes on one Redis (issue 11)\n\n");
    md.push_str(&format!(
        "`scripts/bench` (`cargo bench --bench fanout -- --cluster`): a `redis-server` of its own \
         (no persistence) and the release binary, {} clients split evenly between the nodes, {:.0} \
         broadcasts/s for {} s, half of them sent to each node (`/broadcast`, through the lobby: \
         one publishing script each, `INCR` + `XADD` + `PUBLISH`). Every client must get every \
         broadcast once, in seq order, whichever node it was sent to. All processes share this \
         2-core machine: {}.\n\n",
        plan.conns,
        plan.rate,
        plan.duration.as_secs(),
        proc_stats::machine_summary()
    ));
    md.push_str(
        "| layout | clients | broadcasts | deliveries/s | p50 | p99 | max | lost | out of order | node CPU per delivery | Redis CPU per broadcast |\n\
         | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |\n",
    );
    for r in results {
        md.push_str(&format!(
            "| {} | {} | {}/{} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} | {:.2} µs | {} |\n",
            r.label,
            r.conns_ok,
            r.broadcasts_done,
            r.broadcasts_asked,
            r.deliveries_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.lost,
            r.out_of_order,
            r.node_us_per_delivery(),
            if r.label.contains("Redis") {
                format!("{:.0} µs", r.redis_us_per_broadcast())
            } else {
                "–".to_owned()
            }
        ));
    }
    if let Some(error) = results.iter().find_map(|r| r.broadcast_error.clone()) {
        md.push_str(&format!("\nFirst failed broadcast: {error}\n"));
    }
    md.push_str(
        "\nNode CPU is both nodes' user + system time over the broadcast phase, divided by the \
         deliveries; Redis CPU is `redis-server`'s, divided by the broadcasts (each one script \
         run and one message to each subscribed node). docs/CLUSTER.md projects 10 nodes and 1M \
         connections from these two costs.\n",
    );
    md.push_str(report_sections::CLUSTER.1);
    md.push('\n');
    md
}

/// The CPU time `redis-server` has used so far, in seconds (0 if it cannot be read).
fn cpu_seconds(redis: &RedisServer) -> f64 {
    redis
        .pid()
        .and_then(|pid| proc_stats::cpu_seconds(pid).ok())
        .unwrap_or(0.0)
}
