//! The connection actor: one per WebSocket, the only place where a client's frames are judged.
//!
//! Division of labour for one connection:
//!
//! ```text
//!   socket read half ──frames──▶ ConnectionActor ──posts──▶ RoomActor(s) ──shared frame──▶ Outbox(es)
//!   (reader loop in server)      (decode, validate,          (numbering,                   │
//!                                 rate limit, errors)         history, fan-out)            ▼
//!                                      │                                       writer task ─▶ socket write half
//!                                      └──names, rooms, DM lookups──▶ Directory
//! ```
//!
//! The reader loop forwards frames and holds a permit from a small semaphore for each frame in
//! flight. The permit travels inside the message and, for a chat, on into the room with the post:
//! it is released when the room has stored and fanned the post out. A client that sends faster
//! than its actor or its room can work simply stops being read: the unbounded ractor mailboxes
//! never hold more than [`INBOUND_IN_FLIGHT`] of its frames.
//!
//! The actor caches the address of each room it is in, to post without asking anyone. A room may
//! crash and be restarted under a new address: a failed send gives the post back, and the actor
//! asks the directory for the room's current address (waiting while it restarts) and sends again.
//! Direct messages go straight to the recipient's outbox after one directory lookup.
//!
//! **Memory.** ractor keeps the actor's message loop, with the future of [`Actor::handle`]
//! inline, in one allocation for the actor's whole life: the largest branch of `handle` is paid
//! by every connection, even an idle one. The text branch (decode, then directory calls, a join
//! with its timer, a history read) is therefore boxed and allocated only while a client frame is
//! handled; `tests::the_handle_future_stays_small` pins the size.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::cluster_calls;
use super::directory::DirectoryMsg;
use super::outbox::Outbox;
use super::rate_limit::TokenBucket;
use super::room::{unix_millis, PendingPost, Post, RoomMsg, LOBBY};
use super::room_list::RoomList;
use crate::cluster::{Cluster, InboxDirect};
use crate::metrics::{ActorCall, ConnectionStats, Metrics};
use crate::protocol::history::HISTORY_DEFAULT_LIMIT;
use crate::protocol::{
    decode_client_text, ClientMessage, CloseCode, ErrorCode, Resume, ServerMessage,
};
use crate::room_log::history::{read_page, HistoryQuery};
use crate::room_log::LogStore;

/// Frames from one client that may wait in its actor's (or its rooms') mailbox at once.
pub const INBOUND_IN_FLIGHT: usize = 32;

/// Rooms one connection may be in at once, the lobby included.
pub const MAX_ROOMS_PER_CONNECTION: usize = 16;

/// Process group (within the server's scope) that every live connection actor joins.
/// `/health` counts its members: the actor system itself is the source of truth.
pub const CONNECTIONS_GROUP: &str = "connections";

/// Messages a connection actor understands.
pub enum ConnectionMsg {
    /// A text frame from the client.
    Text(Utf8Bytes, OwnedSemaphorePermit),
    /// A binary frame from the client (refused, politely).
    Binary(OwnedSemaphorePermit),
    /// Test-only: make the actor panic, to show that only this connection goes down.
    #[cfg(feature = "test-hooks")]
    Panic,
}

/// How fast one client may send, and how long it may keep ignoring the limit.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_sec: u32,
    pub burst: u32,
    /// Refused frames in a row after which the client is closed with 1008.
    pub strikes: u32,
}

