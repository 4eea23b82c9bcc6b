//! The supervisor: parent of every connection actor and every room, and it outlives them all.
//!
//! Each child is spawned *linked* to the supervisor, so the actor system reports to it whenever a
//! child starts, stops or fails. ractor's default `handle_supervisor_evt` stops the supervisor
//! when any child ends, which is the right default for a tree of co-dependent actors and exactly
//! wrong for connections, which come and go all day. So this supervisor overrides it: a child's
//! end is logged, a failed connection gets close code 1011 and is taken out of its rooms, and
//! everything else keeps running.
//!
//! Because it sees every connection come and go, the supervisor is also the **directory**
//! (names, rooms, direct messages): see [`directory`].

mod directory;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;

use super::connection::{ConnectionActor, ConnectionArgs, ConnectionMsg};
use super::lifecycle_log::{LifecycleEvent, LifecycleEventKind, LifecycleLog};
use super::outbox::Outbox;
use super::room::{RoomMsg, LOBBY};
use crate::metrics::ConnectionStats;
use crate::protocol::names::name_key;
use crate::protocol::{CloseCode, ErrorCode};

/// Messages the supervisor understands.
pub enum SupervisorMsg {
    /// Start the actor for a freshly upgraded WebSocket and answer with its address. The
    /// supervisor picks the name: `requested_name` if it is valid and free, else `guest-N`.
    StartConnection {
        args: Box<ConnectionArgs>,
        requested_name: Option<String>,
        peer: SocketAddr,
        reply: RpcReplyPort<Result<ActorRef<ConnectionMsg>, String>>,
    },
    /// Claim a new name for a connection; answers the old name, or why not.
    Rename {
        connection_id: u64,
        name: String,
        reply: RpcReplyPort<Result<String, (ErrorCode, String)>>,
    },
    /// Find or create a room, and record that the connection is in it.
    JoinRoom {
        connection_id: u64,
        room: String,
        reply: RpcReplyPort<Result<ActorRef<RoomMsg>, (ErrorCode, String)>>,
    },
    /// Record that the connection left a room.
    LeftRoom { connection_id: u64, room: String },
    /// Find or create a room (used at start for the lobby).
    EnsureRoom {
        room: String,
        reply: RpcReplyPort<Result<ActorRef<RoomMsg>, String>>,
    },
    /// Deliver a private message from one connection to another.
    Direct { from_id: u64, to: u64, text: String },
    /// Close every connection with `code` (1001 at shutdown); answers how many were asked.
    CloseAll {
        code: CloseCode,
        reply: RpcReplyPort<usize>,
    },
    /// Everything the actor inspector shows, except the rooms' own counters.
    Snapshot(RpcReplyPort<SupervisorSnapshot>),
    /// How many rooms are running (cheap, for `/metrics`).
    RoomCount(RpcReplyPort<usize>),
    /// Test-only: make one connection's actor panic; answers whether it was found.
    #[cfg(feature = "test-hooks")]
    InjectPanic {
        connection_id: u64,
        reply: RpcReplyPort<bool>,
    },
}

/// One connection as the inspector shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    pub id: u64,
    pub actor_id: String,
    pub name: String,
    pub rooms: Vec<String>,
    pub connected_since_ms: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub queue_depth: usize,
}

/// The supervisor's answer to [`SupervisorMsg::Snapshot`].
pub struct SupervisorSnapshot {
    pub actor_id: String,
    pub children: usize,
    pub connections: Vec<ConnectionView>,
    pub rooms: Vec<ActorRef<RoomMsg>>,
    pub events: Vec<LifecycleEvent>,
}

/// What the supervisor starts with.
pub struct SupervisorArgs {
    pub history_limit: usize,
    pub presence_limit: usize,
    /// Most rooms alive at once (the lobby included).
    pub max_rooms: usize,
}

/// What the supervisor remembers about each live connection actor.
struct Child {
    connection_id: u64,
    name: String,
    outbox: Outbox,
    rooms: BTreeSet<String>,
    stats: Arc<ConnectionStats>,
}

