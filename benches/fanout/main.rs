//! Fan-out benchmark: does one actor per connection cost anything?
//!
//! For every N in the sweep it measures **our server** (axum + one ractor actor per WebSocket)
//! and a **baseline** (axum + `tokio::sync::broadcast`, no actors) back to back, with the same
//! load generator, and writes a report with the ratios and a plot.
//!
//! ```text
//! cargo bench --bench fanout                        # the standard sweep → docs/BENCHMARKS.md
//! cargo bench --bench fanout -- --conns 1000,20000  # other sizes
//! cargo bench --bench fanout -- --smoke             # N=50 for a few seconds → target/bench/
//! ```
//!
//! The same executable plays three roles, chosen by a flag, so that each role is a separate
//! process with its own memory and descriptor limit:
//!
//! - the **driver** (default): runs the sweep, see `driver.rs`;
//! - `--serve-baseline --port P`: the baseline server, see `baseline_server.rs`;
//! - `--client-shard ...`: up to ~10k WebSocket clients, see `loadgen.rs`.

mod baseline_server;
mod broadcaster;
mod chart;
mod cluster;
mod driver;
// The tests' port chooser: below the kernel's ephemeral range (see that file). Its panicking
// `free_port` is for tests; the benchmarks use `try_free_port`. `redis_server.rs` includes the
// same file for itself, privately: hence a second copy here.
#[path = "../../tests/support/free_port.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod free_port_choice;
mod loadgen;
mod proc_stats;
// The tests' `redis-server` of its own (free port, no persistence, killed when dropped).
#[path = "../../tests/support/redis_server.rs"]
mod redis_server;
mod report;
#[path = "../shared/report_sections.rs"]
mod report_sections;
mod saturation;
mod saturation_report;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use driver::{RunPlan, ServerKind};

/// The largest N accepted: well past what one machine's descriptor limit allows, but bounded.
const MAX_CONNS: usize = 100_000;

#[derive(Debug, Parser)]
#[command(
    name = "fanout",
    about = "Fan-out benchmark: our actor server against a plain axum baseline"
)]
struct Args {
    /// Connection counts to sweep (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000,19000")]
    conns: Vec<usize>,
    /// Seconds of broadcasting per run.
    #[arg(long, default_value_t = 5)]
    duration_secs: u64,
    /// Offered load: broadcasts/s = min(max-rate, this / N), so every N sees the same
    /// deliveries per second asked.
    #[arg(long, default_value_t = 300_000)]
    deliveries_per_sec: u64,
    /// Upper bound on broadcasts per second.
    #[arg(long, default_value_t = 300.0)]
    max_rate: f64,
    /// Broadcast requests in flight at once. Ours answers `/broadcast` after the post is stored
    /// and fanned out, the baselines at once, so a cap that ours reaches turns the asked rate
    /// into less than what is offered. At 1,000 clients, 16 capped ours at 1.13-1.19 M
    /// deliveries/s (p99 ~60 ms) and 64 at 1.7-1.8 M (p99 ~120 ms) once the generator got
    /// cheaper; with 256, 2.6-2.9 M (p99 ~230 ms, the latency limit). The baselines' ceilings do
    /// not move with it. See benches/fanout/PROFILE.md.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Clients per generator process (each process may hold ~20k descriptors).
    #[arg(long, default_value_t = 10_000)]
    shard_size: usize,
    /// WebSocket handshakes in flight per generator process.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// Seconds to wait for late deliveries after the last broadcast.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
    /// Saturation sweep: connection counts (empty: no saturation sweep).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    saturation_conns: Vec<usize>,
    /// Saturation sweep: most steps per server (each asks 1.5× the one before); 0: no sweep.
    #[arg(long, default_value_t = 7)]
    saturation_steps: usize,
    /// Saturation sweep: seconds of broadcasting per step.
    #[arg(long, default_value_t = 4)]
    saturation_secs: u64,
    /// Saturation sweep: a step with a p99 above this (ms) is not sustained.
    #[arg(long, default_value_t = 250.0)]
    p99_limit_ms: f64,
    /// Skip the fixed-load sweep (--conns), e.g. to run the saturation sweep alone.
    #[arg(long)]
    saturation_only: bool,
    /// Where BENCHMARKS.md and bench-fanout.svg go.
    #[arg(long, default_value = "docs")]
    out_dir: PathBuf,
    /// Tiny run for CI: N=50, 2 s, report under target/bench/.
    #[arg(long)]
    smoke: bool,
    /// The cluster row instead of the sweep (issue 11): 2 nodes on a redis-server of its own,
    /// the first --conns clients split between them, --max-rate broadcasts/s, against 1 node.
    #[arg(long)]
    cluster: bool,
    /// Added by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,

