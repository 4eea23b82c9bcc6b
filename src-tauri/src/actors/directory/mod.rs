//! The directory: who is connected, what they are called, which rooms exist, who is in them,
//! and where each room's **current** actor is.
//!
//! It is an actor of its own that **never awaits**: every message is answered from its own maps,
//! in microseconds, so anyone may call it (the supervisor while starting a connection, a room
//! registering, a connection joining) without risk of a cycle. It only ever `cast`s.
//!
//! Why not keep room addresses around? A room may crash and be restarted under a new address.
//! Nobody holds a room's `ActorRef` for ever: connections and HTTP handlers cache it, and on a
//! failed send ask the directory again ([`DirectoryMsg::WhereIs`]), which answers as soon as the
//! room runs again. The hot path (a post into a room, the room's fan-out) never comes here.
//!
//! **Memberships live here**, not in the rooms, so that they survive a room's crash. Joins,
//! leaves and renames go through the directory, which records them and forwards them to the
//! room's current actor. A room that starts (or restarts) registers with
//! [`DirectoryMsg::RoomStarted`] and gets every membership back, each with its
//! [`MemberCursor`] (the last seq queued for that member), so the new actor resumes every member
//! exactly where the old one stopped. A leave is kept as "leaving" until the room confirms it, so
//! even a leave lost in a crash still ends with `left`.
//!
//! Direct messages: the sender's actor asks for the recipient's outbox ([`DirectoryMsg::Lookup`])
//! and delivers itself. One lookup, no frame through any shared mailbox.
//!
//! **On a cluster node** (`--redis`) the directory still decides among its own connections, and
//! never waits for Redis: names are claimed there before the directory is asked
//! ([`super::supervisor::cluster_names`], [`super::cluster_calls`]); the directory tells the
//! [`Cluster`] which name each of its connections holds (refreshed in Redis) and lets it release
//! them when a connection goes, in the background. [`DirectoryMsg::LocalPresence`] feeds the
//! cluster's presence ([`crate::cluster::presence`]). A direct message to an id it does not know
//! goes through the recipient node's inbox ([`crate::cluster::inbox`]).

mod names;
mod rooms;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::sync::oneshot;

use super::outbox::Outbox;
use super::room::{MemberCursor, RestoredMember, RoomMsg};
use super::room_list::RoomList;
use super::supervisor::SupervisorMsg;
use crate::cluster::presence::NodePresence;
use crate::cluster::Cluster;
use crate::metrics::ConnectionStats;
use crate::protocol::{CloseCode, ErrorCode, Resume};
use names::Names;
use rooms::RoomEntry;

/// Why a request was refused: the code and sentence of an `error` frame.
pub type Refusal = (ErrorCode, String);

/// The answer to a join: the room's current actor, if it runs already.
pub type JoinAnswer = Result<Option<ActorRef<RoomMsg>>, Refusal>;

/// Messages the directory understands.
pub enum DirectoryMsg {
    /// Registers a connection whose actor is about to start: picks its name, or hands it the name
    /// of the connection whose `session` token it presents (closing that one with 4001).
    Claim {
        id: u64,
        requested_name: Option<String>,
        session: Option<String>,
        outbox: Outbox,
        stats: Arc<ConnectionStats>,
        reply: RpcReplyPort<Claimed>,
    },
    /// The connection is gone (its actor stopped, failed, or never started). Idempotent.
    ConnectionClosed {
        id: u64,
        failed: bool,
    },
    /// Claims a new name for a connection; answers the old one, or why not.
    Rename {
        id: u64,
        name: String,
        reply: RpcReplyPort<Result<String, Refusal>>,
    },
    /// Records a membership (starting the room if needed) and forwards it to the room. Answers
    /// the room's current actor if it runs. `done` fires when the member is caught up.
    JoinRoom {
        id: u64,
        room: String,
        resume: Option<Resume>,
        done: Option<oneshot::Sender<()>>,
        reply: RpcReplyPort<JoinAnswer>,
    },
    /// The connection leaves a room; the room sends `left`.
    LeaveRoom {
        id: u64,
        room: String,
    },
    /// The current actor of `room`; waits while it (re)starts. `create` starts it if needed.
    WhereIs {
        room: String,
        create: bool,
        reply: RpcReplyPort<Option<ActorRef<RoomMsg>>>,
    },
    /// A connection's name and outbox, for a direct message.
    Lookup {
        id: u64,
        reply: RpcReplyPort<Option<(String, Outbox)>>,
    },
    /// A room actor started: answers its members, or `None` if the room is no longer wanted.
    RoomStarted {
        room: String,
        actor: ActorRef<RoomMsg>,
        reply: RpcReplyPort<Option<Vec<RestoredMember>>>,
    },
    /// From the supervisor: a room actor died and is being restarted.
    RoomDown {
        room: String,
        actor: ActorId,
    },
    /// From a room: it processed a leave.
    MemberLeft {
        room: String,
        id: u64,
        cursor: Arc<MemberCursor>,
    },
    /// Closes every connection with `code` (1001 at shutdown); answers how many.
    CloseAll {
        code: CloseCode,
        reply: RpcReplyPort<usize>,
    },
    Snapshot(RpcReplyPort<DirectorySnapshot>),
    /// Cluster nodes only: each room with members here, its member count and its first
    /// `limit` members by id (for [`crate::cluster::presence`]).
    LocalPresence {
        limit: usize,
        reply: RpcReplyPort<Vec<LocalRoom>>,
    },
    /// How many rooms exist (cheap, for `/metrics`).
    RoomCount(RpcReplyPort<usize>),
}

