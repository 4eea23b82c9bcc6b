//! Frames the server sends to clients.

use serde::{Deserialize, Serialize};

/// What a `message` frame carries. Only chat today; the field leaves room for more kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Chat,
}

/// Which HTTP endpoint a `notification` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationSource {
    /// `GET`/`POST /broadcast`.
    Broadcast,
    /// `POST /api/notify`.
    Notify,
}

/// How a notification should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Info,
    Success,
    Warning,
    Error,
}

/// What happened to a room member, in a `notice` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    Joined,
    Left,
    Renamed,
}

/// A room member as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    pub id: u64,
    pub name: String,
}

/// Machine-readable reason carried by an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    UnknownType,
    TextTooLong,
    EmptyText,
    BinaryNotSupported,
    InvalidName,
    NameTaken,
    InvalidRoom,
    NotInRoom,
    CannotLeaveLobby,
    TooManyRooms,
    UnknownRecipient,
    /// The client sends faster than its rate limit; the refused message was not delivered.
    RateLimited,
    /// The server could not handle the request right now (shutting down, or the room could not
    /// store the post: then it was delivered to nobody).
    Unavailable,
}

/// One server frame. Serialized once per event and then shared by every recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame on every connection: who you are and who is answering.
    Welcome {
        id: u64,
        name: String,
        room: String,
        /// Always `tauri-ractor-websocket`: lets a client tell this server from another program.
        server: &'static str,
        version: &'static str,
        /// Random per process; the desktop window checks it to be sure it reached its own server.
        instance: String,
        heartbeat_ms: u64,
        /// Unguessable; `?session=` with it replaces this connection if it is still open.
        session: String,
    },
    /// You are in `room` now; its backlog follows.
    Joined {
        room: String,
        /// The id of the room's log: a different epoch means the numbering started over.
        epoch: String,
        last_seq: u64,
        /// At most the room's presence limit (100 by default) of them; see `member_count`.
        members: Vec<MemberView>,
        member_count: usize,
        resumed_from: Option<u64>,
        /// True when messages after `resumed_from` are not all available: too old, numbered
        /// by another epoch, or never issued.
        gap: bool,
    },
    /// You left `room`.
    Left { room: String },
    /// Who is in `room`: after every change in small rooms, every 2 s at most in large ones,
    /// where `members` lists only the first ones (by id) and `member_count` tells the size.
    Presence {
        room: String,
        members: Vec<MemberView>,
        member_count: usize,
    },
    /// Someone joined, left or was renamed. Not numbered, not kept.
    Notice {
        room: String,
        event: NoticeEvent,
        id: u64,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        old_name: Option<String>,
        ts: u64,
    },
    /// Your rename succeeded.
    Renamed {
        id: u64,
        name: String,
        old_name: String,
    },
    /// A chat message, numbered by the room that accepted it.
    Message {
        kind: MessageKind,
        room: String,
        seq: u64,
        sender: String,
        sender_id: Option<u64>,
        text: String,
        /// Milliseconds since the Unix epoch when the room accepted the message.
        ts: u64,
    },
    /// A broadcast or a notification for everyone, numbered and kept by the lobby.
    Notification {
        source: NotificationSource,
        room: String,
        seq: u64,
        title: String,
        text: String,
        level: Level,
        ts: u64,
    },
    /// A private message; the sender gets the same frame as an echo.
    Direct {
        from_id: u64,
        from: String,
        to_id: u64,
        to: String,
        text: String,
        ts: u64,
    },
    /// Something the client sent was refused; the connection stays open.
    Error { code: ErrorCode, message: String },
}

impl ServerMessage {
    /// Encodes the frame as JSON text.
    ///
    /// Serializing these types cannot fail (no maps with non-string keys, no custom
    /// `Serialize` impls), so a failure here is a programming error and is reported as such
    /// rather than sent to the client.
    pub fn to_json(&self) -> String {
        match serde_json::to_string(self) {
            Ok(json) => json,
            Err(error) => {
                tracing::error!(%error, "failed to encode a server message");
                String::from(r#"{"type":"error","code":"internal","message":"encoding failed"}"#)
            }
        }
    }

    /// Shorthand for an `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
        }
    }
}
