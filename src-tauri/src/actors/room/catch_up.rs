//! Catching a member up: the backlog a joiner or a resuming client is owed, read from the log and
//! delivered **paced** and **in order**.
//!
//! ```text
//!   room actor                          catch-up task (one per member catching up)
//!   ──────────                          ──────────────────────────────────────────
//!   join: member added, catching up ──▶ wait until the member's outbox is half empty
//!         live frames → its buffer      read a page from the log (async: no actor waits)
//!                                  ◀──  CatchUpPage: the room sends `joined` (first page),
//!         delivers ≤ a quarter outbox   then the page's frames up to `target`
//!                                  ◀──  … until `target`, then CatchUpRelease: the buffer, a page
//!         member is live                at a time, then live
//! ```
//!
//! The task only **reads**; the room actor is the only one that writes a room's frames into a
//! member's outbox, so `joined`, the backlog, buffered live frames and `left` can never overtake
//! each other. The task waits for room in the outbox before each page, so a backlog larger than
//! the client's queue is never a reason to close it with 1013.
//!
//! `target` is the room's last fanned-out seq when the catch-up starts: frames up to it come from
//! the log, later ones from the buffer. Nothing is delivered twice, nothing is skipped.
//!
//! **Honest resume.** Whether the backlog is exact ([`BacklogPlan`]) is decided from the client's
//! resume point, the room's epoch and what the log still keeps. Every number from the client goes
//! through checked arithmetic: `since = u64::MAX` is simply beyond `last_seq`, hence a gap.

use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};
use tokio::sync::oneshot;

use super::member::{page_budget, CatchUp, JoinHeader, Sync};
use super::{RoomMsg, RoomState, JOIN_BACKLOG};
use crate::actors::outbox::{Delivery, Outbox};
use crate::protocol::{CloseCode, Resume};
use crate::room_log::{LogPage, RoomLog};

/// Frames read from the log at a time.
pub const PAGE_FRAMES: usize = 64;

/// Reads that fail in a row before the catch-up gives up (the member is then closed with 1013:
/// try again later).
const READ_ATTEMPTS: u32 = 3;

/// Where a backlog starts, and whether it is honest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogPlan {
    /// Deliver frames with a seq above this one.
    pub after: u64,
    /// Known already to be a gap (other epoch, or a seq this log never issued).
    pub gap: bool,
    /// The client asked for exactly the frames after `after`: if the log no longer keeps them
    /// all, that is a gap too.
    pub exact: bool,
}

/// The plan for a join into a room whose log is `epoch` and whose last fanned-out seq is `last`.
pub fn plan_join(resume: Option<&Resume>, epoch: &str, last: u64) -> BacklogPlan {
    match resume {
        // A plain join gets the most recent frames, and is never a gap.
        None => BacklogPlan {
            after: last.saturating_sub(JOIN_BACKLOG as u64),
            gap: false,
            exact: false,
        },
        Some(resume) => {
            let other_epoch = resume
                .epoch
                .as_deref()
                .is_some_and(|theirs| theirs != epoch);
            if other_epoch || resume.since > last {
                // Their numbers are not this log's numbers: all the kept history, flagged.
                BacklogPlan {
                    after: 0,
                    gap: true,
                    exact: false,
                }
            } else {
                BacklogPlan {
                    after: resume.since,
                    gap: false,
                    exact: true,
                }
            }
        }
    }
}

/// The plan for a member the room resumes by itself after a restart.
pub fn plan_silent(cursor: u64) -> BacklogPlan {
    BacklogPlan {
        after: cursor,
        gap: false,
        exact: true,
    }
}

/// True if an exact plan cannot be honoured because frames in `(after, target]` are no longer
/// kept (the oldest kept is `first_kept`).
pub fn frames_lost(after: u64, target: u64, first_kept: u64) -> bool {
    after < target && after.checked_add(1).is_some_and(|next| next < first_kept)
}

/// What the room tells the catch-up task after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAnswer {
    /// Read on after this seq.
    Next { after: u64 },
    /// The backlog is out (after a page), or the member is live (after a release).
    Finish,
    /// Stop: the member left, or a newer catch-up replaced this one.
    Stop,
}

/// The task's side: read, wait, hand over. See the module docs.
struct CatchUpTask {
    room: ActorRef<RoomMsg>,
    log: Arc<dyn RoomLog>,
    outbox: Outbox,
    id: u64,
    generation: u64,
    after: u64,
}

impl CatchUpTask {
    async fn run(self) {
        if self.deliver_backlog().await {
            self.release_buffer().await;
        }
    }

