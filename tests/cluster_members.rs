//! The cluster's membership side (`--redis`, docs/CLUSTER.md "Nodes, names, presence and DMs"),
//! with two nodes on one real `redis-server` and real sockets: connection ids and names unique
//! across nodes, presence spanning nodes, direct messages between nodes, `/health`'s `cluster`
//! and the nodes in `/api/actors`, and a node killed with SIGKILL (a real process): its members
//! leave presence on the other node within the TTL, its names free up, and its clients resume
//! exactly on the other node.

mod support {
    pub mod cluster_node;
    pub mod data_dir;
    pub mod redis_server;
    pub mod ws_client;
}

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::cluster_node::node;
use support::redis_server::RedisServer;
use support::ws_client::{actors, health, Client};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

/// Bound for what the cluster does by polling and TTLs (6 s TTLs, 1.5 s presence polls, 2 s
/// heartbeats): generous, as the machine may be loaded. Tests poll; none asserts a duration.
const CLUSTER_PATIENCE: Duration = Duration::from_secs(40);

/// The next frame within `within`, or `None` (the connection ended, or nothing came).
async fn frame_within(client: &mut Client, within: Duration) -> Option<Value> {
    let deadline = Instant::now() + within;
    loop {
        let next = tokio::time::timeout_at(deadline, client.ws.next()).await;
        match next {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).ok(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// Reads frames until one satisfies `check` (within [`CLUSTER_PATIENCE`]).
async fn wait_for_frame(client: &mut Client, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match frame_within(client, left).await {
            Some(frame) if check(&frame) => return frame,
            Some(frame) => {
                seen.push(frame);
                if seen.len() > 20 {
                    seen.remove(0);
                }
            }
            None => panic!("never got {what}; last frames: {seen:?}"),
        }
    }
}

fn lists_member(frame: &Value, id: u64) -> bool {
    frame["members"]
        .as_array()
        .is_some_and(|members| members.iter().any(|member| member["id"] == id))
}

async fn join(client: &mut Client, room: &str) -> Value {
    client
        .send_json(json!({"type": "join", "room": room}))
        .await;
    wait_for_frame(client, "joined", |frame| {
        frame["type"] == "joined" && frame["room"] == room
    })
    .await
}

/// Polls `/health` until `check` holds for it.
async fn wait_for_health(addr: SocketAddr, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    loop {
        let answer = health(addr).await;
        if check(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "/health never got there: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn connection_ids_are_unique_across_nodes_and_safe_for_javascript() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..3 {
        for addr in [node_a.local_addr(), node_b.local_addr()] {
            let client = Client::connect(addr).await;
            ids.push(client.id);
            clients.push(client);
        }
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids unique across nodes: {ids:?}");
    assert!(ids.iter().all(|id| *id < (1 << 53)), "below 2^53: {ids:?}");
    // A guest name carries the id, so guest names are unique across nodes too.
    assert_ne!(clients[0].name, clients[1].name);
}

#[tokio::test]
async fn a_name_taken_on_one_node_is_refused_on_the_other_until_it_is_released() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (alice, welcome) = Client::connect_with(node_a.local_addr(), "name=alice").await;
    assert_eq!(welcome["name"], "alice");

    // On the other node: refused at connect time, and by a rename (ignoring case).
    let (mut other, welcome) = Client::connect_with(node_b.local_addr(), "name=Alice").await;
    assert_ne!(welcome["name"], "Alice");
    let refused = other.next_of_type("error").await;
    assert_eq!(refused["code"], "name_taken", "{refused}");
    other
        .send_json(json!({"type": "rename", "name": "ALICE"}))
        .await;
    let refused = other.next_of_type("error").await;
    assert_eq!(refused["code"], "name_taken", "{refused}");

    // A rename on node B takes a free name, which node A then refuses.
    other
        .send_json(json!({"type": "rename", "name": "bea"}))
        .await;
    let renamed = other.next_of_type("renamed").await;
    assert_eq!(renamed["name"], "bea");
    let (mut third, welcome) = Client::connect_with(node_a.local_addr(), "name=bea").await;
    assert_ne!(welcome["name"], "bea");
    assert_eq!(third.next_of_type("error").await["code"], "name_taken");

    // Alice leaves node A: her name is free on node B.
    alice.close().await;
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    loop {
        other
            .send_json(json!({"type": "rename", "name": "alice"}))
            .await;
        let answer = wait_for_frame(&mut other, "an answer to the rename", |frame| {
            frame["type"] == "renamed" || frame["type"] == "error"
        })
        .await;
        if answer["type"] == "renamed" {
            assert_eq!(answer["name"], "alice");
            break;
        }
        assert_eq!(answer["code"], "name_taken", "{answer}");
        assert!(Instant::now() < deadline, "alice's name was never released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // …and "bea", released by that rename, is free on node A.
    third
        .send_json(json!({"type": "rename", "name": "bea"}))
        .await;
    let answer = wait_for_frame(&mut third, "an answer to the rename", |frame| {
        frame["type"] == "renamed" || frame["type"] == "error"
    })
    .await;
    assert_eq!(answer["type"], "renamed", "{answer}");
}

#[tokio::test]
async fn presence_shows_the_members_of_every_node() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let mut on_a = Client::connect(node_a.local_addr()).await;
    join(&mut on_a, "dev").await;
    let mut on_b = Client::connect(node_b.local_addr()).await;
    join(&mut on_b, "dev").await;

    // Each sees the other join, and both in the list.
    let b_id = on_b.id;
    let a_id = on_a.id;
    wait_for_frame(&mut on_a, "a notice of B's member", |frame| {
        frame["type"] == "notice"
            && frame["room"] == "dev"
            && frame["event"] == "joined"
            && frame["id"] == b_id
    })
    .await;
    let presence = wait_for_frame(&mut on_a, "a presence with both", |frame| {
        frame["type"] == "presence" && frame["room"] == "dev" && lists_member(frame, b_id)
    })
    .await;
    assert!(lists_member(&presence, a_id), "{presence}");
    assert_eq!(presence["member_count"], 2, "{presence}");
    wait_for_frame(&mut on_b, "a presence with A's member", |frame| {
        frame["type"] == "presence" && frame["room"] == "dev" && lists_member(frame, a_id)
    })
    .await;

    // A later joiner on node A gets node B's member in its `joined`.
    let mut late = Client::connect(node_a.local_addr()).await;
    let joined = join(&mut late, "dev").await;
    assert!(lists_member(&joined, b_id), "{joined}");
    assert_eq!(joined["member_count"], 3, "{joined}");

    // B's member leaves the room: node A's members see it go.
    on_b.send_json(json!({"type": "leave", "room": "dev"}))
        .await;
    wait_for_frame(&mut on_a, "a notice that B's member left", |frame| {
        frame["type"] == "notice"
            && frame["room"] == "dev"
            && frame["event"] == "left"
            && frame["id"] == b_id
    })
    .await;
    let presence = wait_for_frame(&mut late, "a presence without B's member", |frame| {
        frame["type"] == "presence" && frame["room"] == "dev" && !lists_member(frame, b_id)
    })
    .await;
    assert_eq!(presence["member_count"], 2, "{presence}");
}

#[tokio::test]
async fn direct_messages_cross_nodes_both_ways_and_unknown_recipients_are_refused() {
    let redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (mut ann, _) = Client::connect_with(node_a.local_addr(), "name=ann").await;
    let (mut bob, _) = Client::connect_with(node_b.local_addr(), "name=bob").await;

    ann.send_json(json!({"type": "direct", "to": bob.id, "text": "hi bob"}))
        .await;
    let echo = ann.next_of_type("direct").await;
    assert_eq!(
        (echo["to"].as_str(), echo["to_id"].as_u64()),
        (Some("bob"), Some(bob.id))
    );
    let got = bob.next_of_type("direct").await;
    assert_eq!(got["text"], "hi bob");
    assert_eq!(
        (got["from"].as_str(), got["from_id"].as_u64()),
        (Some("ann"), Some(ann.id))
    );
    assert_eq!(got["ts"], echo["ts"]);

    bob.send_json(json!({"type": "direct", "to": ann.id, "text": "hi ann"}))
        .await;
    assert_eq!(bob.next_of_type("direct").await["text"], "hi ann");
    let got = ann.next_of_type("direct").await;
    assert_eq!(
        (got["text"].as_str(), got["from_id"].as_u64()),
        (Some("hi ann"), Some(bob.id))
    );

    // Nobody has this id, on any node.
    ann.send_json(json!({"type": "direct", "to": bob.id + 1000, "text": "anyone?"}))
        .await;
    assert_eq!(ann.next_of_type("error").await["code"], "unknown_recipient");

    // Bob is gone: unknown too (once node B released his id).
    let bob_id = bob.id;
    bob.close().await;
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    loop {
        ann.send_json(json!({"type": "direct", "to": bob_id, "text": "still there?"}))
            .await;
        let answer = wait_for_frame(&mut ann, "an answer", |frame| {
            frame["type"] == "direct" || frame["type"] == "error"
        })
        .await;
        if answer["type"] == "error" {
            assert_eq!(answer["code"], "unknown_recipient", "{answer}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a closed connection still took DMs"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Redis down: a DM to another node is refused, not echoed.
    let (mut cat, _) = Client::connect_with(node_b.local_addr(), "name=cat").await;
    let mut redis = redis;
    redis.kill();
    ann.send_json(json!({"type": "direct", "to": cat.id, "text": "lost?"}))
        .await;
    let refused = wait_for_frame(&mut ann, "an answer", |frame| {
        frame["type"] == "direct" || frame["type"] == "error"
    })
    .await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    assert!(frame_within(&mut cat, Duration::from_millis(500))
        .await
        .is_none_or(|frame| frame["type"] != "direct"));
}

#[tokio::test]
async fn health_counts_the_cluster_and_api_actors_lists_its_nodes() {
    let mut redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (a, b) = (node_a.local_addr(), node_b.local_addr());
    let _one = Client::connect(a).await;
    let _two = Client::connect(b).await;
    let _three = Client::connect(b).await;
    let answer = wait_for_health(a, |health| {
        health["cluster"]["nodes"] == 2 && health["cluster"]["active_websockets"] == 3
    })
    .await;
    assert_eq!(answer["cluster"]["redis"], "up");
    assert_eq!(
        answer["active_websockets"], 1,
        "the local count stays local"
    );
    assert_eq!(answer["active_actors"], 1);

    let tree = actors(b).await;
    let nodes = tree["nodes"].as_array().expect("nodes listed").clone();
    assert_eq!(nodes.len(), 2, "{tree}");
    let instances: Vec<&str> = nodes
        .iter()
        .filter_map(|node| node["id"].as_str())
        .collect();
    assert!(instances.contains(&node_a.instance()) && instances.contains(&node_b.instance()));
    let this: Vec<&Value> = nodes.iter().filter(|node| node["this"] == true).collect();
    assert_eq!(this.len(), 1);
    assert_eq!(this[0]["id"], node_b.instance());
    assert_eq!(this[0]["address"], b.to_string());

    redis.kill();
    let answer = wait_for_health(a, |health| health["cluster"]["redis"] == "down").await;
    assert_eq!(answer["active_websockets"], 1, "{answer}");
}

/// A headless binary on the cluster: a real process, to be killed with SIGKILL.
struct BinaryNode {
    child: Child,
    addr: SocketAddr,
}

impl BinaryNode {
    async fn start(redis: &RedisServer, name: &str) -> BinaryNode {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free port");
        let child = Command::new(APP)
            .args([
                "--headless",
                "--port",
                &port.to_string(),
                "--redis",
                &redis.url(),
            ])
            .env("TRW_DATA_DIR", support::data_dir::fresh(name))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the binary");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + CLUSTER_PATIENCE;
        loop {
            if let Ok(response) = reqwest::get(format!("http://{addr}/health")).await {
                if response.status() == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the node never answered /health");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        BinaryNode { child, addr }
    }

    async fn kill_9(mut self) {
        self.child.start_kill().expect("kill -9");
        let _ = self.child.wait().await;
    }
}

#[tokio::test]
async fn a_killed_node_leaves_presence_frees_its_names_and_its_clients_resume_on_the_other() {
    let redis = RedisServer::start();
    let node_a = BinaryNode::start(&redis, "cluster-node-a").await;
    let node_b = BinaryNode::start(&redis, "cluster-node-b").await;

    let (mut xena, _) = Client::connect_with(node_a.addr, "name=xena").await;
    let joined = join(&mut xena, "dev").await;
    let epoch = joined["epoch"].as_str().expect("epoch").to_owned();
    let mut yuri = Client::connect(node_b.addr).await;
    join(&mut yuri, "dev").await;
    let xena_id = xena.id;
    wait_for_frame(&mut yuri, "xena in the presence", |frame| {
        frame["type"] == "presence" && frame["room"] == "dev" && lists_member(frame, xena_id)
    })
    .await;
    xena.send_json(json!({"type": "chat", "room": "dev", "text": "one"}))
        .await;
    let one = wait_for_frame(&mut xena, "her message", |frame| frame["type"] == "message").await;
    let seen = one["seq"].as_u64().expect("seq");

    node_a.kill_9().await;
    // While xena is away, yuri posts on node B.
    for text in ["two", "three"] {
        yuri.send_json(json!({"type": "chat", "room": "dev", "text": text}))
            .await;
        wait_for_frame(&mut yuri, "his message", |frame| {
            frame["type"] == "message" && frame["text"] == text
        })
        .await;
    }

    // Within the TTLs: xena leaves yuri's presence, and her name is free on node B.
    wait_for_frame(&mut yuri, "xena leaving", |frame| {
        frame["type"] == "notice"
            && frame["room"] == "dev"
            && frame["event"] == "left"
            && frame["id"] == xena_id
    })
    .await;
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    let mut xena = loop {
        let (mut client, welcome) =
            Client::connect_with(node_b.addr, &format!("name=xena&since=dev:{epoch}:{seen}")).await;
        if welcome["name"] == "xena" {
            break client;
        }
        assert_eq!(client.next_of_type("error").await["code"], "name_taken");
        client.close().await;
        assert!(Instant::now() < deadline, "xena's name never freed up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Node A is gone from the node list, and DMs to her old id are refused.
    wait_for_health(node_b.addr, |health| health["cluster"]["nodes"] == 1).await;
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    loop {
        yuri.send_json(json!({"type": "direct", "to": xena_id, "text": "there?"}))
            .await;
        let answer = wait_for_frame(&mut yuri, "an answer", |frame| {
            frame["type"] == "direct" || frame["type"] == "error"
        })
        .await;
        if answer["type"] == "error" {
            assert_eq!(answer["code"], "unknown_recipient", "{answer}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a dead node's connection still took DMs"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // She resumes on node B with exactly what she missed, then live frames.
    let resumed = wait_for_frame(&mut xena, "joined dev", |frame| {
        frame["type"] == "joined" && frame["room"] == "dev"
    })
    .await;
    assert_eq!(resumed["resumed_from"], seen, "{resumed}");
    assert_eq!(resumed["gap"], false, "{resumed}");
    yuri.send_json(json!({"type": "chat", "room": "dev", "text": "four"}))
        .await;
    let mut got = Vec::new();
    while got.len() < 3 {
        let frame = wait_for_frame(&mut xena, "a message of #dev", |frame| {
            frame["type"] == "message" && frame["room"] == "dev"
        })
        .await;
        got.push((
            frame["seq"].as_u64().expect("seq"),
            frame["text"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    assert_eq!(
        got,
        vec![
            (seen + 1, "two".to_owned()),
            (seen + 2, "three".to_owned()),
            (seen + 3, "four".to_owned())
        ]
    );
    drop(node_b);
}

#[tokio::test]
async fn a_node_started_while_redis_is_down_takes_websockets_once_it_has_its_number() {
    let mut redis = RedisServer::start();
    redis.kill();
    let lonely = node(&redis).await;
    let addr = lonely.local_addr();
    // No node number, so no id that could collide: WebSockets wait; HTTP answers.
    assert_eq!(support::ws_client::handshake_status(addr, &[]).await, 503);
    let answer = health(addr).await;
    assert_eq!(answer["cluster"]["redis"], "down", "{answer}");

    redis.start_again();
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    while support::ws_client::handshake_status(addr, &[]).await != 101 {
        assert!(Instant::now() < deadline, "the node never took WebSockets");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = Client::connect(addr).await;
    assert!(
        client.id > 1 << 32,
        "the id carries the node number: {}",
        client.id
    );
    wait_for_health(addr, |health| health["cluster"]["redis"] == "up").await;
}

#[tokio::test]
async fn after_redis_restarts_empty_the_nodes_write_everything_again() {
    let mut redis = RedisServer::start();
    let node_a = node(&redis).await;
    let node_b = node(&redis).await;
    let (mut ann, _) = Client::connect_with(node_a.local_addr(), "name=ann").await;
    join(&mut ann, "dev").await;
    let mut bob = Client::connect(node_b.local_addr()).await;
    join(&mut bob, "dev").await;
    let bob_id = bob.id;
    wait_for_frame(&mut ann, "bob in the presence", |frame| {
        frame["type"] == "presence" && frame["room"] == "dev" && lists_member(frame, bob_id)
    })
    .await;

    // Redis loses everything (a restart without persistence).
    redis.restart();
    wait_for_health(node_a.local_addr(), |health| {
        health["cluster"]["redis"] == "up" && health["cluster"]["nodes"] == 2
    })
    .await;
    // Ann's name is written again by her node's refresher; then node B refuses it.
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    // (`$-1` is RESP's nil; a held name answers `$<length>`.)
    while redis
        .command(&["GET", "trw:name:ann"])
        .strip_prefix('$')
        .is_none_or(|length| length == "-1")
    {
        assert!(
            Instant::now() < deadline,
            "ann's name was never written again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut other, welcome) = Client::connect_with(node_b.local_addr(), "name=ann").await;
    assert_ne!(welcome["name"], "ann");
    assert_eq!(other.next_of_type("error").await["code"], "name_taken");

    // Presence is written again: a member joining on node B now shows on node A.
    let other_id = other.id;
    join(&mut other, "dev").await;
    let presence = wait_for_frame(&mut ann, "the new member in the presence", |frame| {
        frame["type"] == "presence" && frame["room"] == "dev" && lists_member(frame, other_id)
    })
    .await;
    assert!(lists_member(&presence, bob_id), "{presence}");

    // DMs go through the inboxes again.
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    loop {
        ann.send_json(json!({"type": "direct", "to": bob_id, "text": "back?"}))
            .await;
        let answer = wait_for_frame(&mut ann, "an answer", |frame| {
            frame["type"] == "direct" || frame["type"] == "error"
        })
        .await;
        if answer["type"] == "direct" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "DMs never worked again: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = wait_for_frame(&mut bob, "the DM", |frame| frame["type"] == "direct").await;
    assert_eq!(got["text"], "back?");
}
