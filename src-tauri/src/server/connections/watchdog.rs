//! One timer per connection, restarted at every change of phase: the header timeout while a
//! request head is awaited, the idle timeout between requests and during one.
//!
//! Why not hyper's own `http1::Builder::header_read_timeout`? In hyper 1.x that timer starts
//! whenever the connection waits for a head, *including* an idle keep-alive connection waiting
//! for its next request, so it would also cut idle connections after the (short) header
//! timeout; nginx keeps the two apart (`client_header_timeout`, `keepalive_timeout`), and so
//! does this watchdog. It runs in the connection's own task, next to the connection future
//! (`tokio::select!`): when it resolves, the task drops the connection and with it the socket.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::lifecycle::{ConnectionState, Phase};
use crate::metrics::HttpCloseReason;

/// Resolves when `state` has been in one phase for longer than that phase allows, or was
/// evicted; never once the connection is done (its task ends by itself then).
pub async fn expired(
    state: &ConnectionState,
    header_timeout: Duration,
    idle_timeout: Duration,
) -> HttpCloseReason {
    let mut seen_generation = None;
    let mut phase_started = Instant::now();
    loop {
        if state.is_evicted() {
            return HttpCloseReason::PendingCap;
        }
        let (phase, generation) = state.snapshot();
        if seen_generation != Some(generation) {
            seen_generation = Some(generation);
            phase_started = Instant::now();
        }
        let limit = match phase {
            Phase::AwaitingHead => Some((header_timeout, HttpCloseReason::HeaderTimeout)),
            Phase::InRequest => Some((idle_timeout, HttpCloseReason::RequestTimeout)),
            Phase::Idle => Some((idle_timeout, HttpCloseReason::IdleTimeout)),
            Phase::Done => None,
        };
        match limit {
            Some((allowed, reason)) => {
                tokio::select! {
                    () = state.changed() => {}
                    () = sleep_until(phase_started + allowed) => return reason,
                }
            }
            None => state.changed().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::server::connections::pending::PendingConnections;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    /// The paused clock jumps straight to the deadline, give or take the timer's millisecond.
    fn assert_about(elapsed: Duration, expected: Duration) {
        assert!(
            elapsed >= expected && elapsed <= expected + Duration::from_millis(5),
            "{elapsed:?} instead of {expected:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_never_completes_expires_after_the_header_timeout() {
        let state = ConnectionState::accepted(Arc::new(PendingConnections::new(10)));
        let started = Instant::now();
        assert_eq!(
            expired(&state, HEADER, IDLE).await,
            HttpCloseReason::HeaderTimeout
        );
        assert_about(started.elapsed(), HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_gets_the_idle_timeout_not_the_header_timeout() {
        let state = ConnectionState::accepted(Arc::new(PendingConnections::new(10)));
        let watchdog = {
            let state = Arc::clone(&state);
            tokio::spawn(async move { expired(&state, HEADER, IDLE).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        state.request_started();
        tokio::time::sleep(Duration::from_secs(1)).await;
        state.answered(false);
        let idle_since = Instant::now();
        assert_eq!(
            watchdog.await.expect("watchdog"),
            HttpCloseReason::IdleTimeout
        );
        assert_about(idle_since.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn each_new_head_gets_its_own_header_timeout() {
        let state = ConnectionState::accepted(Arc::new(PendingConnections::new(10)));
        let watchdog = {
            let state = Arc::clone(&state);
            tokio::spawn(async move { expired(&state, HEADER, IDLE).await })
        };
        for _ in 0..3 {
            tokio::time::sleep(HEADER - Duration::from_secs(1)).await;
            state.request_started();
            state.answered(false);
            tokio::time::sleep(Duration::from_secs(30)).await;
            state.bytes_arrived();
        }
        let head_since = Instant::now();
        assert_eq!(
            watchdog.await.expect("watchdog"),
            HttpCloseReason::HeaderTimeout
        );
        assert_about(head_since.elapsed(), HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn eviction_ends_the_watch_at_once_and_an_upgrade_ends_all_timers() {
        let pending = Arc::new(PendingConnections::new(1));
        let upgraded = ConnectionState::accepted(Arc::clone(&pending));
        upgraded.request_started();
        upgraded.answered(true);
        let victim = ConnectionState::accepted(Arc::clone(&pending));
        let _newcomer = ConnectionState::accepted(Arc::clone(&pending));
        assert_eq!(
            expired(&victim, HEADER, IDLE).await,
            HttpCloseReason::PendingCap
        );
        let never =
            tokio::time::timeout(Duration::from_secs(3600), expired(&upgraded, HEADER, IDLE));
        assert!(never.await.is_err(), "a WebSocket has no HTTP timer");
    }
}
