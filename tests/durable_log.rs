//! The SQLite room log, through the real binary: history that outlives the process.
//!
//! Every test starts `tauri-ractor-websocket --headless` on a fresh data directory (never the
//! user's), and most of them kill it (SIGKILL: no shutdown code runs) and start it again on the
//! same directory. What they prove:
//!
//! - **acknowledged means stored**: every broadcast answered 200 and every chat echoed before a
//!   kill -9 in the middle of a burst is there after the restart, same seq, same text, in order,
//!   and the next post gets the next seq;
//! - **resume across a restart**: `?since=room:EPOCH:SEQ` gets exactly what was missed,
//!   `gap: false`;
//! - **failures are clear and lose nothing**: a second process on the directory (exit 2, naming
//!   the directory and the holder), a corrupt file and a newer schema (non-zero exit, the file
//!   byte for byte unchanged), a full disk (posts refused with 503 / `unavailable`, nothing
//!   acknowledged that was not written, recovery once writes work again);
//! - **retention** by count, bytes and age, and eviction, on the file itself;
//! - the history request and the history API.

mod support {
    pub mod data_dir;
    pub mod free_port;
    pub mod ws_client;
}

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{json, Value};
use support::free_port::free_port;
use support::ws_client::Client;
use tokio::process::{Child, Command};

const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

/// Generous: only a guard against hanging, never a performance assertion.
const SLOW: Duration = Duration::from_secs(30);

fn db_path(dir: &Path) -> PathBuf {
    dir.join("rooms.sqlite3")
}

