//! The cluster's membership side (`--redis`): which nodes are alive, connection ids and names
//! unique across them, who is in each room on every node, and direct messages between nodes.
//!
//! Only a node started with `--redis` has a [`Cluster`]; without it every caller holds `None`
//! and nothing here runs. Everything is plain Redis commands, a few Lua scripts, polling and one
//! stream per node: no pub/sub (the live fan-out of room frames is a separate part,
//! [`crate::room_log::redis`]).
//!
//! | part | Redis | module |
//! | --- | --- | --- |
//! | the node registry | `trw:node:<instance>` (a JSON record, TTL [`NODE_TTL`]), the set `trw:nodes` | [`registry`] |
//! | connection ids | `trw:node-number:<n>` (`SET NX`, TTL [`NODE_TTL`]) | [`ids`] |
//! | names | `trw:name:<lowercase name>` → `<instance>/<id>`, `trw:conn:<id>` → name (TTL [`NAME_TTL`]) | [`names`] |
//! | presence | `trw:{<room>}:presence:<instance>` (count and first members, TTL [`PRESENCE_TTL`]) | [`presence`] |
//! | direct messages | `trw:node:<instance>:inbox` (a stream, `MAXLEN ~` [`INBOX_MAXLEN`]) | [`inbox`] |
//!
//! **Every TTL is refreshed at a third of itself**, so a node survives two missed refreshes (a
//! loaded machine, a Redis blip) and a dead node drops out of everything within the TTL.
//!
//! **While Redis is down** the node keeps running: its heartbeat retries every
//! [`HEARTBEAT_INTERVAL`], `/health` says `"redis": "down"`, name claims and remote direct
//! messages are refused with `unavailable`, and every key is written again (names, presence,
//! the node record) as soon as Redis answers, also after Redis lost its data.
//!
//! Uses the same `redis` crate (redis-rs) as the room log, for the same reasons (see
//! [`crate::room_log::redis`]): its [`ConnectionManager`] reconnects by itself with backoff, and
//! one multiplexed connection carries every node's commands. The inbox reader blocks (`XREAD
//! BLOCK`), so it has a connection of its own.

pub mod ids;
pub mod inbox;
pub mod names;
pub mod presence;
pub mod registry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::RedisError;

pub use inbox::InboxDirect;
pub use registry::NodeRecord;

/// How long a node's record (and its node number) lives without a refresh. A node that dies
/// drops out of `/health`'s node count and `/api/actors` within this time, and its inbox is no
/// longer written to.
pub const NODE_TTL: Duration = Duration::from_secs(6);
/// How often a node refreshes its record: a third of [`NODE_TTL`].
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// How long a name (and a connection's id → name key) lives without a refresh: a dead node's
/// names free up within this time.
pub const NAME_TTL: Duration = Duration::from_secs(6);
/// How often a node refreshes its connections' names: a third of [`NAME_TTL`].
pub const NAME_REFRESH: Duration = Duration::from_secs(2);
/// How long a node's presence in a room lives without a refresh: a dead node's members leave
/// every list within this time (plus one [`PRESENCE_POLL`]).
pub const PRESENCE_TTL: Duration = Duration::from_secs(6);
/// How often a node writes its presence in each room with local members and reads the other
/// nodes': a remote join or leave shows up within two polls (one on each node: about 3 s).
pub const PRESENCE_POLL: Duration = Duration::from_millis(1500);
/// Most direct messages kept in a node's inbox (`XADD … MAXLEN ~`): the reader consumes them
/// within milliseconds; the bound only matters if it falls far behind.
pub const INBOX_MAXLEN: usize = 10_000;

/// How long one Redis command may take before it counts as failed.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a cluster operation did not happen: Redis is unreachable or answered nonsense.
#[derive(Debug, Clone)]
pub struct ClusterError(pub String);

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<RedisError> for ClusterError {
    fn from(error: RedisError) -> ClusterError {
        ClusterError(format!("Redis: {error}"))
    }
}

/// This node's view of the cluster, from its last successful heartbeat.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub nodes: Vec<NodeRecord>,
}

