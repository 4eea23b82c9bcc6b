//! The supervisor's second job: the **directory**. Because it sees every connection come and
//! go, it is the natural owner of what must be unique or looked up across connections: names
//! (unique, ignoring case), rooms by name (created on first use, capped in number), and
//! connections by id (for direct messages). These are rare operations; the hot path (a room's
//! fan-out) never comes here.

use std::collections::BTreeSet;

use ractor::{Actor, ActorRef};

use super::{SupervisorMsg, SupervisorState};
use crate::actors::lifecycle_log::LifecycleEventKind;
use crate::actors::room::{unix_millis, RoomActor, RoomArgs, RoomMsg, LOBBY};
use crate::protocol::names::{name_key, validate_display_name};
use crate::protocol::{ErrorCode, ServerMessage};

impl SupervisorState {
    /// `requested` if it is valid and not used by another connection.
    pub(super) fn claimable_name(
        &self,
        requested: &str,
        connection_id: u64,
    ) -> Result<String, (ErrorCode, String)> {
        let name =
            validate_display_name(requested).map_err(|reason| (ErrorCode::InvalidName, reason))?;
        match self.names.get(&name_key(&name)) {
            Some(owner) if *owner != connection_id => Err((
                ErrorCode::NameTaken,
                format!("the name {name:?} is taken; pick another"),
            )),
            _ => Ok(name),
        }
    }

    pub(super) fn rename(
        &mut self,
        connection_id: u64,
        requested: String,
    ) -> Result<String, (ErrorCode, String)> {
        let name = self.claimable_name(&requested, connection_id)?;
        let child = self.child_mut(connection_id).ok_or((
            ErrorCode::Unavailable,
            "this connection is closing".to_owned(),
        ))?;
        let old_name = std::mem::replace(&mut child.name, name.clone());
        self.names.remove(&name_key(&old_name));
        self.names.insert(name_key(&name), connection_id);
        Ok(old_name)
    }

    /// The room called `name`, started (linked to the supervisor) the first time it is needed.
    ///
    /// Clients create rooms just by naming them, so their number is capped: at the cap, a room
    /// nobody is in is stopped (its history goes with it) to make space, and if every room is
    /// in use the join is refused with `too_many_rooms`.
    pub(super) async fn room(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        name: &str,
    ) -> Result<ActorRef<RoomMsg>, (ErrorCode, String)> {
        if let Some(room) = self.rooms.get(name) {
            return Ok(room.clone());
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
        let args = RoomArgs {
            name: name.to_owned(),
            history_limit: self.history_limit,
            presence_limit: self.presence_limit,
        };
        let (room, _join) = Actor::spawn_linked(None, RoomActor, args, myself.get_cell())
            .await
            .map_err(|error| (ErrorCode::Unavailable, error.to_string()))?;
        tracing::info!(room = name, actor = %room.get_id(), "room started");
        self.log.record(
            LifecycleEventKind::Started,
            room.get_id().to_string(),
            "room",
            name.to_owned(),
            None,
        );
        self.rooms.insert(name.to_owned(), room.clone());
        Ok(room)
    }

    /// Stops one room that no connection is in (never the lobby); false if there is none.
    pub(super) fn evict_an_empty_room(&mut self) -> bool {
        let occupied: BTreeSet<&String> = self
            .children
            .values()
            .flat_map(|child| child.rooms.iter())
            .collect();
        let empty = self
            .rooms
            .keys()
            .find(|name| name.as_str() != LOBBY && !occupied.contains(name))
            .cloned();
        let Some(name) = empty else { return false };
        if let Some(room) = self.rooms.remove(&name) {
            tracing::info!(room = %name, actor = %room.get_id(), "stopping an empty room: room limit reached");
            room.stop(Some("room limit reached; nobody was in it".to_owned()));
        }
        true
    }

    pub(super) fn direct(&self, from_id: u64, to: u64, text: String) {
        let sender = self.child(from_id);
        let Some(sender) = sender else { return };
        let Some(recipient) = self.child(to) else {
            let error = ServerMessage::error(
                ErrorCode::UnknownRecipient,
                format!("no connection with id {to} is online"),
            );
            sender.outbox.deliver_text(error.to_json().into());
            return;
        };
        let frame: axum::extract::ws::Utf8Bytes = ServerMessage::Direct {
            from_id,
            from: sender.name.clone(),
            to_id: to,
            to: recipient.name.clone(),
            text,
            ts: unix_millis(),
        }
        .to_json()
        .into();
        recipient.outbox.deliver_text(frame.clone());
        if to != from_id {
            sender.outbox.deliver_text(frame);
        }
    }
}
