//! The per-peer cap: at most N simultaneous connections from one address (nginx's
//! `limit_conn`).
//!
//! A slot is a guard: taking one increments the peer's count, dropping it decrements it, on
//! every path out. The slot of a direct connection lives inside its socket wrapper
//! ([`super::tracked_io::TrackedIo`]), so it is held for exactly as long as the socket is open,
//! through the WebSocket upgrade and after it.
//!
//! An IPv6 peer is counted by its /64: one host usually gets a whole /64, and could otherwise
//! open each connection from a fresh address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};

/// Who a connection is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKey {
    V4(Ipv4Addr),
    /// The first 64 bits of the address.
    V6Prefix(u64),
}

impl PeerKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => PeerKey::V4(v4),
            IpAddr::V6(v6) => PeerKey::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

/// Open connections per peer. Peers with none are not kept, so the map is bounded by the
/// number of open sockets.
#[derive(Debug, Default)]
pub struct PeerCounts {
    counts: Mutex<HashMap<PeerKey, usize>>,
}

impl PeerCounts {
    /// A slot for `peer` if it holds fewer than `cap` connections.
    pub fn try_take(self: &Arc<Self>, peer: IpAddr, cap: usize) -> Option<PeerSlot> {
        let key = PeerKey::of(peer);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= cap {
            if *count == 0 {
                counts.remove(&key);
            }
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            counts: Arc::clone(self),
            key,
        })
    }

    /// Connections `peer` holds now.
    #[cfg(test)]
    pub fn count(&self, peer: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&PeerKey::of(peer)).copied().unwrap_or(0)
    }

    fn release(&self, key: PeerKey) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }
}

/// One connection counted against its peer; see the module docs.
#[derive(Debug)]
pub struct PeerSlot {
    counts: Arc<PeerCounts>,
    key: PeerKey,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        self.counts.release(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn the_cap_holds_per_peer_and_slots_come_back() {
        let counts = Arc::new(PeerCounts::default());
        let held: Vec<_> = (0..3)
            .map(|_| counts.try_take(ip("10.0.0.1"), 3).expect("a slot"))
            .collect();
        assert!(counts.try_take(ip("10.0.0.1"), 3).is_none());
        assert!(counts.try_take(ip("10.0.0.2"), 3).is_some(), "another peer");
        drop(held);
        assert_eq!(counts.count(ip("10.0.0.1")), 0);
        assert!(counts.try_take(ip("10.0.0.1"), 3).is_some());
    }

    #[test]
    fn a_cap_of_zero_refuses_and_keeps_nothing() {
        let counts = Arc::new(PeerCounts::default());
        assert!(counts.try_take(ip("10.0.0.1"), 0).is_none());
        assert!(counts
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty());
    }

    #[test]
    fn ipv6_peers_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            PeerKey::of(ip("2001:db8:1:2::1")),
            PeerKey::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            PeerKey::of(ip("2001:db8:1:2::1")),
            PeerKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            PeerKey::of(ip("::ffff:10.0.0.1")),
            PeerKey::of(ip("10.0.0.1"))
        );
    }
}
