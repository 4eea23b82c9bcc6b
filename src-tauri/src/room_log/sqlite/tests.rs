//! The SQLite store on real files in temporary directories.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use super::*;
use crate::room_log::test_entries::{append_entries, chat_entry, seqs};
use crate::room_log::{LogErrorKind, LogStore};

pub(super) fn entry_at(text: &str, ts: u64) -> NewEntry {
    chat_entry("r", text, ts)
}

pub(super) fn entry(text: &str) -> NewEntry {
    entry_at(text, crate::protocol::unix_millis())
}

pub(super) fn options() -> SqliteOptions {
    SqliteOptions {
        full_fsync: false,
        retention: Retention {
            frames_per_room: 1000,
            bytes_per_room: 1 << 30,
            max_age: None,
        },
        max_rooms: 100,
    }
}

/// [`options`] with `frames` kept per room.
pub(super) fn keeping(frames: u64) -> SqliteOptions {
    SqliteOptions {
        retention: Retention {
            frames_per_room: frames,
            ..options().retention
        },
        ..options()
    }
}

pub(super) fn open(dir: &tempfile::TempDir, options: SqliteOptions) -> SqliteStore {
    SqliteStore::open(&dir.path().join(FILE_NAME), options).expect("open the store")
}

async fn append(log: &Arc<dyn RoomLog>, texts: &[&str]) -> Vec<u64> {
    append_entries(log, texts.iter().map(|text| entry(text)).collect()).await
}

/// Polls `check` for up to 10 s (maintenance runs on the writer thread, in its own time).
pub(super) async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the condition never became true");
}

pub(super) fn rows(dir: &tempfile::TempDir, sql: &str) -> i64 {
    let connection = Connection::open(dir.path().join(FILE_NAME)).expect("open for inspection");
    connection
        .query_row(sql, [], |row| row.get(0))
        .expect("inspection query")
}

