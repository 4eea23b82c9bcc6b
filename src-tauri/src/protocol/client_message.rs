//! Frames a client sends to the server.

use serde::Deserialize;

use super::LOBBY;

/// One decoded client frame.
///
/// `deny_unknown_fields` is deliberately *not* set: a newer client may add fields, and an older
/// server should still understand the parts it knows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Say something in a room. Plain (non-JSON) text frames decode to this too, for the lobby.
    Chat {
        #[serde(default = "lobby")]
        room: String,
        text: String,
    },
    /// Change this connection's name.
    Rename { name: String },
    /// Enter a room; with `since`, resume after that sequence number (of log `epoch`, if given).
    Join {
        room: String,
        #[serde(default)]
        since: Option<u64>,
        #[serde(default)]
        epoch: Option<String>,
    },
    /// Leave a room (not the lobby).
    Leave { room: String },
    /// A private message to one connection.
    Direct { to: u64, text: String },
    /// Older history of a room the connection is in: up to `limit` numbered frames with
    /// `seq < before` (the newest ones without `before`). Answered with a `history` frame.
    History {
        room: String,
        #[serde(default)]
        before: Option<u64>,
        #[serde(default)]
        limit: Option<u64>,
    },
}

/// Every `type` a client may send, for error messages.
pub const CLIENT_MESSAGE_TYPES: [&str; 6] =
    ["chat", "rename", "join", "leave", "direct", "history"];

fn lobby() -> String {
    LOBBY.to_owned()
}
