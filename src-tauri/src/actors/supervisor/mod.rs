//! The supervisor: owns **lifecycles**, and nothing else. It spawns every actor as a linked child
//! (the directory, the rooms, one actor per connection), is told by the actor system whenever a
//! child stops or fails, and decides what happens next:
//!
//! | child | stops | fails (panics) |
//! |---|---|---|
//! | connection | the directory forgets it | its client gets 1011; the directory forgets it |
//! | room | (evicted, or shutdown) | **restarted**, same name, same log: numbering and members continue |
//! | directory | fatal (unless shutting down) | fatal: names and memberships are gone |
//!
//! ractor's default `handle_supervisor_evt` stops the supervisor when any child ends: right for a
//! tree of co-dependent actors, wrong for connections that come and go all day. This one
//! overrides it.
//!
//! **Restart intensity**, as in OTP: at most N room restarts in T seconds
//! (`--max-room-restarts`, `--room-restart-window-secs`). A room that keeps failing (say a stored
//! frame whose fan-out panics, replayed after every restart) would otherwise crash-loop for ever.
//! Beyond the limit the supervisor logs why and raises the [`FatalSignal`]: the server closes
//! every connection with 1001 and the embedding program exits non-zero.
//!
//! **Start timeouts roll back.** The WebSocket handler waits for `StartConnection` with a
//! timeout. If the answer cannot be delivered (the handler gave up and closed the socket), the
//! actor just started is stopped again, which releases its name and lobby membership: no ghost.

pub mod cluster_names;
mod fatal;
mod restart_intensity;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use super::connection::{ConnectionActor, ConnectionArgs, ConnectionMsg, MAX_ROOMS_PER_CONNECTION};
use super::directory::{Directory, DirectoryArgs, DirectoryMsg};
use super::lifecycle_log::{LifecycleEvent, LifecycleEventKind, LifecycleLog};
use super::room::{RoomActor, RoomArgs, RoomMsg};
use crate::cluster::Cluster;
use crate::metrics::Metrics;
use crate::room_log::LogStore;
pub use fatal::FatalSignal;
pub use restart_intensity::RestartIntensity;

/// After a room could not even be spawned (its log would not open), the next attempt waits this
/// long (each attempt counts against the restart intensity).
const RESPAWN_DELAY: Duration = Duration::from_millis(500);

/// Which actor a test wants to panic.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone)]
pub enum PanicTarget {
    Connection(u64),
    Room(String),
}

/// Messages the supervisor understands.
pub enum SupervisorMsg {
    /// Starts the actor of a freshly upgraded WebSocket and answers with its address. The
    /// directory picks the name (`requested_name`, a `session` takeover, or `guest-N`).
    StartConnection {
        args: Box<ConnectionArgs>,
        /// The name asked for (`?name=`), already claimed in the cluster if there is one
        /// ([`cluster_names::reserve`], called by the handler so that this actor never waits
        /// for Redis).
        requested_name: cluster_names::Reserved,
        session: Option<String>,
        peer: SocketAddr,
        reply: RpcReplyPort<Result<ActorRef<ConnectionMsg>, String>>,
    },
    /// From the directory: a room was named for the first time.
    StartRoom {
        room: String,
    },
    /// From the directory: a room was evicted; stop it and delete its log.
    RetireRoom {
        room: String,
    },
    /// The directory's address.
    Directory(RpcReplyPort<ActorRef<DirectoryMsg>>),
    /// From now on nothing is restarted (the server is stopping).
    PrepareShutdown(RpcReplyPort<()>),
    Snapshot(RpcReplyPort<SupervisorSnapshot>),
    /// Test-only: make one actor panic; answers whether it was found.
    #[cfg(feature = "test-hooks")]
    InjectPanic {
        target: PanicTarget,
        reply: RpcReplyPort<bool>,
    },
}

/// The supervisor's answer to [`SupervisorMsg::Snapshot`].
pub struct SupervisorSnapshot {
    pub actor_id: String,
    pub children: usize,
    pub events: Vec<LifecycleEvent>,
    /// Room restarts since the server started, per room and in total.
    pub room_restarts: BTreeMap<String, u64>,
    pub room_restarts_total: u64,
    /// Connection id → its actor's id.
    pub connection_actors: HashMap<u64, String>,
    pub max_room_restarts: u32,
    pub restart_window_secs: u64,
}

