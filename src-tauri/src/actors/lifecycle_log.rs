//! The recent lifecycle events of the actor tree (started, stopped, failed), newest last, for
//! the actor inspector. A bounded ring: the supervisor appends, the oldest entries fall off.

use std::collections::VecDeque;

use serde::Serialize;

use crate::protocol::unix_millis;

/// Entries kept.
pub const LIFECYCLE_LOG_LEN: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleEventKind {
    Started,
    /// A room started again after it failed.
    Restarted,
    Stopped,
    Failed,
}

/// One entry of the log, as `/api/actors` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LifecycleEvent {
    pub ts: u64,
    pub event: LifecycleEventKind,
    pub actor_id: String,
    /// `connection`, `room` or `directory`.
    pub kind: &'static str,
    /// The connection's name or the room's name.
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Default)]
pub struct LifecycleLog(VecDeque<LifecycleEvent>);

impl LifecycleLog {
    pub fn record(
        &mut self,
        event: LifecycleEventKind,
        actor_id: String,
        kind: &'static str,
        label: String,
        reason: Option<String>,
    ) {
        if self.0.len() == LIFECYCLE_LOG_LEN {
            self.0.pop_front();
        }
        self.0.push_back(LifecycleEvent {
            ts: unix_millis(),
            event,
            actor_id,
            kind,
            label,
            reason,
        });
    }

    pub fn entries(&self) -> Vec<LifecycleEvent> {
        self.0.iter().cloned().collect()
    }
}
