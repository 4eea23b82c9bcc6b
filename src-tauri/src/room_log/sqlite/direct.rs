//! A room commits its own append **on its own thread** when the writer is free.
//!
//! The writer thread ([`super::writer`]) answers through a oneshot, so a room that hands it an
//! append must await the answer in a task: the writer wakes that task from outside the runtime,
//! tokio queues it behind every connection task the last fan-out woke, and the task then hands the
//! outcome back to the room through its mailbox, another hop. At 1,000 clients that round trip,
//! not SQLite, capped the SQLite log at about 1.0 M deliveries/s where the in-memory log reached
//! 1.3–1.5 M (`benches/fanout/PROFILE.md`).
//!
//! So an append first tries to take the writer itself, with `try_lock`: if nobody holds it, the
//! room runs the transaction where it is (with `synchronous=NORMAL` a commit is a `write` to the
//! WAL, tens of microseconds) and its future is ready at the first poll: the room fans out at once,
//! with no task, no wake-up and no hop. If the writer is held (the thread is committing a group,
//! or running maintenance, or another room is committing), the append goes to the thread's queue
//! as before and joins the next group commit. **Nobody waits for the lock on a runtime worker.**
//!
//! A commit here is the same code as the thread's ([`super::writer::Writer::execute`]): same
//! transaction, same rollback on error, answered only after `COMMIT`. What the commit leaves for
//! the thread (a checkpoint, a trim or deletion to finish) is signalled with a wake-up.
//!
//! **Only where it cannot block for long:**
//! - with `--durability full` (an fsync in every commit) appends always go to the thread;
//! - checkpoints, which sync, are never run by a commit ([`super::checkpoint`]);
//! - a commit here that took longer than [`DIRECT_COMMIT_LIMIT`] (a disk under pressure) sends the
//!   next appends to the thread until one of the thread's commits is quick again, so a slow disk
//!   holds a runtime worker for at most one commit at a time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{writer_gone, Command, SqliteStore};
use crate::room_log::{Appended, Epoch, LogError, NewEntry};

/// A commit on a room's thread slower than this sends later appends to the writer thread: the
/// same bound as a room's inline wait for a queued commit ([`super::INLINE_APPEND_WAIT`]), far
/// beyond a commit (tens of microseconds alone), well short of a stalled disk. It is wall time,
/// so it also counts the moments the thread was preempted: with the server and the load generator
/// sharing two cores, commits here took up to 12 ms at the 1,000-client saturation ramp's top
/// (p50 of the slow ones 2.5 ms). A 1 ms limit tripped 376 times in that ramp and cost a fifth of
/// the throughput, because the thread's commits seldom came in under it to open the way again.
pub const DIRECT_COMMIT_LIMIT: Duration = super::INLINE_APPEND_WAIT;

/// Whether rooms may commit here, and whether the disk was quick lately.
pub(super) struct DirectCommits {
    /// `false` with `--durability full`.
    allowed: bool,
    /// A commit took longer than the limit; cleared by the thread's next quick commit.
    slow: AtomicBool,
    /// [`DIRECT_COMMIT_LIMIT`], in nanoseconds (tests lower it).
    limit_nanos: AtomicU64,
}

impl DirectCommits {
    pub(super) fn new(allowed: bool) -> DirectCommits {
        DirectCommits {
            allowed,
            slow: AtomicBool::new(false),
            limit_nanos: AtomicU64::new(nanos(DIRECT_COMMIT_LIMIT)),
        }
    }

    fn open(&self) -> bool {
        self.allowed && !self.slow.load(Ordering::Acquire)
    }

    fn is_quick(&self, took: Duration) -> bool {
        nanos(took) <= self.limit_nanos.load(Ordering::Relaxed)
    }

    /// After a commit on a room's thread.
    fn committed_here(&self, took: Duration) {
        if !self.is_quick(took) && !self.slow.swap(true, Ordering::AcqRel) {
            tracing::info!(
                took_ms = took.as_secs_f64() * 1000.0,
                "a room log commit was slow; rooms hand their appends to the writer thread until its commits are quick again"
            );
        }
    }

    /// After a commit on the writer thread.
    pub(super) fn committed_by_thread(&self, took: Duration) {
        if self.is_quick(took) && self.slow.swap(false, Ordering::AcqRel) {
            tracing::info!("room log commits are quick again; rooms commit their own appends");
        }
    }

    /// Tests: a limit no commit meets (or the usual one back).
    #[cfg(test)]
    pub(super) fn set_limit(&self, limit: Duration) {
        self.limit_nanos.store(nanos(limit), Ordering::Relaxed);
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl SqliteStore {
    /// Commits `entries` on this thread if the writer is free (see the module docs); gives them
    /// back if it is not, for the writer thread's queue.
    pub(super) fn append_here(
        &self,
        room: &str,
        epoch: &Epoch,
        entries: Vec<NewEntry>,
    ) -> Result<Result<Appended, LogError>, Vec<NewEntry>> {
        let inner = &self.inner;
        if !inner.direct.open() {
            return Err(entries);
        }
        let mut writer = match inner.writer.try_lock() {
            Ok(writer) => writer,
            // A panic while committing cannot leave a transaction open: `execute` rolls back
            // whatever it did not commit before the next one begins.
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Err(entries),
        };
        let (reply, mut answer) = oneshot::channel();
        let started = Instant::now();
        let answers = writer.execute(vec![Command::Append {
            room: room.to_owned(),
            epoch: epoch.clone(),
            entries,
            reply,
        }]);
        let took = started.elapsed();
        let thread_has_work = writer.has_work_due() || inner.checkpoint_wanted.is_set();
        drop(writer);
        answers.send();
        inner.stats.direct_commits.fetch_add(1, Ordering::Relaxed);
        inner.direct.committed_here(took);
        if thread_has_work {
            let _ = inner.commands.send(Command::Wake);
        }
        Ok(answer.try_recv().unwrap_or_else(|_| Err(writer_gone())))
    }
}
