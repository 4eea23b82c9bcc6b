//! The node registry: every node writes its record every [`super::HEARTBEAT_INTERVAL`], with a
//! TTL of [`super::NODE_TTL`], and reads everyone's in the same script.
//!
//! `trw:node:<instance>` holds the record (JSON, [`NodeRecord`]); the set `trw:nodes` indexes
//! them. A node that stops refreshing (killed, frozen, cut off from Redis) has its key expire,
//! and the next heartbeat of any node drops it from the set. The same script refreshes the
//! node's number key ([`super::ids`]) and the TTL of its inbox ([`super::inbox`]).
//!
//! While Redis is down the heartbeat fails, `/health` says `"redis": "down"`, and it retries at
//! the same pace; the first heartbeat that succeeds writes everything again.

use std::sync::{Arc, PoisonError};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Cluster, ClusterError, HEARTBEAT_INTERVAL, NODE_TTL};

/// One node as the cluster sees it (`/api/actors` lists them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node's instance id.
    pub id: String,
    /// Its node number (the high bits of its connection ids).
    pub number: u64,
    /// Where it listens.
    pub address: String,
    pub started_ms: u64,
    /// Its open WebSockets at its last heartbeat.
    pub active_websockets: usize,
}

/// Writes this node's record and refreshes its number and inbox; answers every live record.
/// KEYS: the index set, this node's record, its number key, its inbox. ARGV: its id, the record,
/// the TTL in ms.
const HEARTBEAT: &str = r"
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local holder = redis.call('GET', KEYS[3])
if (not holder) or holder == ARGV[1] then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[3])
end
redis.call('PEXPIRE', KEYS[4], ARGV[3])
redis.call('SADD', KEYS[1], ARGV[1])
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local record = redis.call('GET', 'trw:node:' .. id)
  if record then table.insert(out, record) else redis.call('SREM', KEYS[1], id) end
end
return out
";

pub(super) fn node_key(instance: &str) -> String {
    format!("trw:node:{instance}")
}

/// Runs until `stop`: one heartbeat every [`HEARTBEAT_INTERVAL`].
pub(super) async fn heartbeat(cluster: Arc<Cluster>, stop: CancellationToken) {
    let script = ::redis::Script::new(HEARTBEAT);
    loop {
        let outcome = beat(&cluster, &script).await;
        if let Err(error) = &outcome {
            tracing::debug!(%error, "cluster heartbeat failed");
        }
        cluster.mark(outcome.is_ok());
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(HEARTBEAT_INTERVAL) => {}
        }
    }
    // An orderly stop: leave at once instead of after the TTL.
    let mut connection = cluster.connection();
    let _: Result<(), _> = ::redis::pipe()
        .cmd("DEL")
        .arg(node_key(&cluster.instance))
        .ignore()
        .cmd("SREM")
        .arg("trw:nodes")
        .arg(&cluster.instance)
        .ignore()
        .query_async(&mut connection)
        .await;
}

async fn beat(cluster: &Cluster, script: &::redis::Script) -> Result<(), ClusterError> {
    cluster.ensure_number().await?;
    let number = cluster.node_number().unwrap_or_default();
    let record = NodeRecord {
        id: cluster.instance.clone(),
        number,
        address: cluster.address.clone(),
        started_ms: cluster.started_ms,
        active_websockets: (cluster.sockets)(),
    };
    let json = serde_json::to_string(&record)
        .map_err(|error| ClusterError(format!("node record: {error}")))?;
    let mut connection = cluster.connection();
    let records: Vec<String> = script
        .key("trw:nodes")
        .key(node_key(&cluster.instance))
        .key(format!("trw:node-number:{number}"))
        .key(super::inbox::inbox_key(&cluster.instance))
        .arg(&cluster.instance)
        .arg(json)
        .arg(NODE_TTL.as_millis() as u64)
        .invoke_async(&mut connection)
        .await?;
    let mut nodes: Vec<NodeRecord> = records
        .iter()
        .filter_map(|record| serde_json::from_str(record).ok())
        .collect();
    nodes.sort_by(|a, b| a.number.cmp(&b.number).then_with(|| a.id.cmp(&b.id)));
    cluster
        .view
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .nodes = nodes;
    Ok(())
}