/// The answer to [`DirectoryMsg::Claim`].
#[derive(Debug, Clone)]
pub struct Claimed {
    pub name: String,
    /// Why the requested name was refused, if it was.
    pub refusal: Option<Refusal>,
    /// This connection's session token (for its `welcome`).
    pub session: String,
    /// The id of the connection it replaced, if it presented a live session.
    pub replaced: Option<u64>,
}

/// A room with members on this node, for the cluster's presence.
#[derive(Debug, Clone)]
pub struct LocalRoom {
    pub room: String,
    /// `None` while it (re)starts.
    pub actor: Option<ActorRef<RoomMsg>>,
    pub presence: NodePresence,
}

/// One connection as the inspector shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    pub id: u64,
    /// Filled in from the supervisor, which knows the actors.
    pub actor_id: String,
    pub name: String,
    pub rooms: Vec<String>,
    pub connected_since_ms: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub queue_depth: usize,
}

/// One room as the directory knows it.
#[derive(Debug, Clone)]
pub struct RoomDirectoryView {
    pub name: String,
    /// `None` while it (re)starts.
    pub actor: Option<ActorRef<RoomMsg>>,
    pub members: usize,
}

/// The answer to [`DirectoryMsg::Snapshot`].
#[derive(Debug, Clone)]
pub struct DirectorySnapshot {
    pub actor_id: String,
    pub connections: Vec<ConnectionView>,
    pub rooms: Vec<RoomDirectoryView>,
    pub names: usize,
    pub sessions: usize,
}

/// What the directory starts with.
pub struct DirectoryArgs {
    pub supervisor: ActorRef<SupervisorMsg>,
    /// Most rooms alive at once (the lobby included).
    pub max_rooms: usize,
    /// Rooms one connection may be in, the lobby included.
    pub max_rooms_per_connection: usize,
    /// The cluster (`--redis`): names held here are kept in Redis too.
    pub cluster: Option<Arc<Cluster>>,
}

/// A registered connection.
struct Connection {
    name: String,
    outbox: Outbox,
    stats: Arc<ConnectionStats>,
    session: String,
    /// The rooms it is in (a short vector: see `room_list.rs`).
    rooms: RoomList<()>,
}

/// The directory's data.
pub struct DirectoryState {
    supervisor: ActorRef<SupervisorMsg>,
    max_rooms: usize,
    max_rooms_per_connection: usize,
    connections: HashMap<u64, Connection>,
    names: Names,
    rooms: BTreeMap<String, RoomEntry>,
    cluster: Option<Arc<Cluster>>,
}

/// The directory's behaviour.
pub struct Directory;

impl Actor for Directory {
    type Msg = DirectoryMsg;
    type State = DirectoryState;
    type Arguments = DirectoryArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: DirectoryArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(DirectoryState {
            supervisor: args.supervisor,
            max_rooms: args.max_rooms.max(1),
            max_rooms_per_connection: args.max_rooms_per_connection.max(1),
            connections: HashMap::new(),
            names: Names::default(),
            rooms: BTreeMap::new(),
            cluster: args.cluster,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DirectoryMsg::Claim {
                id,
                requested_name,
                session,
                outbox,
                stats,
                reply,
            } => {
                let claimed = state.claim(id, requested_name, session, outbox, stats);
                let _ = reply.send(claimed);
            }
            DirectoryMsg::ConnectionClosed { id, failed } => state.connection_closed(id, failed),
            DirectoryMsg::Rename { id, name, reply } => {
                let _ = reply.send(state.rename(id, name));
            }
            DirectoryMsg::JoinRoom {
                id,
                room,
                resume,
                done,
                reply,
            } => {
                let _ = reply.send(state.join(id, room, resume, done));
            }
            DirectoryMsg::LeaveRoom { id, room } => state.leave(id, &room, true),
            DirectoryMsg::WhereIs {
                room,
                create,
                reply,
            } => state.where_is(room, create, reply),
            DirectoryMsg::Lookup { id, reply } => {
                let found = state
                    .connections
                    .get(&id)
                    .map(|connection| (connection.name.clone(), connection.outbox.clone()));
                let _ = reply.send(found);
            }
            DirectoryMsg::RoomStarted { room, actor, reply } => {
                let _ = reply.send(state.room_started(&room, actor));
            }
            DirectoryMsg::RoomDown { room, actor } => state.room_down(&room, &actor),
            DirectoryMsg::MemberLeft { room, id, cursor } => state.member_left(&room, id, &cursor),
            DirectoryMsg::CloseAll { code, reply } => {
                for connection in state.connections.values() {
                    connection.outbox.close(code);
                }
                let _ = reply.send(state.connections.len());
            }
            DirectoryMsg::Snapshot(reply) => {
                let _ = reply.send(state.snapshot(&myself));
            }
            DirectoryMsg::LocalPresence { limit, reply } => {
                let _ = reply.send(state.local_presence(limit));
            }
            DirectoryMsg::RoomCount(reply) => {
                let _ = reply.send(state.rooms.len());
            }
        }
        Ok(())
    }
}

