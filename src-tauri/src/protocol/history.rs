//! The `history` frame: a page of a room's numbered frames, older ones on request.
//!
//! ```json
//! {"type":"history","room":"dev","epoch":"…","first_kept":1,"last_seq":120,"has_more":true,
//!  "messages":[{"type":"message","room":"dev","seq":21,…}, …]}
//! ```
//!
//! `messages` are the stored frames exactly as they were fanned out (oldest first), so a client
//! handles them with the code it has for live frames. They are joined into the answer as text,
//! never decoded and encoded again: each one is a complete JSON object made by the server.
//! The WebSocket request `{"type":"history","room":…,"before":SEQ,"limit":N}` and the HTTP
//! `GET /api/rooms/{room}/history?after=SEQ&limit=N` answer with this same object.

/// Frames in a page when the request names no limit.
pub const HISTORY_DEFAULT_LIMIT: usize = 50;

/// Most frames in one page.
pub const HISTORY_MAX_LIMIT: usize = 200;

/// Most bytes of frames in one page (fewer frames are sent, with `has_more`), so that a page
/// always fits a connection's outbound queue.
pub const HISTORY_MAX_BYTES: usize = 256 * 1024;

/// One page, ready to encode.
pub struct HistoryPage<'a> {
    pub room: &'a str,
    pub epoch: &'a str,
    pub first_kept: u64,
    pub last_seq: u64,
    pub has_more: bool,
    /// Encoded numbered frames, oldest first.
    pub messages: Vec<&'a str>,
}

impl HistoryPage<'_> {
    pub fn to_json(&self) -> String {
        let quote = |text: &str| serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned());
        let size: usize = self.messages.iter().map(|frame| frame.len() + 1).sum();
        let mut json = String::with_capacity(size + 160);
        json.push_str(r#"{"type":"history","room":"#);
        json.push_str(&quote(self.room));
        json.push_str(r#","epoch":"#);
        json.push_str(&quote(self.epoch));
        json.push_str(&format!(
            r#","first_kept":{},"last_seq":{},"has_more":{},"messages":["#,
            self.first_kept, self.last_seq, self.has_more
        ));
        for (index, frame) in self.messages.iter().enumerate() {
            if index > 0 {
                json.push(',');
            }
            json.push_str(frame);
        }
        json.push_str("]}");
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_valid_json_with_the_frames_inside() {
        let page = HistoryPage {
            room: "d\"ev",
            epoch: "e1",
            first_kept: 3,
            last_seq: 9,
            has_more: true,
            messages: vec![
                r#"{"type":"message","seq":4}"#,
                r#"{"type":"message","seq":5}"#,
            ],
        };
        let value: serde_json::Value = serde_json::from_str(&page.to_json()).expect("JSON");
        assert_eq!(value["type"], "history");
        assert_eq!(value["room"], "d\"ev");
        assert_eq!(value["has_more"], true);
        assert_eq!(value["messages"][1]["seq"], 5);
        let empty = HistoryPage {
            messages: Vec::new(),
            ..page
        };
        let value: serde_json::Value = serde_json::from_str(&empty.to_json()).expect("JSON");
        assert_eq!(value["messages"].as_array().map(Vec::len), Some(0));
    }
}
