//! Presence per room across nodes.
//!
//! Each node writes, for each room where it has members, one key
//! `trw:{<room>}:presence:<instance>`: its member count there and its first members by id (at
//! most the room's presence limit, so the work per room is bounded however large the room),
//! with a TTL of [`PRESENCE_TTL`]. Every [`super::PRESENCE_POLL`] it writes its keys again and
//! reads the other live nodes' keys of the same rooms (`MGET`), in pipelines of
//! [`ROOMS_PER_PIPELINE`] rooms. A room with no local members any more has its key deleted.
//!
//! A node that dies stops writing: its keys expire within [`PRESENCE_TTL`], and it drops out of
//! the node list within [`super::NODE_TTL`]; whichever comes first removes its members from
//! every other node's lists.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError, PRESENCE_TTL};

/// Rooms per pipeline.
pub const ROOMS_PER_PIPELINE: usize = 200;

/// What this node writes for one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePresence {
    /// Its members there.
    pub count: usize,
    /// Its first members by id, `(id, name)`, at most the presence limit.
    pub members: Vec<(u64, String)>,
}

/// The other nodes' members of one room, as a room actor gets them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteMembers {
    /// Members on other nodes.
    pub count: usize,
    /// The first of them by id, at most the presence limit.
    pub members: BTreeMap<u64, String>,
}

fn presence_key(room: &str, instance: &str) -> String {
    format!("trw:{{{room}}}:presence:{instance}")
}

impl Cluster {
    /// Writes this node's presence in `rooms`, deletes it from `gone`, and answers the other
    /// nodes' members of each of `rooms` (in the same order), each list cut to `limit`.
    pub async fn exchange_presence(
        &self,
        rooms: &[(String, NodePresence)],
        gone: &[String],
        limit: usize,
    ) -> Result<Vec<RemoteMembers>, ClusterError> {
        let others = self.other_nodes();
        let ttl = PRESENCE_TTL.as_millis() as u64;
        let mut connection = self.connection();
        if !gone.is_empty() {
            let keys: Vec<String> = gone
                .iter()
                .map(|room| presence_key(room, &self.instance))
                .collect();
            let _: () = ::redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut connection)
                .await?;
        }
        let mut answers = Vec::with_capacity(rooms.len());
        for chunk in rooms.chunks(ROOMS_PER_PIPELINE) {
            let mut pipe = ::redis::pipe();
            for (room, own) in chunk {
                let json = serde_json::to_string(own)
                    .map_err(|error| ClusterError(format!("presence: {error}")))?;
                pipe.cmd("SET")
                    .arg(presence_key(room, &self.instance))
                    .arg(json)
                    .arg("PX")
                    .arg(ttl)
                    .ignore();
                if !others.is_empty() {
                    let keys: Vec<String> =
                        others.iter().map(|node| presence_key(room, node)).collect();
                    pipe.cmd("MGET").arg(keys);
                }
            }
            if others.is_empty() {
                let _: () = pipe.query_async(&mut connection).await?;
                answers.extend(chunk.iter().map(|_| RemoteMembers::default()));
                continue;
            }
            let read: Vec<Vec<Option<String>>> = pipe.query_async(&mut connection).await?;
            answers.extend(read.into_iter().map(|values| merge(&values, limit)));
        }
        Ok(answers)
    }
}

/// The other nodes' records of one room merged: counts summed, the first `limit` by id.
fn merge(values: &[Option<String>], limit: usize) -> RemoteMembers {
    let mut merged = RemoteMembers::default();
    for value in values.iter().flatten() {
        let Ok(node) = serde_json::from_str::<NodePresence>(value) else {
            continue;
        };
        merged.count = merged.count.saturating_add(node.count);
        for (id, name) in node.members.into_iter().take(limit) {
            merged.members.insert(id, name);
        }
        while merged.members.len() > limit {
            merged.members.pop_last();
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_merge_by_id_within_the_limit() {
        let a = serde_json::to_string(&NodePresence {
            count: 3,
            members: vec![(5, "e".into()), (9, "i".into())],
        })
        .unwrap();
        let b = serde_json::to_string(&NodePresence {
            count: 1,
            members: vec![(2, "b".into())],
        })
        .unwrap();
        let merged = merge(&[Some(a), None, Some(b), Some("garbage".into())], 2);
        assert_eq!(merged.count, 4);
        assert_eq!(
            merged.members.into_iter().collect::<Vec<_>>(),
            vec![(2, "b".to_owned()), (5, "e".to_owned())]
        );
    }
}