/// What a connection actor starts with.
pub struct ConnectionArgs {
    pub id: u64,
    /// Set by the directory, which owns the names.
    pub name: String,
    /// Why the name the client asked for (`?name=`) was refused, if it was.
    pub name_refusal: Option<(ErrorCode, String)>,
    /// Set by the directory: this connection's session token, for its welcome.
    pub session: String,
    pub outbox: Outbox,
    pub directory: ActorRef<DirectoryMsg>,
    /// `?since=`: rooms to rejoin and where to resume each.
    pub resume: Vec<(String, Resume)>,
    /// The process-group scope of the server this connection belongs to.
    pub scope: String,
    /// Sent in the welcome frame.
    pub instance: String,
    pub heartbeat_ms: u64,
    pub rate_limit: RateLimit,
    /// How long to wait for the directory.
    pub call_timeout: Duration,
    pub stats: Arc<ConnectionStats>,
    pub metrics: Arc<Metrics>,
    /// The room log, read directly for `history` requests.
    pub store: Arc<dyn LogStore>,
    /// The cluster (`--redis`): renames and direct messages across nodes.
    pub cluster: Option<Arc<Cluster>>,
}

/// The actor's data, owned by its task.
pub struct ConnectionState {
    id: u64,
    name: String,
    outbox: Outbox,
    directory: ActorRef<DirectoryMsg>,
    /// The rooms this connection is in, with the last known address of each.
    rooms: RoomList<Option<ActorRef<RoomMsg>>>,
    /// Rooms to rejoin at start (taken by `post_start`).
    resume: Vec<(String, Resume)>,
    limit: RateLimit,
    bucket: TokenBucket,
    /// Frames refused in a row by the rate limit.
    strikes: u32,
    call_timeout: Duration,
    metrics: Arc<Metrics>,
    store: Arc<dyn LogStore>,
    cluster: Option<Arc<Cluster>>,
}

/// The behaviour of a connection actor.
pub struct ConnectionActor;

impl Actor for ConnectionActor {
    type Msg = ConnectionMsg;
    type State = ConnectionState;
    type Arguments = ConnectionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ConnectionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join_scoped(
            args.scope,
            CONNECTIONS_GROUP.to_owned(),
            vec![myself.get_cell()],
        );
        let welcome = ServerMessage::Welcome {
            id: args.id,
            name: args.name.clone(),
            room: LOBBY.to_owned(),
            server: crate::SERVER_NAME,
            version: crate::VERSION,
            instance: args.instance,
            heartbeat_ms: args.heartbeat_ms,
            session: args.session,
        };
        args.outbox.deliver_text(welcome.to_json().into());
        if let Some((code, reason)) = args.name_refusal {
            let error = ServerMessage::error(code, reason);
            args.outbox.deliver_text(error.to_json().into());
        }
        Ok(ConnectionState {
            id: args.id,
            name: args.name,
            outbox: args.outbox,
            directory: args.directory,
            rooms: RoomList::default(),
            resume: args.resume,
            limit: args.rate_limit,
            bucket: TokenBucket::new(args.rate_limit.per_sec, args.rate_limit.burst),
            strikes: 0,
            call_timeout: args.call_timeout,
            metrics: args.metrics,
            store: args.store,
            cluster: args.cluster,
        })
    }

    /// Joins the lobby, then the rooms the client asked to resume, one after the other (each
    /// room's `joined` and backlog are out before the next room starts), before any client frame.
    async fn post_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let mut resume = std::mem::take(&mut state.resume);
        let lobby = resume
            .iter()
            .position(|(room, _)| room == LOBBY)
            .map(|at| resume.remove(at).1);
        state.join(LOBBY.to_owned(), lobby, true).await;
        for (room, since) in resume.into_iter().take(MAX_ROOMS_PER_CONNECTION - 1) {
            state.join(room, Some(since), true).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ConnectionMsg::Text(frame, permit) => {
                if state.within_rate_limit() {
                    // Boxed: see "Memory" above.
                    Box::pin(state.on_text(&frame, permit)).await;
                }
            }
            ConnectionMsg::Binary(_permit) => {
                if state.within_rate_limit() {
                    state.reply_error(
                        ErrorCode::BinaryNotSupported,
                        "binary frames are not supported; send JSON text frames",
                    );
                }
            }
            #[cfg(feature = "test-hooks")]
            ConnectionMsg::Panic => panic!("panic injected by a test into connection {}", state.id),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // The directory takes the connection out of its rooms and frees its name. During
        // shutdown it may already be gone; nothing to do about it then.
        let _ = state.directory.cast(DirectoryMsg::ConnectionClosed {
            id: state.id,
            failed: false,
        });
        state.outbox.close(CloseCode::Normal);
        Ok(())
    }
}

