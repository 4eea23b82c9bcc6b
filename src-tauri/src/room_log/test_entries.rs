//! What the stores' unit tests append and read back: the same chat frame for every store, so
//! the memory, SQLite and Redis tests check the same thing the same way.

use std::sync::Arc;

use super::{LogPage, NewEntry, RoomLog};
use crate::protocol::{FrameTemplate, MessageKind, ServerMessage, SEQ_PLACEHOLDER};

/// A chat message by `s` in `room`, accepted at `ts`, ready for [`RoomLog::append`] (the log
/// puts in the seq).
pub fn chat_entry(room: &str, text: &str, ts: u64) -> NewEntry {
    let message = ServerMessage::Message {
        kind: MessageKind::Chat,
        room: room.into(),
        seq: SEQ_PLACEHOLDER,
        sender: "s".into(),
        sender_id: None,
        text: text.into(),
        ts,
    };
    NewEntry {
        template: FrameTemplate::new(&message).expect("template"),
        ts,
    }
}

/// Appends `entries` as one batch and returns the seqs the log gave them.
pub async fn append_entries(log: &Arc<dyn RoomLog>, entries: Vec<NewEntry>) -> Vec<u64> {
    let appended = log.append(entries).await.expect("append");
    appended.frames.iter().map(|frame| frame.seq).collect()
}

/// The seqs of a page, in its order.
pub fn seqs(page: &LogPage) -> Vec<u64> {
    page.frames.iter().map(|frame| frame.seq).collect()
}