/// The supervisor's data.
pub struct SupervisorState {
    history_limit: usize,
    presence_limit: usize,
    max_rooms: usize,
    children: HashMap<ActorId, Child>,
    by_connection: HashMap<u64, ActorId>,
    /// Name key (lowercase) → connection id.
    names: HashMap<String, u64>,
    rooms: BTreeMap<String, ActorRef<RoomMsg>>,
    log: LifecycleLog,
}

/// The supervisor's behaviour.
pub struct ConnectionSupervisor;

impl Actor for ConnectionSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            history_limit: args.history_limit,
            presence_limit: args.presence_limit,
            max_rooms: args.max_rooms.max(1),
            children: HashMap::new(),
            by_connection: HashMap::new(),
            names: HashMap::new(),
            rooms: BTreeMap::new(),
            log: LifecycleLog::default(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::StartConnection {
                args,
                requested_name,
                peer,
                reply,
            } => {
                let answer = state
                    .start_connection(&myself, args, requested_name, peer)
                    .await;
                let _ = reply.send(answer);
            }
            SupervisorMsg::Rename {
                connection_id,
                name,
                reply,
            } => {
                let _ = reply.send(state.rename(connection_id, name));
            }
            SupervisorMsg::JoinRoom {
                connection_id,
                room,
                reply,
            } => {
                let answer = state.room(&myself, &room).await;
                if answer.is_ok() {
                    if let Some(child) = state.child_mut(connection_id) {
                        child.rooms.insert(room);
                    }
                }
                let _ = reply.send(answer);
            }
            SupervisorMsg::LeftRoom {
                connection_id,
                room,
            } => {
                if let Some(child) = state.child_mut(connection_id) {
                    child.rooms.remove(&room);
                }
            }
            SupervisorMsg::EnsureRoom { room, reply } => {
                let answer = state.room(&myself, &room).await;
                let _ = reply.send(answer.map_err(|(_, reason)| reason));
            }
            SupervisorMsg::Direct { from_id, to, text } => state.direct(from_id, to, text),
            SupervisorMsg::CloseAll { code, reply } => {
                for child in state.children.values() {
                    child.outbox.close(code);
                }
                let _ = reply.send(state.children.len());
            }
            SupervisorMsg::Snapshot(reply) => {
                let _ = reply.send(state.snapshot(&myself));
            }
            SupervisorMsg::RoomCount(reply) => {
                let _ = reply.send(state.rooms.len());
            }
            #[cfg(feature = "test-hooks")]
            SupervisorMsg::InjectPanic {
                connection_id,
                reply,
            } => {
                let target = state.by_connection.get(&connection_id).copied();
                let found = myself
                    .get_children()
                    .into_iter()
                    .find(|cell| Some(cell.get_id()) == target)
                    .is_some_and(|cell| {
                        ActorRef::<ConnectionMsg>::from(cell)
                            .cast(ConnectionMsg::Panic)
                            .is_ok()
                    });
                let _ = reply.send(found);
            }
        }
        Ok(())
    }

    /// The override that keeps the supervisor alive when a child ends.
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _last_state, reason) => {
                let reason = reason.unwrap_or_else(|| "stopped".to_owned());
                state.child_ended(cell.get_id(), LifecycleEventKind::Stopped, reason);
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                state.child_ended(cell.get_id(), LifecycleEventKind::Failed, error.to_string());
            }
            _ => {}
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn start_connection(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        mut args: Box<ConnectionArgs>,
        requested_name: Option<String>,
        peer: SocketAddr,
    ) -> Result<ActorRef<ConnectionMsg>, String> {
        let connection_id = args.id;
        args.name = format!("guest-{connection_id}");
        if let Some(requested) = requested_name {
            match self.claimable_name(&requested, connection_id) {
                Ok(name) => args.name = name,
                Err(refusal) => args.name_refusal = Some(refusal),
            }
        }
        let name = args.name.clone();
        let outbox = args.outbox.clone();
        let stats = Arc::clone(&args.stats);
        let (actor, _join) = Actor::spawn_linked(None, ConnectionActor, *args, myself.get_cell())
            .await
            .map_err(|error| {
                tracing::error!(connection = connection_id, %error, "could not start a connection actor");
                error.to_string()
            })?;
        tracing::info!(
            connection = connection_id,
            actor = %actor.get_id(),
            %name,
            %peer,
            "connection opened"
        );
        self.log.record(
            LifecycleEventKind::Started,
            actor.get_id().to_string(),
            "connection",
            name.clone(),
            None,
        );
        self.names.insert(name_key(&name), connection_id);
        self.by_connection.insert(connection_id, actor.get_id());
        self.children.insert(
            actor.get_id(),
            Child {
                connection_id,
                name,
                outbox,
                rooms: BTreeSet::from([LOBBY.to_owned()]),
                stats,
            },
        );
        Ok(actor)
    }

    fn child(&self, connection_id: u64) -> Option<&Child> {
        self.by_connection
            .get(&connection_id)
            .and_then(|actor_id| self.children.get(actor_id))
    }

    fn child_mut(&mut self, connection_id: u64) -> Option<&mut Child> {
        self.by_connection
            .get(&connection_id)
            .and_then(|actor_id| self.children.get_mut(actor_id))
    }

    /// Bookkeeping when a child actor ends, whichever way it ended.
    fn child_ended(&mut self, actor_id: ActorId, how: LifecycleEventKind, reason: String) {
        if let Some(child) = self.children.remove(&actor_id) {
            self.by_connection.remove(&child.connection_id);
            if self.names.get(&name_key(&child.name)) == Some(&child.connection_id) {
                self.names.remove(&name_key(&child.name));
            }
            // A failed actor never ran its `post_stop`: take it out of its rooms (so presence
            // is right) and tell its client. After a clean stop these are harmless repeats.
            for room in &child.rooms {
                if let Some(room) = self.rooms.get(room) {
                    let _ = room.cast(RoomMsg::Leave {
                        id: child.connection_id,
                    });
                }
            }
            if how == LifecycleEventKind::Failed {
                child.outbox.close(CloseCode::InternalError);
                tracing::error!(
                    connection = child.connection_id,
                    actor = %actor_id,
                    error = %reason,
                    "connection actor failed; closed its connection with 1011"
                );
            } else {
                tracing::info!(
                    connection = child.connection_id,
                    actor = %actor_id,
                    %reason,
                    "connection closed"
                );
            }
            self.log.record(
                how,
                actor_id.to_string(),
                "connection",
                child.name,
                Some(reason),
            );
        } else if let Some(name) = self
            .rooms
            .iter()
            .find(|(_, room)| room.get_id() == actor_id)
            .map(|(name, _)| name.clone())
        {
            // Rooms never fail on client input; if one stops, the next join starts it afresh.
            self.rooms.remove(&name);
            tracing::warn!(room = %name, actor = %actor_id, %reason, "room stopped");
            self.log
                .record(how, actor_id.to_string(), "room", name, Some(reason));
        }
    }

    fn snapshot(&self, myself: &ActorRef<SupervisorMsg>) -> SupervisorSnapshot {
        let mut connections: Vec<ConnectionView> = self
            .children
            .iter()
            .map(|(actor_id, child)| ConnectionView {
                id: child.connection_id,
                actor_id: actor_id.to_string(),
                name: child.name.clone(),
                rooms: child.rooms.iter().cloned().collect(),
                connected_since_ms: child.stats.connected_since_ms,
                messages_in: child.stats.messages_in.load(Ordering::Relaxed),
                messages_out: child.stats.messages_out.load(Ordering::Relaxed),
                queue_depth: child.outbox.queued(),
            })
            .collect();
        connections.sort_by_key(|view| view.id);
        SupervisorSnapshot {
            actor_id: myself.get_id().to_string(),
            children: myself.get_children().len(),
            connections,
            rooms: self.rooms.values().cloned().collect(),
            events: self.log.entries(),
        }
    }
}
