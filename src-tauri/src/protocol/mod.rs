//! The wire protocol: what clients send, what the server sends back, and the close codes.
//!
//! Every frame is a JSON text frame with a `type` field. On the Rust side that is a serde
//! *internally tagged* enum (`#[serde(tag = "type")]`): the enum is the single source of truth for
//! the format, so a new message type cannot be forgotten in the decoder or the docs' examples.
//! `docs/PROTOCOL.md` shows every message with an example.

mod client_message;
mod close_code;
mod decode;
mod frame_template;
pub mod history;
pub mod names;
pub mod resume;
mod server_message;
mod timestamp;
pub mod token;

pub use client_message::{ClientMessage, CLIENT_MESSAGE_TYPES};
pub use close_code::CloseCode;
pub use decode::{decode_client_text, DecodeError};
pub use frame_template::{FrameTemplate, SEQ_PLACEHOLDER};
pub use history::HistoryPage;
pub use resume::Resume;
pub use server_message::{
    ErrorCode, Level, MemberView, MessageKind, NoticeEvent, NotificationSource, ServerMessage,
};
pub use timestamp::unix_millis;

/// The room every connection starts in and cannot leave. Part of the protocol: a `chat` frame
/// without a `room`, and every plain-text frame, goes here.
pub const LOBBY: &str = "lobby";

/// Longest chat or broadcast text accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 8192;
