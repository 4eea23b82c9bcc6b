//! Who is in a room: `notice`, `presence` and the member list of `joined`.
//!
//! Small rooms announce every join, leave and rename with a `notice` and the full list. In a room
//! with more members than its presence limit that would cost N² frames when N clients join, so a
//! summary `presence` (the first members by id, and the count) goes out at most every
//! [`PRESENCE_SUMMARY_INTERVAL`] instead.
//!
//! **In a cluster** the lists and counts include the room's members on other nodes
//! ([`RemoteMembers`], polled by the server's presence loop, see [`crate::cluster::presence`]).
//! When they change, [`RoomState::remote_presence`] announces each remote join, leave and
//! rename as if it happened here (large rooms: the summary).

use std::time::Duration;

use axum::extract::ws::Utf8Bytes;

use super::{encode, unix_millis, RoomMsg, RoomState};
use crate::cluster::presence::RemoteMembers;
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
        if self.total_members() > self.presence_limit {
            self.schedule_summary();
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

    /// A large room sends its summary at most every [`PRESENCE_SUMMARY_INTERVAL`].
    fn schedule_summary(&mut self) {
        if !self.summary_pending {
            self.summary_pending = true;
            self.myself
                .send_after(PRESENCE_SUMMARY_INTERVAL, || RoomMsg::FlushPresence);
        }
    }

    pub(super) fn presence_frame(&self) -> Utf8Bytes {
        encode(&ServerMessage::Presence {
            room: self.name.clone(),
            members: self.member_views(None),
            member_count: self.total_members(),
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
            member_count: self.total_members(),
            resumed_from,
            gap,
        })
    }

    /// Members here and on other nodes.
    fn total_members(&self) -> usize {
        self.members.len().saturating_add(self.remote.count)
    }

    /// Members as clients see them (from every node), at most `presence_limit` of them, the
    /// first by id (`always` included).
    fn member_views(&self, always: Option<u64>) -> Vec<MemberView> {
        let room_for_others = self
            .presence_limit
            .saturating_sub(usize::from(always.is_some()));
        let local = self
            .members
            .values()
            .filter(|member| Some(member.id) != always)
            .take(room_for_others)
            .map(|member| (member.id, member.name.clone()));
        let remote = self
            .remote
            .members
            .iter()
            .take(room_for_others)
            .map(|(id, name)| (*id, name.clone()));
        let mut others: Vec<(u64, String)> = local.chain(remote).collect();
        others.sort_by_key(|(id, _)| *id);
        others.truncate(room_for_others);
        let mut views: Vec<MemberView> = others
            .into_iter()
            .chain(
                always
                    .and_then(|id| self.members.get(&id))
                    .map(|member| (member.id, member.name.clone())),
            )
            .map(|(id, name)| MemberView { id, name })
            .collect();
        views.sort_by_key(|view| view.id);
        views
    }

    /// The members on other nodes changed: announce who came, went or was renamed there.
    pub(super) fn remote_presence(&mut self, remote: RemoteMembers) {
        if remote == self.remote {
            return;
        }
        let before = std::mem::replace(&mut self.remote, remote);
        let mut events = Vec::new();
        for (id, name) in &before.members {
            match self.remote.members.get(id) {
                None => events.push((NoticeEvent::Left, *id, name.clone(), None)),
                Some(now) if now != name => {
                    events.push((NoticeEvent::Renamed, *id, now.clone(), Some(name.clone())));
                }
                Some(_) => {}
            }
        }
        for (id, name) in &self.remote.members {
            if !before.members.contains_key(id) {
                events.push((NoticeEvent::Joined, *id, name.clone(), None));
            }
        }
        if events.is_empty() {
            // Only the count changed (members beyond the lists of a large room): the summary,
            // or the list, says so.
            if self.total_members() > self.presence_limit {
                self.schedule_summary();
            } else {
                let presence = self.presence_frame();
                self.fan_out(&presence, None);
            }
            return;
        }
        for (event, id, name, old_name) in events {
            self.announce(event, id, name, old_name);
        }
    }
}