impl ConnectionState {
    /// Applies the token bucket. A refused frame gets an `error` frame; a client that keeps
    /// going regardless is closed with 1008.
    fn within_rate_limit(&mut self) -> bool {
        if self.bucket.try_take() {
            self.strikes = 0;
            return true;
        }
        Metrics::count(&self.metrics.rate_limited);
        self.strikes += 1;
        if self.strikes > self.limit.strikes {
            tracing::warn!(connection = self.id, "closing a client that keeps flooding");
            self.outbox.close(CloseCode::PolicyViolation);
        } else {
            self.reply_error(
                ErrorCode::RateLimited,
                format!(
                    "slow down: at most {} messages per second (bursts of {}); this message was not sent",
                    self.limit.per_sec, self.limit.burst
                ),
            );
        }
        false
    }

    async fn on_text(&mut self, frame: &str, permit: OwnedSemaphorePermit) {
        let message = match decode_client_text(frame) {
            Ok(message) => message,
            Err(error) => return self.reply_error(error.code, error.message),
        };
        match message {
            ClientMessage::Chat { room, text } => self.chat(room, text, permit).await,
            ClientMessage::Rename { name } => self.rename(name).await,
            ClientMessage::Join { room, since, epoch } => {
                let resume = since.map(|since| Resume { since, epoch });
                self.join(room, resume, false).await;
            }
            ClientMessage::Leave { room } => self.leave(&room),
            ClientMessage::Direct { to, text } => self.direct(to, text).await,
            ClientMessage::History {
                room,
                before,
                limit,
            } => self.history(room, before, limit, permit),
        }
    }

