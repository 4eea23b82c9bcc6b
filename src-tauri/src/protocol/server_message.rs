//! Frames the server sends to clients.

use serde::Serialize;

/// Whether a `message` frame came from a client or from the HTTP `/broadcast` endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Chat,
    Broadcast,
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
    /// The client sends faster than its rate limit; the refused message was not delivered.
    RateLimited,
    /// The server could not handle the request right now (for example while shutting down).
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
    },
    /// A chat message or a broadcast, numbered by the room that accepted it.
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
