//! The room's intake of **live frames from other nodes** (a shared log: `--redis`), delivered to
//! its members **once per seq, in seq order**.
//!
//! While the room has members it keeps a [`LiveSubscription`] to its log; the node's subscriber
//! fills the room's bounded [`LiveInbox`](crate::room_log::LiveInbox) and rings once
//! ([`RoomMsg::Live`]). The room then takes every waiting frame and, for each:
//!
//! - **seq ≤ the last seq delivered**: dropped. The room's own posts come back on the channel
//!   too; whichever copy arrives first (the append's reply or the channel message) is delivered,
//!   the other is dropped, so each member gets each seq once. The receipt of an HTTP post whose
//!   channel copy came first still counts the members it reached.
//! - **the next seq**: fanned out.
//! - **a jump**: a frame was lost (pub/sub is at most once, the inbox was full). The hole is filled
//!   from the log first: every member is put into catch-up up to `seq - 1` (the same mechanism
//!   as a joiner's backlog), and the new frame waits in each member's buffer behind it.
//! - **another epoch**: the log was made again (Redis lost its data). Which epoch is current only
//!   the log's head can tell (a reply of an earlier incarnation may still be on its way), so the
//!   frame is dropped and the room **checks its head**.
//!
//! **An append's reply that skips seqs** (another node's frames, still on the channel: the reply
//! comes over another connection and may overtake them) waits up to [`CHANNEL_GRACE`] for the
//! channel to bring them, so that the common race costs nothing; only if they do not come is the
//! hole read from the log (a read per member).
//!
//! **Head checks** ([`RoomState::check_head`]) also follow every (re)subscription and every
//! dropped frame (the inbox asks for a re-sync), so a room learns what it missed **without
//! waiting for anyone to post**. A failed check is tried again after [`HEAD_RETRY`] while the room
//! listens (the live feed may reconnect before the store's own connection does):
//!
//! - same epoch, higher `last_seq`: the hole is filled from the log;
//! - another epoch: the room **re-syncs** to it ([`RoomState::adopt_epoch`]). Every member gets
//!   a new `joined` with the new epoch and `gap: true`, then the new log's history, then live
//!   frames: the client treats it as a fresh start of the room's view (docs/PROTOCOL.md).
//!
//! **An append answered under another epoch** is parked (no other batch starts meanwhile) until
//! the head says which epoch is current: if it is the reply's, the room re-syncs to it and
//! delivers the batch; if not, the batch was stored in a log that is gone, and its posts are
//! refused (`unavailable`: send it again) rather than acknowledged and lost. If the head cannot
//! be read (Redis down again), the reply is trusted.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::member::{JoinHeader, Sync};
use super::{PendingPost, RoomMsg, RoomState};
use crate::metrics::Metrics;
use crate::protocol::Resume;
use crate::room_log::live::same_epoch;
use crate::room_log::{Appended, Epoch, LiveFrame, LogError, LogHead};

/// Receipts remembered for posts whose channel copy arrived before the append's reply.
const RECENT_RECEIPTS: usize = 512;

/// How long an append's reply waits for the channel to bring the frames numbered before it,
/// before they are read from the log instead. The channel is normally a few hundred
/// microseconds behind the reply (another connection); reading the log means a read per member.
pub const CHANNEL_GRACE: Duration = Duration::from_millis(250);

/// How long after a failed head check the room tries again (while it listens to the channel).
pub const HEAD_RETRY: Duration = Duration::from_millis(500);

/// An append's reply that waits for the channel (see [`CHANNEL_GRACE`]).
pub(super) struct Waiting {
    batch: Vec<PendingPost>,
    appended: Appended,
    token: u64,
}

/// An append answered under an epoch the room is not sure of (see the module docs).
pub(super) struct Parked {
    pub batch: Vec<PendingPost>,
    pub appended: Appended,
    pub forwarded: bool,
}

impl RoomState {
    /// Listens to the log's live frames while the room has members (a log without other writers
    /// hands out no subscription, and this costs nothing).
    pub(super) fn sync_subscription(&mut self) {
        match (self.members.is_empty(), self.live.is_some()) {
            (false, false) => self.live = self.log.subscribe(Arc::clone(&self.inbox)),
            (true, true) => self.live = None,
            _ => {}
        }
    }

    /// The doorbell rang: everything in the inbox, in order.
    pub(super) fn on_live(&mut self) {
        let batch = self.inbox.take();
        for frame in batch.frames {
            self.on_live_frame(frame);
        }
        if batch.resync {
            self.check_head();
        }
        self.release_waiting(false);
    }