    /// True when the backlog is out and the buffer can be released.
    async fn deliver_backlog(&self) -> bool {
        let mut after = self.after;
        let mut failures = 0;
        loop {
            if !self.outbox.wait_for_room().await {
                return false;
            }
            let page = match self.log.range(after, PAGE_FRAMES).await {
                Ok(page) => page,
                Err(error) => {
                    failures += 1;
                    if failures >= READ_ATTEMPTS {
                        let _ = self.room.cast(RoomMsg::CatchUpFailed {
                            id: self.id,
                            generation: self.generation,
                            reason: error.message,
                        });
                        return false;
                    }
                    tokio::time::sleep(Duration::from_millis(100) * failures).await;
                    continue;
                }
            };
            failures = 0;
            let (id, generation) = (self.id, self.generation);
            let answer = self
                .room
                .call(
                    |reply| RoomMsg::CatchUpPage {
                        id,
                        generation,
                        page,
                        reply,
                    },
                    None,
                )
                .await;
            match answer {
                Ok(CallResult::Success(PageAnswer::Next { after: next })) => after = next,
                Ok(CallResult::Success(PageAnswer::Finish)) => return true,
                _ => return false,
            }
        }
    }

    async fn release_buffer(&self) {
        loop {
            if !self.outbox.wait_for_room().await {
                return;
            }
            let (id, generation) = (self.id, self.generation);
            let answer = self
                .room
                .call(
                    |reply| RoomMsg::CatchUpRelease {
                        id,
                        generation,
                        reply,
                    },
                    None,
                )
                .await;
            if !matches!(answer, Ok(CallResult::Success(PageAnswer::Next { .. }))) {
                return;
            }
        }
    }
}

/// The room's side.
impl RoomState {
    /// Puts member `id` into catch-up up to `target`, starting with `header`, and starts the task.
    pub(super) fn start_catch_up(
        &mut self,
        id: u64,
        header: JoinHeader,
        target: u64,
        done: Option<oneshot::Sender<()>>,
    ) {
        self.begin_catch_up(id, header, target, done, true);
    }

    /// Puts member `id` into catch-up (its frames are buffered from now on) without reading the
    /// log yet: the room first learns how far the log is (see `live`), then restarts this
    /// catch-up. Returns its generation, if one was made.
    pub(super) fn hold_catch_up(
        &mut self,
        id: u64,
        header: JoinHeader,
        target: u64,
        done: Option<oneshot::Sender<()>>,
    ) -> Option<u64> {
        self.begin_catch_up(id, header, target, done, false)
    }

    fn begin_catch_up(
        &mut self,
        id: u64,
        header: JoinHeader,
        target: u64,
        done: Option<oneshot::Sender<()>>,
        run: bool,
    ) -> Option<u64> {
        self.next_generation += 1;
        let generation = self.next_generation;
        let epoch = self.epoch.clone();
        let member = self.members.get_mut(&id)?;
        let plan = match &header {
            JoinHeader::Join { resume } => plan_join(resume.as_ref(), epoch.as_str(), target),
            JoinHeader::Silent => plan_silent(member.cursor.delivered()),
        };
        if matches!(header, JoinHeader::Silent) && plan.after >= target {
            // Nothing is owed: live at once.
            member.sync = Sync::Live;
            if let Some(done) = done {
                let _ = done.send(());
            }
            return None;
        }
        member.sync = Sync::CatchingUp(Box::new(CatchUp::new(
            generation, target, plan, header, done,
        )));
        if !run {
            return Some(generation);
        }
        let task = CatchUpTask {
            room: self.myself.clone(),
            log: Arc::clone(&self.log),
            outbox: member.outbox.clone(),
            id,
            generation,
            after: plan.after,
        };
        tokio::spawn(task.run());
        Some(generation)
    }

    /// A page of the backlog of member `id`; see the module docs.
    pub(super) fn on_catch_up_page(
        &mut self,
        id: u64,
        generation: u64,
        page: LogPage,
    ) -> PageAnswer {
        let Some(member) = self.members.get_mut(&id) else {
            return PageAnswer::Stop;
        };
        let cursor_now = member.cursor.delivered();
        let Some(catch_up) = member.catch_up_mut(generation) else {
            return PageAnswer::Stop;
        };
        let (target, plan) = (catch_up.target, catch_up.plan);
        let header = catch_up.header.take();
        let mut cursor = match header {
            Some(JoinHeader::Join { .. }) => plan.after,
            _ => cursor_now,
        };
        let lost = frames_lost(cursor, target, page.first_kept);
        let joined = match header {
            Some(JoinHeader::Join { resume }) => {
                let gap = plan.gap || (plan.exact && lost);
                Some((resume.map(|resume| resume.since), gap))
            }
            // Frames this member is owed are gone (trimmed while it caught up): say so.
            Some(JoinHeader::Silent) | None if lost => Some((Some(cursor), true)),
            _ => None,
        };
        if lost {
            cursor = page.first_kept.saturating_sub(1).min(target);
        }
        if let Some((resumed_from, gap)) = joined {
            let frame = self.joined_frame(id, target, resumed_from, gap);
            let Some(member) = self.members.get_mut(&id) else {
                return PageAnswer::Stop;
            };
            if member.outbox.deliver_text(frame) != Delivery::Queued {
                return PageAnswer::Stop;
            }
            member.cursor.set_joined_sent();
        }
        let Some(member) = self.members.get_mut(&id) else {
            return PageAnswer::Stop;
        };
        member.cursor.set_delivered(cursor);

        let (max_frames, max_bytes) = page_budget(&member.outbox);
        let (mut frames, mut bytes) = (0, 0);
        let progress_before = cursor;
        for stored in page.frames {
            if stored.seq <= cursor {
                continue;
            }
            if stored.seq > target
                || (frames > 0 && (frames >= max_frames || bytes + stored.len() > max_bytes))
            {
                break;
            }
            if member.outbox.deliver_text(stored.frame.clone()) != Delivery::Queued {
                return PageAnswer::Stop;
            }
            frames += 1;
            bytes += stored.len();
            cursor = stored.seq;
            member.cursor.set_delivered(cursor);
        }
        if cursor >= target {
            PageAnswer::Finish
        } else if cursor > progress_before || lost {
            PageAnswer::Next { after: cursor }
        } else {
            // The log has nothing more up to `target` (it lost data): do not loop forever.
            PageAnswer::Finish
        }
    }

