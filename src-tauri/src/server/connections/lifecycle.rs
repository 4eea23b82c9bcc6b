//! Where one HTTP connection is in its life, as seen by its timers and by the pending cap.
//!
//! ```text
//!  accept ──> AwaitingHead ──head complete──> InRequest ──answered──> Idle
//!                  ^                              │                   │
//!                  └──────── first byte of the next request ──────────┘
//!                                                 └──101 Switching Protocols──> Done
//! ```
//!
//! Three observers move it along: the socket wrapper sees bytes arrive
//! ([`ConnectionState::bytes_arrived`]), the per-connection service sees a request head and
//! its answer ([`ConnectionState::request_started`], [`ConnectionState::answered`]), and the
//! connection's task marks the end ([`ConnectionState::finished`]). Each change bumps a
//! generation counter and wakes the watchdog ([`super::watchdog`]), which restarts the clock
//! of the new phase. `AwaitingHead` and `InRequest` are *pending*: the connection is in the
//! [`PendingConnections`] registry, where it may be evicted.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::Notify;

use super::peer_limit::PeerSlot;
use super::pending::{PendingConnections, Ticket};

/// See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Accepted, or bytes of a next request arrived: the request head is not complete yet.
    AwaitingHead = 0,
    /// The head is complete; its body is read and the answer produced.
    InRequest = 1,
    /// Answered; a keep-alive connection waiting for the next request.
    Idle = 2,
    /// Upgraded to a WebSocket, or closed: nothing left to watch.
    Done = 3,
}

impl Phase {
    fn pending(self) -> bool {
        matches!(self, Phase::AwaitingHead | Phase::InRequest)
    }
}

/// Shared by a connection's task, its socket wrapper, its service and the pending registry.
#[derive(Debug)]
pub struct ConnectionState {
    /// A copy of `tracked.phase`, so the socket wrapper can skip the lock on every read.
    phase_hint: AtomicU8,
    tracked: Mutex<Tracked>,
    evicted: AtomicBool,
    wake: Notify,
    pending: Arc<PendingConnections>,
    myself: Weak<ConnectionState>,
    /// Behind a trusted proxy: the forwarded client's slot, for the current request (and for
    /// the whole life of the socket once it is a WebSocket).
    forwarded_slot: Mutex<Option<PeerSlot>>,
}

#[derive(Debug)]
struct Tracked {
    phase: Phase,
    generation: u64,
    ticket: Option<Ticket>,
}

impl ConnectionState {
    /// A just-accepted connection: awaiting its first request head, hence pending (which may
    /// evict the oldest pending connection).
    pub fn accepted(pending: Arc<PendingConnections>) -> Arc<Self> {
        let state = Arc::new_cyclic(|myself| ConnectionState {
            phase_hint: AtomicU8::new(Phase::AwaitingHead as u8),
            tracked: Mutex::new(Tracked {
                phase: Phase::AwaitingHead,
                generation: 0,
                ticket: None,
            }),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
            pending,
            myself: myself.clone(),
            forwarded_slot: Mutex::new(None),
        });
        let ticket = state.pending.register(state.myself.clone());
        state.lock().ticket = Some(ticket);
        state
    }

    /// Called by the socket wrapper for every read that returned data. Costs one atomic load
    /// unless the connection was idle (and nothing at all once it is a WebSocket).
    pub fn bytes_arrived(&self) {
        if self.phase_hint.load(Ordering::Relaxed) == Phase::Idle as u8 {
            self.enter_if(Phase::AwaitingHead, |current| current == Phase::Idle);
        }
    }

    /// A request head is complete.
    pub fn request_started(&self) {
        self.enter_if(Phase::InRequest, |current| current != Phase::Done);
    }

    /// Its answer is ready: `upgraded` when it is a 101, after which the socket belongs to the
    /// WebSocket and its own heartbeat rules.
    pub fn answered(&self, upgraded: bool) {
        if upgraded {
            self.finished();
        } else {
            self.enter_if(Phase::Idle, |current| current == Phase::InRequest);
            self.release_forwarded_slot();
        }
    }