#[tokio::test]
async fn history_epoch_and_numbering_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    let log = store.open("dev").await.expect("open");
    assert_eq!(append(&log, &["a", "b"]).await, vec![1, 2]);
    assert_eq!(append(&log, &["c"]).await, vec![3]);
    let page = log.range(1, 10).await.expect("range");
    assert_eq!(seqs(&page), vec![2, 3]);
    assert_eq!((page.first_kept, page.last_seq), (1, 3));
    assert!(page.frames[0].frame.as_str().contains(r#""seq":2,"#));
    assert!(page.frames[0].frame.as_str().contains(r#""text":"b""#));
    assert_eq!(seqs(&log.before(3, 1).await.expect("before")), vec![2]);
    assert_eq!(
        seqs(&log.before(u64::MAX, 2).await.expect("before")),
        vec![2, 3]
    );
    assert!(log
        .range(u64::MAX, 10)
        .await
        .expect("range")
        .frames
        .is_empty());
    let epoch = log.head().await.expect("head").epoch;
    drop(log);
    drop(store);

    let store = open(&dir, options());
    let log = store.open("dev").await.expect("reopen");
    let head = log.head().await.expect("head");
    assert_eq!(head.epoch, epoch, "the epoch is kept");
    assert_eq!(
        (head.last_seq, head.first_kept, head.kept_frames),
        (3, 1, 3)
    );
    let page = log.range(0, 10).await.expect("range");
    assert_eq!(seqs(&page), vec![1, 2, 3]);
    assert!(page.frames[2].frame.as_str().contains(r#""text":"c""#));
    assert_eq!(append(&log, &["d"]).await, vec![4], "numbering carries on");
}

#[tokio::test]
async fn posts_that_arrive_during_a_commit_share_the_next_transaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    let mut logs = Vec::new();
    for room in 0..20 {
        logs.push(store.open(&format!("room{room}")).await.expect("open"));
    }
    let before = store.commits();
    let release = store.pause();
    let appends: Vec<_> = logs
        .iter()
        .map(|log| log.append(vec![entry("x"), entry("y")]))
        .collect();
    let all = futures_util::future::join_all(appends);
    tokio::pin!(all);
    // Nothing is acknowledged before the commit.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut all)
            .await
            .is_err(),
        "an append answered before its transaction committed"
    );
    drop(release);
    let results = all.await;
    for result in results {
        let appended = result.expect("append");
        assert_eq!(
            appended.frames.iter().map(|f| f.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
    assert_eq!(
        store.commits() - before,
        1,
        "20 rooms' posts in one transaction"
    );
    assert_eq!(rows(&dir, "SELECT COUNT(*) FROM frames"), 40);
}

#[tokio::test]
async fn count_and_bytes_limits_trim_the_oldest_frames_but_keep_the_newest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let one = entry(&"x".repeat(1000)).template.encode(10).as_str().len() as u64;
    let store = open(
        &dir,
        SqliteOptions {
            retention: Retention {
                frames_per_room: 5,
                bytes_per_room: 3 * one + one / 2,
                max_age: None,
            },
            ..options()
        },
    );
    let small = store.open("small").await.expect("open");
    for i in 0..8 {
        append(&small, &[&format!("{i}")]).await;
    }
    let page = small.range(0, 100).await.expect("range");
    assert_eq!(seqs(&page), vec![4, 5, 6, 7, 8], "count limit");
    assert_eq!(page.first_kept, 4);

    let big = store.open("big").await.expect("open");
    let text = "x".repeat(1000);
    for _ in 0..6 {
        append(&big, &[&text]).await;
    }
    let head = big.head().await.expect("head");
    assert_eq!(
        (head.kept_frames, head.first_kept, head.last_seq),
        (3, 4, 6)
    );
    assert!(head.kept_bytes as u64 <= 3 * one + one / 2);
    let huge = "y".repeat(8000);
    append(&big, &[&huge]).await;
    let head = big.head().await.expect("head");
    assert_eq!(
        (head.kept_frames, head.last_seq),
        (1, 7),
        "the newest frame stays"
    );
    assert_eq!(
        rows(&dir, "SELECT COUNT(*) FROM frames"),
        6,
        "trimmed rows are gone from the file"
    );
    // Asking for what is gone gives what is kept.
    assert_eq!(
        seqs(&small.range(1, 100).await.expect("range")),
        vec![4, 5, 6, 7, 8]
    );
}

#[tokio::test]
async fn a_lowered_limit_is_applied_in_batches_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, keeping(10_000));
    let log = store.open("dev").await.expect("open");
    for _ in 0..6 {
        let texts: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        append(&log, &refs).await;
    }
    drop(log);
    drop(store);

    let store = open(&dir, keeping(10));
    eventually(|| store.stats().frames_deleted.load(Ordering::Relaxed) >= 1190).await;
    let log = store.open("dev").await.expect("open");
    let head = log.head().await.expect("head");
    assert_eq!(
        (head.kept_frames, head.first_kept, head.last_seq),
        (10, 1191, 1200)
    );
    assert_eq!(rows(&dir, "SELECT COUNT(*) FROM frames"), 10);
}

#[tokio::test]
async fn frames_older_than_the_retention_age_are_deleted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    let log = store.open("dev").await.expect("open");
    let day = 24 * 3600 * 1000;
    let now = crate::protocol::unix_millis();
    let old = vec![
        entry_at("old1", now - 3 * day),
        entry_at("old2", now - 2 * day),
    ];
    log.append(old).await.expect("append");
    log.append(vec![entry_at("new", now)])
        .await
        .expect("append");
    drop(log);
    drop(store);

    let store = open(
        &dir,
        SqliteOptions {
            retention: Retention {
                max_age: Some(Duration::from_secs(24 * 3600)),
                ..options().retention
            },
            ..options()
        },
    );
    eventually(|| store.stats().frames_deleted.load(Ordering::Relaxed) == 2).await;
    let log = store.open("dev").await.expect("open");
    let page = log.range(0, 10).await.expect("range");
    assert_eq!(seqs(&page), vec![3]);
    assert_eq!(page.first_kept, 3);
}

#[tokio::test]
async fn deleting_a_room_deletes_its_rows_and_the_next_one_has_a_new_epoch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    let old = store.open("dev").await.expect("open");
    for _ in 0..3 {
        let texts: Vec<String> = (0..250).map(|i| format!("m{i}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        append(&old, &refs).await;
    }
    let keep = store.open("keep").await.expect("open");
    append(&keep, &["stays"]).await;
    let old_epoch = old.head().await.expect("head").epoch;
    store.delete("dev").await.expect("delete");
    assert_eq!(
        old.append(vec![entry("late")])
            .await
            .map(|_| ())
            .map_err(|e| e.kind),
        Err(LogErrorKind::Gone)
    );
    assert!(old.range(0, 10).await.is_err());
    eventually(|| rows(&dir, "SELECT COUNT(*) FROM frames") == 1).await;
    assert_eq!(rows(&dir, "SELECT COUNT(*) FROM deleted_rooms"), 0);

    let new = store.open("dev").await.expect("open");
    let head = new.head().await.expect("head");
    assert_ne!(head.epoch, old_epoch);
    assert_eq!((head.last_seq, head.kept_frames), (0, 0));
    assert_eq!(append(&new, &["again"]).await, vec![1]);
}

#[tokio::test]
async fn rooms_left_by_an_earlier_run_make_way_for_new_ones_at_the_cap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(
        &dir,
        SqliteOptions {
            max_rooms: 3,
            ..options()
        },
    );
    for room in ["a", "b", "c"] {
        let log = store.open(room).await.expect("open");
        append(&log, &[room]).await;
    }
    drop(store);
    let store = open(
        &dir,
        SqliteOptions {
            max_rooms: 3,
            ..options()
        },
    );
    let c = store.open("c").await.expect("open");
    append(&c, &["c again"]).await;
    let _d = store.open("d").await.expect("open");
    assert_eq!(rows(&dir, "SELECT COUNT(*) FROM rooms"), 3);
    assert_eq!(
        rows(&dir, "SELECT COUNT(*) FROM rooms WHERE name = 'a'"),
        0,
        "the least recently active room nobody reopened went"
    );
    eventually(|| rows(&dir, "SELECT COUNT(*) FROM frames") == 3).await;
}

fn checksum(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).expect("read the file")
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).expect("write");
    let error = SqliteStore::open(&path, options()).err().expect("refused");
    assert!(matches!(error, OpenError::Corrupt { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("Move it away"), "{message}");
    assert_eq!(checksum(&path), garbage, "the file is unchanged");
    assert!(!dir.path().join("rooms.sqlite3-wal").exists());
}

#[test]
fn a_newer_schema_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    {
        let connection = Connection::open(&path).expect("create");
        connection
            .execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version VALUES (99);
                 CREATE TABLE rooms (x); CREATE TABLE future_things (y);",
            )
            .expect("write a future file");
    }
    let before = checksum(&path);
    let error = SqliteStore::open(&path, options()).err().expect("refused");
    assert!(
        matches!(error, OpenError::NewerSchema { found: 99, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("newer version"), "{error}");
    assert_eq!(checksum(&path), before, "the file is unchanged");
}

#[test]
fn someone_elses_database_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    Connection::open(&path)
        .expect("create")
        .execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
        .expect("write");
    let before = checksum(&path);
    let error = SqliteStore::open(&path, options()).err().expect("refused");
    assert!(matches!(error, OpenError::Foreign { .. }), "{error}");
    assert_eq!(checksum(&path), before);
}

#[tokio::test]
async fn a_new_file_is_in_wal_mode_with_incremental_vacuum_and_our_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    drop(store.open("dev").await.expect("open"));
    assert_eq!(
        rows(&dir, "SELECT version FROM schema_version"),
        schema::SCHEMA_VERSION
    );
    assert_eq!(rows(&dir, "PRAGMA auto_vacuum"), 2, "incremental");
    let connection = Connection::open(dir.path().join(FILE_NAME)).expect("open");
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
}

