//! The connection actor: one per WebSocket, the only place where a client's frames are judged.
//!
//! Division of labour for one connection:
//!
//! ```text
//!   socket read half ──frames──▶ ConnectionActor ──posts──▶ RoomActor ──shared frame──▶ Outbox(es)
//!   (reader loop in server)      (decode, validate,          (numbering,                │
//!                                 answer errors)              fan-out)                   ▼
//!                                                                          writer task ─▶ socket write half
//! ```
//!
//! The reader loop forwards frames and holds a permit from a small semaphore for each frame in
//! flight. The permit travels inside the message and is released when the actor has handled
//! it, so a client that sends faster than its actor works simply stops being read: the
//! unbounded ractor mailbox can never hold more than [`INBOUND_IN_FLIGHT`] of its frames.

use axum::extract::ws::Utf8Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::OwnedSemaphorePermit;

use super::outbox::Outbox;
use super::rate_limit::TokenBucket;
use super::room::{Member, Post, RoomMsg, LOBBY};
use crate::protocol::{
    decode_client_text, ClientMessage, CloseCode, ErrorCode, MessageKind, ServerMessage,
};

/// Frames from one client that may wait in its actor's mailbox at once.
pub const INBOUND_IN_FLIGHT: usize = 32;

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

/// What a connection actor starts with.
pub struct ConnectionArgs {
    pub id: u64,
    pub name: String,
    pub outbox: Outbox,
    pub lobby: ActorRef<RoomMsg>,
    /// The process-group scope of the server this connection belongs to.
    pub scope: String,
    /// Sent in the welcome frame.
    pub instance: String,
    pub heartbeat_ms: u64,
    pub rate_limit: RateLimit,
}

/// How fast one client may send, and how long it may keep ignoring the limit.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_sec: u32,
    pub burst: u32,
    /// Refused frames in a row after which the client is closed with 1008.
    pub strikes: u32,
}

/// The actor's data, owned by its task.
pub struct ConnectionState {
    id: u64,
    name: String,
    outbox: Outbox,
    lobby: ActorRef<RoomMsg>,
    limit: RateLimit,
    bucket: TokenBucket,
    /// Frames refused in a row by the rate limit.
    strikes: u32,
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
        args.lobby.cast(RoomMsg::Join(Member {
            id: args.id,
            name: args.name.clone(),
            outbox: args.outbox.clone(),
        }))?;
        Ok(ConnectionState {
            id: args.id,
            name: args.name,
            outbox: args.outbox,
            lobby: args.lobby,
            limit: args.rate_limit,
            bucket: TokenBucket::new(args.rate_limit.per_sec, args.rate_limit.burst),
            strikes: 0,
        })
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
                    state.on_text(&frame);
                }
            }
            ConnectionMsg::Binary(_permit) => state.reply_error(
                ErrorCode::BinaryNotSupported,
                "binary frames are not supported; send JSON text frames",
            ),
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
        // The room may already be gone during shutdown; nothing to do about it then.
        let _ = state.lobby.cast(RoomMsg::Leave { id: state.id });
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

    fn on_text(&mut self, frame: &str) {
        match decode_client_text(frame) {
            Ok(ClientMessage::Chat { text }) => {
                let post = Post {
                    kind: MessageKind::Chat,
                    sender: self.name.clone(),
                    sender_id: Some(self.id),
                    text,
                };
                if self.lobby.cast(RoomMsg::Post(post)).is_err() {
                    self.reply_error(ErrorCode::Unavailable, "the room is not available");
                }
            }
            Err(error) => self.reply_error(error.code, error.message),
        }
    }

    fn reply_error(&self, code: ErrorCode, message: impl Into<String>) {
        let frame = ServerMessage::error(code, message).to_json();
        self.outbox.deliver_text(frame.into());
    }
}