/// What the supervisor starts with.
pub struct SupervisorArgs {
    pub store: Arc<dyn LogStore>,
    pub presence_limit: usize,
    /// Most rooms alive at once (the lobby included).
    pub max_rooms: usize,
    pub max_room_restarts: u32,
    pub room_restart_window: Duration,
    pub call_timeout: Duration,
    pub metrics: Arc<Metrics>,
    pub fatal: Arc<FatalSignal>,
    /// The cluster (`--redis`): names are claimed there too ([`cluster_names`]).
    pub cluster: Option<Arc<Cluster>>,
    /// Test-only: how long `StartConnection` waits before answering (to test the rollback),
    /// and for how many connections (the first ones).
    #[cfg(feature = "test-hooks")]
    pub start_connection_delay: (Duration, usize),
}

/// What the supervisor remembers about a child.
#[derive(Debug, Clone)]
enum Child {
    Connection { id: u64, name: String },
    Room { name: String },
    Directory,
}

/// The supervisor's data.
pub struct SupervisorState {
    directory: ActorRef<DirectoryMsg>,
    store: Arc<dyn LogStore>,
    presence_limit: usize,
    call_timeout: Duration,
    metrics: Arc<Metrics>,
    fatal: Arc<FatalSignal>,
    children: HashMap<ActorId, Child>,
    /// Room name → its current actor.
    rooms: HashMap<String, ActorRef<RoomMsg>>,
    room_restarts: BTreeMap<String, u64>,
    intensity: RestartIntensity,
    log: LifecycleLog,
    shutting_down: bool,
    cluster: Option<Arc<Cluster>>,
    #[cfg(feature = "test-hooks")]
    start_connection_delay: (Duration, usize),
}

/// The supervisor's behaviour.
pub struct ConnectionSupervisor;

