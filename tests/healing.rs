//! Let it crash, then heal: rooms that panic are restarted from their log while their members
//! stay connected; a room that keeps failing shuts the server down cleanly; a connection whose
//! start timed out leaves no ghost. Over real sockets, with faults injected through the
//! `test-hooks` feature: `cargo test --features test-hooks --test healing`.

mod support {
    pub mod data_dir;
    pub mod ws_client;
}

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::ws_client::{
    actors, health, room_in, start_server_with, wait_for_counts, wait_for_room, Client, PATIENCE,
};
use tauri_ractor_websocket::config::ServerConfig;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const CHATTERS: usize = 5;

async fn panic_room(addr: SocketAddr, room: &str) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/debug/panic"))
        .json(&json!({ "room": room }))
        .send()
        .await
        .expect("POST /debug/panic");
    assert_eq!(response.status(), 202);
}

/// What one chatting client saw.
#[derive(Debug, Default)]
struct Seen {
    /// Numbered frames of the room, in arrival order.
    frames: Vec<(u64, String)>,
    sent: usize,
    echoes: usize,
    refused: usize,
}

/// Sends a chat to `room` every 15 ms until `stop`, while reading everything; then reads on
/// until every one of its posts is answered (echo or refusal) and `marker` has arrived.
async fn chatter(
    client: Client,
    room: &'static str,
    stop: CancellationToken,
    stopped: mpsc::Sender<()>,
    marker: &'static str,
) -> (Seen, impl Sized) {
    let me = client.id;
    let (mut sink, mut stream) = client.ws.split();
    let mut seen = Seen::default();
    let mut tick = tokio::time::interval(Duration::from_millis(15));
    let mut sending = true;
    let mut marker_seen = false;
    while sending || !marker_seen || seen.echoes + seen.refused < seen.sent {
        tokio::select! {
            _ = tick.tick(), if sending => {
                if stop.is_cancelled() {
                    sending = false;
                    let _ = stopped.send(()).await;
                    continue;
                }
                let text = format!("{me}:{}", seen.sent);
                let frame = json!({"type": "chat", "room": room, "text": text}).to_string();
                sink.send(Message::Text(frame.into())).await.expect("send");
                seen.sent += 1;
            }
            frame = tokio::time::timeout(PATIENCE, stream.next()) => {
                let frame = frame.expect("frames keep coming");
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => panic!("client {me} was disconnected: {other:?}"),
                };
                let frame: Value = serde_json::from_str(&text).expect("JSON");
                match frame["type"].as_str() {
                    Some("message" | "notification") if frame["room"] == room => {
                        let text = frame["text"].as_str().unwrap_or_default().to_owned();
                        if frame["sender_id"] == me {
                            seen.echoes += 1;
                        }
                        marker_seen |= text == marker;
                        seen.frames.push((frame["seq"].as_u64().expect("seq"), text));
                    }
                    Some("error") => {
                        assert_eq!(frame["code"], "unavailable", "{frame}");
                        seen.refused += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    // The socket stays open: the caller checks nobody was disconnected.
    (seen, (sink, stream))
}

/// Five clients chat in `room`; its actor panics in the middle; a sixth client, away during the
/// crash, resumes afterwards.
async fn chat_through_a_crash(room: &'static str) {
    const MARKER: &str = "marker";
    let mut config = ServerConfig::ephemeral();
    config.rate_limit_per_sec = 0;
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let http = reqwest::Client::new();

    let join = |room: &str| json!({"type": "join", "room": room});
    let mut clients = Vec::new();
    for _ in 0..=CHATTERS {
        let mut client = Client::connect(addr).await;
        if room != "lobby" {
            client.send_json(join(room)).await;
            client.next_of_type("joined").await;
        }
        clients.push(client);
    }
    let mut poster = clients.pop().expect("a poster");

    // The client that will be away during the crash: it has seen seq `last_seen`.
    let (mut away, _) = Client::connect_with(addr, "").await;
    let mut joined = away.next_of_type("joined").await;
    if room != "lobby" {
        away.send_json(join(room)).await;
        joined = away.next_of_type("joined").await;
    }
    assert_eq!(joined["room"], room);
    let epoch = joined["epoch"]
        .as_str()
        .expect("joined has an epoch")
        .to_owned();
    away.send_json(json!({"type": "chat", "room": room, "text": "before"}))
        .await;
    let last_seen = away.next_numbered().await["seq"].as_u64().expect("seq");
    drop(away); // abruptly
    wait_for_counts(addr, CHATTERS as u64 + 1).await;

    let stop = CancellationToken::new();
    let (stopped, mut all_stopped) = mpsc::channel(CHATTERS);
    let chatters: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(chatter(client, room, stop.clone(), stopped.clone(), MARKER)))
        .collect();

    let before = wait_for_room(addr, room, |view| {
        view["last_seq"].as_u64() >= Some(last_seen + 20)
    })
    .await;
    assert_eq!(before["restarts"], 0);
    let old_actor = before["actor_id"].clone();
    panic_room(addr, room).await;
    let after = wait_for_room(addr, room, |view| {
        view["restarts"] == 1 && view["status"] == "running" && view["actor_id"] != old_actor
    })
    .await;
    assert_eq!(
        after["epoch"],
        epoch.as_str(),
        "the same log, the same epoch"
    );
    let restarted_at = after["last_seq"].as_u64().expect("last_seq");
    // The chat goes on through the restarted room.
    wait_for_room(addr, room, |view| {
        view["last_seq"].as_u64() >= Some(restarted_at + 20)
    })
    .await;
    stop.cancel();
    for _ in 0..CHATTERS {
        all_stopped.recv().await.expect("a chatter stopped");
    }

    // The next post works: a broadcast for the lobby (HTTP 200), a chat elsewhere.
    if room == "lobby" {
        let response = http
            .get(format!("http://{addr}/broadcast?message={MARKER}"))
            .send()
            .await
            .expect("broadcast");
        assert_eq!(response.status(), 200, "the next broadcast works");
    } else {
        poster
            .send_json(json!({"type": "chat", "room": room, "text": MARKER}))
            .await;
    }

    let mut by_seq: BTreeMap<u64, String> = BTreeMap::new();
    let mut still_open = Vec::new();
    for chatter in chatters {
        let (seen, socket) = tokio::time::timeout(PATIENCE * 3, chatter)
            .await
            .expect("the chatter finishes")
            .expect("the chatter did not fail");
        still_open.push(socket);
        let seqs: Vec<u64> = seen.frames.iter().map(|(seq, _)| *seq).collect();
        let first = seqs[0];
        assert_eq!(
            seqs,
            (first..first + seqs.len() as u64).collect::<Vec<u64>>(),
            "every client sees the numbering continue with no gap and no duplicate"
        );
        assert_eq!(
            seen.echoes + seen.refused,
            seen.sent,
            "each post was either stored (echoed) or refused (unavailable): {seen:?}"
        );
        for (seq, text) in seen.frames {
            let known = by_seq.entry(seq).or_insert_with(|| text.clone());
            assert_eq!(*known, text, "everyone agrees on seq {seq}");
        }
    }
    assert_eq!(
        health(addr).await["active_websockets"],
        CHATTERS as u64 + 1,
        "nobody was disconnected"
    );

    // The client that was away resumes across the crash and gets exactly what it missed.
    let marker_seq = by_seq
        .iter()
        .find(|(_, text)| text.as_str() == MARKER)
        .map(|(seq, _)| *seq)
        .expect("the marker was seen");
    let (mut back, _) =
        Client::connect_with(addr, &format!("since={room}:{epoch}:{last_seen}")).await;
    let rejoined = back.next_of_type("joined").await;
    let rejoined = if rejoined["room"] == room {
        rejoined
    } else {
        back.next_of_type("joined").await
    };
    assert_eq!(rejoined["room"], room);
    assert_eq!(rejoined["gap"], false, "{rejoined}");
    for seq in last_seen + 1..=marker_seq {
        let frame = back.next_numbered().await;
        assert_eq!(frame["room"], room);
        assert_eq!(frame["seq"], seq, "{frame}");
        assert_eq!(frame["text"], by_seq[&seq].as_str());
    }

    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|line| line == "trw_room_restarts_total 1"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lobby_panics_while_five_clients_chat_and_nobody_notices() {
    chat_through_a_crash("lobby").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_room_panics_and_heals_the_same_way() {
    chat_through_a_crash("dev").await;
}

#[tokio::test]
async fn a_room_that_keeps_failing_shuts_the_server_down_cleanly() {
    let mut config = ServerConfig::ephemeral();
    config.max_room_restarts = 2;
    config.room_restart_window = Duration::from_secs(3600);
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let failure = server.failure();
    let mut clients = vec![Client::connect(addr).await, Client::connect(addr).await];

    for restarts in 1..=2 {
        panic_room(addr, "lobby").await;
        wait_for_room(addr, "lobby", |view| {
            view["restarts"] == restarts && view["status"] == "running"
        })
        .await;
    }
    // Still healthy after two restarts.
    assert_eq!(
        reqwest::get(format!("http://{addr}/broadcast?message=ok"))
            .await
            .expect("broadcast")
            .status(),
        200
    );
    // The third failure is one too many.
    panic_room(addr, "lobby").await;
    let reason = tokio::time::timeout(PATIENCE, failure)
        .await
        .expect("the embedding program is told");
    assert!(
        reason.contains("#lobby") && reason.contains("restarts"),
        "{reason}"
    );
    for client in &mut clients {
        assert_eq!(
            client.expect_close().await,
            CloseCode::Away,
            "1001 to everyone"
        );
    }
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await;
    assert!(refused.is_err(), "no new connections while it goes down");
    let report = server.shutdown().await;
    assert_eq!(report.actors_left, 0);
}

#[tokio::test]
async fn a_connection_whose_start_timed_out_leaves_no_ghost() {
    let mut config = ServerConfig::ephemeral();
    config.actor_call_timeout = Duration::from_secs(1);
    config.test_hooks.start_connection_delay = Duration::from_secs(3);
    config.test_hooks.delayed_starts = 1;
    let server = start_server_with(config).await;
    let addr = server.local_addr();

    // The handler gives up after 1 s; the supervisor answers after 3 s.
    let (mut ghost, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?name=ghost"))
        .await
        .expect("the handshake itself succeeds");
    let close = loop {
        match tokio::time::timeout(PATIENCE, ghost.next())
            .await
            .expect("the server closes it")
        {
            Some(Ok(Message::Close(Some(close)))) => break close.code,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close, CloseCode::Error);

    // Once the supervisor has answered into the void, nothing is left of it.
    wait_for_counts(addr, 0).await;
    let (mut again, welcome) = Client::connect_with(addr, "name=ghost").await;
    assert_eq!(welcome["name"], "ghost", "the name is free");
    let joined = again.next_of_type("joined").await;
    assert_eq!(joined["member_count"], 1, "no ghost in the lobby: {joined}");
    let tree = actors(addr).await;
    assert_eq!(
        tree["connections"].as_array().map(Vec::len),
        Some(1),
        "{tree}"
    );
    assert_eq!(room_in(&tree, "lobby").expect("lobby")["members"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn debug_panic_also_reaches_a_connection_and_refuses_unknown_targets() {
    let server = start_server_with(ServerConfig::ephemeral()).await;
    let addr = server.local_addr();
    let mut victim = Client::connect(addr).await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(format!("http://{addr}/debug/panic"))
            .json(&body)
            .send()
    };
    assert_eq!(
        post(json!({"connection": victim.id}))
            .await
            .expect("POST")
            .status(),
        202
    );
    assert_eq!(victim.expect_close().await, CloseCode::Error);
    assert_eq!(
        post(json!({"connection": 999_999}))
            .await
            .expect("POST")
            .status(),
        404
    );
    assert_eq!(
        post(json!({"room": "nowhere"}))
            .await
            .expect("POST")
            .status(),
        404
    );
    assert_eq!(
        post(json!({"nothing": 1})).await.expect("POST").status(),
        422
    );
    server.shutdown().await;
}

/// The embedding program notices: the headless binary exits with status 1 and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_headless_binary_exits_non_zero_when_the_server_cannot_heal() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("an ephemeral port");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tauri-ractor-websocket"))
        .args(["--headless", "--port", &port.to_string()])
        .env("TRW_DATA_DIR", support::data_dir::fresh("healing"))
        .env("TRW_MAX_ROOM_RESTARTS", "1")
        .env("TRW_ROOM_RESTART_WINDOW_SECS", "3600")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the binary");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while reqwest::get(format!("http://{addr}/health")).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = Client::connect(addr).await;

    panic_room(addr, "lobby").await;
    wait_for_room(addr, "lobby", |view| {
        view["restarts"] == 1 && view["status"] == "running"
    })
    .await;
    panic_room(addr, "lobby").await;
    assert_eq!(client.expect_close().await, CloseCode::Away);

    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("the process exits by itself")
        .expect("wait for the process");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error:") && stderr.contains("#lobby"),
        "{stderr}"
    );
}
