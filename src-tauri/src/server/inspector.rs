//! `GET /api/actors`: the live actor tree, for the UI's actor inspector.
//!
//! The supervisor answers for itself and its connections in one call; each room then answers
//! for itself, all rooms concurrently, each call with a timeout. A room that does not answer in
//! time is listed with `"status": "busy"` rather than holding up the page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use futures_util::future::join_all;
use ractor::rpc::CallResult;
use serde::Serialize;

use super::api_error::ApiError;
use super::state::AppState;
use crate::actors::lifecycle_log::LifecycleEvent;
use crate::actors::room::RoomMsg;
use crate::actors::supervisor::{ConnectionView, SupervisorMsg, SupervisorSnapshot};

#[derive(Serialize)]
pub struct ActorTree {
    supervisor: SupervisorView,
    rooms: Vec<RoomView>,
    connections: Vec<ConnectionView>,
    events: Vec<LifecycleEvent>,
}

#[derive(Serialize)]
struct SupervisorView {
    actor_id: String,
    status: &'static str,
    children: usize,
}

#[derive(Serialize)]
struct RoomView {
    name: String,
    actor_id: String,
    status: &'static str,
    members: usize,
    last_seq: u64,
    history: usize,
}

pub async fn actors(State(app): State<Arc<AppState>>) -> Result<Json<ActorTree>, ApiError> {
    let snapshot = snapshot(&app).await.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the supervisor did not answer in time",
        )
    })?;
    let timeout = app.config.actor_call_timeout;
    let rooms = join_all(snapshot.rooms.iter().map(|room| async move {
        let answer = room.call(RoomMsg::Stats, Some(timeout)).await;
        match answer {
            Ok(CallResult::Success(stats)) => RoomView {
                name: stats.name,
                actor_id: room.get_id().to_string(),
                status: "running",
                members: stats.members,
                last_seq: stats.last_seq,
                history: stats.history,
            },
            _ => RoomView {
                name: room.get_name().unwrap_or_default(),
                actor_id: room.get_id().to_string(),
                status: "busy",
                members: 0,
                last_seq: 0,
                history: 0,
            },
        }
    }))
    .await;
    Ok(Json(ActorTree {
        supervisor: SupervisorView {
            actor_id: snapshot.actor_id,
            status: "running",
            children: snapshot.children,
        },
        rooms,
        connections: snapshot.connections,
        events: snapshot.events,
    }))
}

async fn snapshot(app: &AppState) -> Option<SupervisorSnapshot> {
    match app
        .supervisor
        .call(SupervisorMsg::Snapshot, Some(app.config.actor_call_timeout))
        .await
    {
        Ok(CallResult::Success(snapshot)) => Some(snapshot),
        _ => None,
    }
}

/// Rooms currently running (0 if the supervisor does not answer).
pub async fn room_count(app: &AppState) -> usize {
    snapshot(app)
        .await
        .map_or(0, |snapshot| snapshot.rooms.len())
}
