//! `GET /api/actors`: the live actor tree, for the UI's actor inspector.
//!
//! The supervisor answers for the lifecycles (children, restarts, recent events), the directory
//! for the connections and the rooms it knows; each running room then answers for itself, all
//! rooms concurrently, each call with a timeout, and its log for what it keeps. A room that does
//! not answer in time is listed as `busy`, one being restarted as `restarting`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use futures_util::future::join_all;
use ractor::rpc::CallResult;
use serde::Serialize;

use super::api_error::ApiError;
use super::state::AppState;
use crate::actors::directory::{
    ConnectionView, DirectoryMsg, DirectorySnapshot, RoomDirectoryView,
};
use crate::actors::lifecycle_log::LifecycleEvent;
use crate::actors::room::RoomMsg;
use crate::actors::supervisor::{SupervisorMsg, SupervisorSnapshot};
use crate::cluster::NodeRecord;

#[derive(Serialize)]
pub struct ActorTree {
    supervisor: SupervisorView,
    directory: DirectoryView,
    rooms: Vec<RoomView>,
    connections: Vec<ConnectionView>,
    events: Vec<LifecycleEvent>,
    /// Cluster nodes only (`--redis`): the live nodes, as of this node's last heartbeat.
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<Vec<NodeView>>,
}

/// One node of the cluster.
#[derive(Serialize)]
struct NodeView {
    #[serde(flatten)]
    record: NodeRecord,
    /// This node (the one answering).
    this: bool,
}

#[derive(Serialize)]
struct SupervisorView {
    actor_id: String,
    status: &'static str,
    children: usize,
    /// Room restarts since the server started.
    room_restarts: u64,
    /// The restart intensity: at most this many restarts…
    max_room_restarts: u32,
    /// …within this many seconds.
    restart_window_secs: u64,
}

#[derive(Serialize)]
struct DirectoryView {
    actor_id: String,
    status: &'static str,
    connections: usize,
    rooms: usize,
    names: usize,
    sessions: usize,
}

#[derive(Serialize)]
struct RoomView {
    name: String,
    actor_id: String,
    status: &'static str,
    members: usize,
    last_seq: u64,
    /// Frames the room's log keeps.
    history: usize,
    history_bytes: usize,
    epoch: String,
    restarts: u64,
}

pub async fn actors(State(app): State<Arc<AppState>>) -> Result<Json<ActorTree>, ApiError> {
    let not_answering = |who: &str| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the {who} did not answer in time"),
        )
    };
    let supervisor = supervisor_snapshot(&app)
        .await
        .ok_or_else(|| not_answering("supervisor"))?;
    let directory = directory_snapshot(&app)
        .await
        .ok_or_else(|| not_answering("directory"))?;
    let rooms = join_all(
        directory
            .rooms
            .iter()
            .map(|room| room_view(&app, room, &supervisor.room_restarts)),
    )
    .await;
    let mut connections = directory.connections;
    for connection in &mut connections {
        if let Some(actor_id) = supervisor.connection_actors.get(&connection.id) {
            connection.actor_id.clone_from(actor_id);
        }
    }
    Ok(Json(ActorTree {
        supervisor: SupervisorView {
            actor_id: supervisor.actor_id,
            status: "running",
            children: supervisor.children,
            room_restarts: supervisor.room_restarts_total,
            max_room_restarts: supervisor.max_room_restarts,
            restart_window_secs: supervisor.restart_window_secs,
        },
        directory: DirectoryView {
            actor_id: directory.actor_id,
            status: "running",
            connections: connections.len(),
            rooms: rooms.len(),
            names: directory.names,
            sessions: directory.sessions,
        },
        rooms,
        connections,
        events: supervisor.events,
        nodes: app.cluster.as_ref().map(|cluster| {
            cluster
                .view()
                .nodes
                .into_iter()
                .map(|record| NodeView {
                    this: record.id == cluster.instance,
                    record,
                })
                .collect()
        }),
    }))
}

async fn room_view(
    app: &AppState,
    room: &RoomDirectoryView,
    restarts: &BTreeMap<String, u64>,
) -> RoomView {
    let mut view = RoomView {
        name: room.name.clone(),
        actor_id: String::new(),
        status: "restarting",
        members: room.members,
        last_seq: 0,
        history: 0,
        history_bytes: 0,
        epoch: String::new(),
        restarts: restarts.get(&room.name).copied().unwrap_or(0),
    };
    let Some(actor) = &room.actor else {
        return view;
    };
    view.actor_id = actor.get_id().to_string();
    view.status = "busy";
    let answer = actor
        .call(RoomMsg::Stats, Some(app.config.actor_call_timeout))
        .await;
    if let Ok(CallResult::Success(stats)) = answer {
        view.status = "running";
        view.members = stats.members;
        view.last_seq = stats.last_seq;
        view.epoch = stats.epoch;
        if let Ok(head) = stats.log.head().await {
            view.history = head.kept_frames;
            view.history_bytes = head.kept_bytes;
        }
    }
    view
}

async fn supervisor_snapshot(app: &AppState) -> Option<SupervisorSnapshot> {
    match app
        .supervisor
        .call(SupervisorMsg::Snapshot, Some(app.config.actor_call_timeout))
        .await
    {
        Ok(CallResult::Success(snapshot)) => Some(snapshot),
        _ => None,
    }
}

async fn directory_snapshot(app: &AppState) -> Option<DirectorySnapshot> {
    match app
        .directory
        .call(DirectoryMsg::Snapshot, Some(app.config.actor_call_timeout))
        .await
    {
        Ok(CallResult::Success(snapshot)) => Some(snapshot),
        _ => None,
    }
}

/// Rooms known to the directory (0 if it does not answer).
pub async fn room_count(app: &AppState) -> usize {
    match app
        .directory
        .call(DirectoryMsg::RoomCount, Some(app.config.actor_call_timeout))
        .await
    {
        Ok(CallResult::Success(count)) => count,
        _ => 0,
    }
}
