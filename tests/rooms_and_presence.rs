//! Beyond the demo: names, presence, rooms, direct messages, notifications, the actor inspector
//! and metrics, over real sockets.

mod support {
    pub mod ws_client;
}

use serde_json::{json, Value};
use support::ws_client::{start_server, wait_for_counts, Client};

fn member_names(frame: &Value) -> Vec<String> {
    frame["members"]
        .as_array()
        .expect("members is a list")
        .iter()
        .map(|member| member["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The rooms `/api/actors` lists, by name.
fn room_names(tree: &Value) -> Vec<&str> {
    tree["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|room| room["name"].as_str())
        .collect()
}

/// Reads `presence` frames for `room` until one lists exactly `names`.
async fn wait_for_presence(client: &mut Client, room: &str, names: &[&str]) {
    loop {
        let frame = client.next_of_type("presence").await;
        if frame["room"] == room && member_names(&frame) == names {
            return;
        }
    }
}

#[tokio::test]
async fn names_can_be_changed_and_are_unique_ignoring_case() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut alice = Client::connect(addr).await;
    let mut bob = Client::connect(addr).await;
    assert!(
        alice.name.starts_with("guest-"),
        "default name: {}",
        alice.name
    );

    alice
        .send_json(json!({"type": "rename", "name": "  Alice "}))
        .await;
    let renamed = alice.next_of_type("renamed").await;
    assert_eq!(renamed["name"], "Alice");
    assert_eq!(renamed["old_name"], alice.name.as_str());
    let notice = loop {
        let notice = bob.next_of_type("notice").await;
        if notice["event"] == "renamed" {
            break notice;
        }
    };
    assert_eq!(notice["name"], "Alice");
    assert_eq!(notice["id"], alice.id);
    let bob_name = bob.name.clone();
    wait_for_presence(&mut bob, "lobby", &["Alice", &bob_name]).await;

    bob.send_json(json!({"type": "rename", "name": "alice"}))
        .await;
    assert_eq!(bob.next_of_type("error").await["code"], "name_taken");
    bob.send_json(json!({"type": "rename", "name": "x".repeat(33)}))
        .await;
    assert_eq!(bob.next_of_type("error").await["code"], "invalid_name");
    bob.send_json(json!({"type": "rename", "name": "bell\u{7}"}))
        .await;
    assert_eq!(bob.next_of_type("error").await["code"], "invalid_name");

    // Chat carries the new name.
    alice.send_chat("hi").await;
    assert_eq!(bob.next_message().await["sender"], "Alice");

    // A reconnecting client asks for its name back; a taken one falls back to guest-N.
    let (_carol, welcome) = Client::connect_with(addr, "name=carol").await;
    assert_eq!(welcome["name"], "carol");
    let (mut mallory, welcome) = Client::connect_with(addr, "name=ALICE").await;
    assert!(welcome["name"]
        .as_str()
        .is_some_and(|n| n.starts_with("guest-")));
    assert_eq!(mallory.next_of_type("error").await["code"], "name_taken");

    // A name is free again once its owner leaves.
    alice.close().await;
    bob.send_json(json!({"type": "rename", "name": "alice"}))
        .await;
    assert_eq!(bob.next_of_type("renamed").await["name"], "alice");
    server.shutdown().await;
}

#[tokio::test]
async fn presence_follows_joins_and_abrupt_disconnects() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut watcher = Client::connect(addr).await;
    let a = Client::connect(addr).await;
    let b = Client::connect(addr).await;
    let (wn, an, bn) = (watcher.name.clone(), a.name.clone(), b.name.clone());
    wait_for_presence(&mut watcher, "lobby", &[&wn, &an, &bn]).await;

    // One closes properly, one just vanishes (TCP dropped, no close frame).
    a.close().await;
    drop(b);
    wait_for_presence(&mut watcher, "lobby", &[&wn]).await;
    wait_for_counts(addr, 1).await;
    server.shutdown().await;
}

#[tokio::test]
async fn rooms_keep_their_messages_to_themselves() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut dev_user = Client::connect(addr).await;
    let mut lobby_user = Client::connect(addr).await;

    let joined = dev_user.join("Dev").await;
    assert_eq!(joined["room"], "dev", "room names are lowercased");
    assert_eq!(member_names(&joined), vec![dev_user.name.clone()]);

    dev_user
        .send_json(json!({"type": "chat", "room": "dev", "text": "dev only"}))
        .await;
    lobby_user
        .send_json(json!({"type": "chat", "room": "dev", "text": "sneaky"}))
        .await;
    assert_eq!(
        lobby_user.next_of_type("error").await["code"],
        "not_in_room"
    );
    lobby_user.send_chat("lobby for all").await;

    let in_dev = dev_user.next_message().await;
    assert_eq!(
        (in_dev["room"].as_str(), in_dev["text"].as_str()),
        (Some("dev"), Some("dev only"))
    );
    assert_eq!(in_dev["seq"], 1, "each room numbers its own messages");
    let in_lobby = dev_user.next_message().await;
    assert_eq!(in_lobby["text"], "lobby for all");
    // The lobby user never saw the dev message.
    let first = lobby_user.next_message().await;
    assert_eq!(first["text"], "lobby for all");

    dev_user
        .send_json(json!({"type": "leave", "room": "lobby"}))
        .await;
    assert_eq!(
        dev_user.next_of_type("error").await["code"],
        "cannot_leave_lobby"
    );
    dev_user
        .send_json(json!({"type": "leave", "room": "dev"}))
        .await;
    assert_eq!(dev_user.next_of_type("left").await["room"], "dev");
    dev_user
        .send_json(json!({"type": "chat", "room": "dev", "text": "gone"}))
        .await;
    assert_eq!(dev_user.next_of_type("error").await["code"], "not_in_room");
    dev_user
        .send_json(json!({"type": "join", "room": "no spaces"}))
        .await;
    assert_eq!(dev_user.next_of_type("error").await["code"], "invalid_room");
    server.shutdown().await;
}

#[tokio::test]
async fn direct_messages_reach_one_connection_and_unknown_ids_get_an_error() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut alice = Client::connect(addr).await;
    let mut bob = Client::connect(addr).await;
    let mut carol = Client::connect(addr).await;

    alice
        .send_json(json!({"type": "direct", "to": bob.id, "text": "psst"}))
        .await;
    let received = bob.next_of_type("direct").await;
    assert_eq!(received["text"], "psst");
    assert_eq!(received["from_id"], alice.id);
    assert_eq!(received["to_id"], bob.id);
    let echo = alice.next_of_type("direct").await;
    assert_eq!(echo["to"], bob.name.as_str());

    alice
        .send_json(json!({"type": "direct", "to": 999_999, "text": "anyone?"}))
        .await;
    let error = alice.next_of_type("error").await;
    assert_eq!(error["code"], "unknown_recipient");
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains("999999")));

    // Carol saw none of it: her next direct/error frame would be the marker below.
    bob.send_json(json!({"type": "direct", "to": carol.id, "text": "marker"}))
        .await;
    assert_eq!(carol.next_of_type("direct").await["text"], "marker");
    server.shutdown().await;
}

