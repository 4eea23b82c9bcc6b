//! The connection actor: one per WebSocket, the only place where a client's frames are judged.
//!
//! Division of labour for one connection:
//!
//! ```text
//!   socket read half ──frames──▶ ConnectionActor ──posts──▶ RoomActor(s) ──shared frame──▶ Outbox(es)
//!   (reader loop in server)      (decode, validate,          (numbering,                   │
//!                                 rate limit, errors)         history, fan-out)            ▼
//!                                      │                                       writer task ─▶ socket write half
//!                                      └──names, rooms, DMs──▶ ConnectionSupervisor (directory)
//! ```
//!
//! The reader loop forwards frames and holds a permit from a small semaphore for each frame in
//! flight. The permit travels inside the message and is released when the actor has handled
//! it, so a client that sends faster than its actor works simply stops being read: the
//! unbounded ractor mailbox never holds more than [`INBOUND_IN_FLIGHT`] of its frames.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::OwnedSemaphorePermit;

use super::outbox::Outbox;
use super::rate_limit::TokenBucket;
use super::room::{Member, Post, RoomMsg, LOBBY};
use super::supervisor::SupervisorMsg;
use crate::metrics::{ConnectionStats, Metrics};
use crate::protocol::{decode_client_text, ClientMessage, CloseCode, ErrorCode, ServerMessage};

/// Frames from one client that may wait in its actor's mailbox at once.
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
    /// Rejoin the rooms a reconnecting client asked to resume (sent to itself at start).
    Rejoin(Vec<(String, u64)>),
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
    /// Set by the supervisor, which owns the name directory.
    pub name: String,
    /// Why the name the client asked for (`?name=`) was refused, if it was.
    pub name_refusal: Option<(ErrorCode, String)>,
    pub outbox: Outbox,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub lobby: ActorRef<RoomMsg>,
    /// `?since=room:seq,...`: rooms to rejoin and where to resume each.
    pub resume: Vec<(String, u64)>,
    /// The process-group scope of the server this connection belongs to.
    pub scope: String,
    /// Sent in the welcome frame.
    pub instance: String,
    pub heartbeat_ms: u64,
    pub rate_limit: RateLimit,
    /// How long to wait for the supervisor when joining a room or renaming.
    pub call_timeout: Duration,
    pub stats: Arc<ConnectionStats>,
    pub metrics: Arc<Metrics>,
}

