//! The cap on *pending* connections: those waiting on their client for a request (not
//! upgraded, not idle between requests). Without it, a few thousand sockets that each send
//! half a request head hold as many file descriptors for as long as the header timeout allows,
//! and a fast opener keeps the descriptor table full (slowloris).
//!
//! The registry keeps pending connections in the order they became pending. When it is full,
//! registering one more closes the oldest first: a real client sends its request head within
//! milliseconds of connecting, so it is never the oldest, while a slow one is. Eviction only
//! raises a flag and wakes the victim's watchdog ([`super::lifecycle`]); the victim's own task
//! drops its socket.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError, Weak};

use super::lifecycle::ConnectionState;

/// See the module docs.
#[derive(Debug)]
pub struct PendingConnections {
    cap: usize,
    inner: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    next_ticket: u64,
    /// Ticket order is the order connections became pending: the first entry is the oldest.
    entries: BTreeMap<u64, Weak<ConnectionState>>,
}

/// A connection's place in the registry, to leave it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl PendingConnections {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            inner: Mutex::new(Registry::default()),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Adds `connection` as the newest pending one; when the registry is full, the oldest are
    /// evicted first so that the count never exceeds the cap.
    pub fn register(&self, connection: Weak<ConnectionState>) -> Ticket {
        let mut evicted = Vec::new();
        let ticket = {
            let mut registry = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            while registry.entries.len() >= self.cap {
                match registry.entries.pop_first() {
                    Some((_, oldest)) => evicted.push(oldest),
                    None => break,
                }
            }
            let ticket = registry.next_ticket;
            registry.next_ticket = registry.next_ticket.wrapping_add(1);
            registry.entries.insert(ticket, connection);
            Ticket(ticket)
        };
        // Outside the lock: waking a victim never waits on the registry.
        for victim in evicted.iter().filter_map(Weak::upgrade) {
            victim.evict();
        }
        ticket
    }

    /// Leaves the registry (a no-op if the connection was already evicted).
    pub fn remove(&self, ticket: Ticket) {
        let mut registry = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        registry.entries.remove(&ticket.0);
    }

    pub fn count(&self) -> usize {
        let registry = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        registry.entries.len()
    }
}