#[tokio::test]
async fn notify_reaches_everyone_as_a_notification() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut clients = vec![Client::connect(addr).await, Client::connect(addr).await];
    let http = reqwest::Client::new();
    let receipt: Value = http
        .post(format!("http://{addr}/api/notify"))
        .json(&json!({"title": "Build", "body": "main is green", "level": "success"}))
        .send()
        .await
        .expect("POST /api/notify")
        .json()
        .await
        .expect("receipt");
    assert_eq!(receipt["delivered_to"], 2);
    for client in &mut clients {
        let frame = client.next_of_type("notification").await;
        assert_eq!(frame["source"], "notify");
        assert_eq!(frame["title"], "Build");
        assert_eq!(frame["text"], "main is green");
        assert_eq!(frame["level"], "success");
    }
    let bad_level = http
        .post(format!("http://{addr}/api/notify"))
        .json(&json!({"title": "x", "body": "y", "level": "shouting"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(bad_level.status(), 422);
    let no_title = http
        .post(format!("http://{addr}/api/notify"))
        .json(&json!({"title": " ", "body": "y"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(no_title.status(), 400);
    let foreign = http
        .post(format!("http://{addr}/api/notify"))
        .header("origin", "https://evil.example")
        .json(&json!({"title": "x", "body": "y"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(foreign.status(), 403);
    server.shutdown().await;
}

#[tokio::test]
async fn the_inspector_lists_the_live_actor_tree_and_metrics_count() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut alice = Client::connect(addr).await;
    alice
        .send_json(json!({"type": "rename", "name": "alice"}))
        .await;
    alice.next_of_type("renamed").await;
    alice.join("dev").await;
    let bob = Client::connect(addr).await;
    let bob_id = bob.id;
    bob.close().await;
    wait_for_counts(addr, 1).await;
    alice.send_chat("counted").await;
    alice.next_message().await;

    let tree: Value = reqwest::get(format!("http://{addr}/api/actors"))
        .await
        .expect("GET /api/actors")
        .json()
        .await
        .expect("JSON");
    assert_eq!(tree["supervisor"]["status"], "running");
    let connections = tree["connections"].as_array().expect("connections");
    assert_eq!(connections.len(), 1, "{tree}");
    assert_eq!(connections[0]["name"], "alice");
    assert_eq!(connections[0]["rooms"], json!(["dev", "lobby"]));
    assert!(connections[0]["messages_in"].as_u64() >= Some(3));
    assert!(connections[0]["messages_out"].as_u64() >= Some(4));
    let rooms = room_names(&tree);
    assert_eq!(rooms, vec!["dev", "lobby"]);
    let events = tree["events"].as_array().expect("events");
    let bob_stopped = events.iter().any(|event| {
        event["event"] == "stopped"
            && event["kind"] == "connection"
            && event["label"] == format!("guest-{bob_id}")
    });
    assert!(bob_stopped, "bob's end is in the lifecycle log: {events:?}");

    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "trw_websockets 1",
        "trw_connection_actors 1",
        "trw_rooms 2",
        "trw_connections_opened_total 2",
        "trw_chat_messages_total 1",
        "trw_disconnects_total{reason=\"client_closed\"} 1",
        "trw_queue_overflows_total 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in:\n{metrics}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn large_rooms_get_presence_summaries_instead_of_a_frame_per_join() {
    // With a limit of 2, the third and fourth joins are not announced one by one (that would
    // cost N² frames in a big lobby); a summary with the count follows within 2 s.
    let mut config = tauri_ractor_websocket::config::ServerConfig::ephemeral();
    config.presence_limit = 2;
    let server = support::ws_client::start_server_with(config).await;
    let addr = server.local_addr();
    let mut first = Client::connect(addr).await;
    let _second = Client::connect(addr).await;
    let _third = Client::connect(addr).await;
    let (mut fourth, _) = Client::connect_with(addr, "").await;
    let joined = fourth.next_of_type("joined").await;
    assert_eq!(joined["member_count"], 4);
    assert_eq!(
        joined["members"].as_array().map(Vec::len),
        Some(2),
        "the list is capped"
    );

    // The first client sees its own join and the second one announced, then only the summary.
    let mut notices = 0;
    let summary = loop {
        let frame = first.next_json().await;
        match frame["type"].as_str() {
            Some("notice") => notices += 1,
            Some("presence") if frame["member_count"] == 4 => break frame,
            _ => {}
        }
    };
    assert_eq!(notices, 2, "only the joins within the limit were announced");
    assert_eq!(summary["members"].as_array().map(Vec::len), Some(2));
    server.shutdown().await;
}

#[tokio::test]
async fn the_number_of_rooms_is_capped_and_empty_rooms_make_way() {
    // Clients create rooms by naming them: without a cap, one client could create rooms (and
    // their histories) forever. With a cap of 2 (the lobby and one more):
    let mut config = tauri_ractor_websocket::config::ServerConfig::ephemeral();
    config.max_rooms = 2;
    let server = support::ws_client::start_server_with(config).await;
    let addr = server.local_addr();
    let mut alice = Client::connect(addr).await;
    let mut bob = Client::connect(addr).await;

    assert_eq!(alice.join("a").await["room"], "a");
    // Room "a" is in use: no space for "b".
    bob.send_json(json!({"type": "join", "room": "b"})).await;
    let refused = bob.next_of_type("error").await;
    assert_eq!(refused["code"], "too_many_rooms");

    // Once "a" is empty it makes way for "b".
    alice.send_json(json!({"type": "leave", "room": "a"})).await;
    alice.next_of_type("left").await;
    assert_eq!(bob.join("b").await["room"], "b");

    let tree: Value = reqwest::get(format!("http://{addr}/api/actors"))
        .await
        .expect("GET /api/actors")
        .json()
        .await
        .expect("JSON");
    let rooms = room_names(&tree);
    assert_eq!(rooms, vec!["b", "lobby"]);
    server.shutdown().await;
}

/// `left` is sent by the room, after every frame the room queued for the leaver: a frame of the
/// room never arrives after it (the page would otherwise bring the room back).
#[tokio::test]
async fn left_comes_after_every_frame_of_the_room_and_nothing_follows_it() {
    let mut config = tauri_ractor_websocket::config::ServerConfig::ephemeral();
    config.rate_limit_per_sec = 0;
    let server = support::ws_client::start_server_with(config).await;
    let addr = server.local_addr();
    let mut leaver = Client::connect(addr).await;
    let mut talker = Client::connect(addr).await;
    for client in [&mut leaver, &mut talker] {
        client.join("dev").await;
    }
    // The talker keeps the room busy while the leaver leaves.
    let talking = tokio::spawn(async move {
        for i in 0..400 {
            talker
                .send_json(json!({"type": "chat", "room": "dev", "text": format!("m{i}")}))
                .await;
        }
        talker
    });
    // Leave in the middle of the stream.
    for _ in 0..10 {
        assert_eq!(leaver.next_message().await["room"], "dev");
    }
    leaver
        .send_json(json!({"type": "leave", "room": "dev"}))
        .await;
    let mut last_seq = 10;
    loop {
        let frame = leaver.next_json().await;
        match frame["type"].as_str() {
            Some("left") => break,
            Some("message") => {
                assert_eq!(frame["seq"], last_seq + 1, "in order, no gap");
                last_seq += 1;
            }
            _ => {}
        }
    }
    // Everything after `left`, up to an echo of our own in the lobby, is not from #dev.
    leaver.send_chat("marker").await;
    loop {
        let frame = leaver.next_json().await;
        assert_ne!(frame["room"], "dev", "a frame of #dev after left: {frame}");
        if frame["type"] == "message" && frame["text"] == "marker" {
            break;
        }
    }
    let _talker = talking.await.expect("the talker");
    server.shutdown().await;
}