/// What `/health` shows under `"cluster"`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterHealth {
    /// `"up"` if the last heartbeat reached Redis, else `"down"`.
    pub redis: &'static str,
    /// Nodes alive at the last heartbeat (this one included).
    pub nodes: usize,
    /// Open WebSockets on all of them (this node's count is current, the others' as of their
    /// last heartbeat).
    pub active_websockets: usize,
}

/// Counts this node's open WebSockets (the server's socket counter).
pub type SocketCount = Arc<dyn Fn() -> usize + Send + Sync>;

/// A node's handle on the cluster. Shared (`Arc`) by the server, the directory, the supervisor
/// and every connection.
pub struct Cluster {
    connection: ConnectionManager,
    client: ::redis::Client,
    /// This node's id: the server's random instance id (also in every `welcome`).
    pub instance: String,
    /// Where this node listens.
    pub address: String,
    pub started_ms: u64,
    /// From [`ids`]: set once Redis handed out a node number. Until then no WebSocket is
    /// accepted (see [`Cluster::connection_id`]).
    node_number: OnceLock<u64>,
    redis_up: AtomicBool,
    view: Mutex<ClusterView>,
    /// This node's connections and their names (refreshed every [`NAME_REFRESH`]).
    local_names: Mutex<HashMap<u64, String>>,
    sockets: SocketCount,
    scripts: names::Scripts,
}

impl Cluster {
    /// A handle on the cluster named by the Redis at `url`. Connects lazily: fails only on a
    /// malformed URL. [`Cluster::spawn_tasks`] starts the heartbeat and the name refresher.
    pub fn open(
        url: &str,
        instance: String,
        address: String,
        sockets: SocketCount,
    ) -> Result<Arc<Cluster>, ClusterError> {
        let client = ::redis::Client::open(url)
            .map_err(|error| ClusterError(format!("bad Redis URL: {error}")))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(2))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Arc::new(Cluster {
            connection,
            client,
            instance,
            address,
            started_ms: crate::protocol::unix_millis(),
            node_number: OnceLock::new(),
            redis_up: AtomicBool::new(false),
            view: Mutex::new(ClusterView::default()),
            local_names: Mutex::new(HashMap::new()),
            sockets,
            scripts: names::Scripts::new(),
        }))
    }

    /// Starts the heartbeat (registry and node number) and the name refresher; both end when
    /// `stop` is cancelled.
    pub fn spawn_tasks(self: &Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        tokio::spawn(registry::heartbeat(Arc::clone(self), stop.clone()));
        tokio::spawn(names::refresher(Arc::clone(self), stop));
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    fn mark(&self, up: bool) {
        let was = self.redis_up.swap(up, Ordering::Relaxed);
        if was != up {
            if up {
                tracing::info!(node = %self.instance, "cluster: Redis is reachable");
            } else {
                tracing::warn!(node = %self.instance, "cluster: Redis is unreachable; retrying");
            }
        }
    }

    pub fn redis_up(&self) -> bool {
        self.redis_up.load(Ordering::Relaxed)
    }

    /// This node's number, once Redis handed one out.
    pub fn node_number(&self) -> Option<u64> {
        self.node_number.get().copied()
    }

    /// The nodes alive at the last heartbeat.
    pub fn view(&self) -> ClusterView {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The other nodes' instance ids, as of the last heartbeat.
    pub fn other_nodes(&self) -> Vec<String> {
        self.view()
            .nodes
            .into_iter()
            .map(|node| node.id)
            .filter(|id| *id != self.instance)
            .collect()
    }

    /// For `/health`.
    pub fn health(&self) -> ClusterHealth {
        let view = self.view();
        let own = (self.sockets)();
        let mut nodes = 0usize;
        let mut total = own;
        for node in &view.nodes {
            nodes = nodes.saturating_add(1);
            if node.id != self.instance {
                total = total.saturating_add(node.active_websockets);
            }
        }
        if !view.nodes.iter().any(|node| node.id == self.instance) {
            nodes = nodes.saturating_add(1);
        }
        ClusterHealth {
            redis: if self.redis_up() { "up" } else { "down" },
            nodes,
            active_websockets: total,
        }
    }
}