    /// Role: serve the baseline on --port.
    #[arg(long, hide = true)]
    serve_baseline: bool,
    /// With --serve-baseline: axum's default buffer sizes instead of ours.
    #[arg(long, hide = true)]
    axum_default_buffers: bool,
    #[arg(long, hide = true)]
    port: Option<u16>,

    /// Role: one load-generator shard.
    #[arg(long, hide = true)]
    client_shard: bool,
    #[arg(long, hide = true)]
    target: Option<SocketAddr>,
    #[arg(long, hide = true)]
    source_ip: Option<IpAddr>,
    #[arg(long, hide = true, default_value_t = 180)]
    lifetime_secs: u64,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Err(error) = proc_stats::raise_fd_limit() {
        eprintln!("warning: cannot raise the open-file limit: {error}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        if args.serve_baseline {
            let port = args.port.ok_or("--serve-baseline needs --port")?;
            baseline_server::serve(port, args.axum_default_buffers)
                .await
                .map_err(|error| format!("baseline server: {error}"))
        } else if args.client_shard {
            loadgen::run_shard(shard_args(&args)?).await
        } else {
            if args.smoke {
                args.conns = vec![50];
                args.duration_secs = 2;
                args.saturation_conns = vec![50];
                args.saturation_steps = 2;
                args.saturation_secs = 1;
                // 300 broadcasts/s at N = 50 for the first step (the fixed-load run is capped at
                // 300 anyway): a debug build need not be pushed to its ceiling to stay honest.
                args.deliveries_per_sec = 15_000;
                args.drain_secs = 5;
                args.out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke");
            }
            if args.cluster {
                return cluster_row(&args).await;
            }
            sweep(&args).await
        }
    });
    // Do not wait for stray client tasks: the process is done.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn shard_args(args: &Args) -> Result<loadgen::ShardArgs, String> {
    let conns = *args.conns.first().ok_or("--client-shard needs --conns")?;
    Ok(loadgen::ShardArgs {
        target: args.target.ok_or("--client-shard needs --target")?,
        source_ip: args.source_ip.ok_or("--client-shard needs --source-ip")?,
        conns: conns.min(MAX_CONNS),
        connect_concurrency: args.connect_concurrency,
        lifetime: Duration::from_secs(args.lifetime_secs),
    })
}

/// The cluster row (see `cluster.rs`): 1,000 clients and 300 broadcasts/s unless told otherwise.
async fn cluster_row(args: &Args) -> Result<(), String> {
    let conns = if args.conns == [1000, 5000, 10000, 19000] {
        1000
    } else {
        args.conns
            .first()
            .copied()
            .unwrap_or(1000)
            .clamp(2, MAX_CONNS)
    };
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|error| format!("{}: {error}", args.out_dir.display()))?;
    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-logs");
    std::fs::create_dir_all(&log_dir).map_err(|error| format!("{}: {error}", log_dir.display()))?;
    cluster::run(&cluster::ClusterPlan {
        conns,
        rate: args.max_rate,
        duration: Duration::from_secs(args.duration_secs),
        drain: Duration::from_secs(args.drain_secs),
        max_in_flight: args.max_in_flight,
        connect_concurrency: args.connect_concurrency,
        out_dir: args.out_dir.clone(),
        log_dir,
    })
    .await
}