    /// True if `appended` starts after a hole while the room listens to the channel: the frames
    /// before it are most likely on their way there.
    pub(super) fn frames_on_their_way(&self, appended: &Appended) -> bool {
        self.live.is_some() && self.starts_after_hole(appended)
    }

    /// True if the first frame of `appended` the room has not delivered is not the next seq.
    fn starts_after_hole(&self, appended: &Appended) -> bool {
        appended
            .frames
            .iter()
            .map(|frame| frame.seq)
            .find(|seq| *seq > self.delivered_seq)
            .is_some_and(|first_new| first_new > self.delivered_seq.saturating_add(1))
    }

    /// Holds an append's reply (no other batch starts meanwhile) until the channel fills the
    /// hole before it, or [`CHANNEL_GRACE`] passes.
    pub(super) fn wait_for_channel(&mut self, mut batch: Vec<PendingPost>, appended: Appended) {
        // Stored under the room's epoch: if the room dies meanwhile, its next incarnation
        // delivers them from the log, so they must not be refused.
        for post in &mut batch {
            post.mark_stored();
        }
        self.next_wait += 1;
        let token = self.next_wait;
        self.appending = true;
        self.waiting_for_channel = Some(Waiting {
            batch,
            appended,
            token,
        });
        let room = self.myself.clone();
        tokio::spawn(async move {
            tokio::time::sleep(CHANNEL_GRACE).await;
            let _ = room.cast(RoomMsg::ChannelLate(token));
        });
    }

    /// The grace period of a waiting reply is over: deliver it (the hole is read from the log).
    pub(super) fn on_channel_late(&mut self, token: u64) {
        if self
            .waiting_for_channel
            .as_ref()
            .is_some_and(|waiting| waiting.token == token)
        {
            self.release_waiting(true);
        }
    }

    /// Delivers the waiting reply once nothing is missing before it (or at once if `now`).
    pub(super) fn release_waiting(&mut self, now: bool) {
        let ready = self
            .waiting_for_channel
            .as_ref()
            .is_some_and(|waiting| now || !self.starts_after_hole(&waiting.appended));
        if !ready {
            return;
        }
        if let Some(waiting) = self.waiting_for_channel.take() {
            self.appending = false;
            if waiting.appended.epoch == self.epoch {
                self.deliver_appended(waiting.batch, waiting.appended);
            } else {
                // The room re-synced to a new epoch meanwhile: the log these were stored in
                // is gone.
                for post in waiting.batch {
                    Metrics::count(&self.metrics.posts_refused);
                    post.refuse("the cluster's store lost its data meanwhile");
                }
            }
        }
    }

    fn on_live_frame(&mut self, live: LiveFrame) {
        if !same_epoch(&live, &self.epoch) {
            self.check_head();
            return;
        }
        if live.seq <= self.delivered_seq {
            return; // this room's own post, or already filled from the log
        }
        if live.seq > self.delivered_seq.saturating_add(1) {
            self.fill_hole(live.seq - 1);
        }
        let count = self.fan_out(&live.frame, Some(live.seq));
        self.delivered_seq = live.seq;
        if self.appending || !self.parked.is_empty() {
            // It may be this room's own post, whose reply is still on its way.
            if self.recent.len() >= RECENT_RECEIPTS {
                self.recent.pop_front();
            }
            self.recent.push_back((live.seq, count));
        }
    }

    /// How many members a frame delivered from the channel reached (for a receipt), if known.
    pub(super) fn delivered_from_channel(&self, seq: u64) -> Option<usize> {
        self.recent
            .iter()
            .find(|(recent, _)| *recent == seq)
            .map(|(_, count)| *count)
    }

    /// Reads the log's current head (at most one read in flight; one more after it if asked
    /// meanwhile). The answer comes back as [`RoomMsg::HeadChecked`].
    pub(super) fn check_head(&mut self) {
        if self.head_check.0 {
            self.head_check.1 = true;
            return;
        }
        self.head_check = (true, false);
        let log = Arc::clone(&self.log);
        let room = self.myself.clone();
        tokio::spawn(async move {
            let result = log.current_head().await;
            let _ = room.cast(RoomMsg::HeadChecked(result));
        });
    }

