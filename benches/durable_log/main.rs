//! The SQLite room log under load: how fast the server starts on a big file, and how fast it
//! takes in chat from many clients.
//!
//! ```text
//! cargo bench --bench durable_log                    # 1M stored messages, 1,000 chatting clients
//! cargo bench --bench durable_log -- --smoke         # 10k messages, 50 clients, 2 s (CI)
//! ```
//!
//! 1. **Start time with a million stored messages.** A data directory is filled through the
//!    library's own `SqliteStore` (100 rooms × 10,000 messages), then the release binary is
//!    started on it (headless) several times; the time from spawn to its "listening" line, and
//!    to the first `/health` answer, is the start time. Opening reads each room's row, never its
//!    frames, so this should not grow with the history.
//! 2. **Chat ingest.** N clients, each alone in its own room (so the fan-out is one echo, and
//!    the log is what is measured), each send chat at their rate limit (20/s) for D seconds;
//!    the echo is the acknowledgement, after the commit. Reported: echoes/s and the echo's
//!    latency percentiles, with the SQLite log and with `--in-memory`.
//!
//! The results replace the marked section of `docs/BENCHMARKS.md` (the fan-out report keeps it
//! when it is written again). Nothing here is asserted: numbers are reported, not judged, except
//! that every post must be acknowledged (a refusal or a lost echo fails the run).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

