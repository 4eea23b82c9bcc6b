//! Where a room lives in Redis.
//!
//! Every key of a room shares the hash tag `{<room>}`, so that a future Redis Cluster deployment
//! would keep them in one slot (a Lua script may only touch keys of one slot). Redis Cluster is
//! untested (docs/CLUSTER.md).

/// The keys and the pub/sub channel of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomKeys {
    /// The room's current epoch (a string, made with `SET NX`).
    pub epoch: String,
    /// The room's last seq (an integer, `INCR`ed by the publishing script).
    pub seq: String,
    /// The room's kept frames: a stream with entry IDs `<seq>-0` and one field `f`, the frame.
    pub stream: String,
    /// Where every numbered frame is published, as `"<epoch> <seq> <frame>"`.
    pub channel: String,
}

impl RoomKeys {
    pub fn new(room: &str) -> RoomKeys {
        RoomKeys {
            epoch: format!("trw:{{{room}}}:epoch"),
            seq: format!("trw:{{{room}}}:seq"),
            stream: format!("trw:{{{room}}}:log"),
            channel: format!("trw:{{{room}}}:live"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_keys_of_a_room_share_its_hash_tag() {
        let keys = RoomKeys::new("lobby");
        assert_eq!(keys.epoch, "trw:{lobby}:epoch");
        assert_eq!(keys.seq, "trw:{lobby}:seq");
        assert_eq!(keys.stream, "trw:{lobby}:log");
        assert_eq!(keys.channel, "trw:{lobby}:live");
    }
}
