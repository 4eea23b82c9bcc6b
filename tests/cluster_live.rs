//! Live fan-out across nodes (`--redis`): two in-process nodes on one real `redis-server`, real
//! WebSocket clients on each. A node subscribes to a room's channel while it has local members;
//! its members get every seq once, in order, whatever the channel loses: a jump in the numbering
//! is filled from the stream first, a lost subscriber connection is re-established and its gaps
//! filled, and a running room learns a new epoch (Redis lost its data) without anyone posting.
//!
//! Every test here fails with the subscription disabled (`RoomState::sync_subscription` never
//! subscribing): the other node's clients then get nothing until their own node posts.

mod support {
    pub mod cluster_node;
    pub mod exposition;
    pub mod redis_server;
    pub mod ws_client;
}

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cluster_node::{chat, join, next_in, next_of, node_config, WAIT};
use support::exposition::{parse, Format};
use support::redis_server::RedisServer;
use support::ws_client::{start_server_with, Client};
use tauri_ractor_websocket::config::ServerConfig;
use tauri_ractor_websocket::room_log::redis::live::PING_EVERY;
use tauri_ractor_websocket::server::RunningServer;

async fn node(redis: &RedisServer) -> RunningServer {
    start_server_with(ServerConfig {
        // The posting clients send as fast as the echoes come back.
        rate_limit_per_sec: 10_000,
        rate_limit_burst: 10_000,
        ..node_config(redis)
    })
    .await
}

/// Reads `room`'s numbered frames until seq `last`, asserting they are exactly `1..=last` once
/// each, in order; returns their texts by seq (index 0 is seq 1).
async fn read_through(client: &mut Client, room: &str, last: u64) -> Vec<String> {
    let mut texts = Vec::new();
    let mut expected = 1;
    while expected <= last {
        let (seq, text) = next_in(client, room).await;
        assert_eq!(
            seq, expected,
            "every seq once, in order (got {seq} after {texts:?})"
        );
        texts.push(text);
        expected += 1;
    }
    texts
}

/// Posts `text` as a chat and waits for the outcome: `Some(seq)` when it was acknowledged (its
/// echo), `None` when it was refused (`unavailable`).
async fn post(client: &mut Client, room: &str, text: &str) -> Option<u64> {
    chat(client, room, text).await;
    let outcome = async {
        loop {
            let frame = client.next_json().await;
            if frame["type"] == "message" && frame["room"] == room && frame["text"] == text {
                return frame["seq"].as_u64();
            }
            if frame["type"] == "error" {
                assert_eq!(frame["code"], "unavailable", "{frame}");
                return None;
            }
        }
    };
    tokio::time::timeout(WAIT, outcome)
        .await
        .unwrap_or_else(|_| panic!("no echo nor refusal of {text:?} within {WAIT:?}"))
}

/// A counter of `addr`'s `/metrics` (prometheus text).
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    parse(&text, Format::PrometheusText)
        .expect("valid exposition")
        .value(name, &[])
}

#[tokio::test]
async fn a_post_on_one_node_reaches_the_other_nodes_members_live_with_the_same_seq() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (mut on_a, joined_a) = join(node_a.local_addr(), "dev").await;
    let (mut on_b, joined_b) = join(node_b.local_addr(), "dev").await;
    assert_eq!(joined_a["epoch"], joined_b["epoch"], "one log, one epoch");

    // Node B's client never posts: it gets node A's posts live, numbered as on node A.
    for i in 1..=5 {
        assert_eq!(
            post(&mut on_a, "dev", &format!("from a {i}")).await,
            Some(i)
        );
    }
    let texts = read_through(&mut on_b, "dev", 5).await;
    assert_eq!(
        texts,
        (1..=5).map(|i| format!("from a {i}")).collect::<Vec<_>>()
    );

    // And back: node B's post reaches node A's client, after nothing else.
    assert_eq!(post(&mut on_b, "dev", "from b").await, Some(6));
    assert_eq!(next_in(&mut on_a, "dev").await, (6, "from b".into()));

    // Idle past two of the subscriber's pings: the connections stay up (no reconnect, no
    // error), and frames still flow.
    tokio::time::sleep(PING_EVERY * 2 + Duration::from_secs(1)).await;
    for addr in [node_a.local_addr(), node_b.local_addr()] {
        assert_eq!(metric(addr, "trw_redis_reconnects_total").await, 0.0);
        assert_eq!(metric(addr, "trw_redis_errors_total").await, 0.0);
    }
    assert_eq!(post(&mut on_a, "dev", "still live").await, Some(7));
    assert_eq!(next_in(&mut on_b, "dev").await, (7, "still live".into()));

    node_a.shutdown().await;
    node_b.shutdown().await;
}

