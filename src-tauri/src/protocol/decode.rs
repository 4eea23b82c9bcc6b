//! Turning a text frame into a [`ClientMessage`], or into a clear reason why not.
//!
//! Rule: a frame whose first non-blank character is `{` is meant as JSON and must decode;
//! anything else is plain chat text. That keeps `websocat` and friends usable as clients
//! while still telling a JSON client exactly what it got wrong.

use super::{ClientMessage, ErrorCode, MAX_TEXT_BYTES};

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
                format!("unknown message type {kind:?}; expected one of: chat"),
            ),
            _ => DecodeError::new(
                ErrorCode::InvalidJson,
                format!("expected a JSON object with a \"type\" field: {error}"),
            ),
        }
    })
}

fn is_known_type(kind: &str) -> bool {
    matches!(kind, "chat")
}

fn validate(message: ClientMessage) -> Result<ClientMessage, DecodeError> {
    match message {
        ClientMessage::Chat { text } => {
            let text = text.trim();
            if text.is_empty() {
                return Err(DecodeError::new(ErrorCode::EmptyText, "chat text is empty"));
            }
            if text.len() > MAX_TEXT_BYTES {
                return Err(DecodeError::new(
                    ErrorCode::TextTooLong,
                    format!(
                        "chat text is {} bytes; the limit is {MAX_TEXT_BYTES}",
                        text.len()
                    ),
                ));
            }
            Ok(ClientMessage::Chat {
                text: text.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_chat_decodes() {
        let decoded = decode_client_text(r#"{"type":"chat","text":"hi"}"#);
        assert_eq!(decoded, Ok(ClientMessage::Chat { text: "hi".into() }));
    }

    #[test]
    fn plain_text_is_chat() {
        let decoded = decode_client_text("  hello there ");
        assert_eq!(
            decoded,
            Ok(ClientMessage::Chat {
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
            if let Ok(ClientMessage::Chat { text }) = decode_client_text(&frame) {
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
                prop_assert_eq!(outcome, Ok(ClientMessage::Chat { text: text.trim().to_owned() }));
            } else {
                prop_assert!(outcome.is_err());
            }
            let _ = decode_client_text(&format!("{{{junk}"));
            let _ = decode_client_text(&format!("{well_formed}{junk}"));
        }
    }
}