    pub(super) fn on_head_checked(&mut self, result: Result<LogHead, LogError>) {
        let again = self.head_check.1;
        self.head_check = (false, false);
        let current = match &result {
            Ok(head) => Some(head.epoch.clone()),
            Err(error) => {
                // The live feed may be back before the store's own connection: try again soon,
                // as long as the room listens.
                tracing::warn!(room = %self.name, %error, "could not read the log's head; trying again in {HEAD_RETRY:?}");
                if self.live.is_some() {
                    let inbox = Arc::clone(&self.inbox);
                    tokio::spawn(async move {
                        tokio::time::sleep(HEAD_RETRY).await;
                        inbox.request_resync();
                    });
                }
                None
            }
        };
        for parked in std::mem::take(&mut self.parked) {
            self.settle(parked, current.as_ref());
        }
        if let Ok(head) = result {
            if head.epoch != self.epoch {
                self.adopt_epoch(head.epoch, head.last_seq);
            } else if head.last_seq > self.delivered_seq {
                self.fill_hole(head.last_seq);
            }
        }
        // Joiners held for this answer: their backlog now, up to what the room knows.
        for (id, generation) in std::mem::take(&mut self.awaiting_head) {
            let Some(member) = self.members.get_mut(&id) else {
                continue;
            };
            // Unless a hole fill or a re-sync restarted their catch-up meanwhile.
            let Some(catch_up) = member.catch_up_mut(generation) else {
                continue;
            };
            let header = catch_up.header.take().unwrap_or(JoinHeader::Silent);
            let done = catch_up.done.take();
            self.start_catch_up(id, header, self.delivered_seq, done);
        }
        self.release_waiting(false);
        if again {
            self.check_head();
        }
    }

    /// A member joined a room that was not listening to its log until now: its frames are
    /// buffered, and its backlog is read after the head check (so it gets the last frames of the
    /// log, not those of when the room last listened).
    pub(super) fn join_after_head(
        &mut self,
        id: u64,
        header: JoinHeader,
        done: Option<oneshot::Sender<()>>,
    ) {
        if let Some(generation) = self.hold_catch_up(id, header, self.delivered_seq, done) {
            self.awaiting_head.push((id, generation));
            self.check_head();
        }
    }

    /// An append answered under another epoch than the room's: wait for the head.
    pub(super) fn park(&mut self, parked: Parked) {
        if !parked.forwarded {
            self.appending = true; // no other batch until this one is settled
        }
        self.parked.push(parked);
        self.check_head();
    }

    /// Delivers a parked batch if its epoch is `current` (or unknown), refuses it otherwise.
    fn settle(&mut self, parked: Parked, current: Option<&Epoch>) {
        let Parked {
            batch,
            appended,
            forwarded,
        } = parked;
        if !forwarded {
            self.appending = false;
        }
        if current.is_some_and(|current| *current != appended.epoch) {
            tracing::warn!(room = %self.name, posts = batch.len(), epoch = %appended.epoch, "posts were stored in a log Redis has since lost; refused them");
            for post in batch {
                Metrics::count(&self.metrics.posts_refused);
                post.refuse("the cluster's store lost its data meanwhile");
            }
            return;
        }
        if appended.epoch != self.epoch {
            let before_batch = appended
                .frames
                .first()
                .map_or(0, |first| first.seq.saturating_sub(1));
            self.adopt_epoch(appended.epoch.clone(), before_batch);
        }
        self.deliver_appended(batch, appended);
    }

    /// The log has a new epoch: every member starts over with it (see the module docs), up to
    /// `target`, the last seq of the new log to read from it.
    pub(super) fn adopt_epoch(&mut self, epoch: Epoch, target: u64) {
        tracing::warn!(room = %self.name, old = %self.epoch, new = %epoch, last_seq = target, "the room's log has a new epoch: re-syncing every member");
        Metrics::count(&self.metrics.cluster.epoch_resyncs);
        let old = std::mem::replace(&mut self.epoch, epoch);
        self.delivered_seq = target;
        self.recent.clear();
        let ids: Vec<u64> = self.members.keys().copied().collect();
        for id in ids {
            let Some(member) = self.members.get_mut(&id) else {
                continue;
            };
            let since = member.cursor.delivered();
            let (header, done): (Option<JoinHeader>, Option<oneshot::Sender<()>>) =
                match std::mem::replace(&mut member.sync, Sync::Live) {
                    Sync::Live => (None, None),
                    Sync::CatchingUp(mut catch_up) => {
                        (catch_up.header.take(), catch_up.done.take())
                    }
                };
            let header = match header {
                // Its `joined` is not out yet: it is owed the join it asked for, in the new log.
                Some(JoinHeader::Join { resume }) => JoinHeader::Join { resume },
                // It has the old numbering: a `joined` with `gap: true` and the new epoch.
                _ => JoinHeader::Join {
                    resume: Some(Resume {
                        since,
                        epoch: Some(old.to_string()),
                    }),
                },
            };
            self.start_catch_up(id, header, target, done);
        }
    }
}