/// The headless binary on `dir`.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn command(dir: &Path, port: u16, flags: &[&str]) -> Command {
        let mut command = Command::new(APP);
        command
            .args(["--headless", "--port", &port.to_string(), "--data-dir"])
            .arg(dir)
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn start(dir: &Path, flags: &[&str]) -> Server {
        Server::start_on(dir, free_port(), flags).await
    }

    async fn start_on(dir: &Path, port: u16, flags: &[&str]) -> Server {
        let child = Server::command(dir, port, flags)
            .spawn()
            .expect("start the binary");
        Server::wait_ready(child, port).await
    }

    async fn wait_ready(mut child: Child, port: u16) -> Server {
        let deadline = tokio::time::Instant::now() + SLOW;
        loop {
            if let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/health")).await {
                if response.status() == 200 {
                    return Server { child, port };
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = pipe.read_to_string(&mut stderr).await;
                }
                panic!("the server exited with {status} before answering: {stderr}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server never answered /health"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// SIGKILL: the process gets no chance to flush or close anything.
    async fn kill_9(mut self) {
        self.child.start_kill().expect("kill -9");
        let _ = self.child.wait().await;
    }

    /// SIGTERM, and wait for the graceful exit.
    async fn stop(mut self) {
        let pid = self.pid();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let exit = tokio::time::timeout(SLOW, self.child.wait())
            .await
            .expect("the server stops in time")
            .expect("wait");
        assert!(exit.success(), "graceful exit: {exit}");
    }
}

/// Runs the binary to completion on `dir`; returns its exit code and stderr.
async fn run_to_exit(dir: &Path) -> (Option<i32>, String) {
    let output = tokio::time::timeout(SLOW, Server::command(dir, free_port(), &[]).output())
        .await
        .expect("the binary exits in time (it must refuse, not run)")
        .expect("run the binary");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn broadcast(
    client: &reqwest::Client,
    port: u16,
    text: &str,
) -> reqwest::Result<(u16, Value)> {
    let response = client
        .post(format!("http://127.0.0.1:{port}/broadcast"))
        .json(&json!({ "message": text }))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// Every stored frame of `room`, through the history API (forward, page by page).
async fn stored(port: u16, room: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut frames = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = client
            .get(format!("http://127.0.0.1:{port}/api/rooms/{room}/history"))
            .query(&[("after", after.to_string()), ("limit", "200".to_owned())])
            .send()
            .await
            .expect("history API")
            .error_for_status()
            .expect("history API answers 200")
            .json()
            .await
            .expect("JSON");
        assert_eq!(page["type"], "history");
        let messages = page["messages"].as_array().expect("messages").clone();
        if let Some(last) = messages.last() {
            after = last["seq"].as_u64().expect("seq");
        }
        frames.extend(messages);
        if page["has_more"] != true {
            return frames;
        }
    }
}

fn text_of(frame: &Value) -> String {
    frame["text"].as_str().unwrap_or_default().to_owned()
}

fn seq_of(frame: &Value) -> u64 {
    frame["seq"].as_u64().expect("numbered frame")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_in_the_middle_of_a_burst_loses_nothing_acknowledged() {
    let dir = support::data_dir::fresh("kill-9-burst");
    let flags = [
        "--rate-limit",
        "0",
        "--history",
        "100000",
        "--room-history-bytes",
        "1000000000",
    ];
    let server = Server::start(&dir, &flags).await;
    let port = server.port;
    let addr = server.addr();

    // 1,000 broadcasts from 4 HTTP senders, and 1,000 chats from one WebSocket client: each
    // side records what was acknowledged (a 200 with its seq, an echo with its seq).
    let mut senders = Vec::new();
    for sender in 0..4 {
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut acknowledged = Vec::new();
            for i in 0..250 {
                let text = format!("broadcast {sender}-{i}");
                match broadcast(&client, port, &text).await {
                    Ok((200, receipt)) => acknowledged.push((seq_of(&receipt), text)),
                    Ok((status, body)) => panic!("HTTP {status} before the kill: {body}"),
                    Err(_) => break, // the server is gone
                }
            }
            acknowledged
        }));
    }
    let chatter = Client::connect(addr).await;
    let my_id = chatter.id;
    let chats = tokio::spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let (mut write, mut read) = chatter.ws.split();
        let writer = tokio::spawn(async move {
            for i in 0..1000 {
                let frame = json!({"type": "chat", "text": format!("chat {i}")}).to_string();
                if write.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
        });
        let mut echoed = Vec::new();
        while let Ok(Some(Ok(message))) = tokio::time::timeout(SLOW, read.next()).await {
            let Message::Text(text) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(&text).expect("JSON");
            if frame["type"] == "message" && frame["sender_id"] == my_id {
                echoed.push((seq_of(&frame), text_of(&frame)));
            }
        }
        writer.abort();
        echoed
    });

    // Kill it when the burst is well under way.
    let deadline = tokio::time::Instant::now() + SLOW;
    loop {
        let health: Value = reqwest::get(format!(
            "http://127.0.0.1:{port}/api/rooms/lobby/history?after=0&limit=1"
        ))
        .await
        .expect("history")
        .json()
        .await
        .expect("JSON");
        if health["last_seq"].as_u64().unwrap_or(0) >= 600 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the burst never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill_9().await;

    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    for sender in senders {
        acknowledged.extend(sender.await.expect("sender"));
    }
    let echoed = chats.await.expect("chatter");
    let acknowledged_broadcasts = acknowledged.len();
    acknowledged.extend(echoed.iter().cloned());
    assert!(
        acknowledged_broadcasts > 0 && !echoed.is_empty(),
        "both kinds were acknowledged before the kill ({acknowledged_broadcasts} broadcasts, {} chats)",
        echoed.len()
    );
    assert!(
        acknowledged.len() < 2000,
        "the kill came in the middle of the burst"
    );

    let server = Server::start(&dir, &flags).await;
    let frames = stored(server.port, "lobby").await;
    let seqs: Vec<u64> = frames.iter().map(seq_of).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(
        seqs, expected,
        "stored frames are numbered 1, 2, 3… in order, no holes"
    );
    let by_seq: std::collections::HashMap<u64, String> = frames
        .iter()
        .map(|frame| (seq_of(frame), text_of(frame)))
        .collect();
    for (seq, text) in &acknowledged {
        assert_eq!(
            by_seq.get(seq),
            Some(text),
            "acknowledged post #{seq} {text:?} is stored with its seq and text"
        );
    }
    // The chats are in the order they were sent.
    let chat_order: Vec<u64> = frames
        .iter()
        .filter(|frame| text_of(frame).starts_with("chat "))
        .map(|frame| {
            text_of(frame)["chat ".len()..]
                .parse()
                .expect("chat number")
        })
        .collect();
    assert!(
        chat_order.windows(2).all(|pair| pair[0] < pair[1]),
        "chats in order"
    );

    let client = reqwest::Client::new();
    let (status, receipt) = broadcast(&client, server.port, "after the restart")
        .await
        .expect("broadcast");
    assert_eq!(status, 200);
    assert_eq!(
        seq_of(&receipt),
        seqs.len() as u64 + 1,
        "the next post gets the next seq"
    );
    println!(
        "kill -9: {} acknowledged ({} broadcasts, {} chats), {} stored",
        acknowledged.len(),
        acknowledged_broadcasts,
        echoed.len(),
        seqs.len()
    );
    server.kill_9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_across_a_restart_with_exactly_what_it_missed() {
    let dir = support::data_dir::fresh("resume-restart");
    let server = Server::start(&dir, &[]).await;
    let mut talker = Client::connect(server.addr()).await;
    talker.join("dev").await;
    let mut listener = Client::connect(server.addr()).await;
    let joined = listener.join("dev").await;
    let epoch = joined["epoch"].as_str().expect("epoch").to_owned();
    for i in 1..=3 {
        talker
            .send_json(json!({"type": "chat", "room": "dev", "text": format!("seen {i}")}))
            .await;
        assert_eq!(text_of(&listener.next_message().await), format!("seen {i}"));
        talker.next_message().await; // the echo: stored
    }
    // The listener drops; two more posts; then the server is killed.
    drop(listener);
    for i in 4..=5 {
        talker
            .send_json(json!({"type": "chat", "room": "dev", "text": format!("missed {i}")}))
            .await;
        talker.next_message().await; // the echo: stored
    }
    let port = server.port;
    server.kill_9().await;

    // Back on the same port and directory; two posts before the listener returns.
    let server = Server::start_on(&dir, port, &[]).await;
    let mut talker = Client::connect(server.addr()).await;
    let rejoined = talker.join("dev").await;
    assert_eq!(
        rejoined["epoch"],
        epoch.as_str(),
        "the room came back with its epoch"
    );
    assert_eq!(rejoined["last_seq"], 5, "and its last seq");
    for i in 6..=7 {
        talker
            .send_json(json!({"type": "chat", "room": "dev", "text": format!("missed {i}")}))
            .await;
        talker.next_message().await;
    }

    let (mut listener, _) =
        Client::connect_with(server.addr(), &format!("since=dev:{epoch}:3")).await;
    let joined = loop {
        let frame = listener.next_of_type("joined").await;
        if frame["room"] == "dev" {
            break frame;
        }
    };
    assert_eq!(joined["gap"], false, "{joined}");
    assert_eq!(joined["resumed_from"], 3, "{joined}");
    let mut got = Vec::new();
    for _ in 4..=7 {
        let frame = listener.next_message().await;
        got.push((seq_of(&frame), text_of(&frame)));
    }
    assert_eq!(
        got,
        vec![
            (4, "missed 4".to_owned()),
            (5, "missed 5".to_owned()),
            (6, "missed 6".to_owned()),
            (7, "missed 7".to_owned())
        ]
    );
    // Nothing more: the next frame is the next live post.
    talker
        .send_json(json!({"type": "chat", "room": "dev", "text": "live"}))
        .await;
    let live = listener.next_message().await;
    assert_eq!((seq_of(&live), text_of(&live)), (8, "live".to_owned()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_directory_exits_2_and_names_the_holder() {
    let dir = support::data_dir::fresh("locked");
    let first = Server::start(&dir, &[]).await;
    let (code, stderr) = run_to_exit(&dir).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&dir.display().to_string()),
        "names the directory: {stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", first.pid())),
        "names the holder: {stderr}"
    );
    assert!(stderr.contains("--data-dir"), "says what to do: {stderr}");
    // The first one is unharmed.
    assert_eq!(
        reqwest::get(format!("http://127.0.0.1:{}/health", first.port))
            .await
            .expect("health")
            .status(),
        200
    );
    first.kill_9().await;
    // A killed holder leaves no stale lock behind.
    let again = Server::start(&dir, &[]).await;
    again.stop().await;
}

fn sha_like(bytes: &[u8]) -> (usize, u64) {
    // FNV-1a: a checksum to compare, no crypto needed.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (bytes.len(), hash)
}

fn checksum(path: &Path) -> (usize, u64) {
    sha_like(&std::fs::read(path).expect("read the file"))
}

#[tokio::test]
async fn a_corrupt_file_is_refused_and_left_byte_for_byte_unchanged() {
    let dir = support::data_dir::fresh("corrupt");
    let path = db_path(&dir);
    let mut garbage = b"SQLite format 3\0".to_vec(); // the right magic, a damaged header after it
    garbage.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    std::fs::write(&path, &garbage).expect("write");
    let before = checksum(&path);
    let (code, stderr) = run_to_exit(&dir).await;
    assert!(matches!(code, Some(code) if code != 0), "{code:?} {stderr}");
    assert!(
        stderr.contains(&path.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(stderr.contains("Move it away"), "says what to do: {stderr}");
    assert_eq!(checksum(&path), before, "the file is unchanged");
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_byte_for_byte_unchanged() {
    let dir = support::data_dir::fresh("newer-schema");
    // A file from this version, then "upgraded" by a future one.
    let server = Server::start(&dir, &[]).await;
    server.stop().await;
    let path = db_path(&dir);
    {
        let connection = Connection::open(&path).expect("open");
        connection
            .execute_batch("PRAGMA journal_mode = DELETE; UPDATE schema_version SET version = 2;")
            .expect("make it newer");
    }
    let before = checksum(&path);
    let (code, stderr) = run_to_exit(&dir).await;
    assert!(matches!(code, Some(code) if code != 0), "{code:?} {stderr}");
    assert!(
        stderr.contains(&path.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(stderr.contains("newer version"), "says why: {stderr}");
    assert_eq!(checksum(&path), before, "the file is unchanged");
    assert!(
        !dir.join("rooms.sqlite3-wal").exists(),
        "not even a WAL file was made"
    );
}

/// The soft file-size limit of process `pid` (the hard one stays unlimited, so no root needed).
fn set_file_size_limit(pid: u32, bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit with a valid pid and a pointer to a live rlimit; no old value asked for.
    let result = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(result, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_posts_then_recovers_and_nothing_unwritten_was_acknowledged() {
    let dir = support::data_dir::fresh("full-disk");
    let port = free_port();
    let mut command = Server::command(&dir, port, &["--rate-limit", "0", "--history", "100000"]);
    // SAFETY: between fork and exec, only async-signal-safe calls: signal().
    unsafe {
        command.pre_exec(|| {
            // A write beyond the limit then fails with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let server = Server::wait_ready(command.spawn().expect("start"), port).await;
    // The disk is "full" from now on: no file of the server may grow past 512 KiB.
    set_file_size_limit(server.pid(), 512 * 1024);

    let mut chatter = Client::connect(server.addr()).await;
    let client = reqwest::Client::new();
    let big = "x".repeat(8000);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..1000 {
        let (status, body) = broadcast(&client, port, &format!("{i} {big}"))
            .await
            .expect("the server answers");
        match status {
            200 => acknowledged.push(seq_of(&body)),
            503 => {
                refused = Some(body);
                break;
            }
            other => panic!("HTTP {other}: {body}"),
        }
    }
    let refused = refused.expect("posts are refused once the file cannot grow");
    assert_eq!(refused["error"], "unavailable", "{refused}");
    assert!(!acknowledged.is_empty());
    // From now on not a byte more fits (a smaller post could still have fitted the last pages).
    set_file_size_limit(server.pid(), 1);
    let (status, body) = broadcast(&client, port, "tiny")
        .await
        .expect("the server answers");
    assert_eq!(status, 503, "{body}");

    // A chat is refused too: an `unavailable` error to its sender, and no echo.
    chatter.send_chat("while full").await;
    let error = loop {
        let frame = chatter.next_json().await;
        assert_ne!(
            frame["type"], "message",
            "nothing is delivered while full: {frame}"
        );
        if frame["type"] == "error" {
            break frame;
        }
    };
    assert_eq!(error["code"], "unavailable", "{error}");
    // New rooms still open (a room that could not start would count against the restart
    // intensity, and a full disk must not shut the server down): more than the intensity allows.
    for i in 0..7 {
        let room = format!("new-{i}");
        let joined = chatter.join(&room).await;
        assert_eq!(joined["room"], room.as_str(), "{joined}");
    }
    chatter
        .send_json(json!({"type": "chat", "room": "new-0", "text": "in a new room, while full"}))
        .await;
    let error = chatter.next_of_type("error").await;
    assert_eq!(error["code"], "unavailable", "{error}");
    // The server is still up.
    assert_eq!(
        reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .expect("health")
            .status(),
        200
    );

    // Space again: posts work, numbered right after the last acknowledged one.
    set_file_size_limit(server.pid(), libc::RLIM_INFINITY);
    let last = *acknowledged.last().expect("some");
    let (status, receipt) = broadcast(&client, port, "space again")
        .await
        .expect("broadcast");
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(
        seq_of(&receipt),
        last + 1,
        "no seq was used up by the refused posts"
    );
    chatter.send_chat("and chat").await;
    let echo = chatter.next_message().await;
    assert_eq!(
        (seq_of(&echo), text_of(&echo)),
        (last + 2, "and chat".to_owned())
    );
    chatter
        .send_json(json!({"type": "chat", "room": "new-0", "text": "new room, space again"}))
        .await;
    let echo = chatter.next_message().await;
    assert_eq!((echo["room"].clone(), seq_of(&echo)), (json!("new-0"), 1));

    // After a kill -9, the file holds exactly what was acknowledged.
    let port = server.port;
    server.kill_9().await;
    let server = Server::start_on(&dir, port, &["--history", "100000"]).await;
    let seqs: Vec<u64> = stored(port, "lobby").await.iter().map(seq_of).collect();
    let mut expected = acknowledged.clone();
    expected.extend([last + 1, last + 2]);
    assert_eq!(
        seqs, expected,
        "stored = acknowledged, nothing more, nothing less"
    );
    server.stop().await;
}

fn count(dir: &Path, sql: &str) -> i64 {
    let connection =
        Connection::open_with_flags(db_path(dir), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the file for a look");
    connection
        .query_row(sql, [], |row| row.get(0))
        .expect("query")
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + SLOW;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_count_bytes_and_age_applies_to_the_file() {
    let dir = support::data_dir::fresh("retention");
    let client = reqwest::Client::new();

    // Count: --history 10 keeps the last 10 of 30.
    let server = Server::start(&dir, &["--history", "10"]).await;
    for i in 1..=30 {
        broadcast(&client, server.port, &format!("n{i}"))
            .await
            .expect("broadcast");
    }
    let seqs: Vec<u64> = stored(server.port, "lobby")
        .await
        .iter()
        .map(seq_of)
        .collect();
    assert_eq!(seqs, (21..=30).collect::<Vec<_>>());
    assert_eq!(count(&dir, "SELECT COUNT(*) FROM frames"), 10);
    let port = server.port;
    server.stop().await;

    // Bytes: 20,000 bytes per room keep two frames of 8,000 characters.
    let server = Server::start_on(
        &dir,
        port,
        &["--history", "10", "--room-history-bytes", "20000"],
    )
    .await;
    let big = "b".repeat(8000);
    for _ in 0..3 {
        broadcast(&client, port, &big).await.expect("broadcast");
    }
    let kept = stored(port, "lobby").await;
    assert_eq!(kept.iter().map(seq_of).collect::<Vec<_>>(), vec![32, 33]);
    assert!(count(&dir, "SELECT SUM(size) FROM frames") <= 20_000);
    server.stop().await;

    // Age: frames from 3 days ago go with --retention-days 1 (set back in the file while the
    // server is stopped, as if they had been written then).
    {
        let connection = Connection::open(db_path(&dir)).expect("open");
        let three_days_ago = 1_000
            * (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs()
                - 3 * 24 * 3600);
        connection
            .execute(
                "UPDATE frames SET ts = ?1 WHERE seq = 32",
                [three_days_ago as i64],
            )
            .expect("age a frame");
    }
    let server = Server::start_on(&dir, port, &["--retention-days", "1"]).await;
    eventually("the old frame is deleted", || {
        count(&dir, "SELECT COUNT(*) FROM frames WHERE seq = 32") == 0
    })
    .await;
    assert_eq!(
        stored(port, "lobby")
            .await
            .iter()
            .map(seq_of)
            .collect::<Vec<_>>(),
        vec![33]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_rooms_rows_are_deleted() {
    let dir = support::data_dir::fresh("eviction");
    let server = Server::start(&dir, &["--max-rooms", "2"]).await;
    let mut client = Client::connect(server.addr()).await;
    client.join("old").await;
    for i in 0..5 {
        client
            .send_json(json!({"type": "chat", "room": "old", "text": format!("o{i}")}))
            .await;
        client.next_message().await;
    }
    assert_eq!(
        count(&dir, "SELECT COUNT(*) FROM rooms WHERE name = 'old'"),
        1
    );
    client
        .send_json(json!({"type": "leave", "room": "old"}))
        .await;
    client.next_of_type("left").await;
    // The cap is full (lobby + old): a new room makes the empty one go, with its history.
    let joined = client.join("new").await;
    assert_eq!(joined["room"], "new");
    eventually("the evicted room's rows are deleted", || {
        count(&dir, "SELECT COUNT(*) FROM rooms WHERE name = 'old'") == 0
            && count(
                &dir,
                "SELECT COUNT(*) FROM frames WHERE room_id NOT IN (SELECT id FROM rooms)",
            ) == 0
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_history_by_request_and_by_http() {
    let dir = support::data_dir::fresh("history-request");
    let server = Server::start(&dir, &["--rate-limit", "0"]).await;
    let mut client = Client::connect(server.addr()).await;
    client.join("dev").await;
    for i in 1..=120 {
        client
            .send_json(json!({"type": "chat", "room": "dev", "text": format!("m{i}")}))
            .await;
        client.next_message().await;
    }
    client
        .send_json(json!({"type": "history", "room": "dev", "before": 71, "limit": 50}))
        .await;
    let page = client.next_of_type("history").await;
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(seq_of)
        .collect();
    assert_eq!(seqs, (21..=70).collect::<Vec<_>>());
    assert_eq!(page["has_more"], true);
    assert_eq!(page["room"], "dev");
    assert_eq!(page["messages"][0]["text"], "m21");
    client
        .send_json(json!({"type": "history", "room": "dev", "before": 21}))
        .await;
    let page = client.next_of_type("history").await;
    assert_eq!(page["messages"].as_array().expect("messages").len(), 20);
    assert_eq!(page["has_more"], false);
    // Only for rooms one is in.
    client
        .send_json(json!({"type": "history", "room": "elsewhere"}))
        .await;
    let error = client.next_of_type("error").await;
    assert_eq!(error["code"], "not_in_room");

    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/api/rooms/dev/history", server.port);
    let page: Value = http
        .get(&url)
        .query(&[("after", "100"), ("limit", "5")])
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(seq_of)
        .collect();
    assert_eq!(seqs, vec![101, 102, 103, 104, 105]);
    assert_eq!(
        (page["has_more"].clone(), page["last_seq"].clone()),
        (json!(true), json!(120))
    );
    let missing = http
        .get(format!(
            "http://127.0.0.1:{}/api/rooms/nowhere/history",
            server.port
        ))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), 404);
    let bad = http
        .get(&url)
        .query(&[("limit", "0")])
        .send()
        .await
        .expect("GET");
    assert_eq!(bad.status(), 400);
    let bad = http
        .get(&url)
        .query(&[("after", "-1")])
        .send()
        .await
        .expect("GET");
    assert_eq!(bad.status(), 400);
    server.stop().await;
}
