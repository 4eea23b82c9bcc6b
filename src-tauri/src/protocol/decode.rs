//! Turning a text frame into a [`ClientMessage`], or into a clear reason why not.
//!
//! Rule: a frame whose first non-blank character is `{` is meant as JSON and must decode;
//! anything else is plain chat text. That keeps `websocat` and friends usable as clients
//! while still telling a JSON client exactly what it got wrong.

use super::{names, ClientMessage, ErrorCode, CLIENT_MESSAGE_TYPES, MAX_TEXT_BYTES};

/// Why a text frame was refused. Becomes an `error` frame; never closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
}

impl DecodeError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Decodes one text frame. Never panics, whatever the input.
pub fn decode_client_text(frame: &str) -> Result<ClientMessage, DecodeError> {
    let message = if frame.trim_start().starts_with('{') {
        decode_json(frame)?
    } else {
        ClientMessage::Chat {
            room: super::LOBBY.to_owned(),
            text: frame.to_owned(),
        }
    };
    validate(message)
}

fn decode_json(frame: &str) -> Result<ClientMessage, DecodeError> {
    serde_json::from_str(frame).map_err(|error| {
        // A well-formed object with an unfamiliar `type` deserves a more helpful answer than
        // a generic parse error.
        let unknown_type = serde_json::from_str::<serde_json::Value>(frame)
            .ok()
            .and_then(|value| {
                value
                    .get("type")
                    .and_then(|t| t.as_str())
                    .map(str::to_owned)
            });
        match unknown_type {
            Some(kind) if error.is_data() && !is_known_type(&kind) => DecodeError::new(
                ErrorCode::UnknownType,
                format!(
                    "unknown message type {kind:?}; expected one of: {}",
                    CLIENT_MESSAGE_TYPES.join(", ")
                ),
            ),
            _ => DecodeError::new(
                ErrorCode::InvalidJson,
                format!("expected a JSON object with a \"type\" field: {error}"),
            ),
        }
    })
}

fn is_known_type(kind: &str) -> bool {
    CLIENT_MESSAGE_TYPES.contains(&kind)
}

/// Checks the limits every text obeys, and normalizes names. Names of connections and rooms
/// are checked here too, so actors only ever see valid values.
fn validate(message: ClientMessage) -> Result<ClientMessage, DecodeError> {
    Ok(match message {
        ClientMessage::Chat { room, text } => ClientMessage::Chat {
            room: room_name(&room)?,
            text: checked_text(&text)?,
        },
        ClientMessage::Direct { to, text } => ClientMessage::Direct {
            to,
            text: checked_text(&text)?,
        },
        ClientMessage::Rename { name } => ClientMessage::Rename {
            name: names::validate_display_name(&name)
                .map_err(|reason| DecodeError::new(ErrorCode::InvalidName, reason))?,
        },
        ClientMessage::Join { room, since, epoch } => ClientMessage::Join {
            room: room_name(&room)?,
            since,
            epoch: match epoch {
                Some(epoch) if !super::resume::is_valid_epoch(&epoch) => {
                    return Err(DecodeError::new(
                        ErrorCode::InvalidJson,
                        "epoch must be 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'",
                    ))
                }
                epoch => epoch,
            },
        },
        ClientMessage::Leave { room } => ClientMessage::Leave {
            room: room_name(&room)?,
        },
        ClientMessage::History {
            room,
            before,
            limit,
        } => ClientMessage::History {
            room: room_name(&room)?,
            before,
            limit: match limit {
                Some(limit) if limit == 0 || limit > super::history::HISTORY_MAX_LIMIT as u64 => {
                    return Err(DecodeError::new(
                        ErrorCode::InvalidJson,
                        format!("limit must be 1 to {}", super::history::HISTORY_MAX_LIMIT),
                    ))
                }
                limit => limit,
            },
        },
    })
}

fn room_name(room: &str) -> Result<String, DecodeError> {
    names::validate_room_name(room)
        .map_err(|reason| DecodeError::new(ErrorCode::InvalidRoom, reason))
}

