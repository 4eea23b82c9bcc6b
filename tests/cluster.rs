//! Two server instances on one real `redis-server` (`--redis`): they share each room's numbering
//! and history, a client resumes on the other node with exactly what it missed, and while Redis
//! is down posts are refused (`unavailable`, HTTP 503) and nothing acknowledged is lost.
//!
//! Live fan-out across nodes (a node's clients get another node's posts without posting
//! themselves, gap fills, reconnects) is tested in `tests/cluster_live.rs`.

mod support {
    pub mod cluster_node;
    pub mod redis_server;
    pub mod ws_client;
}

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cluster_node::{chat, join, next_in, node};
use support::redis_server::RedisServer;
use support::ws_client::Client;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Posts `text` to `room` until it is stored, and returns the echo: while Redis is still coming
/// back each attempt is refused with `unavailable` (anything else fails the test), for at most a
/// minute.
async fn post_once_redis_is_back(client: &mut Client, room: &str, text: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        chat(client, room, text).await;
        let frame = client.next_json().await;
        if frame["type"] == "message" {
            return frame;
        }
        assert_eq!(frame["code"], "unavailable", "{frame}");
        assert!(
            Instant::now() < deadline,
            "posts still refused after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_nodes_number_one_room_together_and_a_client_resumes_on_the_other_node() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (mut on_a, joined_a) = join(node_a.local_addr(), "dev").await;
    let (mut on_b, joined_b) = join(node_b.local_addr(), "dev").await;
    assert_eq!(joined_a["epoch"], joined_b["epoch"], "one log, one epoch");
    let epoch = joined_a["epoch"].as_str().expect("epoch").to_owned();

    chat(&mut on_a, "dev", "one").await;
    assert_eq!(next_in(&mut on_a, "dev").await, (1, "one".into()));
    chat(&mut on_b, "dev", "two").await;
    // Node B has seq 1 (live, or filled from Redis before its own frame): the same seq on both
    // nodes.
    assert_eq!(next_in(&mut on_b, "dev").await, (1, "one".into()));
    assert_eq!(next_in(&mut on_b, "dev").await, (2, "two".into()));
    chat(&mut on_a, "dev", "three").await;
    assert_eq!(next_in(&mut on_a, "dev").await, (2, "two".into()));
    assert_eq!(next_in(&mut on_a, "dev").await, (3, "three".into()));

    // The client of node A drops; node B's client goes on talking.
    drop(on_a);
    for i in 0..5 {
        chat(&mut on_b, "dev", &format!("missed {i}")).await;
    }
    assert_eq!(next_in(&mut on_b, "dev").await, (3, "three".into()));
    for i in 0..5 {
        assert_eq!(
            next_in(&mut on_b, "dev").await,
            (4 + i, format!("missed {i}"))
        );
    }

    // It comes back on node B, resuming after seq 3 of that epoch: exactly what it missed.
    let (mut back, _welcome) =
        Client::connect_with(node_b.local_addr(), &format!("since=dev:{epoch}:3")).await;
    let joined = back.next_of_type("joined").await;
    let joined = if joined["room"] == "dev" {
        joined
    } else {
        back.next_of_type("joined").await
    };
    assert_eq!(joined["room"], "dev");
    assert_eq!(joined["gap"], false, "{joined}");
    assert_eq!(joined["epoch"], epoch.as_str());
    assert_eq!(joined["last_seq"], 8);
    for i in 0..5 {
        assert_eq!(
            next_in(&mut back, "dev").await,
            (4 + i, format!("missed {i}"))
        );
    }

    node_a.shutdown().await;
    node_b.shutdown().await;
}

/// Posts `text` over HTTP to node `addr` (`/broadcast`), returning the status.
async fn broadcast(addr: SocketAddr, text: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("http://{addr}/broadcast"))
        .query(&[("message", text)])
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the node answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn while_redis_is_down_posts_are_refused_and_nothing_acknowledged_is_lost() {
    let mut redis = RedisServer::start();
    let node_a = node(&redis).await;
    let addr = node_a.local_addr();
    let (mut talker, joined) = join(addr, "dev").await;
    let epoch = joined["epoch"].as_str().expect("epoch").to_owned();
    for text in ["kept 1", "kept 2"] {
        chat(&mut talker, "dev", text).await;
    }
    assert_eq!(next_in(&mut talker, "dev").await, (1, "kept 1".into()));
    assert_eq!(next_in(&mut talker, "dev").await, (2, "kept 2".into()));

    // Redis goes away (with its data saved, as a Redis with persistence would).
    redis.kill_keeping_data();
    chat(&mut talker, "dev", "refused").await;
    let refused = talker.next_of_type("error").await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    assert_eq!(broadcast(addr, "refused too").await, 503);

    // Redis is back: posts work again, numbering goes on after what was acknowledged.
    redis.start_again();
    let frame = post_once_redis_is_back(&mut talker, "dev", "after").await;
    assert_eq!(
        (frame["seq"].as_u64(), frame["text"].as_str()),
        (Some(3), Some("after"))
    );

    // A client that resumes from the start on a fresh node gets every acknowledged frame, and
    // none of the refused ones.
    let node_b = node(&redis).await;
    let (mut reader, _welcome) =
        Client::connect_with(node_b.local_addr(), &format!("since=dev:{epoch}:0")).await;
    let joined = loop {
        let joined = reader.next_of_type("joined").await;
        if joined["room"] == "dev" {
            break joined;
        }
    };
    assert_eq!(joined["gap"], false, "{joined}");
    assert_eq!(joined["last_seq"], 3);
    assert_eq!(next_in(&mut reader, "dev").await, (1, "kept 1".into()));
    assert_eq!(next_in(&mut reader, "dev").await, (2, "kept 2".into()));
    assert_eq!(next_in(&mut reader, "dev").await, (3, "after".into()));

    node_a.shutdown().await;
    node_b.shutdown().await;
}

/// Connects to `addr` resuming `dev` with `since`, and returns its `joined` for `dev` (and the
/// client, to read the backlog).
async fn resume_dev(addr: SocketAddr, since: &str) -> (Client, Value) {
    let (mut client, _welcome) = Client::connect_with(addr, &format!("since=dev:{since}")).await;
    loop {
        let joined = client.next_of_type("joined").await;
        if joined["room"] == "dev" {
            return (client, joined);
        }
    }
}

#[tokio::test]
async fn after_redis_lost_its_data_a_resuming_client_gets_a_gap_and_the_new_epoch() {
    let mut redis = RedisServer::start();
    let node_a = node(&redis).await;
    let (mut talker, joined) = join(node_a.local_addr(), "dev").await;
    let old_epoch = joined["epoch"].as_str().expect("epoch").to_owned();
    chat(&mut talker, "dev", "before").await;
    assert_eq!(next_in(&mut talker, "dev").await, (1, "before".into()));

    // While Redis has the data, another node resumes that epoch without a gap.
    let node_b = node(&redis).await;
    let (mut reader, joined_b) = resume_dev(node_b.local_addr(), &format!("{old_epoch}:0")).await;
    assert_eq!(joined_b["gap"], false, "{joined_b}");
    assert_eq!(next_in(&mut reader, "dev").await, (1, "before".into()));

    redis.restart(); // no persistence: everything is gone
                     // A node whose room starts now reads the new epoch from Redis, and the resume is a gap.
                     // (Rooms already running re-sync by themselves: tests/cluster_live.rs.)
    let node_c = node(&redis).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let joined = loop {
        let (_client, joined) = resume_dev(node_c.local_addr(), &format!("{old_epoch}:1")).await;
        if joined["epoch"] != old_epoch.as_str() || Instant::now() > deadline {
            break joined;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(joined["epoch"], old_epoch.as_str(), "{joined}");
    assert_eq!(joined["gap"], true, "{joined}");
    assert_eq!(joined["last_seq"], 0, "{joined}");

    node_a.shutdown().await;
    node_b.shutdown().await;
    node_c.shutdown().await;
}

/// How the server closed `client`: its close code, or `None` when the socket failed first (a
/// close racing the client's own reply to it).
async fn closed_with(client: &mut Client) -> Option<CloseCode> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), client.ws.next())
            .await
            .expect("the server closes in time");
        match frame {
            Some(Ok(Message::Close(close))) => return close.map(|close| close.code),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test]
async fn rooms_started_while_redis_is_down_do_not_stop_the_node() {
    let mut redis = RedisServer::start();
    let node_a = node(&redis).await;
    let addr = node_a.local_addr();
    let (mut talker, _joined) = join(addr, "dev").await;
    chat(&mut talker, "dev", "kept").await;
    assert_eq!(next_in(&mut talker, "dev").await, (1, "kept".into()));
    let mut joiners = Vec::new();
    for _ in 0..12 {
        joiners.push(Client::connect(addr).await);
    }
    redis.kill_keeping_data();

    // While Redis is down, each joiner asks for a new room. The rooms start (more of them than
    // the restart intensity allows failures, 5 in 10 s by default: had their starts failed, the
    // node would stop), but the joiner cannot get the room's backlog, so it is closed with 1013
    // (try again).
    for (i, joiner) in joiners.iter_mut().enumerate() {
        joiner
            .send_json(json!({"type": "join", "room": format!("new-{i}")}))
            .await;
        let code = closed_with(joiner).await;
        assert!(matches!(code, None | Some(CloseCode::Again)), "{code:?}");
    }
    let health = support::ws_client::health(addr).await;
    assert_eq!(health["draining"], false, "{health}");
    // The client that was in before stays connected; its posts are refused.
    chat(&mut talker, "dev", "refused").await;
    let refused = talker.next_of_type("error").await;
    assert_eq!(refused["code"], "unavailable", "{refused}");

    redis.start_again();
    let frame = post_once_redis_is_back(&mut talker, "dev", "after").await;
    assert_eq!(
        (frame["seq"].as_u64(), frame["text"].as_str()),
        (Some(2), Some("after"))
    );
    // A room started during the outage works once Redis is back.
    let (mut late, _joined) = join(addr, "new-0").await;
    chat(&mut late, "new-0", "first").await;
    assert_eq!(next_in(&mut late, "new-0").await, (1, "first".into()));
    node_a.shutdown().await;
}