    /// Releases a page of the frames buffered while member `id` caught up; live when empty.
    pub(super) fn on_catch_up_release(&mut self, id: u64, generation: u64) -> PageAnswer {
        let Some(member) = self.members.get_mut(&id) else {
            return PageAnswer::Stop;
        };
        let outbox = member.outbox.clone();
        let cursor = Arc::clone(&member.cursor);
        let Some(catch_up) = member.catch_up_mut(generation) else {
            return PageAnswer::Stop;
        };
        for (seq, frame) in catch_up.take_buffered(&outbox) {
            if outbox.deliver_text(frame) != Delivery::Queued {
                return PageAnswer::Stop;
            }
            if let Some(seq) = seq {
                cursor.set_delivered(seq);
            }
        }
        if !catch_up.buffer_is_empty() {
            return PageAnswer::Next { after: 0 };
        }
        let done = catch_up.done.take();
        member.sync = Sync::Live;
        if let Some(done) = done {
            let _ = done.send(());
        }
        PageAnswer::Finish
    }

    /// The log could not be read for member `id`: closed with 1013 (try again later); its client
    /// reconnects and resumes.
    pub(super) fn on_catch_up_failed(&mut self, id: u64, generation: u64, reason: &str) {
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        if member.catch_up_mut(generation).is_some() {
            tracing::warn!(room = %self.name, connection = id, %reason, "could not read the backlog; closing the connection with 1013");
            member.outbox.close(CloseCode::SlowConsumer);
        }
    }

    /// Answers a page or release call (the task may have given up waiting: no matter).
    pub(super) fn answer(reply: RpcReplyPort<PageAnswer>, answer: PageAnswer) {
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume(since: u64, epoch: Option<&str>) -> Resume {
        Resume {
            since,
            epoch: epoch.map(str::to_owned),
        }
    }

    #[test]
    fn a_plain_join_gets_the_last_fifty_and_no_gap() {
        assert_eq!(
            plan_join(None, "e", 120),
            BacklogPlan {
                after: 70,
                gap: false,
                exact: false
            }
        );
        assert_eq!(plan_join(None, "e", 10).after, 0);
    }

    #[test]
    fn a_resume_within_the_numbering_is_exact() {
        let plan = plan_join(Some(&resume(33, Some("e"))), "e", 45);
        assert_eq!(
            plan,
            BacklogPlan {
                after: 33,
                gap: false,
                exact: true
            }
        );
        // Legacy tokens have no epoch: trusted as far as the numbers go.
        assert!(plan_join(Some(&resume(45, None)), "e", 45).exact);
        // …and an exact plan whose frames were trimmed is a gap after all.
        assert!(frames_lost(33, 45, 40));
        assert!(!frames_lost(33, 45, 34));
        assert!(!frames_lost(45, 45, 46), "nothing owed, nothing lost");
    }

    #[test]
    fn another_epoch_or_an_unissued_seq_is_a_gap_from_the_start() {
        let other = plan_join(Some(&resume(3, Some("old"))), "new", 45);
        assert_eq!(
            other,
            BacklogPlan {
                after: 0,
                gap: true,
                exact: false
            }
        );
        assert!(plan_join(Some(&resume(46, None)), "e", 45).gap);
        assert!(plan_join(Some(&resume(u64::MAX, None)), "e", 45).gap);
        assert!(plan_join(Some(&resume(u64::MAX, Some("e"))), "e", u64::MAX - 1).gap);
    }

    #[test]
    fn extreme_numbers_never_overflow() {
        assert!(!frames_lost(u64::MAX, u64::MAX, u64::MAX));
        assert!(!frames_lost(u64::MAX - 1, u64::MAX, u64::MAX));
        assert!(frames_lost(0, u64::MAX, u64::MAX));
        assert_eq!(plan_silent(u64::MAX).after, u64::MAX);
        assert_eq!(plan_join(None, "e", 0).after, 0);
    }
}
