//! A node of a test cluster: an in-process server on an ephemeral port, its room log and
//! membership in the test's own `redis-server` (`--redis`). Start two on one Redis and they are
//! two nodes of one cluster.
//!
//! It also has the client steps the cluster tests share, each bounded by [`WAIT`]: a join, the
//! next frame of a kind, the next numbered frame of a room.
//!
//! Several test crates include this file (`cluster`, `cluster_live`, `cluster_members`), next to
//! `redis_server` and `ws_client`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tauri_ractor_websocket::config::{ClusterConfig, ServerConfig};
use tauri_ractor_websocket::server::RunningServer;

use super::redis_server::RedisServer;
use super::ws_client::{start_server_with, Client};

/// The configuration of a node on `redis`, for tests whose clients read only what they wait for.
/// Extend it with struct update syntax: `ServerConfig { rate_limit_per_sec: …, ..node_config(&redis) }`.
pub fn node_config(redis: &RedisServer) -> ServerConfig {
    ServerConfig {
        cluster: ClusterConfig {
            redis_url: Some(redis.url()),
        },
        // The lobby's join notices and presence of a dozen clients, which these clients skip,
        // must not make them slow consumers.
        outbound_queue_frames: 4096,
        // They answer pings only while they read: a client waiting through a Redis outage must
        // not be closed as idle.
        idle_timeout: Duration::from_secs(600),
        ..ServerConfig::ephemeral()
    }
}

/// A node on `redis` with [`node_config`].
pub async fn node(redis: &RedisServer) -> RunningServer {
    start_server_with(node_config(redis)).await
}

/// Sends a chat message to `room` (the answer is read by the caller).
pub async fn chat(client: &mut Client, room: &str, text: &str) {
    client
        .send_json(json!({"type": "chat", "room": room, "text": text}))
        .await;
}

/// A new client on `addr` that joined `room`, with its `joined` frame (within [`WAIT`]).
pub async fn join(addr: SocketAddr, room: &str) -> (Client, Value) {
    let mut client = Client::connect(addr).await;
    client
        .send_json(json!({"type": "join", "room": room}))
        .await;
    let joined = next_of(&mut client, room, "joined").await;
    (client, joined)
}

/// How long a test waits for a frame it expects (the server's pings keep a connection busy,
/// so the client's own per-frame patience alone would wait forever).
pub const WAIT: Duration = Duration::from_secs(30);

/// The next frame of `room` with `type` `kind`, within [`WAIT`].
pub async fn next_of(client: &mut Client, room: &str, kind: &str) -> Value {
    let frame = async {
        loop {
            let frame = client.next_json().await;
            if frame["room"] == room && frame["type"] == kind {
                return frame;
            }
        }
    };
    tokio::time::timeout(WAIT, frame)
        .await
        .unwrap_or_else(|_| panic!("no {kind} frame of #{room} within {WAIT:?}"))
}

/// The next numbered frame of `room` as `(seq, text)`, within [`WAIT`].
pub async fn next_in(client: &mut Client, room: &str) -> (u64, String) {
    let frame = async {
        loop {
            let frame = client.next_numbered().await;
            if frame["room"] == room {
                return frame;
            }
        }
    };
    let frame = tokio::time::timeout(WAIT, frame)
        .await
        .unwrap_or_else(|_| panic!("no numbered frame of #{room} within {WAIT:?}"));
    (
        frame["seq"].as_u64().expect("seq"),
        frame["text"].as_str().unwrap_or_default().to_owned(),
    )
}
