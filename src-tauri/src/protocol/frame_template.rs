//! A numbered frame encoded before its number is known.
//!
//! The room log assigns sequence numbers (it is the only party that can: in a cluster several
//! nodes post to one room), yet a numbered frame must be encoded once and shared by every
//! recipient. So the room encodes the frame with a placeholder `seq` and cuts the JSON in two
//! around it: the log joins `head + seq + tail` when it assigns the number. That is a string
//! concatenation any store can do where the number is made (a SQLite writer thread, a Redis Lua
//! script), with no JSON work there.
//!
//! Finding the placeholder is exact, not a guess: inside a JSON string every `"` is escaped, so
//! the text `,"seq":18446744073709551615,` can only be the field itself, and the template is
//! refused if it occurs more than once.

use std::fmt::Write as _;

use axum::extract::ws::Utf8Bytes;

use super::ServerMessage;

/// The value a numbered frame carries in `seq` while it is being turned into a template.
pub const SEQ_PLACEHOLDER: u64 = u64::MAX;

const MARKER: &str = ",\"seq\":18446744073709551615,";
const FIELD: &str = ",\"seq\":";

/// `head` + the decimal seq + `tail` is the encoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameTemplate {
    head: String,
    tail: String,
}

impl FrameTemplate {
    /// The template of `message`, which must carry [`SEQ_PLACEHOLDER`] as its `seq`. `None` if it
    /// does not (a programming error, reported by the caller).
    pub fn new(message: &ServerMessage) -> Option<FrameTemplate> {
        let json = message.to_json();
        let at = json.find(MARKER)?;
        let after = at + MARKER.len();
        if json[after..].contains(MARKER) {
            return None;
        }
        Some(FrameTemplate {
            head: json[..at + FIELD.len()].to_owned(),
            // Keep the comma that followed the placeholder.
            tail: json[after - 1..].to_owned(),
        })
    }

    /// The frame with `seq` filled in.
    pub fn encode(&self, seq: u64) -> Utf8Bytes {
        let mut frame = String::with_capacity(self.head.len() + 20 + self.tail.len());
        frame.push_str(&self.head);
        let _ = write!(frame, "{seq}");
        frame.push_str(&self.tail);
        frame.into()
    }

    /// The two halves, for stores that join them themselves.
    pub fn parts(&self) -> (&str, &str) {
        (&self.head, &self.tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Level, MessageKind, NotificationSource};

    fn chat(text: &str, seq: u64) -> ServerMessage {
        ServerMessage::Message {
            kind: MessageKind::Chat,
            room: "dev".into(),
            seq,
            sender: "alice".into(),
            sender_id: Some(3),
            text: text.into(),
            ts: 1,
        }
    }

    #[test]
    fn the_template_encodes_exactly_what_serde_would() {
        for text in [
            "hello",
            r#","seq":18446744073709551615,"#,
            "\"seq\":18446744073709551615",
            "é\u{0}\n\\\"",
        ] {
            let template = FrameTemplate::new(&chat(text, SEQ_PLACEHOLDER)).expect("template");
            for seq in [0, 1, 42, u64::MAX - 1] {
                assert_eq!(template.encode(seq).as_str(), chat(text, seq).to_json());
            }
        }
    }

    #[test]
    fn notifications_work_too() {
        let note = |seq| ServerMessage::Notification {
            source: NotificationSource::Broadcast,
            room: "lobby".into(),
            seq,
            title: "Broadcast".into(),
            text: "deploy".into(),
            level: Level::Info,
            ts: 9,
        };
        let template = FrameTemplate::new(&note(SEQ_PLACEHOLDER)).expect("template");
        assert_eq!(template.encode(7).as_str(), note(7).to_json());
    }

    #[test]
    fn a_frame_without_the_placeholder_has_no_template() {
        assert_eq!(FrameTemplate::new(&chat("x", 5)), None);
        assert_eq!(
            FrameTemplate::new(&ServerMessage::Left { room: "x".into() }),
            None
        );
    }
}
