//! Frames a client sends to the server.

use serde::Deserialize;

/// One decoded client frame.
///
/// `deny_unknown_fields` is deliberately *not* set: a newer client may add fields, and an older
/// server should still understand the parts it knows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Say something in the room. Plain (non-JSON) text frames decode to this too.
    Chat { text: String },
}
