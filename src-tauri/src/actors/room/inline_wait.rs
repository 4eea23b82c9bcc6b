//! Waiting for a local store's commit **on the room's own thread**, briefly.
//!
//! A room hands its append to the store and, for stores that answer on another thread (SQLite's
//! writer thread), would normally await the answer in a task of its own. That costs more than it
//! looks under load: a task woken from a thread *outside* the runtime is queued at the back of
//! tokio's global queue, behind every connection task the previous fan-out just woke. At 10,000
//! members that is a whole round of socket writes (30–90 ms measured, see
//! `benches/fanout/PROFILE.md`) before the room even learns its post is stored, paid on every
//! batch, and it pushed the SQLite log's p99 past the saturation limit at half the rate the
//! in-memory log sustains.
//!
//! So a room whose store says its appends are quick ([`RoomLog::inline_append_wait`]) waits for
//! them where it is when the runtime is crowded ([`CROWDED_GLOBAL_QUEUE`]), with
//! [`tokio::task::block_in_place`]: the worker hands its other tasks to another thread and this
//! one blocks until the commit, then fans out at once. The wait is bounded: past the store's
//! limit (a disk that stalls, `synchronous=FULL` on a slow device) the same future is handed back
//! and awaited in a task as before, so a stuck disk never pins a room (its members still join
//! and leave, and it still stops when told to).
//!
//! `block_in_place` exists only on the multi-thread runtime (the server's); on a current-thread
//! runtime (unit tests) the future is handed back untouched.
//!
//! [`RoomLog::inline_append_wait`]: crate::room_log::RoomLog::inline_append_wait

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::runtime::{Handle, RuntimeFlavor};

/// Tasks in tokio's global queue from which a wake-up from outside the runtime costs more than
/// handing the worker over. A fan-out to M members leaves about M − 256 wake-ups there (a
/// worker's local queue holds 256). Below this depth the queue drains in a millisecond or two and
/// `block_in_place`'s thread hand-over costs more than it saves: waiting inline at every depth
/// made the SQLite log's 1,000-client sweep worse (675 broadcasts/s no longer kept up), so the
/// limit sits at about twice what a 1,000-member room leaves; a 10,000-member room leaves ~9,700,
/// where waiting inline took the ceiling from 0.44 M to 0.99 M deliveries/s (p99 at 101
/// broadcasts/s 154 ms instead of 244 ms; measured with the limit at 1,024).
pub const CROWDED_GLOBAL_QUEUE: usize = 2048;

/// Whether a task woken from outside the runtime now would wait behind a crowd (see the module
/// docs); `false` outside a runtime.
pub fn runtime_is_crowded() -> bool {
    Handle::try_current()
        .is_ok_and(|handle| handle.metrics().global_queue_depth() >= CROWDED_GLOBAL_QUEUE)
}

/// Waits up to `limit` for `future` on this thread: its output, or the future itself (not yet
/// done, or not waitable here) for the caller to await elsewhere.
pub fn wait_briefly<T>(
    mut future: BoxFuture<'static, T>,
    limit: Duration,
) -> Result<T, BoxFuture<'static, T>> {
    let Ok(handle) = Handle::try_current() else {
        return Err(future);
    };
    if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
        return Err(future);
    }
    let waited =
        tokio::task::block_in_place(|| handle.block_on(tokio::time::timeout(limit, &mut future)));
    waited.map_err(|_elapsed| future)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use tokio::sync::oneshot;

    const LIMIT: Duration = Duration::from_millis(200);

    /// An answer sent from a thread outside the runtime, like SQLite's writer.
    fn answered_by_a_thread(after: Duration) -> BoxFuture<'static, u32> {
        let (reply, answer) = oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            let _ = reply.send(7);
        });
        async move { answer.await.unwrap_or(0) }.boxed()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_quick_answer_is_waited_for_on_this_thread() {
        let outcome = wait_briefly(answered_by_a_thread(Duration::from_millis(5)), LIMIT);
        assert_eq!(outcome.ok(), Some(7));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_answer_is_handed_back_and_still_arrives() {
        let outcome = wait_briefly(answered_by_a_thread(Duration::from_secs(1)), LIMIT);
        let Err(pending) = outcome else {
            panic!("a one-second answer must not be waited for with a 200 ms limit");
        };
        assert_eq!(pending.await, 7, "the handed-back future still completes");
    }

    /// One worker, and the wait runs in a task on it (as a room does; a test's own body runs
    /// outside the workers): had the wait blocked the worker outright, the task spawned just
    /// before it could not run until after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn other_tasks_run_while_a_room_waits() {
        let room = tokio::spawn(async {
            let (started, mut seen) = oneshot::channel();
            tokio::spawn(async move {
                let _ = started.send(());
            });
            let outcome = wait_briefly(answered_by_a_thread(Duration::from_millis(50)), LIMIT);
            (outcome.ok(), seen.try_recv().is_ok())
        });
        let (outcome, ran_meanwhile) = room.await.expect("the waiting task");
        assert_eq!(outcome, Some(7));
        assert!(
            ran_meanwhile,
            "a task spawned before the wait ran during it"
        );
    }

    /// Tasks spawned by a running task beyond its worker's local queue (256) overflow into the
    /// global queue, as a large fan-out's wake-ups do.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_runtime_is_crowded_only_with_a_full_global_queue() {
        let quiet = tokio::spawn(async { runtime_is_crowded() });
        assert!(!quiet.await.expect("the quiet check"), "nothing is queued");
        let busy = tokio::spawn(async {
            let tasks: Vec<_> = (0..2 * CROWDED_GLOBAL_QUEUE)
                .map(|_| tokio::spawn(async {}))
                .collect();
            (runtime_is_crowded(), tasks)
        });
        let (crowded, tasks) = busy.await.expect("the busy check");
        assert!(crowded, "{} tasks were queued", 2 * CROWDED_GLOBAL_QUEUE);
        for task in tasks {
            task.await.expect("a queued task");
        }
    }

    #[tokio::test]
    async fn a_current_thread_runtime_gets_the_future_back() {
        let outcome = wait_briefly(async { 3 }.boxed(), LIMIT);
        let Err(pending) = outcome else {
            panic!("block_in_place is not available on a current-thread runtime");
        };
        assert_eq!(pending.await, 3);
    }
}