async fn broadcast(addr: SocketAddr, text: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/broadcast"))
        .query(&[("message", text)])
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the node answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("receipt")
}

async fn notify(addr: SocketAddr, title: &str, body: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/notify"))
        .json(&json!({"title": title, "body": body, "level": "warning"}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the node answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("receipt")
}

/// The next `notification` of the lobby.
async fn next_notification(client: &mut Client) -> Value {
    next_of(client, "lobby", "notification").await
}

#[tokio::test]
async fn broadcast_and_notify_on_any_node_reach_every_client_of_every_node() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let mut clients = vec![
        Client::connect(node_a.local_addr()).await,
        Client::connect(node_a.local_addr()).await,
        Client::connect(node_b.local_addr()).await,
        Client::connect(node_b.local_addr()).await,
    ];

    let receipt = broadcast(node_a.local_addr(), "to everyone").await;
    let seq = receipt["seq"].as_u64().expect("seq");
    for client in &mut clients {
        let frame = next_notification(client).await;
        assert_eq!(
            (frame["source"].as_str(), frame["text"].as_str()),
            (Some("broadcast"), Some("to everyone")),
            "{frame}"
        );
        assert_eq!(frame["seq"], seq, "the same seq on both nodes");
    }

    let receipt = notify(node_b.local_addr(), "Deploy", "node b says hi").await;
    assert_eq!(receipt["seq"], seq + 1);
    for client in &mut clients {
        let frame = next_notification(client).await;
        assert_eq!(
            (
                frame["source"].as_str(),
                frame["title"].as_str(),
                frame["text"].as_str(),
                frame["level"].as_str()
            ),
            (
                Some("notify"),
                Some("Deploy"),
                Some("node b says hi"),
                Some("warning")
            ),
            "{frame}"
        );
        assert_eq!(frame["seq"], seq + 1);
    }

    node_a.shutdown().await;
    node_b.shutdown().await;
}

#[tokio::test]
async fn a_frame_lost_on_the_channel_is_filled_from_the_stream_before_anything_newer() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (mut poster, _) = join(node_a.local_addr(), "dev").await;
    let (mut on_b, _) = join(node_b.local_addr(), "dev").await;
    assert_eq!(post(&mut poster, "dev", "one").await, Some(1));
    assert_eq!(next_in(&mut on_b, "dev").await, (1, "one".into()));

    // Seq 2 is stored as the publishing script would store it, but its PUBLISH is lost (as
    // pub/sub may lose a message): only the stream has it.
    assert_eq!(redis.command(&["INCR", "trw:{dev}:seq"]), ":2");
    let lost = json!({"type": "message", "kind": "chat", "room": "dev", "seq": 2,
        "sender": "ghost", "sender_id": null, "text": "lost on the channel", "ts": 1});
    redis.command(&["XADD", "trw:{dev}:log", "2-0", "f", &lost.to_string()]);
    assert_eq!(redis.command(&["XLEN", "trw:{dev}:log"]), ":2");
    let fills_before = metric(node_b.local_addr(), "trw_gap_fills_total").await;

    // Seq 3 comes on the channel: node B sees the jump and fills seq 2 from the stream first.
    assert_eq!(post(&mut poster, "dev", "three").await, Some(3));
    assert_eq!(
        next_in(&mut on_b, "dev").await,
        (2, "lost on the channel".into())
    );
    assert_eq!(next_in(&mut on_b, "dev").await, (3, "three".into()));
    // Node A's own client got it too (its append's reply showed the same jump).
    assert_eq!(post(&mut poster, "dev", "four").await, Some(4));
    assert_eq!(next_in(&mut on_b, "dev").await, (4, "four".into()));

    let addr_b = node_b.local_addr();
    assert!(metric(addr_b, "trw_gap_fills_total").await > fills_before);
    assert!(metric(addr_b, "trw_gap_filled_frames_total").await >= 1.0);

    node_a.shutdown().await;
    node_b.shutdown().await;
}

