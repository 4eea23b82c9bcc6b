//! Pages of older history for clients: the `history` request and the history API.
//!
//! Both read the room's log directly (never through the room actor, which keeps serving live
//! posts meanwhile) and answer with a [`HistoryPage`]. A page is bounded in frames
//! ([`HISTORY_MAX_LIMIT`]) and bytes ([`HISTORY_MAX_BYTES`]): a page cut short says
//! `has_more`, and the client asks again from where it ends.

use crate::protocol::history::{HISTORY_MAX_BYTES, HISTORY_MAX_LIMIT};
use crate::protocol::HistoryPage;

use super::{LogError, LogStore, StoredFrame};

/// Which end of the log a page is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryQuery {
    /// The newest frames with `seq < before` (scrolling back).
    Before(u64),
    /// The oldest frames with `seq > after` (reading forward, as tools do).
    After(u64),
}

/// The encoded `history` page of `room`, or `None` if the room has no log.
pub async fn read_page(
    store: &dyn LogStore,
    room: &str,
    query: HistoryQuery,
    limit: usize,
) -> Result<Option<String>, LogError> {
    let limit = limit.clamp(1, HISTORY_MAX_LIMIT);
    let Some(log) = store.find(room).await? else {
        return Ok(None);
    };
    let page = match query {
        HistoryQuery::Before(before) => log.before(before, limit).await?,
        HistoryQuery::After(after) => log.range(after, limit).await?,
    };
    let mut frames: &[StoredFrame] = &page.frames;
    let mut bytes = 0;
    match query {
        // Keep the frames nearest to `before`: drop from the oldest end.
        HistoryQuery::Before(_) => {
            let mut start = frames.len();
            while start > 0
                && (start == frames.len() || bytes + frames[start - 1].len() <= HISTORY_MAX_BYTES)
            {
                bytes += frames[start - 1].len();
                start -= 1;
            }
            frames = &frames[start..];
        }
        HistoryQuery::After(_) => {
            let mut end = 0;
            while end < frames.len() && (end == 0 || bytes + frames[end].len() <= HISTORY_MAX_BYTES)
            {
                bytes += frames[end].len();
                end += 1;
            }
            frames = &frames[..end];
        }
    }
    let has_more = match query {
        HistoryQuery::Before(_) => match frames.first() {
            Some(first) => first.seq > page.first_kept,
            None => false,
        },
        HistoryQuery::After(_) => match frames.last() {
            Some(last) => last.seq < page.last_seq,
            None => false,
        },
    };
    let messages = frames.iter().map(|frame| frame.frame.as_str()).collect();
    Ok(Some(
        HistoryPage {
            room,
            epoch: page.epoch.as_str(),
            first_kept: page.first_kept,
            last_seq: page.last_seq,
            has_more,
            messages,
        }
        .to_json(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room_log::test_entries::chat_entry;
    use crate::room_log::{HistoryLimits, MemoryStore, NewEntry};

    fn entry(text: &str) -> NewEntry {
        chat_entry("dev", text, 0)
    }

    fn seqs(json: &str) -> (Vec<u64>, bool) {
        let value: serde_json::Value = serde_json::from_str(json).expect("JSON");
        let seqs = value["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|frame| frame["seq"].as_u64().expect("seq"))
            .collect();
        (seqs, value["has_more"].as_bool().expect("has_more"))
    }

    #[tokio::test]
    async fn pages_go_back_and_forward_and_say_when_there_is_more() {
        let store = MemoryStore::new(HistoryLimits {
            frames_per_room: 100,
            bytes_per_room: 1 << 20,
            total_bytes: 1 << 24,
        });
        assert_eq!(
            read_page(&store, "dev", HistoryQuery::Before(u64::MAX), 10)
                .await
                .expect("read"),
            None,
            "no log, no page (and none is created)"
        );
        assert!(store.find("dev").await.expect("find").is_none());
        let log = store.open("dev").await.expect("open");
        log.append((1..=10).map(|i| entry(&format!("m{i}"))).collect())
            .await
            .expect("append");
        let page = |query, limit| {
            let store = store.clone();
            async move {
                seqs(
                    &read_page(&store, "dev", query, limit)
                        .await
                        .expect("read")
                        .expect("page"),
                )
            }
        };
        assert_eq!(
            page(HistoryQuery::Before(u64::MAX), 3).await,
            (vec![8, 9, 10], true)
        );
        assert_eq!(
            page(HistoryQuery::Before(8), 3).await,
            (vec![5, 6, 7], true)
        );
        assert_eq!(page(HistoryQuery::Before(3), 3).await, (vec![1, 2], false));
        assert_eq!(page(HistoryQuery::Before(1), 3).await, (vec![], false));
        assert_eq!(
            page(HistoryQuery::After(0), 4).await,
            (vec![1, 2, 3, 4], true)
        );
        assert_eq!(
            page(HistoryQuery::After(7), 4).await,
            (vec![8, 9, 10], false)
        );
        assert_eq!(page(HistoryQuery::After(10), 4).await, (vec![], false));
    }

    #[tokio::test]
    async fn a_page_is_cut_to_its_byte_budget() {
        let store = MemoryStore::new(HistoryLimits {
            frames_per_room: 1000,
            bytes_per_room: 1 << 24,
            total_bytes: 1 << 24,
        });
        let log = store.open("dev").await.expect("open");
        let big = "x".repeat(8000);
        for _ in 0..3 {
            log.append((0..20).map(|_| entry(&big)).collect())
                .await
                .expect("append");
        }
        let json = read_page(&store, "dev", HistoryQuery::Before(u64::MAX), 200)
            .await
            .expect("read")
            .expect("page");
        assert!(json.len() <= HISTORY_MAX_BYTES + 1024, "{}", json.len());
        let (seqs, has_more) = seqs(&json);
        assert!(has_more);
        assert_eq!(seqs.last(), Some(&60), "the newest frames are kept");
        assert!(seqs.len() < 60);
    }
}
