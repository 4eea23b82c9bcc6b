//! Connection ids unique in the cluster.
//!
//! An id is `node_number × 2^32 + local`, where `local` is the node's own counter (from 1) and
//! `node_number` (1 ..= [`MAX_NODE_NUMBER`]) is handed out by Redis when the node starts. So an
//! id needs no round trip, and stays below 2^53 (21 + 32 bits): JavaScript reads it exactly.
//!
//! **The node number** comes from `INCR trw:node-number`, and is then *held*: the key
//! `trw:node-number:<n>` is set with `SET NX` and the node's TTL ([`super::NODE_TTL`]), and the
//! heartbeat refreshes it. A number whose key is held is skipped, so two live nodes never share
//! one, even after the counter wrapped (2^21 − 1 node starts) or after Redis lost its data (the
//! counter starts again, but the live nodes' heartbeats hold their numbers again within
//! [`super::HEARTBEAT_INTERVAL`]).
//!
//! **Starting while Redis is down**: the node starts and serves HTTP, but it has no number yet,
//! so it refuses WebSockets (503 `unavailable`) until its heartbeat gets one; a client retries
//! with backoff. Ids never come from a guess that could collide.

/// Bits of the local counter.
pub const LOCAL_BITS: u32 = 32;
/// The largest node number: 21 bits, so that ids stay below 2^53.
pub const MAX_NODE_NUMBER: u64 = (1 << 21) - 1;
/// Node numbers tried per start before giving up until the next heartbeat.
pub const NUMBER_ATTEMPTS: usize = 64;

/// The cluster id of local connection `local` on node `node`, or `None` when the node has
/// handed out all of its 2^32 − 1 ids (it then refuses new connections) or `node` is out of
/// range.
pub fn compose(node: u64, local: u64) -> Option<u64> {
    if node == 0 || node > MAX_NODE_NUMBER || local == 0 || local >= (1 << LOCAL_BITS) {
        return None;
    }
    node.checked_shl(LOCAL_BITS)?.checked_add(local)
}

/// The node number inside a cluster id (0 for ids no node handed out).
pub fn node_of(id: u64) -> u64 {
    id >> LOCAL_BITS
}

/// A counter value from `INCR` turned into a node number (1 ..= [`MAX_NODE_NUMBER`]).
pub fn number_from_counter(counter: u64) -> u64 {
    (counter.saturating_sub(1) % MAX_NODE_NUMBER) + 1
}

/// The script that picks a free node number and holds it: `INCR` the counter, and `SET NX` the
/// number's key, up to [`NUMBER_ATTEMPTS`] times. KEYS: the counter. ARGV: this node's id, the
/// TTL in ms, the largest number, the attempts. Returns the number, or 0.
pub const PICK_NUMBER: &str = r"
for _ = 1, tonumber(ARGV[4]) do
  local counter = redis.call('INCR', KEYS[1])
  local number = ((counter - 1) % tonumber(ARGV[3])) + 1
  if redis.call('SET', 'trw:node-number:' .. number, ARGV[1], 'NX', 'PX', ARGV[2]) then
    return number
  end
end
return 0
";

impl super::Cluster {
    /// The cluster id of this node's `local`-th connection; `None` until the node has its
    /// number (Redis unreachable since it started) or once its ids are used up.
    pub fn connection_id(&self, local: u64) -> Option<u64> {
        compose(self.node_number()?, local)
    }

    /// The node number, from Redis, if this node has none yet. Called by each heartbeat.
    pub async fn ensure_number(&self) -> Result<(), super::ClusterError> {
        if self.node_number().is_some() {
            return Ok(());
        }
        let mut connection = self.connection();
        let number: u64 = ::redis::Script::new(PICK_NUMBER)
            .key("trw:node-number")
            .arg(&self.instance)
            .arg(super::NODE_TTL.as_millis() as u64)
            .arg(MAX_NODE_NUMBER)
            .arg(NUMBER_ATTEMPTS)
            .invoke_async(&mut connection)
            .await?;
        if number == 0 {
            return Err(super::ClusterError(
                "no free node number (too many live nodes)".to_owned(),
            ));
        }
        let _ = self.node_number.set(number);
        tracing::info!(node = %self.instance, number, "cluster: this node's number");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_below_2_pow_53_and_carry_their_node() {
        let id = compose(MAX_NODE_NUMBER, (1 << 32) - 1).expect("the largest id");
        assert!(id < 1 << 53);
        assert_eq!(node_of(id), MAX_NODE_NUMBER);
        assert_eq!(compose(1, 1), Some((1 << 32) + 1));
        assert_eq!(node_of(compose(7, 5).unwrap()), 7);
        assert_eq!(compose(0, 1), None);
        assert_eq!(compose(MAX_NODE_NUMBER + 1, 1), None);
        assert_eq!(compose(1, 1 << 32), None);
        assert_eq!(compose(1, 0), None);
    }

    #[test]
    fn the_counter_wraps_into_the_number_range() {
        assert_eq!(number_from_counter(1), 1);
        assert_eq!(number_from_counter(MAX_NODE_NUMBER), MAX_NODE_NUMBER);
        assert_eq!(number_from_counter(MAX_NODE_NUMBER + 1), 1);
        assert_eq!(number_from_counter(0), 1);
    }
}