impl DirectoryState {
    fn claim(
        &mut self,
        id: u64,
        requested_name: Option<String>,
        session: Option<String>,
        outbox: Outbox,
        stats: Arc<ConnectionStats>,
    ) -> Claimed {
        let mut replaced = None;
        let mut refusal = None;
        let taken_over = session
            .as_deref()
            .and_then(|token| self.names.session_owner(token))
            .filter(|owner| *owner != id)
            .and_then(|owner| self.connections.get(&owner).map(|old| (owner, old)));
        let name = if let Some((owner, old)) = taken_over {
            // The same client is back while its old connection is still being reaped: the new
            // one takes the name at once, the old one is told why it goes.
            old.outbox.close(CloseCode::Replaced);
            tracing::info!(connection = id, replaced = owner, name = %old.name, "a session took over its old connection");
            replaced = Some(owner);
            old.name.clone()
        } else {
            match requested_name.map(|requested| self.names.claimable(&requested, id)) {
                Some(Ok(name)) => name,
                Some(Err(why)) => {
                    refusal = Some(why);
                    self.names.guest_name(id)
                }
                None => self.names.guest_name(id),
            }
        };
        if let Some(old) = replaced {
            // The old connection keeps running until its socket closes, but no longer owns its
            // session: the token now belongs to the new connection only.
            if let Some(old) = self.connections.get(&old) {
                let token = old.session.clone();
                self.names.remove_session(&token);
            }
        }
        self.names.take(&name, id);
        if let Some(cluster) = &self.cluster {
            cluster.hold_name(id, &name);
        }
        let token = crate::protocol::token::random_hex(crate::protocol::token::SESSION_TOKEN_BYTES);
        self.names.add_session(token.clone(), id);
        self.connections.insert(
            id,
            Connection {
                name: name.clone(),
                outbox,
                stats,
                session: token.clone(),
                rooms: RoomList::default(),
            },
        );
        Claimed {
            name,
            refusal,
            session: token,
            replaced,
        }
    }

    fn connection_closed(&mut self, id: u64, failed: bool) {
        let Some(connection) = self.connections.remove(&id) else {
            return;
        };
        if failed {
            connection.outbox.close(CloseCode::InternalError);
        }
        self.names.release(&connection.name, id);
        if let Some(cluster) = &self.cluster {
            cluster.forget_connection(id, &connection.name);
        }
        if self.names.session_owner(&connection.session) == Some(id) {
            self.names.remove_session(&connection.session);
        }
        for room in connection.rooms.names() {
            self.mark_leaving(id, room, &connection.outbox, false);
        }
    }

    fn rename(&mut self, id: u64, requested: String) -> Result<String, Refusal> {
        let name = self.names.claimable(&requested, id)?;
        let connection = self.connections.get_mut(&id).ok_or((
            ErrorCode::Unavailable,
            "this connection is closing".to_owned(),
        ))?;
        let old_name = std::mem::replace(&mut connection.name, name.clone());
        self.names.rename(id, &old_name, &name);
        if let Some(cluster) = &self.cluster {
            cluster.hold_name(id, &name);
        }
        for room in connection.rooms.names() {
            if let Some(actor) = self.rooms.get(room).and_then(RoomEntry::actor) {
                let _ = actor.cast(RoomMsg::Renamed {
                    id,
                    name: name.clone(),
                });
            }
        }
        Ok(old_name)
    }

    fn snapshot(&self, myself: &ActorRef<DirectoryMsg>) -> DirectorySnapshot {
        let mut connections: Vec<ConnectionView> = self
            .connections
            .iter()
            .map(|(id, connection)| ConnectionView {
                id: *id,
                actor_id: String::new(),
                name: connection.name.clone(),
                rooms: connection.rooms.sorted_names(),
                connected_since_ms: connection.stats.connected_since_ms,
                messages_in: connection.stats.messages_in.load(Ordering::Relaxed),
                messages_out: connection.stats.messages_out.load(Ordering::Relaxed),
                queue_depth: connection.outbox.queued(),
            })
            .collect();
        connections.sort_by_key(|view| view.id);
        DirectorySnapshot {
            actor_id: myself.get_id().to_string(),
            connections,
            rooms: self
                .rooms
                .iter()
                .map(|(name, entry)| RoomDirectoryView {
                    name: name.clone(),
                    actor: entry.actor().cloned(),
                    members: entry.members.len(),
                })
                .collect(),
            names: self.names.names_held(),
            sessions: self.names.sessions(),
        }
    }
}
