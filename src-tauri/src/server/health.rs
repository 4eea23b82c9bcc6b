//! `GET /health`: the original's two counts, plus what a client needs to trust the answer.
//!
//! On a cluster node (`--redis`) it adds `"cluster": {"redis": "up"|"down", "nodes": N,
//! "active_websockets": TOTAL}` ([`crate::cluster::Cluster::health`]); the top-level counts stay
//! this node's.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::state::AppState;
use crate::cluster::ClusterHealth;

#[derive(Serialize)]
pub struct Health {
    /// Open WebSocket connections.
    active_websockets: usize,
    /// Live connection actors, as the actor system counts them.
    active_actors: usize,
    server: &'static str,
    version: &'static str,
    instance: String,
    uptime_ms: u64,
    draining: bool,
    /// Cluster nodes only (`--redis`): Redis reachable, live nodes, WebSockets on all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterHealth>,
}

pub async fn health(State(app): State<Arc<AppState>>) -> Json<Health> {
    Json(Health {
        active_websockets: app.sockets.get(),
        active_actors: app.active_actors(),
        server: crate::SERVER_NAME,
        version: crate::VERSION,
        instance: app.instance.clone(),
        uptime_ms: app.started.elapsed().as_millis() as u64,
        draining: app.draining.is_cancelled(),
        cluster: app.cluster.as_ref().map(|cluster| cluster.health()),
    })
}
