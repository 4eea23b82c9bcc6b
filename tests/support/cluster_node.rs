//! A node of a test cluster: an in-process server on an ephemeral port, its room log and
//! membership in the test's own `redis-server` (`--redis`). Start two on one Redis and they are
//! two nodes of one cluster.
//!
//! Several test crates include this file (`cluster`, `cluster_live`, `cluster_members`), next to
//! `redis_server` and `ws_client`.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::json;
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
