//! Makes this server a node of its cluster (`--redis`): opens the [`Cluster`] handle, starts its
//! heartbeat and name refresher, and the two loops that need the actors:
//!
//! - **presence**: every [`PRESENCE_POLL`], the directory says which rooms have members here
//!   (count and first members, bounded by the presence limit), the cluster writes them and reads
//!   the other nodes', and each room whose remote members changed is told
//!   ([`RoomMsg::RemotePresence`]); the room announces the differences.
//! - **the inbox**: direct messages from other nodes, delivered to the local recipient.
//!
//! Without `--redis` nothing here runs.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use ractor::ActorId;
use tokio::sync::mpsc;

use super::state::{AppState, SocketCounter};
use super::StartError;
use crate::actors::directory::DirectoryMsg;
use crate::actors::room::RoomMsg;
use crate::cluster::presence::{NodePresence, RemoteMembers};
use crate::cluster::{inbox, Cluster, InboxDirect, PRESENCE_POLL, PRESENCE_TTL};
use crate::config::ServerConfig;
use crate::protocol::ServerMessage;
use crate::room_log::LogError;

/// The cluster handle, if this server is a node (`--redis`).
pub fn open(
    config: &ServerConfig,
    instance: &str,
    address: SocketAddr,
    sockets: &SocketCounter,
) -> Result<Option<Arc<Cluster>>, StartError> {
    let Some(url) = &config.cluster.redis_url else {
        return Ok(None);
    };
    let sockets = sockets.clone();
    Cluster::open(
        url,
        instance.to_owned(),
        address.to_string(),
        Arc::new(move || sockets.get()),
    )
    .map(Some)
    .map_err(|error| StartError::Cluster(LogError::unavailable(error.0)))
}

/// How long a starting node waits for its node number before it serves anyway (Redis down:
/// WebSockets are refused with 503 until the heartbeat gets one).
const FIRST_NUMBER_WAIT: Duration = Duration::from_secs(3);

/// Gets the node's number (bounded wait), then starts the node's background work; all of it
/// ends when the server starts draining.
pub async fn spawn(app: &Arc<AppState>) {
    let Some(cluster) = &app.cluster else {
        return;
    };
    match tokio::time::timeout(FIRST_NUMBER_WAIT, cluster.ensure_number()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "cluster: no node number yet; WebSockets wait for it")
        }
        Err(_) => {
            tracing::warn!("cluster: Redis did not answer; WebSockets wait for a node number")
        }
    }
    cluster.spawn_tasks(app.draining.clone());
    let inbox = inbox::spawn_reader(cluster, app.draining.clone());
    tokio::spawn(deliver_inbox(Arc::clone(app), inbox));
    tokio::spawn(exchange_presence(Arc::clone(app), Arc::clone(cluster)));
}

/// Hands each direct message from another node to its recipient here, if still connected.
async fn deliver_inbox(app: Arc<AppState>, mut inbox: mpsc::Receiver<InboxDirect>) {
    while let Some(message) = inbox.recv().await {
        let found = app
            .directory
            .call(
                |reply| DirectoryMsg::Lookup {
                    id: message.to_id,
                    reply,
                },
                Some(app.config.actor_call_timeout),
            )
            .await;
        let Ok(CallResult::Success(Some((name, outbox)))) = found else {
            tracing::debug!(
                to = message.to_id,
                "a direct message for a connection gone meanwhile"
            );
            continue;
        };
        let frame = ServerMessage::Direct {
            from_id: message.from_id,
            from: message.from,
            to_id: message.to_id,
            to: name,
            text: message.text,
            ts: message.ts,
        };
        outbox.deliver_text(frame.to_json().into());
    }
}

/// The presence loop (see the module docs).
async fn exchange_presence(app: Arc<AppState>, cluster: Arc<Cluster>) {
    let limit = app.config.presence_limit;
    let mut written: BTreeSet<String> = BTreeSet::new();
    let mut told: HashMap<String, (ActorId, RemoteMembers)> = HashMap::new();
    let mut last_ok = Instant::now();
    loop {
        tokio::select! {
            () = app.draining.cancelled() => return,
            () = tokio::time::sleep(PRESENCE_POLL) => {}
        }
        let answer = app
            .directory
            .call(
                |reply| DirectoryMsg::LocalPresence { limit, reply },
                Some(app.config.actor_call_timeout),
            )
            .await;
        let Ok(CallResult::Success(rooms)) = answer else {
            continue;
        };
        let current: BTreeSet<String> = rooms.iter().map(|room| room.room.clone()).collect();
        let gone: Vec<String> = written.difference(&current).cloned().collect();
        let mine: Vec<(String, NodePresence)> = rooms
            .iter()
            .map(|room| (room.room.clone(), room.presence.clone()))
            .collect();
        let remote = match cluster.exchange_presence(&mine, &gone, limit).await {
            Ok(remote) => {
                last_ok = Instant::now();
                written = current;
                remote
            }
            Err(error) => {
                tracing::debug!(%error, "cluster: presence not exchanged");
                if last_ok.elapsed() < PRESENCE_TTL {
                    continue;
                }
                // Redis has been down longer than the TTL: nobody else is known to be there.
                vec![RemoteMembers::default(); rooms.len()]
            }
        };
        told.retain(|room, _| rooms.iter().any(|local| local.room == *room));
        for (room, remote) in rooms.into_iter().zip(remote) {
            let Some(actor) = room.actor else {
                continue;
            };
            let unchanged = told
                .get(&room.room)
                .is_some_and(|(id, known)| *id == actor.get_id() && *known == remote);
            if unchanged {
                continue;
            }
            if actor.cast(RoomMsg::RemotePresence(remote.clone())).is_ok() {
                told.insert(room.room, (actor.get_id(), remote));
            }
        }
    }
}
