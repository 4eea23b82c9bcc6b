//! Who is in a room: `notice`, `presence` and the member list of `joined`.
//!
//! Small rooms announce every join, leave and rename with a `notice` and the full list. In a room
//! with more members than its presence limit that would cost N² frames when N clients join, so a
//! summary `presence` (the first members by id, and the count) goes out at most every
//! [`PRESENCE_SUMMARY_INTERVAL`] instead.

use std::time::Duration;

use axum::extract::ws::Utf8Bytes;

use super::{encode, unix_millis, RoomMsg, RoomState};
use crate::protocol::{MemberView, NoticeEvent, ServerMessage};

/// In a room with more members than its presence limit, joins and leaves are summed up at most
/// this often.
pub const PRESENCE_SUMMARY_INTERVAL: Duration = Duration::from_secs(2);

impl RoomState {
    /// Tells every member what happened and who is here now (large rooms: a periodic summary).
    pub(super) fn announce(
        &mut self,
        event: NoticeEvent,
        id: u64,
        name: String,
        old_name: Option<String>,
    ) {
        if self.members.len() > self.presence_limit {
            if !self.summary_pending {
                self.summary_pending = true;
                self.myself
                    .send_after(PRESENCE_SUMMARY_INTERVAL, || RoomMsg::FlushPresence);
            }
            return;
        }
        let notice = encode(&ServerMessage::Notice {
            room: self.name.clone(),
            event,
            id,
            name,
            old_name,
            ts: unix_millis(),
        });
        self.fan_out(&notice, None);
        let presence = self.presence_frame();
        self.fan_out(&presence, None);
    }

    pub(super) fn presence_frame(&self) -> Utf8Bytes {
        encode(&ServerMessage::Presence {
            room: self.name.clone(),
            members: self.member_views(None),
            member_count: self.members.len(),
        })
    }

    /// The `joined` frame for member `id`.
    pub(super) fn joined_frame(
        &self,
        id: u64,
        last_seq: u64,
        resumed_from: Option<u64>,
        gap: bool,
    ) -> Utf8Bytes {
        encode(&ServerMessage::Joined {
            room: self.name.clone(),
            epoch: self.epoch.to_string(),
            last_seq,
            members: self.member_views(Some(id)),
            member_count: self.members.len(),
            resumed_from,
            gap,
        })
    }

    /// Members as clients see them, at most `presence_limit` of them (`always` included).
    fn member_views(&self, always: Option<u64>) -> Vec<MemberView> {
        let room_for_others = self
            .presence_limit
            .saturating_sub(usize::from(always.is_some()));
        let mut views: Vec<MemberView> = self
            .members
            .values()
            .filter(|member| Some(member.id) != always)
            .take(room_for_others)
            .chain(always.and_then(|id| self.members.get(&id)))
            .map(|member| MemberView {
                id: member.id,
                name: member.name.clone(),
            })
            .collect();
        views.sort_by_key(|view| view.id);
        views
    }
}