/// Trimmed, non-empty and at most [`MAX_TEXT_BYTES`].
pub fn checked_text(text: &str) -> Result<String, DecodeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DecodeError::new(ErrorCode::EmptyText, "the text is empty"));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(DecodeError::new(
            ErrorCode::TextTooLong,
            format!(
                "the text is {} bytes; the limit is {MAX_TEXT_BYTES}",
                text.len()
            ),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_requests_decode_and_their_limit_is_bounded() {
        assert_eq!(
            decode_client_text(r#"{"type":"history","room":"dev","before":40,"limit":50}"#),
            Ok(ClientMessage::History {
                room: "dev".into(),
                before: Some(40),
                limit: Some(50)
            })
        );
        assert_eq!(
            decode_client_text(r#"{"type":"history","room":"dev"}"#),
            Ok(ClientMessage::History {
                room: "dev".into(),
                before: None,
                limit: None
            })
        );
        for bad in [
            r#"{"type":"history","room":"dev","limit":0}"#,
            r#"{"type":"history","room":"dev","limit":201}"#,
            r#"{"type":"history","room":"dev","before":-1}"#,
            r#"{"type":"history","room":"no such room!"}"#,
        ] {
            assert!(decode_client_text(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_chat_decodes() {
        let decoded = decode_client_text(r#"{"type":"chat","text":"hi"}"#);
        assert_eq!(
            decoded,
            Ok(ClientMessage::Chat {
                room: "lobby".into(),
                text: "hi".into()
            })
        );
    }

    #[test]
    fn plain_text_is_chat() {
        let decoded = decode_client_text("  hello there ");
        assert_eq!(
            decoded,
            Ok(ClientMessage::Chat {
                room: "lobby".into(),
                text: "hello there".into()
            })
        );
    }

    #[test]
    fn broken_json_is_invalid_json() {
        let error = decode_client_text(r#"{"type":"chat","#).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidJson);
    }

    #[test]
    fn unknown_type_is_named() {
        let error = decode_client_text(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::UnknownType);
        assert!(error.message.contains("dance"));
    }

    #[test]
    fn missing_field_is_invalid_json() {
        let error = decode_client_text(r#"{"type":"chat"}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidJson);
    }

    #[test]
    fn every_message_type_decodes_and_is_normalized() {
        assert_eq!(
            decode_client_text(r#"{"type":"join","room":"Dev","since":3}"#),
            Ok(ClientMessage::Join {
                room: "dev".into(),
                since: Some(3),
                epoch: None
            })
        );
        assert_eq!(
            decode_client_text(r#"{"type":"join","room":"dev","since":3,"epoch":"e-1_A"}"#),
            Ok(ClientMessage::Join {
                room: "dev".into(),
                since: Some(3),
                epoch: Some("e-1_A".into())
            })
        );
        assert_eq!(
            decode_client_text(r#"{"type":"join","room":"dev","since":3,"epoch":"e:1"}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidJson
        );
        assert_eq!(
            decode_client_text(r#"{"type":"join","room":"dev","since":18446744073709551616}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidJson
        );
        assert_eq!(
            decode_client_text(r#"{"type":"join","room":"dev","since":-1}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidJson
        );
        assert_eq!(
            decode_client_text(r#"{"type":"rename","name":"  alice "}"#),
            Ok(ClientMessage::Rename {
                name: "alice".into()
            })
        );
        assert_eq!(
            decode_client_text(r#"{"type":"direct","to":7,"text":"psst"}"#),
            Ok(ClientMessage::Direct {
                to: 7,
                text: "psst".into()
            })
        );
        assert_eq!(
            decode_client_text(r#"{"type":"leave","room":"no spaces"}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidRoom
        );
        assert_eq!(
            decode_client_text(r#"{"type":"rename","name":""}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidName
        );
    }

    #[test]
    fn empty_and_oversize_text_are_refused() {
        assert_eq!(
            decode_client_text("   ").unwrap_err().code,
            ErrorCode::EmptyText
        );
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            decode_client_text(&long).unwrap_err().code,
            ErrorCode::TextTooLong
        );
    }
}

/// Property tests: the decoder is reachable from the network, so no input may make it panic,
/// and whatever it accepts must satisfy the documented limits.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_text_never_panics(frame in any::<String>()) {
            if let Ok(ClientMessage::Chat { text, .. }) = decode_client_text(&frame) {
                prop_assert!(!text.is_empty() && text.len() <= MAX_TEXT_BYTES);
                prop_assert_eq!(text.trim(), text.as_str());
            }
        }

        #[test]
        fn json_shaped_input_never_panics(
            kind in prop::sample::select(vec!["chat", "dance", "", "CHAT", "chat\u{0}"]),
            text in any::<String>(),
            junk in "[{}\\[\\]\":,a-z0-9 ]{0,40}",
        ) {
            let well_formed = serde_json::json!({"type": kind, "text": text}).to_string();
            let outcome = decode_client_text(&well_formed);
            if kind == "chat" && !text.trim().is_empty() && text.trim().len() <= MAX_TEXT_BYTES {
                prop_assert_eq!(outcome, Ok(ClientMessage::Chat { room: "lobby".to_owned(), text: text.trim().to_owned() }));
            } else {
                prop_assert!(outcome.is_err());
            }
            let _ = decode_client_text(&format!("{{{junk}"));
            let _ = decode_client_text(&format!("{well_formed}{junk}"));
        }
    }
}