#[tokio::test]
async fn a_killed_subscriber_connection_reconnects_and_its_gaps_are_filled() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (mut poster, _) = join(node_a.local_addr(), "dev").await;
    let (mut on_b, _) = join(node_b.local_addr(), "dev").await;
    let (mut also_on_a, _) = join(node_a.local_addr(), "dev").await;

    // Node A posts a stream of 60; Redis drops every pub/sub connection twice in the middle of
    // it (both nodes' subscribers), while frames are being published.
    const POSTS: u64 = 60;
    let mut kills = 0;
    for i in 1..=POSTS {
        assert_eq!(post(&mut poster, "dev", &format!("p{i}")).await, Some(i));
        if i == 20 || i == 40 {
            let killed = redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
            assert!(killed.starts_with(':'), "{killed}");
            kills += killed.trim_start_matches(':').parse::<u32>().unwrap_or(0);
        }
    }
    assert!(kills >= 2, "the subscribers were connected and killed");

    // Every client of both nodes gets every seq exactly once, in order.
    let expected: Vec<String> = (1..=POSTS).map(|i| format!("p{i}")).collect();
    assert_eq!(read_through(&mut on_b, "dev", POSTS).await, expected);
    assert_eq!(read_through(&mut also_on_a, "dev", POSTS).await, expected);

    // Node B noticed and reconnected.
    let addr_b = node_b.local_addr();
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(addr_b, "trw_redis_reconnects_total").await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "node B did not count its reconnect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And it is live again: a post after the reconnects reaches it without anything else.
    assert_eq!(post(&mut poster, "dev", "after").await, Some(POSTS + 1));
    assert_eq!(next_in(&mut on_b, "dev").await, (POSTS + 1, "after".into()));

    node_a.shutdown().await;
    node_b.shutdown().await;
}

