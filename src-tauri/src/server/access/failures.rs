//! Wrong tokens are rate limited per peer address (an IPv6 peer: its /64).
//!
//! A 256-bit token cannot be guessed, so this is not what keeps it safe; it keeps a guesser from
//! costing anything (each try is answered 429 without a comparison) and makes one visible in
//! the log. Only *wrong* tokens count: a request without credentials (a page before its login,
//! a curl without `-H`) gets its 401 and costs nothing.
//!
//! The map is bounded: at most [`MAX_PEERS`] peers are remembered; when full, windows that have
//! run out are dropped, and if none has, the oldest one gives way.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::server::connections::peer_limit::PeerKey;

/// Wrong tokens allowed per peer within [`WINDOW`]; the next request is refused until the
/// window ends.
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most peers remembered at once.
pub const MAX_PEERS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    peers: Mutex<HashMap<PeerKey, Window>>,
}

impl FailureLimiter {
    /// `Some(seconds to wait)` when `peer` has used up its wrong tries.
    pub fn blocked(&self, peer: IpAddr, now: Instant) -> Option<u64> {
        let peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let window = peers.get(&PeerKey::of(peer))?;
        let ends = window.started.checked_add(WINDOW)?;
        (window.failures >= MAX_FAILURES && now < ends)
            .then(|| ends.saturating_duration_since(now).as_secs().max(1))
    }

    /// Counts one wrong token from `peer`; answers the peer's count in its current window.
    pub fn record(&self, peer: IpAddr, now: Instant) -> u32 {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let key = PeerKey::of(peer);
        if !peers.contains_key(&key) && peers.len() >= MAX_PEERS {
            peers.retain(|_, window| now.saturating_duration_since(window.started) < WINDOW);
            if peers.len() >= MAX_PEERS {
                let oldest = peers
                    .iter()
                    .min_by_key(|(_, window)| window.started)
                    .map(|(key, _)| *key);
                if let Some(oldest) = oldest {
                    peers.remove(&oldest);
                }
            }
        }
        let window = peers.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.saturating_duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
        window.failures
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn a_peer_is_blocked_after_its_wrong_tries_until_the_window_ends() {
        let limiter = FailureLimiter::default();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(limiter.blocked(ip("10.0.0.1"), start), None);
            limiter.record(ip("10.0.0.1"), start);
        }
        assert!(limiter.blocked(ip("10.0.0.1"), start).is_some());
        assert_eq!(
            limiter.blocked(ip("10.0.0.2"), start),
            None,
            "others are not"
        );
        assert_eq!(limiter.blocked(ip("10.0.0.1"), start + WINDOW), None);
        assert_eq!(limiter.record(ip("10.0.0.1"), start + WINDOW), 1);
    }

    #[test]
    fn an_ipv6_peer_counts_by_its_64() {
        let limiter = FailureLimiter::default();
        let now = Instant::now();
        for n in 0..MAX_FAILURES {
            limiter.record(ip(&format!("2001:db8::{n:x}")), now);
        }
        assert!(limiter.blocked(ip("2001:db8::ffff"), now).is_some());
    }

    #[test]
    fn the_map_stays_bounded() {
        let limiter = FailureLimiter::default();
        let now = Instant::now();
        for n in 0..(MAX_PEERS as u32 + 100) {
            limiter.record(IpAddr::from(n.to_be_bytes()), now);
        }
        assert!(limiter.remembered() <= MAX_PEERS);
    }
}
