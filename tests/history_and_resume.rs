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
    talker.join("dev").await;

    let mut listener = Client::connect(addr).await;
    listener.join("dev").await;
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

/// A resume point no server ever issued, at the very top of the number range: no arithmetic on
/// it may panic. The resuming client is told it has a gap, and the server carries on.
#[tokio::test]
async fn a_crafted_since_gets_a_gap_and_the_server_carries_on() {
    let server = start_server().await;
    let addr = server.local_addr();
    let http = reqwest::Client::new();
    http.get(format!("http://{addr}/broadcast?message=one"))
        .send()
        .await
        .expect("broadcast");

    let mut crafted_clients = Vec::new();
    for since in [
        "lobby:18446744073709551615",
        "lobby:abc:18446744073709551615",
        "lobby:18446744073709551614",
    ] {
        let (mut crafted, _) = Client::connect_with(addr, &format!("since={since}")).await;
        let joined = crafted.next_of_type("joined").await;
        assert_eq!(joined["gap"], true, "{since}: {joined}");
        assert_eq!(
            crafted.next_numbered().await["text"],
            "one",
            "the kept history"
        );
        crafted_clients.push(crafted);
    }
    // A JSON join with the same number, for another room.
    let mut client = Client::connect(addr).await;
    client
        .send_json(json!({"type": "join", "room": "dev", "since": u64::MAX}))
        .await;
    assert_eq!(client.next_of_type("joined").await["gap"], true);

    // The server carries on: broadcasts and new connections work.
    let response = http
        .get(format!("http://{addr}/broadcast?message=two"))
        .send()
        .await
        .expect("broadcast");
    assert_eq!(response.status(), 200);
    let mut newcomer = Client::connect(addr).await;
    assert_eq!(newcomer.next_numbered().await["text"], "one");
    assert_eq!(newcomer.next_numbered().await["text"], "two");
    wait_for_counts(addr, 5).await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_epoch_mismatch_is_a_gap_and_the_legacy_form_still_resumes() {
    let server = start_server().await;
    let addr = server.local_addr();
    let http = reqwest::Client::new();
    let (mut first, _) = Client::connect_with(addr, "").await;
    let joined = first.next_of_type("joined").await;
    let epoch = joined["epoch"]
        .as_str()
        .expect("joined has an epoch")
        .to_owned();
    assert!(
        !epoch.is_empty()
            && epoch.len() <= 64
            && epoch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{epoch}"
    );
    for i in 1..=3 {
        http.get(format!("http://{addr}/broadcast?message=n{i}"))
            .send()
            .await
            .expect("broadcast");
    }

    let resume = |query: String| async move {
        let (mut client, _) = Client::connect_with(addr, &query).await;
        let joined = client.next_of_type("joined").await;
        let first = client.next_numbered().await;
        (joined, first)
    };
    // The same epoch: exact.
    let (joined, next) = resume(format!("since=lobby:{epoch}:1")).await;
    assert_eq!(
        (joined["gap"].as_bool(), next["seq"].as_u64()),
        (Some(false), Some(2))
    );
    assert_eq!(joined["epoch"], epoch.as_str());
    assert_eq!(joined["resumed_from"], 1);
    // The v1 form has no epoch: exact too.
    let (joined, next) = resume("since=lobby:1".to_owned()).await;
    assert_eq!(
        (joined["gap"].as_bool(), next["seq"].as_u64()),
        (Some(false), Some(2))
    );
    // Another epoch: the numbers are not this log's, so a gap and the kept history.
    let (joined, next) = resume("since=lobby:someother-epoch_1:1".to_owned()).await;
    assert_eq!(
        (joined["gap"].as_bool(), next["seq"].as_u64()),
        (Some(true), Some(1))
    );

    // The same over a JSON join.
    first
        .send_json(json!({"type": "join", "room": "lobby", "since": 2, "epoch": epoch}))
        .await;
    let joined = first.next_of_type("joined").await;
    assert_eq!(joined["gap"], false);
    assert_eq!(first.next_numbered().await["seq"], 3);
    first
        .send_json(json!({"type": "join", "room": "lobby", "since": 2, "epoch": "other"}))
        .await;
    assert_eq!(first.next_of_type("joined").await["gap"], true);
    server.shutdown().await;
}

/// An evicted room's log is deleted with it: a room of that name made later is another log, with
/// another epoch, so a resume point from the old one is a gap, even where the numbers overlap.
#[tokio::test]
async fn a_resume_into_a_room_recreated_after_eviction_is_a_gap() {
    let mut config = ServerConfig::ephemeral();
    config.max_rooms = 3;
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let mut alice = Client::connect(addr).await;
    let mut bob = Client::connect(addr).await;
    let join = |room: &str| json!({"type": "join", "room": room});
    let leave = |room: &str| json!({"type": "leave", "room": room});

    alice.send_json(join("a")).await;
    let old_epoch = alice.next_of_type("joined").await["epoch"]
        .as_str()
        .expect("epoch")
        .to_owned();
    for i in 1..=3 {
        alice
            .send_json(json!({"type": "chat", "room": "a", "text": format!("old {i}")}))
            .await;
        alice.next_message().await;
    }
    alice.send_json(leave("a")).await;
    alice.next_of_type("left").await;
    // Rooms b and c take the two places: "a" (empty) is evicted for c.
    for room in ["b", "c"] {
        alice.send_json(join(room)).await;
        alice.next_of_type("joined").await;
        alice.send_json(leave(room)).await;
        alice.next_of_type("left").await;
    }
    // "a" again, from scratch, with three new messages: the numbers 1..3 exist again.
    bob.send_json(join("a")).await;
    let new_epoch = bob.next_of_type("joined").await["epoch"]
        .as_str()
        .expect("epoch")
        .to_owned();
    assert_ne!(new_epoch, old_epoch, "a new log, a new epoch");
    for i in 1..=3 {
        bob.send_json(json!({"type": "chat", "room": "a", "text": format!("new {i}")}))
            .await;
        bob.next_message().await;
    }

    let (mut back, _) = Client::connect_with(addr, &format!("since=a:{old_epoch}:1")).await;
    back.next_of_type("joined").await; // the lobby
    let joined = back.next_of_type("joined").await;
    assert_eq!(joined["room"], "a");
    assert_eq!(joined["gap"], true, "{joined}");
    assert_eq!(joined["epoch"], new_epoch.as_str());
    assert_eq!(
        back.next_message().await["text"],
        "new 1",
        "the kept history"
    );
    server.shutdown().await;
}

/// History is bounded in bytes too, per room and in total; over the total, the room holding the
/// most gives way.
#[tokio::test]
async fn the_history_byte_budget_holds_per_room_and_in_total() {
    let mut config = ServerConfig::ephemeral();
    config.rate_limit_per_sec = 0;
    config.room_history_bytes = 8 * 1024;
    config.history_bytes = 20 * 1024;
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let http = reqwest::Client::new();
    let text = "x".repeat(1000);
    for _ in 0..20 {
        http.get(format!("http://{addr}/broadcast"))
            .query(&[("message", &text)])
            .send()
            .await
            .expect("broadcast");
    }
    let lobby =
        support::ws_client::wait_for_room(addr, "lobby", |room| room["last_seq"] == 20).await;
    let kept = lobby["history"].as_u64().expect("history");
    assert!(lobby["history_bytes"].as_u64() <= Some(8 * 1024), "{lobby}");
    assert!(
        (6..=8).contains(&kept),
        "about 8 frames of ~1.1 KiB fit: {lobby}"
    );

    // Two more rooms fill up: the total stays within 20 KiB, taken from the largest rooms.
    let mut client = Client::connect(addr).await;
    for room in ["a", "b"] {
        client.join(room).await;
        for _ in 0..10 {
            client
                .send_json(json!({"type": "chat", "room": room, "text": text}))
                .await;
            client.next_message().await;
        }
    }
    let tree = support::ws_client::actors(addr).await;
    let total: u64 = tree["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|room| room["history_bytes"].as_u64().expect("history_bytes"))
        .sum();
    assert!(total <= 20 * 1024, "{tree}");
    for room in tree["rooms"].as_array().expect("rooms") {
        assert!(
            room["history"].as_u64() >= Some(4),
            "no room loses everything: {tree}"
        );
    }

    // A newcomer gets what is kept, and only that.
    let (mut newcomer, _) = Client::connect_with(addr, "since=lobby:0").await;
    let joined = newcomer.next_of_type("joined").await;
    assert_eq!(joined["gap"], true, "the oldest frames are gone");
    let lobby = support::ws_client::room_in(&tree, "lobby").expect("lobby");
    let kept = lobby["history"].as_u64().expect("history");
    let first = newcomer.next_numbered().await;
    assert_eq!(first["seq"], 20 - kept + 1);
    server.shutdown().await;
}

/// The backlog of a resume can be far larger than a client's outbound queue. It is the
/// server's to pace, not a reason to close the client as a slow consumer.
#[tokio::test]
async fn a_resume_backlog_larger_than_the_outbox_does_not_get_the_client_closed() {
    let mut config = ServerConfig::ephemeral();
    config.outbound_queue_frames = 16;
    config.outbound_queue_bytes = 16 * 1024;
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let http = reqwest::Client::new();
    let padding = "p".repeat(1000);
    for i in 1..=200 {
        let response = http
            .get(format!("http://{addr}/broadcast"))
            .query(&[("message", format!("{i} {padding}"))])
            .send()
            .await
            .expect("broadcast");
        assert_eq!(response.status(), 200);
    }
    // 200 frames of ~1.1 KiB: 14 times the queue's byte limit, 12 times its frame limit.
    let (mut resuming, _) = Client::connect_with(addr, "since=lobby:0").await;
    let joined = resuming.next_of_type("joined").await;
    assert_eq!(joined["gap"], false);
    for seq in 1..=200 {
        let frame = resuming.next_numbered().await;
        assert_eq!(frame["seq"], seq);
    }
    // Still connected: it gets live frames too.
    http.get(format!("http://{addr}/broadcast?message=live"))
        .send()
        .await
        .expect("broadcast");
    assert_eq!(resuming.next_numbered().await["text"], "live");
    server.shutdown().await;
}
