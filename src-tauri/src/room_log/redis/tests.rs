//! The Redis room log against a real `redis-server` of each test's own.

use std::time::Duration;

use super::*;
use crate::room_log::test_entries::chat_entry;
use crate::room_log::LogErrorKind;

#[path = "../../../../tests/support/redis_server.rs"]
mod redis_server;
use redis_server::RedisServer;

fn entry(text: &str) -> NewEntry {
    chat_entry("r", text, 1)
}

fn texts(frames: &[StoredFrame]) -> Vec<(u64, String)> {
    frames
        .iter()
        .map(|stored| {
            let value: serde_json::Value =
                serde_json::from_str(stored.frame.as_str()).expect("stored frame is JSON");
            assert_eq!(value["seq"], stored.seq, "the frame carries its own seq");
            (stored.seq, value["text"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

#[tokio::test]
async fn appends_number_consecutively_and_read_back_in_order() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url(), 100).expect("store");
    let log = store.open("r").await.expect("open");
    let first = log
        .append(vec![entry("a"), entry("b")])
        .await
        .expect("append");
    assert_eq!(texts(&first.frames), [(1, "a".into()), (2, "b".into())]);
    let second = log.append(vec![entry("c")]).await.expect("append");
    assert_eq!(second.epoch, first.epoch, "same incarnation");
    assert_eq!(texts(&second.frames), [(3, "c".into())]);

    let page = log.range(1, 10).await.expect("range");
    assert_eq!(page.epoch, first.epoch);
    assert_eq!((page.first_kept, page.last_seq), (1, 3));
    assert_eq!(texts(&page.frames), [(2, "b".into()), (3, "c".into())]);
    // What range returns is byte for byte what append returned.
    assert_eq!(page.frames[1], second.frames[0]);

    let limited = log.range(0, 2).await.expect("range");
    assert_eq!(texts(&limited.frames), [(1, "a".into()), (2, "b".into())]);
    assert!(log.range(3, 10).await.expect("range").frames.is_empty());
    assert!(log
        .range(u64::MAX, 10)
        .await
        .expect("range")
        .frames
        .is_empty());

    let older = log.before(3, 1).await.expect("before");
    assert_eq!(texts(&older.frames), [(2, "b".into())]);
    assert!(log.before(1, 10).await.expect("before").frames.is_empty());

    let head = log.head().await.expect("head");
    assert_eq!(
        (head.last_seq, head.first_kept, head.kept_frames),
        (3, 1, 3)
    );
}

#[tokio::test]
async fn two_stores_on_one_redis_share_numbering_and_epoch() {
    let redis = RedisServer::start();
    let node_a = RedisStore::open(&redis.url(), 100).expect("store a");
    let node_b = RedisStore::open(&redis.url(), 100).expect("store b");
    let log_a = node_a.open("r").await.expect("open a");
    let log_b = node_b.open("r").await.expect("open b");
    let a = log_a.append(vec![entry("from a")]).await.expect("append a");
    let b = log_b.append(vec![entry("from b")]).await.expect("append b");
    assert_eq!(a.epoch, b.epoch);
    assert_eq!((a.frames[0].seq, b.frames[0].seq), (1, 2));
    let page = log_a.range(0, 10).await.expect("range");
    assert_eq!(
        texts(&page.frames),
        [(1, "from a".into()), (2, "from b".into())]
    );
    // Another room numbers on its own.
    let other = node_b.open("other").await.expect("open other");
    let o = other.append(vec![entry("x")]).await.expect("append other");
    assert_eq!(o.frames[0].seq, 1);
    assert_ne!(o.epoch, a.epoch);
}

#[tokio::test]
async fn the_stream_is_trimmed_to_the_history_limit() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url(), 3).expect("store");
    let log = store.open("r").await.expect("open");
    for text in ["1", "2", "3", "4", "5"] {
        log.append(vec![entry(text)]).await.expect("append");
    }
    let page = log.range(0, 100).await.expect("range");
    assert_eq!((page.first_kept, page.last_seq), (3, 5));
    assert_eq!(
        texts(&page.frames),
        [(3, "3".into()), (4, "4".into()), (5, "5".into())]
    );
}

#[tokio::test]
async fn find_never_creates_a_room() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url(), 10).expect("store");
    assert!(store.find("nobody").await.expect("find").is_none());
    assert!(store.find("nobody").await.expect("find").is_none());
    let log = store.open("r").await.expect("open");
    log.append(vec![entry("a")]).await.expect("append");
    let found = store.find("r").await.expect("find").expect("r exists");
    assert_eq!(found.head().await.expect("head").last_seq, 1);
}

#[tokio::test]
async fn a_flush_makes_a_new_epoch_and_numbering_starts_over() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url(), 10).expect("store");
    let log = store.open("r").await.expect("open");
    let before = log
        .append(vec![entry("a"), entry("b")])
        .await
        .expect("append");
    assert_eq!(redis.command(&["FLUSHALL"]), "+OK");
    let page = log.range(0, 10).await.expect("range after flush");
    assert_ne!(page.epoch, before.epoch, "the data is gone: a new epoch");
    assert_eq!(page.last_seq, 0);
    let after = log
        .append(vec![entry("c")])
        .await
        .expect("append after flush");
    assert_eq!(after.epoch, page.epoch);
    assert_eq!(after.frames[0].seq, 1);
}

#[tokio::test]
async fn a_lost_seq_counter_resumes_after_the_kept_frames() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url(), 10).expect("store");
    let log = store.open("r").await.expect("open");
    let before = log
        .append(vec![entry("a"), entry("b")])
        .await
        .expect("append");
    assert_eq!(redis.command(&["DEL", "trw:{r}:seq"]), ":1");
    let after = log.append(vec![entry("c")]).await.expect("append");
    assert_eq!(after.epoch, before.epoch);
    assert_eq!(after.frames[0].seq, 3, "never reuses a kept seq");
}

#[tokio::test]
async fn redis_down_fails_with_unavailable_and_recovers_when_it_is_back() {
    let mut redis = RedisServer::start();
    let store = RedisStore::open(&redis.url(), 10).expect("store");
    let log = store.open("r").await.expect("open");
    let stored = log.append(vec![entry("kept")]).await.expect("append");
    let head_before = log.head().await.expect("head");

    redis.kill();
    let error = log
        .append(vec![entry("refused")])
        .await
        .expect_err("no Redis, no append");
    assert_eq!(error.kind, LogErrorKind::Unavailable);
    assert!(log.range(0, 10).await.is_err());
    // A room (re)started meanwhile still gets a log and the last head it knew.
    let reopened = store.open("r").await.expect("open needs no round trip");
    assert_eq!(reopened.head().await.expect("cached head"), head_before);
    // A room never read gets a provisional head, which matches no real epoch.
    let never_read = store.open("other").await.expect("open");
    let provisional = never_read.head().await.expect("provisional head");
    assert_eq!(provisional.epoch.as_str(), PROVISIONAL_EPOCH);
    assert_eq!((provisional.last_seq, provisional.first_kept), (0, 1));

    // Restarted without persistence: the data is gone, so a new epoch; the store reconnects.
    redis.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let appended = loop {
        match log.append(vec![entry("after")]).await {
            Ok(appended) => break appended,
            Err(error) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "still failing after Redis came back: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_ne!(appended.epoch, stored.epoch);
    assert_eq!(appended.frames[0].seq, 1);
    let page = log.range(0, 10).await.expect("range");
    assert_eq!(
        texts(&page.frames),
        [(1, "after".into())],
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn a_bad_url_is_refused_at_open() {
    assert!(RedisStore::open("not a url", 10).is_err());
}