    /// A page of older history, read from the log by a task (the actor goes on with the
    /// client's next frames). The task holds the frame's inbound permit, so a client cannot
    /// have more than [`INBOUND_IN_FLIGHT`] reads going at once.
    fn history(
        &self,
        room: String,
        before: Option<u64>,
        limit: Option<u64>,
        permit: OwnedSemaphorePermit,
    ) {
        if !self.rooms.contains(&room) {
            return self.reply_error(
                ErrorCode::NotInRoom,
                format!("join #{room} before asking for its history"),
            );
        }
        let limit = limit.map_or(HISTORY_DEFAULT_LIMIT, |limit| {
            usize::try_from(limit).unwrap_or(usize::MAX)
        });
        let query = HistoryQuery::Before(before.unwrap_or(u64::MAX));
        let store = Arc::clone(&self.store);
        let outbox = self.outbox.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let frame = match read_page(store.as_ref(), &room, query, limit).await {
                Ok(Some(page)) => page,
                Ok(None) => ServerMessage::error(
                    ErrorCode::Unavailable,
                    format!("#{room} has no history yet; try again"),
                )
                .to_json(),
                Err(error) => ServerMessage::error(
                    ErrorCode::Unavailable,
                    format!("could not read the history of #{room}: {error}; try again"),
                )
                .to_json(),
            };
            outbox.deliver_text(frame.into());
        });
    }

    async fn chat(&mut self, room: String, text: String, permit: OwnedSemaphorePermit) {
        if !self.rooms.contains(&room) {
            return self.reply_error(
                ErrorCode::NotInRoom,
                format!("join #{room} before writing to it"),
            );
        }
        let post = Post::Chat {
            sender: self.name.clone(),
            sender_id: self.id,
            text,
        };
        let pending = PendingPost::chat(room.clone(), post, self.outbox.clone(), Some(permit));
        self.post(&room, pending).await;
    }

    /// Sends a post to the room's current actor, asking the directory for it if the cached one
    /// is gone. A post that cannot be handed over is dropped, which refuses it (`unavailable`).
    async fn post(&mut self, room: &str, mut pending: PendingPost) {
        for _attempt in 0..2 {
            let cached = self.rooms.get(room).cloned().flatten();
            let target = match cached {
                Some(target) => target,
                None => match self.where_is(room).await {
                    Some(target) => target,
                    None => return,
                },
            };
            match target.cast(RoomMsg::Post(pending)) {
                Ok(()) => return,
                Err(MessagingErr::SendErr(RoomMsg::Post(back))) => {
                    // The room died (it is being restarted): forget the address, try once more.
                    pending = back;
                    if let Some(slot) = self.rooms.get_mut(room) {
                        *slot = None;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// The current address of `room`, from the directory (which waits while it restarts).
    async fn where_is(&mut self, room: &str) -> Option<ActorRef<RoomMsg>> {
        let timer = self.metrics.call_timer(ActorCall::ConnectionToDirectory);
        let answer = self
            .directory
            .call(
                |reply| DirectoryMsg::WhereIs {
                    room: room.to_owned(),
                    create: false,
                    reply,
                },
                Some(self.call_timeout),
            )
            .await;
        drop(timer);
        let found = match answer {
            Ok(CallResult::Success(found)) => found,
            _ => None,
        };
        if let (Some(found), Some(slot)) = (&found, self.rooms.get_mut(room)) {
            *slot = Some(found.clone());
        }
        found
    }

    async fn rename(&mut self, name: String) {
        let id = self.id;
        let cluster = self.cluster.clone();
        let claimed =
            match cluster_calls::reserve_rename(cluster.as_deref(), id, &self.name, &name).await {
                Ok(claimed) => claimed,
                Err((code, reason)) => return self.reply_error(code, reason),
            };
        let timer = self.metrics.call_timer(ActorCall::ConnectionToDirectory);
        let answer = self
            .directory
            .call(
                |reply| DirectoryMsg::Rename {
                    id,
                    name: name.clone(),
                    reply,
                },
                Some(self.call_timeout),
            )
            .await;
        drop(timer);
        match answer {
            Ok(CallResult::Success(Ok(old_name))) => {
                cluster_calls::renamed(cluster.as_deref(), id, &old_name, &name).await;
                self.name = name.clone();
                let renamed = ServerMessage::Renamed {
                    id: self.id,
                    name,
                    old_name,
                };
                self.outbox.deliver_text(renamed.to_json().into());
            }
            Ok(CallResult::Success(Err((code, reason)))) => {
                cluster_calls::rename_refused(cluster.as_deref(), id, &name, claimed).await;
                self.reply_error(code, reason)
            }
            _ => {
                cluster_calls::rename_refused(cluster.as_deref(), id, &name, claimed).await;
                self.reply_error(
                    ErrorCode::Unavailable,
                    "could not rename right now; try again",
                )
            }
        }
    }

    /// Joins a room (or re-syncs one it is in). With `wait`, returns only once the room has sent
    /// `joined` and the backlog (or after the call timeout).
    async fn join(&mut self, room: String, resume: Option<Resume>, wait: bool) {
        if !self.rooms.contains(&room) && self.rooms.len() >= MAX_ROOMS_PER_CONNECTION {
            return self.reply_error(
                ErrorCode::TooManyRooms,
                format!("a connection can be in at most {MAX_ROOMS_PER_CONNECTION} rooms"),
            );
        }
        let (done, caught_up) = if wait {
            let (done, caught_up) = oneshot::channel();
            (Some(done), Some(caught_up))
        } else {
            (None, None)
        };
        let id = self.id;
        let timer = self.metrics.call_timer(ActorCall::ConnectionToDirectory);
        let answer = self
            .directory
            .call(
                |reply| DirectoryMsg::JoinRoom {
                    id,
                    room: room.clone(),
                    resume,
                    done,
                    reply,
                },
                Some(self.call_timeout),
            )
            .await;
        drop(timer);
        match answer {
            Ok(CallResult::Success(Ok(address))) => {
                self.rooms.insert(room, address);
            }
            Ok(CallResult::Success(Err((code, reason)))) => return self.reply_error(code, reason),
            _ => {
                return self.reply_error(
                    ErrorCode::Unavailable,
                    format!("could not join #{room} right now"),
                )
            }
        }
        if let Some(caught_up) = caught_up {
            let _ = tokio::time::timeout(self.call_timeout, caught_up).await;
        }
    }

    fn leave(&mut self, room: &str) {
        if room == LOBBY {
            return self.reply_error(ErrorCode::CannotLeaveLobby, "everyone stays in #lobby");
        }
        if !self.rooms.remove(room) {
            return self.reply_error(ErrorCode::NotInRoom, format!("you are not in #{room}"));
        }
        // The room sends `left`, after everything it already queued for us.
        let _ = self.directory.cast(DirectoryMsg::LeaveRoom {
            id: self.id,
            room: room.to_owned(),
        });
    }

    /// One directory lookup, then straight into the recipient's outbox.
    async fn direct(&mut self, to: u64, text: String) {
        let timer = self.metrics.call_timer(ActorCall::ConnectionToDirectory);
        let answer = self
            .directory
            .call(
                |reply| DirectoryMsg::Lookup { id: to, reply },
                Some(self.call_timeout),
            )
            .await;
        drop(timer);
        let (recipient_name, recipient) = match answer {
            Ok(CallResult::Success(Some(found))) => found,
            Ok(CallResult::Success(None)) => return self.direct_elsewhere(to, text).await,
            _ => return self.reply_error(ErrorCode::Unavailable, "could not send it right now"),
        };
        let frame: Utf8Bytes = ServerMessage::Direct {
            from_id: self.id,
            from: self.name.clone(),
            to_id: to,
            to: recipient_name,
            text,
            ts: unix_millis(),
        }
        .to_json()
        .into();
        Metrics::count(&self.metrics.direct_messages);
        recipient.deliver_text(frame.clone());
        if to != self.id {
            self.outbox.deliver_text(frame);
        }
    }

    /// A direct message to a connection this node does not have: through its node's inbox
    /// (cluster), echoed only once stored there; else `unknown_recipient`.
    async fn direct_elsewhere(&mut self, to: u64, text: String) {
        let message = InboxDirect {
            from_id: self.id,
            from: self.name.clone(),
            to_id: to,
            text,
            ts: unix_millis(),
        };
        match cluster_calls::direct_elsewhere(self.cluster.as_deref(), &message).await {
            Ok(recipient_name) => {
                Metrics::count(&self.metrics.direct_messages);
                let echo = ServerMessage::Direct {
                    from_id: message.from_id,
                    from: message.from,
                    to_id: to,
                    to: recipient_name,
                    text: message.text,
                    ts: message.ts,
                };
                self.outbox.deliver_text(echo.to_json().into());
            }
            Err((code, reason)) => self.reply_error(code, reason),
        }
    }

    fn reply_error(&self, code: ErrorCode, message: impl Into<String>) {
        let frame = ServerMessage::error(code, message).to_json();
        self.outbox.deliver_text(frame.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `make` would return, without making one.
    fn size_of_output<A, F: std::future::Future>(_make: impl Fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Debug build (what `cargo test` measures): with `on_text` inline, `handle`'s future was
    /// 1,320 bytes, held by every connection actor for life.
    #[test]
    fn the_handle_future_stays_small() {
        type Args = (
            &'static ConnectionActor,
            ActorRef<ConnectionMsg>,
            ConnectionMsg,
            &'static mut ConnectionState,
        );
        let size = size_of_output(|(actor, myself, message, state): Args| {
            actor.handle(myself, message, state)
        });
        assert!(
            size <= 256,
            "ConnectionActor::handle's future is {size} bytes"
        );
    }
}
