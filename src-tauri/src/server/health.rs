//! `GET /health`: the original's two counts, plus what a client needs to trust the answer.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::state::AppState;

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
    })
}