    /// The connection task is ending (or the socket was upgraded).
    pub fn finished(&self) {
        self.enter_if(Phase::Done, |_| true);
    }

    /// Called by the registry: closes this connection to make room.
    pub fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Relaxed)
    }

    /// The current phase and how many changes led to it.
    pub fn snapshot(&self) -> (Phase, u64) {
        let tracked = self.lock();
        (tracked.phase, tracked.generation)
    }

    /// Resolves at the next change of phase or eviction (or at once if one happened since the
    /// last call).
    pub async fn changed(&self) {
        self.wake.notified().await;
    }

    /// Holds `slot` (a forwarded client's) until the answer, or for good if it is a 101.
    pub fn hold_forwarded_slot(&self, slot: Option<PeerSlot>) {
        *self
            .forwarded_slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = slot;
    }

    pub fn release_forwarded_slot(&self) {
        let slot = self
            .forwarded_slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(slot);
    }

    fn enter_if(&self, next: Phase, allowed_from: impl Fn(Phase) -> bool) {
        {
            let mut tracked = self.lock();
            if tracked.phase == next || tracked.phase == Phase::Done || !allowed_from(tracked.phase)
            {
                return;
            }
            tracked.phase = next;
            tracked.generation = tracked.generation.wrapping_add(1);
            self.phase_hint.store(next as u8, Ordering::Relaxed);
            match (tracked.ticket, next.pending()) {
                (None, true) => {
                    tracked.ticket = Some(self.pending.register(self.myself.clone()));
                }
                (Some(ticket), false) => {
                    self.pending.remove(ticket);
                    tracked.ticket = None;
                }
                _ => {}
            }
        }
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracked> {
        self.tracked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_pending_until_answered_and_again_on_its_next_request() {
        let pending = Arc::new(PendingConnections::new(10));
        let state = ConnectionState::accepted(Arc::clone(&pending));
        assert_eq!(pending.count(), 1);
        assert_eq!(state.snapshot().0, Phase::AwaitingHead);

        state.bytes_arrived(); // more of the same head: no change
        assert_eq!(state.snapshot(), (Phase::AwaitingHead, 0));
        state.request_started();
        assert_eq!(state.snapshot().0, Phase::InRequest);
        assert_eq!(pending.count(), 1);
        state.answered(false);
        assert_eq!(state.snapshot().0, Phase::Idle);
        assert_eq!(pending.count(), 0);

        state.bytes_arrived();
        assert_eq!(state.snapshot().0, Phase::AwaitingHead);
        assert_eq!(pending.count(), 1);
        state.request_started();
        state.answered(true);
        assert_eq!(state.snapshot().0, Phase::Done);
        assert_eq!(pending.count(), 0);
        state.bytes_arrived(); // WebSocket traffic: nothing changes any more
        assert_eq!(state.snapshot().0, Phase::Done);
    }

    #[test]
    fn a_full_registry_evicts_the_oldest_first() {
        let pending = Arc::new(PendingConnections::new(2));
        let oldest = ConnectionState::accepted(Arc::clone(&pending));
        let middle = ConnectionState::accepted(Arc::clone(&pending));
        middle.request_started(); // still pending, and still older than the next one
        let newest = ConnectionState::accepted(Arc::clone(&pending));
        assert!(oldest.is_evicted());
        assert!(!middle.is_evicted());
        assert!(!newest.is_evicted());
        assert_eq!(pending.count(), 2);

        // An idle connection is not pending: it takes no room and cannot be evicted.
        middle.answered(false);
        let _another = ConnectionState::accepted(Arc::clone(&pending));
        assert!(!middle.is_evicted());
        assert!(!newest.is_evicted());
        assert_eq!(pending.count(), 2);
    }

    #[test]
    fn finishing_leaves_the_registry() {
        let pending = Arc::new(PendingConnections::new(2));
        let state = ConnectionState::accepted(Arc::clone(&pending));
        state.finished();
        assert_eq!(pending.count(), 0);
        drop(state);
        // A dead entry would not count either way, but none is left behind.
        let _next = ConnectionState::accepted(Arc::clone(&pending));
        assert_eq!(pending.count(), 1);
    }
}