/// The actor's data, owned by its task.
pub struct ConnectionState {
    id: u64,
    name: String,
    outbox: Outbox,
    supervisor: ActorRef<SupervisorMsg>,
    rooms: BTreeMap<String, ActorRef<RoomMsg>>,
    limit: RateLimit,
    bucket: TokenBucket,
    /// Frames refused in a row by the rate limit.
    strikes: u32,
    call_timeout: Duration,
    metrics: Arc<Metrics>,
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
        };
        args.outbox.deliver_text(welcome.to_json().into());
        if let Some((code, reason)) = args.name_refusal {
            let error = ServerMessage::error(code, reason);
            args.outbox.deliver_text(error.to_json().into());
        }

        let mut state = ConnectionState {
            id: args.id,
            name: args.name,
            outbox: args.outbox,
            supervisor: args.supervisor,
            rooms: BTreeMap::new(),
            limit: args.rate_limit,
            bucket: TokenBucket::new(args.rate_limit.per_sec, args.rate_limit.burst),
            strikes: 0,
            call_timeout: args.call_timeout,
            metrics: args.metrics,
        };
        // The lobby is joined right here; the supervisor already recorded it. Other rooms need
        // the supervisor (the directory), which is busy starting us: they are joined from a
        // message to ourselves, handled before any frame from the client.
        let lobby_since = args
            .resume
            .iter()
            .find(|(room, _)| room == LOBBY)
            .map(|r| r.1);
        args.lobby.cast(RoomMsg::Join {
            member: state.member(),
            since: lobby_since,
        })?;
        state.rooms.insert(LOBBY.to_owned(), args.lobby);
        let others: Vec<(String, u64)> = args
            .resume
            .into_iter()
            .filter(|(room, _)| room != LOBBY)
            .collect();
        if !others.is_empty() {
            myself.cast(ConnectionMsg::Rejoin(others))?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ConnectionMsg::Text(frame, _permit) => {
                if state.within_rate_limit() {
                    state.on_text(&frame).await;
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
            ConnectionMsg::Rejoin(rooms) => {
                for (room, since) in rooms.into_iter().take(MAX_ROOMS_PER_CONNECTION) {
                    state.join(room, Some(since)).await;
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
        // Rooms may already be gone during shutdown; nothing to do about it then.
        for room in state.rooms.values() {
            let _ = room.cast(RoomMsg::Leave { id: state.id });
        }
        state.outbox.close(CloseCode::Normal);
        Ok(())
    }
}

impl ConnectionState {
    fn member(&self) -> Member {
        Member {
            id: self.id,
            name: self.name.clone(),
            outbox: self.outbox.clone(),
        }
    }

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

    async fn on_text(&mut self, frame: &str) {
        let message = match decode_client_text(frame) {
            Ok(message) => message,
            Err(error) => return self.reply_error(error.code, error.message),
        };
        match message {
            ClientMessage::Chat { room, text } => self.chat(&room, text),
            ClientMessage::Rename { name } => self.rename(name).await,
            ClientMessage::Join { room, since } => self.join(room, since).await,
            ClientMessage::Leave { room } => self.leave(&room),
            ClientMessage::Direct { to, text } => {
                Metrics::count(&self.metrics.direct_messages);
                let direct = SupervisorMsg::Direct {
                    from_id: self.id,
                    to,
                    text,
                };
                if self.supervisor.cast(direct).is_err() {
                    self.reply_error(ErrorCode::Unavailable, "the server is shutting down");
                }
            }
        }
    }

    fn chat(&mut self, room: &str, text: String) {
        let Some(room_ref) = self.rooms.get(room) else {
            return self.reply_error(
                ErrorCode::NotInRoom,
                format!("join #{room} before writing to it"),
            );
        };
        let post = Post::Chat {
            sender: self.name.clone(),
            sender_id: self.id,
            text,
        };
        if room_ref.cast(RoomMsg::Post(post)).is_ok() {
            Metrics::count(&self.metrics.chat_messages);
        } else {
            self.reply_error(ErrorCode::Unavailable, format!("#{room} is not available"));
        }
    }

    async fn rename(&mut self, name: String) {
        let connection_id = self.id;
        let answer = self
            .supervisor
            .call(
                |reply| SupervisorMsg::Rename {
                    connection_id,
                    name: name.clone(),
                    reply,
                },
                Some(self.call_timeout),
            )
            .await;
        match answer {
            Ok(CallResult::Success(Ok(old_name))) => {
                self.name = name.clone();
                for room in self.rooms.values() {
                    let _ = room.cast(RoomMsg::Renamed {
                        id: self.id,
                        name: name.clone(),
                    });
                }
                let renamed = ServerMessage::Renamed {
                    id: self.id,
                    name,
                    old_name,
                };
                self.outbox.deliver_text(renamed.to_json().into());
            }
            Ok(CallResult::Success(Err((code, reason)))) => self.reply_error(code, reason),
            _ => self.reply_error(
                ErrorCode::Unavailable,
                "could not rename right now; try again",
            ),
        }
    }

    /// Joins (or, if already a member, re-syncs with) a room.
    async fn join(&mut self, room: String, since: Option<u64>) {
        if let Some(existing) = self.rooms.get(&room) {
            let _ = existing.cast(RoomMsg::Join {
                member: self.member(),
                since,
            });
            return;
        }
        if self.rooms.len() >= MAX_ROOMS_PER_CONNECTION {
            return self.reply_error(
                ErrorCode::TooManyRooms,
                format!("a connection can be in at most {MAX_ROOMS_PER_CONNECTION} rooms"),
            );
        }
        let connection_id = self.id;
        let answer = self
            .supervisor
            .call(
                |reply| SupervisorMsg::JoinRoom {
                    connection_id,
                    room: room.clone(),
                    reply,
                },
                Some(self.call_timeout),
            )
            .await;
        let room_ref = match answer {
            Ok(CallResult::Success(Ok(room_ref))) => room_ref,
            Ok(CallResult::Success(Err((code, reason)))) => return self.reply_error(code, reason),
            _ => {
                return self.reply_error(
                    ErrorCode::Unavailable,
                    format!("could not join #{room} right now"),
                )
            }
        };
        let _ = room_ref.cast(RoomMsg::Join {
            member: self.member(),
            since,
        });
        self.rooms.insert(room, room_ref);
    }

    fn leave(&mut self, room: &str) {
        if room == LOBBY {
            return self.reply_error(ErrorCode::CannotLeaveLobby, "everyone stays in #lobby");
        }
        let Some(room_ref) = self.rooms.remove(room) else {
            return self.reply_error(ErrorCode::NotInRoom, format!("you are not in #{room}"));
        };
        let _ = room_ref.cast(RoomMsg::Leave { id: self.id });
        let _ = self.supervisor.cast(SupervisorMsg::LeftRoom {
            connection_id: self.id,
            room: room.to_owned(),
        });
        let left = ServerMessage::Left {
            room: room.to_owned(),
        };
        self.outbox.deliver_text(left.to_json().into());
    }

    fn reply_error(&self, code: ErrorCode, message: impl Into<String>) {
        let frame = ServerMessage::error(code, message).to_json();
        self.outbox.deliver_text(frame.into());
    }
}