// The tests' port chooser: below the kernel's ephemeral range (see that file). Its panicking
// `free_port` is for tests; the benchmarks use `try_free_port`.
#[path = "../../tests/support/free_port.rs"]
#[allow(dead_code)]
mod free_port_choice;
// Shared with the fan-out benchmark, which uses all of it; this one writes only its own section.
#[allow(dead_code)]
#[path = "../shared/report_sections.rs"]
mod report_sections;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tauri_ractor_websocket::protocol::{
    FrameTemplate, MessageKind, ServerMessage, SEQ_PLACEHOLDER,
};
use tauri_ractor_websocket::room_log::sqlite::{Retention, SqliteOptions};
use tauri_ractor_websocket::room_log::{LogStore, NewEntry, SqliteStore};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
#[command(
    name = "durable_log",
    about = "Start time and chat ingest with the SQLite room log"
)]
struct Args {
    /// Messages stored before measuring the start time.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Rooms they are spread over.
    #[arg(long, default_value_t = 100)]
    rooms: u64,
    /// Starts measured (the median is reported).
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Chatting clients, each in a room of its own.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Chat messages per second per client (the server's default rate limit is 20).
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Seconds of chat.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Where BENCHMARKS.md is.
    #[arg(long, default_value = "docs")]
    out_dir: PathBuf,
    /// Tiny run for CI: 10k messages, 50 clients, 2 s; report under target/tmp.
    #[arg(long)]
    smoke: bool,
    /// Added by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> std::process::ExitCode {
    let mut args = Args::parse();
    if args.smoke {
        args.messages = 10_000;
        args.rooms = 10;
        args.starts = 1;
        args.clients = 50;
        args.secs = 2;
        args.out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn fresh_dir(name: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("bench-data")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    Ok(dir)
}

/// A free port on loopback, below the kernel's ephemeral range (`tests/support/free_port.rs`).
fn free_port() -> Result<u16, String> {
    free_port_choice::try_free_port().map_err(|error| format!("finding a free port: {error}"))
}

async fn run(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let start = start_time(args).await?;
    eprintln!("{}", start.line());
    let sqlite = ingest(args, false).await?;
    eprintln!("SQLite log: {}", sqlite.line());
    let memory = ingest(args, true).await?;
    eprintln!("in memory:  {}", memory.line());
    let section = report(args, &start, &sqlite, &memory, started.elapsed());
    std::fs::create_dir_all(&args.out_dir).map_err(|error| error.to_string())?;
    let path = args.out_dir.join("BENCHMARKS.md");
    report_sections::replace(&path, report_sections::DURABLE_LOG, &section)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

// ----------------------------------------------------------------------------- start time

struct StartTime {
    messages: u64,
    file_mib: f64,
    fill_secs: f64,
    listening_ms: Vec<f64>,
    health_ms: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

impl StartTime {
    fn line(&self) -> String {
        format!(
            "start with {} stored messages ({:.0} MiB): listening after {:.0} ms, /health after {:.0} ms (median of {})",
            self.messages,
            self.file_mib,
            median(&self.listening_ms),
            median(&self.health_ms),
            self.listening_ms.len()
        )
    }
}

fn entry(room: &str, text: String, ts: u64) -> Result<NewEntry, String> {
    let message = ServerMessage::Message {
        kind: MessageKind::Chat,
        room: room.to_owned(),
        seq: SEQ_PLACEHOLDER,
        sender: "bench".to_owned(),
        sender_id: Some(1),
        text,
        ts,
    };
    Ok(NewEntry {
        template: FrameTemplate::new(&message).ok_or("no template")?,
        ts,
    })
}

fn big_history(per_room: u64) -> Vec<String> {
    vec![
        "--history".to_owned(),
        per_room.max(500).to_string(),
        "--room-history-bytes".to_owned(),
        "1000000000".to_owned(),
    ]
}

async fn start_time(args: &Args) -> Result<StartTime, String> {
    let dir = fresh_dir("start-time")?;
    let per_room = args.messages.div_ceil(args.rooms.max(1));
    let filling = Instant::now();
    {
        let options = SqliteOptions {
            full_fsync: false,
            retention: Retention {
                frames_per_room: per_room,
                bytes_per_room: u64::MAX,
                max_age: None,
            },
            max_rooms: 1000,
        };
        let store = SqliteStore::open_in(&dir, options).map_err(|error| error.to_string())?;
        let text = "a chat message of a typical length, some sixty characters long".to_owned();
        let mut stored = 0;
        for room in 0..args.rooms {
            let name = format!("room-{room}");
            let log = store.open(&name).await.map_err(|error| error.to_string())?;
            let mut left = per_room.min(args.messages - stored);
            while left > 0 {
                let batch = left.min(256);
                let ts = tauri_ractor_websocket::protocol::unix_millis();
                let entries = (0..batch)
                    .map(|_| entry(&name, text.clone(), ts))
                    .collect::<Result<Vec<_>, _>>()?;
                log.append(entries)
                    .await
                    .map_err(|error| error.to_string())?;
                left -= batch;
                stored += batch;
            }
        }
    }
    // Let the writer thread close the file (it checkpoints) before the server opens it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fill_secs = filling.elapsed().as_secs_f64();
    let file_mib = std::fs::metadata(dir.join("rooms.sqlite3"))
        .map(|meta| meta.len() as f64 / (1024.0 * 1024.0))
        .unwrap_or(f64::NAN);
    let mut listening_ms = Vec::new();
    let mut health_ms = Vec::new();
    for _ in 0..args.starts.max(1) {
        let port = free_port()?;
        let spawned = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tauri-ractor-websocket"))
            .args(["--headless", "--port", &port.to_string(), "--data-dir"])
            .arg(&dir)
            .args(big_history(per_room))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("starting the server: {error}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let listening = loop {
            match tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await {
                Ok(Ok(Some(line))) if line.contains("is listening") => break spawned.elapsed(),
                Ok(Ok(Some(_))) => continue,
                _ => return Err("the server never said it was listening".to_owned()),
            }
        };
        let http = reqwest::Client::new();
        let health = loop {
            if let Ok(response) = http
                .get(format!("http://127.0.0.1:{port}/health"))
                .send()
                .await
            {
                if response.status().is_success() {
                    break spawned.elapsed();
                }
            }
            if spawned.elapsed() > Duration::from_secs(60) {
                return Err("/health never answered".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        // Everything is still there.
        let page: Value = http
            .get(format!("http://127.0.0.1:{port}/api/rooms/room-0/history"))
            .query(&[("after", "0"), ("limit", "1")])
            .send()
            .await
            .map_err(|error| error.to_string())?
            .json()
            .await
            .map_err(|error| error.to_string())?;
        if page["last_seq"].as_u64() != Some(per_room.min(args.messages)) {
            return Err(format!("room-0 came back with {page}"));
        }
        listening_ms.push(listening.as_secs_f64() * 1000.0);
        health_ms.push(health.as_secs_f64() * 1000.0);
        stop(&mut child).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(StartTime {
        messages: args.messages,
        file_mib,
        fill_secs,
        listening_ms,
        health_ms,
    })
}

async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

// ----------------------------------------------------------------------------- chat ingest

struct Ingest {
    clients: usize,
    sent: u64,
    echoed: u64,
    secs: f64,
    latency: Histogram<u64>,
    server_cpu_secs: f64,
}

impl Ingest {
    fn per_sec(&self) -> f64 {
        self.echoed as f64 / self.secs
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn line(&self) -> String {
        format!(
            "{} clients: {} sent, {} echoed, {:.0} echoes/s, echo p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms, server CPU {:.1} s",
            self.clients,
            self.sent,
            self.echoed,
            self.per_sec(),
            self.ms(0.5),
            self.ms(0.99),
            self.ms(0.999),
            self.latency.max() as f64 / 1000.0,
            self.server_cpu_secs
        )
    }
}

/// CPU seconds (user + system) of process `pid` so far, from /proc.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    let Some(after) = stat.rfind(')').map(|at| &stat[at + 2..]) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

async fn ingest(args: &Args, in_memory: bool) -> Result<Ingest, String> {
    let dir = fresh_dir(if in_memory {
        "ingest-memory"
    } else {
        "ingest-sqlite"
    })?;
    let port = free_port()?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_tauri-ractor-websocket"));
    command
        .args(["--headless", "--port", &port.to_string(), "--data-dir"])
        .arg(&dir)
        .args(["--max-rooms", &(args.clients + 10).to_string()])
        .args(["--rate-limit", &args.rate.to_string()])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if in_memory {
        command.arg("--in-memory");
    }
    let mut child = command.spawn().map_err(|error| error.to_string())?;
    let pid = child.id().ok_or("no pid")?;
    let http = reqwest::Client::new();
    let up = Instant::now();
    while http
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .is_err()
    {
        if up.elapsed() > Duration::from_secs(30) {
            return Err("the server never answered".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Connect and join, a few at a time.
    let ready = Arc::new(tokio::sync::Barrier::new(args.clients + 1));
    let go = Arc::new(tokio::sync::Notify::new());
    let epoch = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let (ready, go) = (Arc::clone(&ready), Arc::clone(&go));
        let rate = args.rate;
        let secs = args.secs;
        tasks.push(tokio::spawn(async move {
            chat_client(port, client, rate, secs, epoch, ready, go).await
        }));
        if client % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    ready.wait().await;
    let cpu_before = cpu_secs(pid);
    let started = Instant::now();
    go.notify_waiters();
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let (mut sent, mut echoed) = (0, 0);
    for task in tasks {
        let outcome = task.await.map_err(|error| error.to_string())??;
        sent += outcome.0;
        echoed += outcome.1;
        latency.add(&outcome.2).map_err(|error| error.to_string())?;
    }
    let secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = cpu_secs(pid) - cpu_before;
    stop(&mut child).await;
    let _ = std::fs::remove_dir_all(&dir);
    if echoed != sent {
        return Err(format!(
            "{sent} chats sent, {echoed} echoed: posts were refused or lost"
        ));
    }
    Ok(Ingest {
        clients: args.clients,
        sent,
        echoed,
        secs,
        latency,
        server_cpu_secs,
    })
}

/// One client: joins its own room, waits for `go`, sends `rate` chats a second for `secs`
/// seconds (each carrying its send time), and times each echo. Returns (sent, echoed, latency).
async fn chat_client(
    port: u16,
    client: usize,
    rate: u32,
    secs: u64,
    epoch: Instant,
    ready: Arc<tokio::sync::Barrier>,
    go: Arc<tokio::sync::Notify>,
) -> Result<(u64, u64, Histogram<u64>), String> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .map_err(|error| format!("client {client}: {error}"))?;
    let (mut write, mut read) = ws.split();
    let room = format!("c{client}");
    write
        .send(Message::Text(
            json!({"type": "join", "room": room}).to_string().into(),
        ))
        .await
        .map_err(|error| error.to_string())?;
    loop {
        let Some(Ok(Message::Text(text))) = read.next().await else {
            return Err(format!("client {client}: closed before joining"));
        };
        let frame: Value = serde_json::from_str(&text).map_err(|error| error.to_string())?;
        if frame["type"] == "joined" && frame["room"] == room.as_str() {
            break;
        }
    }
    let waiting = go.notified();
    ready.wait().await;
    waiting.await;
    let total = u64::from(rate) * secs;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    // Spread the clients over one interval, so they do not all send at the same instant.
    let offset = interval.mul_f64((client % 97) as f64 / 97.0);
    let room_for_writer = room.clone();
    let writer = tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
        // A client that was not scheduled for a while (2 cores shared with the server) must not
        // catch up in a burst past the server's rate limit: it sends late instead.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for _ in 0..total {
            ticker.tick().await;
            let stamp = epoch.elapsed().as_micros() as u64;
            let frame =
                json!({"type": "chat", "room": room_for_writer, "text": format!("t={stamp}")});
            if write
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        write
    });
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let mut echoed = 0;
    while echoed < total {
        let next = tokio::time::timeout(Duration::from_secs(30), read.next()).await;
        let Ok(Some(Ok(message))) = next else { break };
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).map_err(|error| error.to_string())?;
        match frame["type"].as_str() {
            Some("message") if frame["room"] == room.as_str() => {
                let stamp = frame["text"]
                    .as_str()
                    .and_then(|text| text.strip_prefix("t="))
                    .and_then(|stamp| stamp.parse::<u64>().ok())
                    .ok_or("an echo without its stamp")?;
                let now = epoch.elapsed().as_micros() as u64;
                latency
                    .record(now.saturating_sub(stamp).max(1))
                    .map_err(|error| error.to_string())?;
                echoed += 1;
            }
            Some("error") => return Err(format!("client {client}: {frame}")),
            _ => {}
        }
    }
    let _ = writer.await;
    Ok((total, echoed, latency))
}

// ----------------------------------------------------------------------------- report

fn report(
    args: &Args,
    start: &StartTime,
    sqlite: &Ingest,
    memory: &Ingest,
    took: Duration,
) -> String {
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .map(|info| info.matches("processor\t:").count())
        .unwrap_or(0);
    let mut md = String::new();
    md.push_str(report_sections::DURABLE_LOG.0);
    md.push_str(&format!(
        "\n## The SQLite room log (issue 10)\n\n\
         *Generated by `cargo bench --bench durable_log -- {}` (`scripts/bench`); do not edit by \
         hand. It took {:.0} s on {machine} cores shared with the load generator (and, when this \
         was run, with other builds). The fan-out rows with the SQLite log are in the tables \
         above (\"ours (SQLite log)\").*\n\n",
        std::env::args()
            .skip(1)
            .filter(|arg| arg != "--bench")
            .collect::<Vec<_>>()
            .join(" "),
        took.as_secs_f64()
    ));
    let listening = median(&start.listening_ms);
    md.push_str(&format!(
        "### Start time with {} stored messages\n\n\
         {} rooms × {} messages were stored through the library's `SqliteStore` ({:.0} s; the \
         file is {:.0} MiB), then the release binary was started on that data directory {} \
         times. Opening reads one row per room, never its frames.\n\n\
         | | median | all runs |\n|---|---|---|\n\
         | spawn → \"listening\" line | **{listening:.0} ms** {} (target < 1 s) | {} |\n\
         | spawn → first `/health` 200 | {:.0} ms | {} |\n\n",
        start.messages,
        args.rooms,
        start.messages.div_ceil(args.rooms.max(1)),
        start.fill_secs,
        start.file_mib,
        start.listening_ms.len(),
        if listening < 1000.0 { "✅" } else { "❌" },
        start
            .listening_ms
            .iter()
            .map(|ms| format!("{ms:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        median(&start.health_ms),
        start
            .health_ms
            .iter()
            .map(|ms| format!("{ms:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    md.push_str(&format!(
        "### Chat ingest: {} clients at their rate limit\n\n\
         Each client is alone in a room of its own (so each post is stored and echoed once, to \
         its sender) and sends {} chats/s for {} s; the echo comes after the commit. Latency is \
         echo time minus send time, measured by the client.\n\n\
         | log | chats sent | echoed | echoes/s | echo p50 ms | p99 ms | p99.9 ms | max ms | server CPU s |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        args.clients, args.rate, args.secs
    ));
    for (name, run) in [("SQLite (default)", sqlite), ("in memory", memory)] {
        md.push_str(&format!(
            "| {name} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            run.sent,
            run.echoed,
            run.per_sec(),
            run.ms(0.5),
            run.ms(0.99),
            run.ms(0.999),
            run.latency.max() as f64 / 1000.0,
            run.server_cpu_secs
        ));
    }
    md.push_str(
        "\nWhere the SQLite log's extra latency comes from: every post here is in a room of its \
         own, and a room's frames are stored together (keyed by room and seq, so that a page of \
         history is one index range), so each post of a transaction dirties a page of its own: \
         a transaction of 1,000 posts writes about 1,000 pages (4 KiB each) to the WAL. The one \
         writer thread is then the busiest thread of the server; when it cannot keep up, posts \
         queue for the next transaction (which grows, so throughput holds while latency rises). \
         Posts to one busy room (the fan-out rows above, every broadcast in the lobby) share \
         pages and cost far less. Latencies on this 2-core machine also move a lot with \
         whatever else runs on it: compare the two rows of one run, not runs.\n\n",
    );
    md.push_str(report_sections::DURABLE_LOG.1);
    md
}
