//! Rooms and memberships, as the directory keeps them (see the parent module for why here).
//!
//! A room is **running** (its current actor is known) or **starting** (spawned, or being
//! restarted, and not registered yet). Lookups for a starting room wait in `waiters` and are
//! answered when it registers. Clients create rooms just by naming them, so their number is
//! capped: at the cap, a room with no members (and nobody waiting for it) is evicted, its log
//! deleted with it, or the join is refused with `too_many_rooms`.

use std::collections::BTreeMap;
use std::sync::Arc;

use ractor::{ActorId, ActorRef, RpcReplyPort};
use tokio::sync::oneshot;

use super::{Connection, DirectoryState, JoinAnswer, Refusal};
use crate::actors::outbox::Outbox;
use crate::actors::room::{MemberCursor, MemberInit, RestoredMember, RoomMsg, LOBBY};
use crate::actors::supervisor::SupervisorMsg;
use crate::protocol::{ErrorCode, Resume};

/// One connection's membership in one room.
pub(super) struct Membership {
    cursor: Arc<MemberCursor>,
    resume: Option<Resume>,
    /// `Some(send_left)` once it left, until the room confirms.
    leaving: Option<bool>,
}

/// A room as the directory knows it.
#[derive(Default)]
pub(super) struct RoomEntry {
    running: Option<ActorRef<RoomMsg>>,
    pub(super) members: BTreeMap<u64, Membership>,
    waiters: Vec<RpcReplyPort<Option<ActorRef<RoomMsg>>>>,
}

impl RoomEntry {
    pub(super) fn actor(&self) -> Option<&ActorRef<RoomMsg>> {
        self.running.as_ref()
    }
}

fn init(id: u64, connection: &Connection, membership: &Membership) -> MemberInit {
    MemberInit {
        id,
        name: connection.name.clone(),
        outbox: connection.outbox.clone(),
        cursor: Arc::clone(&membership.cursor),
        resume: membership.resume.clone(),
    }
}

impl DirectoryState {
    pub(super) fn join(
        &mut self,
        id: u64,
        room: String,
        resume: Option<Resume>,
        done: Option<oneshot::Sender<()>>,
    ) -> JoinAnswer {
        let Some(connection) = self.connections.get(&id) else {
            return Err((
                ErrorCode::Unavailable,
                "this connection is closing".to_owned(),
            ));
        };
        let rejoin = connection.rooms.contains(&room);
        if !rejoin && connection.rooms.len() >= self.max_rooms_per_connection {
            return Err((
                ErrorCode::TooManyRooms,
                format!(
                    "a connection can be in at most {} rooms",
                    self.max_rooms_per_connection
                ),
            ));
        }
        self.ensure_room(&room)?;
        let Some(connection) = self.connections.get_mut(&id) else {
            return Err((
                ErrorCode::Unavailable,
                "this connection is closing".to_owned(),
            ));
        };
        connection.rooms.insert(room.clone(), ());
        let Some(entry) = self.rooms.get_mut(&room) else {
            return Err((ErrorCode::Unavailable, format!("#{room} is not available")));
        };
        let membership = match entry.members.get_mut(&id) {
            // A join for a room it is in: re-sync from the new resume point.
            Some(membership) if rejoin => {
                membership.resume = resume;
                membership
            }
            _ => {
                entry.members.insert(
                    id,
                    Membership {
                        cursor: Arc::default(),
                        resume,
                        leaving: None,
                    },
                );
                entry
                    .members
                    .get_mut(&id)
                    .ok_or((ErrorCode::Unavailable, format!("#{room} is not available")))?
            }
        };
        if let Some(actor) = &entry.running {
            // If the room just died, the join is not lost: its successor gets the membership.
            let _ = actor.cast(RoomMsg::Join {
                member: init(id, connection, membership),
                done,
            });
        }
        Ok(entry.running.clone())
    }

    /// Makes sure `room` exists, evicting an empty room at the cap.
    fn ensure_room(&mut self, room: &str) -> Result<(), Refusal> {
        if self.rooms.contains_key(room) {
            return Ok(());
        }
        if self.rooms.len() >= self.max_rooms && !self.evict_an_empty_room() {
            return Err((
                ErrorCode::TooManyRooms,
                format!(
                    "the server already runs its maximum of {} rooms, all in use",
                    self.max_rooms
                ),
            ));
        }
        self.rooms.insert(room.to_owned(), RoomEntry::default());
        let _ = self.supervisor.cast(SupervisorMsg::StartRoom {
            room: room.to_owned(),
        });
        Ok(())
    }