#[tokio::test]
async fn redis_killed_mid_stream_and_restarted_with_its_data_loses_nothing_acknowledged() {
    let mut redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (mut poster, joined) = join(node_a.local_addr(), "dev").await;
    let epoch = joined["epoch"].clone();
    let (mut on_a, _) = join(node_a.local_addr(), "dev").await;
    let (mut on_b, _) = join(node_b.local_addr(), "dev").await;

    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    for i in 1..=10 {
        let text = format!("before {i}");
        let seq = post(&mut poster, "dev", &text).await.expect("Redis is up");
        acknowledged.push((seq, text));
    }

    // Redis dies (its data saved, as a Redis with persistence): posts are refused.
    redis.kill_keeping_data();
    let mut refused_during_outage = Vec::new();
    for i in 1..=3 {
        let text = format!("during {i}");
        assert_eq!(post(&mut poster, "dev", &text).await, None, "refused");
        refused_during_outage.push(text);
    }
    assert!(metric(node_a.local_addr(), "trw_redis_errors_total").await >= 1.0);

    // Redis is back with the data: posts are acknowledged again, numbering goes on.
    redis.start_again();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    while acknowledged.len() < 20 {
        i += 1;
        let text = format!("after {i}");
        match post(&mut poster, "dev", &text).await {
            Some(seq) => acknowledged.push((seq, text)),
            None => {
                assert!(Instant::now() < deadline, "posts still refused");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let last = acknowledged.last().expect("posts").0;
    assert_eq!(last, 20, "no seq used up by the refused posts");

    // Both nodes' clients: every seq once, in order; every acknowledged post; none of the posts
    // refused while Redis was down.
    for client in [&mut on_a, &mut on_b] {
        let texts = read_through(client, "dev", last).await;
        for (seq, text) in &acknowledged {
            assert_eq!(&texts[(*seq - 1) as usize], text);
        }
        for text in &refused_during_outage {
            assert!(!texts.contains(text), "{text} was refused, yet delivered");
        }
    }
    // The epoch stayed: nothing was lost, so nobody was told of a gap.
    let resumed = Client::connect_with(
        node_b.local_addr(),
        &format!("since=dev:{}:0", epoch.as_str().expect("epoch")),
    )
    .await;
    let mut resumed = resumed.0;
    let joined = next_of(&mut resumed, "dev", "joined").await;
    assert_eq!(joined["gap"], false, "{joined}");
    assert_eq!(joined["last_seq"], last);

    node_a.shutdown().await;
    node_b.shutdown().await;
}

#[tokio::test]
async fn after_redis_lost_its_data_running_rooms_resync_their_clients_without_a_post() {
    let mut redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (mut on_a, joined) = join(node_a.local_addr(), "dev").await;
    let old_epoch = joined["epoch"].as_str().expect("epoch").to_owned();
    let (mut on_b, _) = join(node_b.local_addr(), "dev").await;
    for i in 1..=3 {
        assert_eq!(post(&mut on_a, "dev", &format!("old {i}")).await, Some(i));
    }
    read_through(&mut on_b, "dev", 3).await;

    // Redis restarts without persistence: every key is gone. Nobody posts.
    redis.restart();
    let mut epochs = Vec::new();
    for client in [&mut on_a, &mut on_b] {
        // Their rooms re-sync when the live feed reconnects: a new `joined`, with the gap.
        let joined = next_of(client, "dev", "joined").await;
        assert_eq!(joined["gap"], true, "{joined}");
        assert_ne!(joined["epoch"], old_epoch.as_str(), "{joined}");
        assert_eq!(joined["last_seq"], 0, "{joined}");
        assert_eq!(joined["resumed_from"], 3, "{joined}");
        epochs.push(joined["epoch"].clone());
    }
    assert_eq!(epochs[0], epochs[1], "both nodes found the same new epoch");

    // The new numbering is live across nodes.
    assert_eq!(post(&mut on_b, "dev", "new 1").await, Some(1));
    assert_eq!(next_in(&mut on_a, "dev").await, (1, "new 1".into()));

    let resyncs = metric(node_a.local_addr(), "trw_epoch_resyncs_total").await;
    assert!(resyncs >= 1.0, "{resyncs}");

    node_a.shutdown().await;
    node_b.shutdown().await;
}

#[tokio::test]
async fn a_room_that_stopped_listening_serves_a_new_joiner_the_logs_latest_frames() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (mut poster, _) = join(node_a.local_addr(), "dev").await;
    let (mut on_b, _) = join(node_b.local_addr(), "dev").await;
    assert_eq!(post(&mut poster, "dev", "first").await, Some(1));
    assert_eq!(next_in(&mut on_b, "dev").await, (1, "first".into()));

    // Node B's last member of #dev leaves: its room stays, but stops listening.
    on_b.send_json(json!({"type": "leave", "room": "dev"}))
        .await;
    next_of(&mut on_b, "dev", "left").await;
    for i in 2..=80 {
        assert_eq!(post(&mut poster, "dev", &format!("p{i}")).await, Some(i));
    }

    // A plain join on node B: the last 50 frames of the log as it is now, no gap.
    on_b.send_json(json!({"type": "join", "room": "dev"})).await;
    let joined = next_of(&mut on_b, "dev", "joined").await;
    assert_eq!(joined["last_seq"], 80, "{joined}");
    assert_eq!(joined["gap"], false, "{joined}");
    for seq in 31..=80 {
        assert_eq!(next_in(&mut on_b, "dev").await, (seq, format!("p{seq}")));
    }
    // And it is live.
    assert_eq!(post(&mut poster, "dev", "live").await, Some(81));
    assert_eq!(next_in(&mut on_b, "dev").await, (81, "live".into()));

    node_a.shutdown().await;
    node_b.shutdown().await;
}
