//! WAL checkpoints: run by the writer thread between commits, never inside one.
//!
//! In WAL mode a commit appends pages to `rooms.sqlite3-wal`; a **checkpoint** copies them back
//! into the database file, syncing both (with `synchronous=NORMAL` too), so that the WAL can start
//! over. SQLite's automatic checkpoint runs *inside* the commit that takes the WAL past 1,000
//! pages, on whichever connection commits. Since rooms commit their own appends on their runtime
//! worker ([`super::direct`]), that would now and then put two fsyncs and a few megabytes of
//! copying on a worker that also writes sockets.
//!
//! So, as SQLite documents for `sqlite3_wal_hook`, the writing connection gets a WAL hook of its
//! own instead of the automatic checkpoint ([`watch_wal`]): after each commit it only notes that
//! the WAL is past [`CHECKPOINT_PAGES`]. The writer thread sees the note and runs a `PASSIVE`
//! checkpoint ([`run_if_wanted`]) **holding the writer**, as the automatic checkpoint holds its
//! connection: appends that come meanwhile go to the thread's queue and wait a few milliseconds,
//! on no runtime worker. Holding the writer matters: a checkpoint that commits could race would
//! rarely copy the *whole* WAL, and only a complete checkpoint lets the next transaction start
//! the WAL over, so under steady load the WAL would grow without end. Readers keep their
//! snapshots either way (a checkpoint stops short of what they still need). A checkpoint that
//! fails (a full disk) is logged and tried again after the next commit; the frames stay safe in
//! the WAL meanwhile.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::Connection;

use super::WriterStats;

/// WAL pages after which a checkpoint is asked for: SQLite's own default for the automatic one.
pub const CHECKPOINT_PAGES: c_int = 1000;

/// "The WAL has grown past [`CHECKPOINT_PAGES`]": set by the writing connection's hook, taken
/// by the writer thread.
#[derive(Clone, Default)]
pub(super) struct CheckpointWanted(Arc<AtomicBool>);

impl CheckpointWanted {
    pub(super) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// Replaces `connection`'s automatic checkpoint with a note in `wanted` (see the module docs).
pub(super) fn watch_wal(
    connection: &mut Connection,
    wanted: CheckpointWanted,
) -> rusqlite::Result<()> {
    connection.wal_hook(Some(move |_wal: &mut Wal, pages: c_int| {
        if pages >= CHECKPOINT_PAGES {
            wanted.set();
        }
        Ok(())
    }))
}

/// Runs a passive checkpoint on the writer's connection if one was asked for since the last.
/// The caller (the writer thread) holds the writer, so no commit can race the checkpoint: it
/// copies every frame no reader still needs, and the next transaction starts the WAL over.
pub(super) fn run_if_wanted(
    wanted: &CheckpointWanted,
    connection: &Connection,
    stats: &WriterStats,
) {
    if !wanted.take() {
        return;
    }
    match connection.wal_checkpoint_v2(rusqlite::DEFAULT_NAME, CheckpointMode::PASSIVE) {
        Ok((wal_pages, copied)) => {
            stats.checkpoints.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(wal_pages, copied, "room log checkpoint");
        }
        Err(error) => {
            tracing::warn!(%error, "the room log's WAL could not be checkpointed; it will be tried again after the next commit");
        }
    }
}