    /// Evicts one room that nobody is in or waiting for (never the lobby); false if none.
    fn evict_an_empty_room(&mut self) -> bool {
        let empty = self
            .rooms
            .iter()
            .find(|(name, entry)| {
                name.as_str() != LOBBY && entry.members.is_empty() && entry.waiters.is_empty()
            })
            .map(|(name, _)| name.clone());
        let Some(name) = empty else { return false };
        self.rooms.remove(&name);
        tracing::info!(room = %name, "evicting an empty room: room limit reached");
        // The supervisor stops its actor and deletes its log: a room of that name made later
        // starts a new epoch, so old resume points get `gap: true`.
        let _ = self
            .supervisor
            .cast(SupervisorMsg::RetireRoom { room: name });
        true
    }

    pub(super) fn leave(&mut self, id: u64, room: &str, send_left: bool) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        if !connection.rooms.remove(room) {
            return;
        }
        let outbox = connection.outbox.clone();
        self.mark_leaving(id, room, &outbox, send_left);
    }

    /// Marks a membership as leaving and tells the room, which confirms with `MemberLeft`.
    pub(super) fn mark_leaving(&mut self, id: u64, room: &str, outbox: &Outbox, send_left: bool) {
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(membership) = entry.members.get_mut(&id) else {
            return;
        };
        membership.leaving = Some(send_left);
        if let Some(actor) = &entry.running {
            let _ = actor.cast(RoomMsg::Leave {
                id,
                outbox: outbox.clone(),
                cursor: Arc::clone(&membership.cursor),
                send_left,
            });
        }
    }

    pub(super) fn member_left(&mut self, room: &str, id: u64, cursor: &Arc<MemberCursor>) {
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        let confirmed = entry.members.get(&id).is_some_and(|membership| {
            membership.leaving.is_some() && Arc::ptr_eq(&membership.cursor, cursor)
        });
        if confirmed {
            entry.members.remove(&id);
        }
    }

    pub(super) fn where_is(
        &mut self,
        room: String,
        create: bool,
        reply: RpcReplyPort<Option<ActorRef<RoomMsg>>>,
    ) {
        if create && self.ensure_room(&room).is_err() {
            let _ = reply.send(None);
            return;
        }
        match self.rooms.get_mut(&room) {
            Some(entry) => match &entry.running {
                Some(actor) => {
                    let _ = reply.send(Some(actor.clone()));
                }
                None => entry.waiters.push(reply),
            },
            None => {
                let _ = reply.send(None);
            }
        }
    }

    pub(super) fn room_started(
        &mut self,
        room: &str,
        actor: ActorRef<RoomMsg>,
    ) -> Option<Vec<RestoredMember>> {
        let Some(entry) = self.rooms.get_mut(room) else {
            tracing::info!(%room, "a room started after it was evicted; stopping it");
            return None;
        };
        entry.running = Some(actor.clone());
        for waiter in entry.waiters.drain(..) {
            let _ = waiter.send(Some(actor.clone()));
        }
        // Members whose connection is gone need nothing from the new actor.
        let connections = &self.connections;
        entry.members.retain(|id, membership| {
            membership.leaving != Some(false) && connections.contains_key(id)
        });
        let restored = entry
            .members
            .iter()
            .filter_map(|(id, membership)| {
                let connection = self.connections.get(id)?;
                Some(RestoredMember {
                    init: init(*id, connection, membership),
                    leaving: membership.leaving,
                })
            })
            .collect();
        Some(restored)
    }

    pub(super) fn room_down(&mut self, room: &str, actor: &ActorId) {
        if let Some(entry) = self.rooms.get_mut(room) {
            if entry
                .running
                .as_ref()
                .is_some_and(|running| running.get_id() == *actor)
            {
                entry.running = None;
            }
        }
    }

    /// Each room with members here (not leaving): their count and the first `limit` by id.
    pub(super) fn local_presence(&self, limit: usize) -> Vec<super::LocalRoom> {
        self.rooms
            .iter()
            .filter_map(|(name, entry)| {
                let here = entry
                    .members
                    .iter()
                    .filter(|(_, membership)| membership.leaving.is_none());
                let count = here.clone().count();
                if count == 0 {
                    return None;
                }
                let members = here
                    .filter_map(|(id, _)| {
                        self.connections
                            .get(id)
                            .map(|connection| (*id, connection.name.clone()))
                    })
                    .take(limit)
                    .collect();
                Some(super::LocalRoom {
                    room: name.clone(),
                    actor: entry.actor().cloned(),
                    presence: crate::cluster::presence::NodePresence { count, members },
                })
            })
            .collect()
    }
}
