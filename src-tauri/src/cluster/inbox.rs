//! Direct messages to a connection on another node: one stream per node, its inbox.
//!
//! **Sending** is one script (`SEND`): it reads the recipient's name (`trw:conn:<id>`, see
//! [`super::names`]) and the node that holds the recipient's node number
//! (`trw:node-number:<n>`, see [`super::ids`]); if either is missing (the recipient is not
//! connected anywhere, or its node is dead) it answers nil and the sender gets
//! `unknown_recipient`. Otherwise it `XADD`s the message to that node's inbox
//! (`trw:node:<instance>:inbox`, trimmed with `MAXLEN ~` [`INBOX_MAXLEN`]) and answers the
//! recipient's name: the sender's echo goes out only after that, so an echoed DM is stored in the
//! recipient node's inbox. Redis down: the sender gets `unavailable`.
//!
//! **Reading**: each node reads its own inbox with `XREAD BLOCK` on a connection of its own
//! ([`spawn_reader`]), and hands each message to a bounded channel; when the consumer falls
//! behind the reader waits, and the inbox (bounded) holds the rest. The inbox's TTL is refreshed
//! by the heartbeat, so a dead node's inbox disappears with it.
//!
//! Delivery to the recipient is **at most once**: a recipient that disconnected between the
//! `XADD` and the read does not get it (as on one node, where a recipient may close right after
//! the message was queued).

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::streams::StreamReadReply;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{ids, names::conn_key, Cluster, ClusterError, INBOX_MAXLEN};

/// How long one `XREAD` blocks before it asks again.
const READ_BLOCK: Duration = Duration::from_millis(1000);
/// Messages read per `XREAD`.
const READ_COUNT: usize = 100;
/// Messages waiting between the reader and the consumer.
pub const CHANNEL_CAPACITY: usize = 1024;

/// A direct message through an inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxDirect {
    pub from_id: u64,
    pub from: String,
    pub to_id: u64,
    pub text: String,
    pub ts: u64,
}

/// KEYS: the recipient's id → name key, its node number's key. ARGV: the inbox's bound, then
/// the fields. Answers the recipient's name, or nil.
pub(super) const SEND: &str = r"
local name = redis.call('GET', KEYS[1])
if not name then return false end
local node = redis.call('GET', KEYS[2])
if not node then return false end
redis.call('XADD', 'trw:node:' .. node .. ':inbox', 'MAXLEN', '~', ARGV[1], '*',
  'from_id', ARGV[2], 'from', ARGV[3], 'to_id', ARGV[4], 'text', ARGV[5], 'ts', ARGV[6])
return name
";

pub(super) fn inbox_key(instance: &str) -> String {
    format!("trw:node:{instance}:inbox")
}

impl Cluster {
    /// Stores `message` in the recipient's node's inbox. `Ok(Some(name))`: stored, the
    /// recipient is called `name`; `Ok(None)`: no such connection is online in the cluster.
    pub async fn send_direct(&self, message: &InboxDirect) -> Result<Option<String>, ClusterError> {
        let node = ids::node_of(message.to_id);
        if node == 0 {
            return Ok(None);
        }
        let mut connection = self.connection();
        let name: Option<String> = self
            .scripts
            .send_direct
            .key(conn_key(message.to_id))
            .key(format!("trw:node-number:{node}"))
            .arg(INBOX_MAXLEN)
            .arg(message.from_id)
            .arg(&message.from)
            .arg(message.to_id)
            .arg(&message.text)
            .arg(message.ts)
            .invoke_async(&mut connection)
            .await?;
        Ok(name)
    }
}

/// Reads this node's inbox until `stop`, into a channel of [`CHANNEL_CAPACITY`].
pub fn spawn_reader(
    cluster: &Arc<Cluster>,
    stop: CancellationToken,
) -> mpsc::Receiver<InboxDirect> {
    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    let cluster = Arc::clone(cluster);
    tokio::spawn(async move {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(READ_BLOCK + Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(2))
            .set_number_of_retries(1);
        let Ok(mut connection) =
            ConnectionManager::new_lazy_with_config(cluster.client.clone(), config)
        else {
            tracing::error!("cluster: cannot make the inbox connection");
            return;
        };
        let key = inbox_key(&cluster.instance);
        let mut last_id = "0-0".to_owned();
        loop {
            let read = tokio::select! {
                () = stop.cancelled() => return,
                read = read_once(&mut connection, &key, &last_id) => read,
            };
            match read {
                Ok(messages) => {
                    for (id, message) in messages {
                        last_id = id;
                        if let Some(message) = message {
                            if sender.send(message).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "cluster: inbox read failed; retrying");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    });
    receiver
}

/// One `XREAD`: each entry's id, and the message if it is well formed.
async fn read_once(
    connection: &mut ConnectionManager,
    key: &str,
    after: &str,
) -> Result<Vec<(String, Option<InboxDirect>)>, ClusterError> {
    let reply: Option<StreamReadReply> = ::redis::cmd("XREAD")
        .arg("COUNT")
        .arg(READ_COUNT)
        .arg("BLOCK")
        .arg(READ_BLOCK.as_millis() as u64)
        .arg("STREAMS")
        .arg(key)
        .arg(after)
        .query_async(connection)
        .await?;
    let mut out = Vec::new();
    for stream in reply.map(|reply| reply.keys).unwrap_or_default() {
        for entry in stream.ids {
            let message = (|| {
                Some(InboxDirect {
                    from_id: entry.get::<String>("from_id")?.parse().ok()?,
                    from: entry.get("from")?,
                    to_id: entry.get::<String>("to_id")?.parse().ok()?,
                    text: entry.get("text")?,
                    ts: entry.get::<String>("ts")?.parse().ok()?,
                })
            })();
            out.push((entry.id, message));
        }
    }
    Ok(out)
}
