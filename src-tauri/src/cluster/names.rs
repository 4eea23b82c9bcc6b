//! Names unique in the cluster, and each connection's id → name (for direct messages).
//!
//! `trw:name:<lowercase name>` holds `<instance>/<id>` of the connection that has the name;
//! `trw:conn:<id>` holds the connection's current name. Both live [`NAME_TTL`], and the owning
//! node refreshes every name of its connections every [`NAME_REFRESH`], so:
//!
//! - a name is taken with `SET NX` semantics: a name held by any other connection, on any node,
//!   is refused with `name_taken` (the local directory still decides among its own
//!   connections, as before);
//! - a rename or a disconnect releases the name at once (only if it still names that
//!   connection);
//! - a dead node's names free up within [`NAME_TTL`];
//! - after Redis lost its data, the next refresh writes every name again (unless somebody
//!   else took it meanwhile: then both keep it, and the refresh logs the conflict).
//!
//! Names are refreshed by a script per batch of [`REFRESH_BATCH`] connections, so a node with
//! many connections spreads the work over several short scripts.

use std::sync::{Arc, PoisonError};

use tokio_util::sync::CancellationToken;

use super::{Cluster, ClusterError, NAME_REFRESH, NAME_TTL};
use crate::protocol::names::name_key;

/// Connections per refresh script.
pub const REFRESH_BATCH: usize = 500;

/// Takes a name for a connection and records its id → name. KEYS: the name, the connection.
/// ARGV: `<instance>/<id>`, the TTL in ms, the owner it may take over from (or '') and the
/// name. Returns 1 if taken, 0 if somebody else holds it.
const CLAIM: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and holder ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[2])
return 1
";

/// Releases a name if it still names this connection. KEYS: the name. ARGV: `<instance>/<id>`.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

/// Refreshes names: KEYS are pairs (name, connection), ARGV the TTL then pairs (owner, name).
/// Returns how many names somebody else holds.
const REFRESH: &str = r"
local conflicts = 0
for i = 1, #KEYS, 2 do
  local owner = ARGV[i + 1]
  local holder = redis.call('GET', KEYS[i])
  if (not holder) or holder == owner then
    redis.call('SET', KEYS[i], owner, 'PX', ARGV[1])
  else
    conflicts = conflicts + 1
  end
  redis.call('SET', KEYS[i + 1], ARGV[i + 2], 'PX', ARGV[1])
end
return conflicts
";

/// The cluster's scripts, hashed once (redis-rs runs `EVALSHA`, and loads a script again after
/// Redis forgot it).
pub(super) struct Scripts {
    claim: ::redis::Script,
    release: ::redis::Script,
    refresh: ::redis::Script,
    pub(super) send_direct: ::redis::Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts {
            claim: ::redis::Script::new(CLAIM),
            release: ::redis::Script::new(RELEASE),
            refresh: ::redis::Script::new(REFRESH),
            send_direct: ::redis::Script::new(super::inbox::SEND),
        }
    }
}

fn name_redis_key(name: &str) -> String {
    format!("trw:name:{}", name_key(name))
}

pub(super) fn conn_key(id: u64) -> String {
    format!("trw:conn:{id}")
}

impl Cluster {
    fn owner(&self, id: u64) -> String {
        format!("{}/{id}", self.instance)
    }

    /// Takes `name` for connection `id` in the cluster (or takes it over from connection
    /// `replacing` of this node, after a session takeover). `Ok(false)`: another connection holds
    /// it. Also records `id`'s name for direct messages, and for the refresher.
    pub async fn claim_name(
        &self,
        id: u64,
        name: &str,
        replacing: Option<u64>,
    ) -> Result<bool, ClusterError> {
        let mut connection = self.connection();
        let taken: u8 = self
            .scripts
            .claim
            .key(name_redis_key(name))
            .key(conn_key(id))
            .arg(self.owner(id))
            .arg(NAME_TTL.as_millis() as u64)
            .arg(replacing.map(|old| self.owner(old)).unwrap_or_default())
            .arg(name)
            .invoke_async(&mut connection)
            .await?;
        Ok(taken == 1)
    }

    /// Releases `name` if connection `id` still holds it (a rename, a refused claim).
    pub async fn release_name(&self, id: u64, name: &str) -> Result<(), ClusterError> {
        let mut connection = self.connection();
        let _: u8 = self
            .scripts
            .release
            .key(name_redis_key(name))
            .arg(self.owner(id))
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    /// Connection `id` of this node is now called `name` (the refresher keeps it in Redis).
    pub fn hold_name(&self, id: u64, name: &str) {
        self.local_names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, name.to_owned());
    }

    /// Connection `id` is gone: forget it here and release its name and id in Redis (in the
    /// background, so the caller never waits; if Redis is down, the TTL frees them).
    pub fn forget_connection(self: &Arc<Self>, id: u64, name: &str) {
        self.local_names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        let cluster = Arc::clone(self);
        let name = name.to_owned();
        tokio::spawn(async move {
            let released = cluster.release_name(id, &name).await;
            let mut connection = cluster.connection();
            let deleted: Result<(), _> = ::redis::cmd("DEL")
                .arg(conn_key(id))
                .query_async(&mut connection)
                .await;
            if released.is_err() || deleted.is_err() {
                tracing::debug!(
                    connection = id,
                    "cluster: name left to expire (Redis unavailable)"
                );
            }
        });
    }

    /// How many names this node keeps in Redis.
    pub fn names_held(&self) -> usize {
        self.local_names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    async fn refresh_names(&self) -> Result<(), ClusterError> {
        let held: Vec<(u64, String)> = self
            .local_names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, name)| (*id, name.clone()))
            .collect();
        let mut conflicts = 0u64;
        for batch in held.chunks(REFRESH_BATCH) {
            let mut invocation = self.scripts.refresh.prepare_invoke();
            invocation.arg(NAME_TTL.as_millis() as u64);
            for (id, name) in batch {
                invocation
                    .key(name_redis_key(name))
                    .key(conn_key(*id))
                    .arg(self.owner(*id))
                    .arg(name);
            }
            let mut connection = self.connection();
            let found: u64 = invocation.invoke_async(&mut connection).await?;
            conflicts = conflicts.saturating_add(found);
        }
        if conflicts > 0 {
            tracing::warn!(
                conflicts,
                "cluster: names held here are held by another node too (Redis lost them meanwhile)"
            );
        }
        Ok(())
    }
}

/// Runs until `stop`: refreshes this node's names every [`NAME_REFRESH`].
pub(super) async fn refresher(cluster: Arc<Cluster>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(NAME_REFRESH) => {}
        }
        if let Err(error) = cluster.refresh_names().await {
            tracing::debug!(%error, "cluster: could not refresh names");
        }
    }
}
