//! "The server cannot go on": raised once, by whoever finds out (the supervisor when a room keeps
//! failing, a watcher when the supervisor itself is gone), and awaited by the server, which then
//! shuts down gracefully, and by the embedding program, which exits non-zero.

use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
pub struct FatalSignal {
    reason: OnceLock<String>,
    raised: CancellationToken,
}

impl FatalSignal {
    /// Raises the signal with `reason`; only the first reason is kept.
    pub fn raise(&self, reason: String) {
        if self.reason.set(reason).is_ok() {
            self.raised.cancel();
        }
    }

    pub fn is_raised(&self) -> bool {
        self.raised.is_cancelled()
    }

    /// Resolves with the reason once the signal is raised.
    pub async fn raised(&self) -> String {
        self.raised.cancelled().await;
        self.reason.get().cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_wins() {
        let signal = FatalSignal::default();
        assert!(!signal.is_raised());
        signal.raise("first".into());
        signal.raise("second".into());
        assert_eq!(signal.raised().await, "first");
    }
}
