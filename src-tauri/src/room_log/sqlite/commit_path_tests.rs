//! Where an append is committed (on the room's thread, or by the writer thread) and who runs the
//! checkpoints, on real files.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;

use super::tests::{entry, eventually, keeping, open, options, rows};
use super::*;
use crate::room_log::test_entries::seqs;
use crate::room_log::LogStore;

fn direct_commits(store: &SqliteStore) -> u64 {
    store.stats().direct_commits.load(Ordering::Relaxed)
}

/// Waits until the writer thread waits for commands (its start-up scan and the opens done), so
/// that the next append finds the writer free.
async fn writer_idle(store: &SqliteStore) {
    eventually(|| store.stats().waiting.load(Ordering::Acquire)).await;
}

#[tokio::test]
async fn with_the_writer_free_an_append_is_committed_before_its_first_poll_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    let log = store.open("dev").await.expect("open");
    writer_idle(&store).await;
    let appended = log
        .append(vec![entry("a"), entry("b")])
        .now_or_never()
        .expect("answered at the first poll")
        .expect("append");
    assert_eq!(
        appended.frames.iter().map(|f| f.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(direct_commits(&store), 1);
    assert_eq!(
        rows(&dir, "SELECT COUNT(*) FROM frames"),
        2,
        "committed, visible to another connection"
    );
}

#[tokio::test]
async fn a_busy_writer_gets_the_append_in_its_queue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    let log = store.open("dev").await.expect("open");
    let release = store.pause();
    let mut append = log.append(vec![entry("a")]);
    assert!(
        (&mut append).now_or_never().is_none(),
        "nothing is answered while the writer is held"
    );
    drop(release);
    let appended = append.await.expect("append");
    assert_eq!(appended.frames[0].seq, 1);
    assert_eq!(direct_commits(&store), 0, "the writer thread committed it");
}

#[tokio::test]
async fn with_durability_full_every_append_goes_to_the_writer_thread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(
        &dir,
        SqliteOptions {
            full_fsync: true,
            ..options()
        },
    );
    let log = store.open("dev").await.expect("open");
    for expected in 1..=3 {
        let appended = log.append(vec![entry("a")]).await.expect("append");
        assert_eq!(appended.frames[0].seq, expected);
    }
    assert_eq!(direct_commits(&store), 0, "no fsync on a room's thread");
}

#[tokio::test]
async fn after_a_slow_commit_appends_go_to_the_thread_until_its_commits_are_quick_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    let log = store.open("dev").await.expect("open");
    store.inner.direct.set_limit(Duration::ZERO);
    writer_idle(&store).await;
    log.append(vec![entry("1")])
        .now_or_never()
        .expect("the first is committed here")
        .expect("append");
    assert_eq!(direct_commits(&store), 1);

    // That commit was "slow": the next go to the thread, whose commits are slow too.
    let second = log.append(vec![entry("2")]).await.expect("append");
    assert_eq!(second.frames[0].seq, 2);
    log.append(vec![entry("3")]).await.expect("append");
    assert_eq!(direct_commits(&store), 1, "still handed to the thread");

    // A quick commit by the thread opens the way again.
    store.inner.direct.set_limit(Duration::from_secs(60));
    log.append(vec![entry("4")]).await.expect("append");
    writer_idle(&store).await;
    let fifth = log
        .append(vec![entry("5")])
        .now_or_never()
        .expect("committed here again")
        .expect("append");
    assert_eq!(fifth.frames[0].seq, 5);
    assert_eq!(direct_commits(&store), 2);
    assert_eq!(
        seqs(&log.range(0, 10).await.expect("range")),
        vec![1, 2, 3, 4, 5]
    );
}

/// A commit on a room's thread trims at most a batch; the rest is the thread's, which must be
/// woken for it (its next look would otherwise be the minute-long scan).
#[tokio::test]
async fn what_a_room_commit_leaves_to_trim_is_trimmed_by_the_woken_thread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, keeping(1));
    let log = store.open("dev").await.expect("open");
    writer_idle(&store).await;
    let many: Vec<NewEntry> = (0..3 * retention::TRIM_BATCH)
        .map(|i| entry(&format!("m{i}")))
        .collect();
    log.append(many)
        .now_or_never()
        .expect("committed here")
        .expect("append");
    eventually(|| rows(&dir, "SELECT COUNT(*) FROM frames") == 1).await;
}

/// The WAL grows by every commit; only checkpoints let it start over. The writing connection's
/// automatic checkpoint is replaced by the writer thread's, so without them the WAL would hold
/// every byte written.
#[tokio::test]
async fn the_writer_thread_checkpoints_the_wal_of_commits_made_on_rooms_threads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir, options());
    let log = store.open("dev").await.expect("open");
    let page = 4096;
    let text = "w".repeat(3000);
    let mut written = 0;
    let wal_limit = usize::try_from(CHECKPOINT_PAGES).expect("pages") * page;
    while written < 4 * wal_limit {
        // Rooms commit between other work; give the thread its moments, as they do.
        writer_idle(&store).await;
        log.append(vec![entry(&text)]).await.expect("append");
        written += text.len();
    }
    let checkpoints = store.stats().checkpoints.load(Ordering::Relaxed);
    assert!(checkpoints >= 1, "no checkpoint ran");
    let wal = std::fs::metadata(dir.path().join(format!("{FILE_NAME}-wal")))
        .expect("the WAL file")
        .len();
    assert!(
        wal < u64::try_from(written / 2).expect("bytes"),
        "the WAL holds {wal} bytes after {written} were written and {checkpoints} checkpoints"
    );
    assert!(
        2 * direct_commits(&store) > store.commits(),
        "most appends were committed on the test's thread ({} of {})",
        direct_commits(&store),
        store.commits()
    );
}