impl Actor for ConnectionSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let directory_args = DirectoryArgs {
            supervisor: myself.clone(),
            max_rooms: args.max_rooms,
            max_rooms_per_connection: MAX_ROOMS_PER_CONNECTION,
            cluster: args.cluster.clone(),
        };
        let (directory, _) =
            Actor::spawn_linked(None, Directory, directory_args, myself.get_cell()).await?;
        let mut log = LifecycleLog::default();
        log.record(
            LifecycleEventKind::Started,
            directory.get_id().to_string(),
            "directory",
            "directory".to_owned(),
            None,
        );
        Ok(SupervisorState {
            children: HashMap::from([(directory.get_id(), Child::Directory)]),
            directory,
            store: args.store,
            presence_limit: args.presence_limit,
            call_timeout: args.call_timeout,
            metrics: args.metrics,
            fatal: args.fatal,
            rooms: HashMap::new(),
            room_restarts: BTreeMap::new(),
            intensity: RestartIntensity::new(args.max_room_restarts, args.room_restart_window),
            log,
            shutting_down: false,
            cluster: args.cluster,
            #[cfg(feature = "test-hooks")]
            start_connection_delay: args.start_connection_delay,
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
                session,
                peer,
                reply,
            } => {
                state
                    .start_connection(&myself, args, requested_name, session, peer, reply)
                    .await;
            }
            SupervisorMsg::StartRoom { room } => {
                if !state.shutting_down && !state.rooms.contains_key(&room) {
                    state.start_room(&myself, room, false).await;
                }
            }
            SupervisorMsg::RetireRoom { room } => state.retire_room(&room).await,
            SupervisorMsg::Directory(reply) => {
                let _ = reply.send(state.directory.clone());
            }
            SupervisorMsg::PrepareShutdown(reply) => {
                state.shutting_down = true;
                let _ = reply.send(());
            }
            SupervisorMsg::Snapshot(reply) => {
                let _ = reply.send(state.snapshot(&myself));
            }
            #[cfg(feature = "test-hooks")]
            SupervisorMsg::InjectPanic { target, reply } => {
                let _ = reply.send(state.inject_panic(&myself, &target));
            }
        }
        Ok(())
    }

    /// The override that keeps the supervisor alive when a child ends; see the module docs.
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _last_state, reason) => {
                let reason = reason.unwrap_or_else(|| "stopped".to_owned());
                state.child_stopped(cell.get_id(), reason);
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                state
                    .child_failed(&myself, cell.get_id(), error.to_string())
                    .await;
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
        reserved: cluster_names::Reserved,
        session: Option<String>,
        peer: SocketAddr,
        reply: RpcReplyPort<Result<ActorRef<ConnectionMsg>, String>>,
    ) {
        if reply.is_closed() {
            return; // the handler already gave up: start nothing
        }
        let id = args.id;
        let requested_name = reserved.requested.clone();
        let claim = self
            .directory
            .call(
                |reply| DirectoryMsg::Claim {
                    id,
                    requested_name,
                    session,
                    outbox: args.outbox.clone(),
                    stats: Arc::clone(&args.stats),
                    reply,
                },
                Some(self.call_timeout),
            )
            .await;
        let Ok(CallResult::Success(claimed)) = claim else {
            let _ = reply.send(Err("the directory did not answer".to_owned()));
            return;
        };
        args.name = claimed.name.clone();
        args.name_refusal = reserved.refusal(&claimed);
        if let Some(cluster) = &self.cluster {
            // In the background: this actor never waits for Redis.
            let (cluster, claimed) = (Arc::clone(cluster), claimed.clone());
            tokio::spawn(
                async move { cluster_names::settle(&cluster, id, &reserved, &claimed).await },
            );
        }
        args.session = claimed.session;
        let name = claimed.name;
        let actor = match Actor::spawn_linked(None, ConnectionActor, *args, myself.get_cell()).await
        {
            Ok((actor, _)) => actor,
            Err(error) => {
                tracing::error!(connection = id, %error, "could not start a connection actor");
                let _ = self
                    .directory
                    .cast(DirectoryMsg::ConnectionClosed { id, failed: false });
                let _ = reply.send(Err(error.to_string()));
                return;
            }
        };
        tracing::info!(connection = id, actor = %actor.get_id(), %name, %peer, "connection opened");
        self.log.record(
            LifecycleEventKind::Started,
            actor.get_id().to_string(),
            "connection",
            name.clone(),
            None,
        );
        self.children
            .insert(actor.get_id(), Child::Connection { id, name });

        #[cfg(feature = "test-hooks")]
        if self.start_connection_delay.1 > 0 {
            self.start_connection_delay.1 -= 1;
            tokio::time::sleep(self.start_connection_delay.0).await;
        }

        if reply.send(Ok(actor.clone())).is_err() {
            // The handler timed out and closed its socket. Stopping the actor runs its
            // `post_stop`, which tells the directory: name, session and rooms are released.
            tracing::warn!(
                connection = id,
                "the connection gave up before its actor started; stopping it"
            );
            actor.stop(Some(
                "the connection gave up waiting for its actor".to_owned(),
            ));
        }
    }

    async fn start_room(&mut self, myself: &ActorRef<SupervisorMsg>, name: String, restart: bool) {
        let args = RoomArgs {
            name: name.clone(),
            store: Arc::clone(&self.store),
            directory: self.directory.clone(),
            presence_limit: self.presence_limit,
            call_timeout: self.call_timeout,
            metrics: Arc::clone(&self.metrics),
        };
        match Actor::spawn_linked(None, RoomActor, args, myself.get_cell()).await {
            Ok((room, _)) => {
                let event = if restart {
                    LifecycleEventKind::Restarted
                } else {
                    LifecycleEventKind::Started
                };
                tracing::info!(room = %name, actor = %room.get_id(), restart, "room started");
                self.log
                    .record(event, room.get_id().to_string(), "room", name.clone(), None);
                self.children
                    .insert(room.get_id(), Child::Room { name: name.clone() });
                self.rooms.insert(name, room);
            }
            Err(error) => {
                tracing::error!(room = %name, %error, "could not start a room");
                self.log.record(
                    LifecycleEventKind::Failed,
                    String::new(),
                    "room",
                    name.clone(),
                    Some(error.to_string()),
                );
                if self.may_restart(&name) {
                    myself.send_after(RESPAWN_DELAY, move || SupervisorMsg::StartRoom {
                        room: name,
                    });
                }
            }
        }
    }

    /// Counts a restart of `room` against the intensity; raises the fatal signal beyond it.
    fn may_restart(&mut self, room: &str) -> bool {
        if self.shutting_down {
            return false;
        }
        *self.room_restarts.entry(room.to_owned()).or_default() += 1;
        Metrics::count(&self.metrics.room_restarts);
        if self.intensity.allow(tokio::time::Instant::now()) {
            return true;
        }
        let reason = format!(
            "room #{room} failed again: more than {} room restarts within {} s; the server \
             cannot heal itself and is shutting down",
            self.intensity.max(),
            self.intensity.window().as_secs()
        );
        tracing::error!("{reason}");
        self.fatal.raise(reason);
        false
    }

    async fn retire_room(&mut self, room: &str) {
        if let Some(actor) = self.rooms.remove(room) {
            actor.stop(Some("room limit reached; nobody was in it".to_owned()));
        }
        // Its history goes with it: a room of that name made later starts a new epoch.
        if let Err(error) = self.store.delete(room).await {
            tracing::warn!(%room, %error, "could not delete the log of an evicted room");
        }
    }

    fn child_stopped(&mut self, actor_id: ActorId, reason: String) {
        let Some(child) = self.children.remove(&actor_id) else {
            return;
        };
        match child {
            Child::Connection { id, name } => {
                let _ = self
                    .directory
                    .cast(DirectoryMsg::ConnectionClosed { id, failed: false });
                tracing::info!(connection = id, actor = %actor_id, %reason, "connection closed");
                self.log.record(
                    LifecycleEventKind::Stopped,
                    actor_id.to_string(),
                    "connection",
                    name,
                    Some(reason),
                );
            }
            Child::Room { name } => {
                self.forget_room(&name, &actor_id);
                tracing::info!(room = %name, actor = %actor_id, %reason, "room stopped");
                self.log.record(
                    LifecycleEventKind::Stopped,
                    actor_id.to_string(),
                    "room",
                    name,
                    Some(reason),
                );
            }
            Child::Directory => {
                if !self.shutting_down {
                    self.fatal
                        .raise(format!("the directory stopped unexpectedly: {reason}"));
                }
            }
        }
    }

    async fn child_failed(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        actor_id: ActorId,
        error: String,
    ) {
        let Some(child) = self.children.remove(&actor_id) else {
            return;
        };
        match child {
            Child::Connection { id, name } => {
                let _ = self
                    .directory
                    .cast(DirectoryMsg::ConnectionClosed { id, failed: true });
                tracing::error!(connection = id, actor = %actor_id, %error, "connection actor failed; closed its connection with 1011");
                self.log.record(
                    LifecycleEventKind::Failed,
                    actor_id.to_string(),
                    "connection",
                    name,
                    Some(error),
                );
            }
            Child::Room { name } => {
                self.forget_room(&name, &actor_id);
                tracing::error!(room = %name, actor = %actor_id, %error, "room failed; restarting it from its log");
                self.log.record(
                    LifecycleEventKind::Failed,
                    actor_id.to_string(),
                    "room",
                    name.clone(),
                    Some(error),
                );
                if self.may_restart(&name) {
                    self.start_room(myself, name, true).await;
                }
            }
            Child::Directory => {
                tracing::error!(%error, "the directory failed");
                self.fatal.raise(format!("the directory failed: {error}"));
            }
        }
    }

    /// A room actor is gone: the directory stops handing out its address.
    fn forget_room(&mut self, name: &str, actor_id: &ActorId) {
        if self
            .rooms
            .get(name)
            .is_some_and(|room| room.get_id() == *actor_id)
        {
            self.rooms.remove(name);
        }
        let _ = self.directory.cast(DirectoryMsg::RoomDown {
            room: name.to_owned(),
            actor: *actor_id,
        });
    }

    fn snapshot(&self, myself: &ActorRef<SupervisorMsg>) -> SupervisorSnapshot {
        SupervisorSnapshot {
            actor_id: myself.get_id().to_string(),
            children: myself.get_children().len(),
            events: self.log.entries(),
            room_restarts_total: self.room_restarts.values().sum(),
            room_restarts: self.room_restarts.clone(),
            connection_actors: self
                .children
                .iter()
                .filter_map(|(actor_id, child)| match child {
                    Child::Connection { id, .. } => Some((*id, actor_id.to_string())),
                    _ => None,
                })
                .collect(),
            max_room_restarts: self.intensity.max(),
            restart_window_secs: self.intensity.window().as_secs(),
        }
    }

    #[cfg(feature = "test-hooks")]
    fn inject_panic(&self, myself: &ActorRef<SupervisorMsg>, target: &PanicTarget) -> bool {
        match target {
            PanicTarget::Room(name) => self
                .rooms
                .get(name)
                .is_some_and(|room| room.cast(RoomMsg::Panic).is_ok()),
            PanicTarget::Connection(connection_id) => {
                let actor_id = self.children.iter().find_map(|(actor_id, child)| {
                    matches!(child, Child::Connection { id, .. } if id == connection_id)
                        .then_some(*actor_id)
                });
                myself
                    .get_children()
                    .into_iter()
                    .find(|cell| Some(cell.get_id()) == actor_id)
                    .is_some_and(|cell| {
                        ActorRef::<ConnectionMsg>::from(cell)
                            .cast(ConnectionMsg::Panic)
                            .is_ok()
                    })
            }
        }
    }
}
