//! History and loss-free resume: a client that drops and comes back with `?since=` gets exactly
//! what it missed, no gaps and no duplicates, or is told the gap is too old.

mod support {
    pub mod ws_client;
}

use serde_json::{json, Value};
use support::ws_client::{start_server, start_server_with, wait_for_counts, Client};
use tauri_ractor_websocket::config::ServerConfig;

fn seq(frame: &Value) -> u64 {
    frame["seq"].as_u64().expect("numbered frame")
}

#[tokio::test]
async fn a_client_that_misses_100_messages_gets_exactly_those_100_on_resume() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut talker = Client::connect(addr).await;
    talker
        .send_json(json!({"type": "join", "room": "dev"}))
        .await;
    talker.next_of_type("joined").await;

    let mut listener = Client::connect(addr).await;
    listener
        .send_json(json!({"type": "join", "room": "dev"}))
        .await;
    listener.next_of_type("joined").await;
    talker
        .send_json(json!({"type": "chat", "room": "dev", "text": "before"}))
        .await;
    let before = listener.next_message().await;
    let last_dev = seq(&before);
    let name = listener.name.clone();

    // The network blips: the listener is gone, abruptly.
    drop(listener);
    wait_for_counts(addr, 1).await;
    for i in 0..100 {
        talker
            .send_json(json!({"type": "chat", "room": "dev", "text": format!("missed {i}")}))
            .await;
        if i % 30 == 29 {
            // Stay under the rate limit (20/s, bursts of 40).
            tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
        }
    }
    // Make sure the room has them all before resuming.
    for _ in 0..100 {
        talker.next_message().await;
    }
    let broadcast_while_away = reqwest::get(format!("http://{addr}/broadcast?message=while-away"))
        .await
        .expect("broadcast");
    assert_eq!(broadcast_while_away.status(), 200);

    let (mut back, welcome) =
        Client::connect_with(addr, &format!("name={name}&since=dev:{last_dev},lobby:0")).await;
    assert_eq!(welcome["name"], name.as_str(), "the name comes back too");

    // Lobby first (joined at start), then dev (rejoined right after).
    let lobby = back.next_of_type("joined").await;
    assert_eq!(
        (lobby["room"].as_str(), lobby["gap"].as_bool()),
        (Some("lobby"), Some(false))
    );
    let note = back.next_numbered().await;
    assert_eq!(note["text"], "while-away");
    let dev = back.next_of_type("joined").await;
    assert_eq!(dev["room"], "dev");
    assert_eq!(dev["gap"], false);
    assert_eq!(dev["resumed_from"], last_dev);

    let mut received = Vec::new();
    for _ in 0..100 {
        received.push(back.next_numbered().await);
    }
    for (i, frame) in received.iter().enumerate() {
        assert_eq!(frame["room"], "dev");
        assert_eq!(seq(frame), last_dev + 1 + i as u64, "no gaps, in order");
        assert_eq!(frame["text"], format!("missed {i}"));
    }
    // No duplicates: the next numbered frame is a live one.
    talker
        .send_json(json!({"type": "chat", "room": "dev", "text": "live"}))
        .await;
    let live = back.next_numbered().await;
    assert_eq!(live["text"], "live");
    assert_eq!(seq(&live), last_dev + 101);
    server.shutdown().await;
}

#[tokio::test]
async fn history_is_bounded_and_a_too_old_resume_is_flagged() {
    let mut config = ServerConfig::ephemeral();
    config.history_limit = 10;
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let http = reqwest::Client::new();
    for i in 1..=25 {
        http.get(format!("http://{addr}/broadcast?message=n{i}"))
            .send()
            .await
            .expect("broadcast");
    }

    // A newcomer gets the kept history: the last 10.
    let (mut newcomer, _) = Client::connect_with(addr, "").await;
    let joined = newcomer.next_of_type("joined").await;
    assert_eq!(joined["last_seq"], 25);
    for i in 16..=25 {
        let frame = newcomer.next_numbered().await;
        assert_eq!(frame["text"], format!("n{i}"));
    }

    // A resume from seq 2 cannot be served exactly: it says so, and gets what is kept.
    let (mut stale, _) = Client::connect_with(addr, "since=lobby:2").await;
    let joined = stale.next_of_type("joined").await;
    assert_eq!(joined["gap"], true);
    assert_eq!(stale.next_numbered().await["text"], "n16");

    // A resume from seq 20 is exact.
    let (mut recent, _) = Client::connect_with(addr, "since=lobby:20").await;
    let joined = recent.next_of_type("joined").await;
    assert_eq!(joined["gap"], false);
    assert_eq!(recent.next_numbered().await["text"], "n21");

    // Numbers this server never issued mean it restarted: a gap, too.
    let (mut confused, _) = Client::connect_with(addr, "since=lobby:9999").await;
    assert_eq!(confused.next_of_type("joined").await["gap"], true);
    server.shutdown().await;
}
