//! What every HTTP handler shares: configuration, the actors' addresses and a few counters.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ractor::rpc::CallResult;
use ractor::ActorRef;
use tokio_util::sync::CancellationToken;

use super::access::AccessControl;
use super::connections::HttpConnections;
use super::request_guard::RequestPolicy;
use crate::actors::connection::CONNECTIONS_GROUP;
use crate::actors::directory::DirectoryMsg;
use crate::actors::room::{RoomMsg, LOBBY};
use crate::actors::supervisor::{FatalSignal, SupervisorMsg};
use crate::cluster::Cluster;
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::room_log::LogStore;

/// Shared, read-mostly server state. Handlers get it as `State<Arc<AppState>>`.
pub struct AppState {
    pub config: ServerConfig,
    /// Random per process: lets the window check it reached its own server.
    pub instance: String,
    /// Where rooms' history is kept (read directly by the history API).
    pub store: Arc<dyn LogStore>,
    pub started: Instant,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub directory: ActorRef<DirectoryMsg>,
    /// The lobby's last known address (it changes when the lobby is restarted).
    pub(crate) lobby: Mutex<Option<ActorRef<RoomMsg>>>,
    /// Raised when the server cannot go on (see [`FatalSignal`]).
    pub fatal: Arc<FatalSignal>,
    /// This server's process-group scope. Process groups are global to the process, so two
    /// servers in one process (as in the tests) must not see each other's actors.
    pub scope: String,
    pub sockets: SocketCounter,
    /// Cancelled when shutdown begins: new WebSockets are refused from then on.
    pub draining: CancellationToken,
    pub policy: RequestPolicy,
    pub metrics: Arc<Metrics>,
    /// HTTP connections before they become WebSockets: timeouts, pending and per-peer caps.
    pub http: Arc<HttpConnections>,
    /// Most WebSockets open at once (from the config, or derived from the open-file limit).
    pub max_connections: usize,
    /// The soft open-file limit in force after start (`None` where the OS does not say).
    pub open_file_limit: Option<u64>,
    /// The addresses accepting connections (`GET /api/about`).
    pub listening: Vec<std::net::SocketAddr>,
    /// The main listener's address (the share listener tries the same port).
    pub local_addr: std::net::SocketAddr,
    /// Access tokens, failures, the share (see [`super::access`]).
    pub access: Arc<AccessControl>,
    /// Starts at 1; see [`AppState::next_connection_id`].
    pub(crate) next_connection_id: AtomicU64,
    /// This node's handle on its cluster (`--redis`); `None` on a single node.
    pub cluster: Option<Arc<Cluster>>,
}

impl AppState {
    /// A fresh connection id; ids are never reused within one server run. In a cluster the id
    /// carries the node's number ([`crate::cluster::ids`]), unique across nodes; `None` while the
    /// node has no number yet (Redis unreachable since it started).
    pub fn next_connection_id(&self) -> Option<u64> {
        let local = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        match &self.cluster {
            Some(cluster) => cluster.connection_id(local),
            None => Some(local),
        }
    }

    /// Live connection actors, read from the actor system (the process group), not counted
    /// separately: a counter could drift, the group cannot.
    pub fn active_actors(&self) -> usize {
        ractor::pg::get_scoped_members(&self.scope, &CONNECTIONS_GROUP.to_owned()).len()
    }

    /// The lobby's current actor: the cached address, or the directory's answer (which waits
    /// while the lobby restarts).
    pub async fn lobby(&self) -> Option<ActorRef<RoomMsg>> {
        let cached = self
            .lobby
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if cached.is_some() {
            return cached;
        }
        let answer = self
            .directory
            .call(
                |reply| DirectoryMsg::WhereIs {
                    room: LOBBY.to_owned(),
                    create: true,
                    reply,
                },
                Some(self.config.actor_call_timeout),
            )
            .await;
        let found = match answer {
            Ok(CallResult::Success(found)) => found,
            _ => None,
        };
        *self.lobby.lock().unwrap_or_else(PoisonError::into_inner) = found.clone();
        found
    }

    /// Forgets `stale` (a send to it failed): the next [`AppState::lobby`] asks the directory.
    pub fn forget_lobby(&self, stale: &ActorRef<RoomMsg>) {
        let mut cached = self.lobby.lock().unwrap_or_else(PoisonError::into_inner);
        if cached
            .as_ref()
            .is_some_and(|lobby| lobby.get_id() == stale.get_id())
        {
            *cached = None;
        }
    }
}

/// Counts open WebSockets. Each socket holds a [`SocketGuard`]; dropping it counts the socket
/// as gone, on every path out, including panics and early returns.
#[derive(Clone, Default)]
pub struct SocketCounter(Arc<AtomicUsize>);

impl SocketCounter {
    /// Takes a slot if fewer than `max` sockets are open. Reserving *before* the upgrade (and
    /// moving the guard into it) means concurrent handshakes cannot overshoot the cap.
    pub fn try_open(&self, max: usize) -> Option<SocketGuard> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()
            .map(|_| SocketGuard(Arc::clone(&self.0)))
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// See [`SocketCounter`].
pub struct SocketGuard(Arc<AtomicUsize>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