#[test]
fn durability_full_syncs_every_commit_and_normal_does_not() {
    let connection = Connection::open_in_memory().expect("connection");
    let synchronous = |connection: &Connection| -> i64 {
        connection
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .expect("pragma")
    };
    schema::pragmas(&connection, true).expect("pragmas");
    assert_eq!(synchronous(&connection), 2, "FULL");
    schema::pragmas(&connection, false).expect("pragmas");
    assert_eq!(synchronous(&connection), 1, "NORMAL");
}

#[test]
fn a_file_that_cannot_be_opened_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    std::fs::create_dir(&path).expect("a directory where the file should be");
    let error = SqliteStore::open(&path, options()).err().expect("refused");
    assert!(
        matches!(
            error,
            OpenError::Unreadable { .. } | OpenError::Corrupt { .. }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    assert!(path.is_dir(), "left as it was");
}

#[test]
fn a_second_store_on_a_locked_directory_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _first = SqliteStore::open_in(dir.path(), options()).expect("first");
    let error = SqliteStore::open_in(dir.path(), options())
        .err()
        .expect("second");
    assert!(matches!(error, OpenError::Locked { .. }), "{error}");
}

#[tokio::test]
async fn deleted_rows_give_their_space_back_to_the_file_system() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    let log = store.open("big").await.expect("open");
    let text = "z".repeat(4000);
    for _ in 0..10 {
        let texts: Vec<&str> = (0..100).map(|_| text.as_str()).collect();
        append(&log, &texts).await;
    }
    let pages = || rows(&dir, "PRAGMA page_count");
    let full = pages();
    assert!(full > 1000, "{full} pages");
    store.delete("big").await.expect("delete");
    // Deleted in batches, then the free pages are released (incremental vacuum) a step at a time.
    eventually(|| rows(&dir, "SELECT COUNT(*) FROM frames") == 0).await;
    eventually(|| rows(&dir, "PRAGMA freelist_count") == 0 && pages() < full / 10).await;
}