/// Runs ours and the baseline back to back for every N, then writes the report.
async fn sweep(args: &Args) -> Result<(), String> {
    if let Some(&too_many) = args.conns.iter().find(|&&n| n == 0 || n > MAX_CONNS) {
        return Err(format!("N={too_many} is outside 1..={MAX_CONNS}"));
    }
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|error| format!("{}: {error}", args.out_dir.display()))?;
    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-logs");
    std::fs::create_dir_all(&log_dir).map_err(|error| format!("{}: {error}", log_dir.display()))?;
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut run_index = 0;
    let standard: &[usize] = if args.saturation_only {
        &[]
    } else {
        &args.conns
    };
    for &conns in standard {
        let rate = (args.deliveries_per_sec as f64 / conns as f64).min(args.max_rate);
        let mut pair = Vec::new();
        for server in [
            ServerKind::Ours,
            ServerKind::OursSqlite,
            ServerKind::Baseline,
        ] {
            run_index += 1;
            let plan = RunPlan {
                server,
                conns,
                rate,
                duration: Duration::from_secs(args.duration_secs),
                shard_size: args.shard_size,
                connect_concurrency: args.connect_concurrency,
                max_in_flight: args.max_in_flight,
                drain: Duration::from_secs(args.drain_secs),
                run_index,
                log_dir: log_dir.clone(),
                redis_url: None,
            };
            eprintln!("==> N={conns} {} at {rate:.1} broadcasts/s", server.label());
            let result = driver::run(&plan).await?;
            eprintln!("    {}", report::one_line(&result));
            pair.push(result);
        }
        let baseline = pair.pop().ok_or("missing baseline result")?;
        let sqlite = pair.pop().ok_or("missing SQLite result")?;
        let ours = pair.pop().ok_or("missing result")?;
        rows.push(report::Row {
            conns,
            rate,
            ours,
            sqlite,
            baseline,
        });
    }
    let saturation_settings = saturation::Settings {
        conns: args.saturation_conns.clone(),
        steps: args.saturation_steps.max(1),
        first_deliveries_per_sec: args.deliveries_per_sec as f64,
        phase: Duration::from_secs(args.saturation_secs),
        p99_limit_ms: args.p99_limit_ms,
        max_in_flight: args.max_in_flight,
    };
    let base_plan = RunPlan {
        server: ServerKind::Ours,
        conns: 1,
        rate: 1.0,
        duration: Duration::from_secs(args.saturation_secs),
        shard_size: args.shard_size,
        connect_concurrency: args.connect_concurrency,
        max_in_flight: args.max_in_flight,
        drain: Duration::from_secs(args.drain_secs),
        run_index: 0,
        log_dir: log_dir.clone(),
        redis_url: None,
    };
    let saturation_started = std::time::Instant::now();
    let sweeps = if args.saturation_steps == 0 {
        Vec::new()
    } else {
        saturation::run(&saturation_settings, &base_plan, &mut run_index).await?
    };
    let saturation_secs = saturation_started.elapsed().as_secs_f64();
    let settings = report::Settings {
        // `cargo bench` adds `--bench`; leave it out of the command shown.
        command: std::env::args()
            .skip(1)
            .filter(|arg| arg != "--bench")
            .collect::<Vec<_>>()
            .join(" "),
        duration_secs: args.duration_secs,
        deliveries_per_sec: args.deliveries_per_sec,
        max_rate: args.max_rate,
        max_in_flight: args.max_in_flight,
        shard_size: args.shard_size,
        machine: proc_stats::machine_summary(),
        sweep_secs: started.elapsed().as_secs_f64(),
        saturation_secs,
        saturation: saturation_settings,
    };
    let written = report::write(&args.out_dir, &rows, &sweeps, &settings)?;
    eprintln!("{}", report::ratios_summary(&rows));
    eprintln!(
        "{}",
        saturation_report::summary(&sweeps, &settings.saturation)
    );
    eprintln!("wrote {written}");
    report::check_loss(&rows)?;
    // Saturation steps may end with clients closed (a slow consumer is closed, not queued for),
    // but a client that stayed connected must never miss a message.
    for sweep in &sweeps {
        for (server, steps) in &sweep.runs {
            if let Some(step) = steps.iter().find(|step| step.lost > 0) {
                return Err(format!(
                    "saturation N={}, {} at {:.1}/s: {} messages lost by healthy clients",
                    sweep.conns,
                    server.label(),
                    step.rate_asked,
                    step.lost
                ));
            }
        }
    }
    Ok(())
}
