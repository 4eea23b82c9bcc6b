//! A room member, and how frames reach it.
//!
//! A member is **live** (frames go straight to its outbox) or **catching up**: it has joined (or
//! the room restarted under it) and is owed a backlog from the log, which [`super::catch_up`]
//! delivers a page at a time. Meanwhile the frames the room fans out are **buffered** for it, in
//! order, and released after the backlog: `joined`, the backlog, then live frames, whatever the
//! timing. The buffer is bounded by the member's own outbox limits: a member that could not keep
//! up with the live stream as a live member cannot keep up buffered either, and is closed with
//! 1013 the same way.
//!
//! Each member also has a [`MemberCursor`], shared with the directory: the last seq queued for it
//! and whether its `joined` went out. The directory outlives the room actor, so when a room is
//! restarted, the new actor resumes every member right after its cursor: a frame stored but not
//! yet fanned out when the old actor died reaches each member exactly once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::oneshot;

use super::catch_up::BacklogPlan;
use crate::actors::outbox::{Delivery, Outbox};
use crate::metrics::{DepthTally, Metrics, PostInFlight};
use crate::protocol::{CloseCode, Resume};

/// Where one membership stands; shared by the directory and the room (see the module docs).
#[derive(Debug, Default)]
pub struct MemberCursor {
    delivered: AtomicU64,
    joined_sent: AtomicBool,
}

impl MemberCursor {
    /// The last seq of this room queued for the member.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    pub fn set_delivered(&self, seq: u64) {
        self.delivered.store(seq, Ordering::Relaxed);
    }

    /// Whether the member got its `joined` for this membership.
    pub fn joined_sent(&self) -> bool {
        self.joined_sent.load(Ordering::Relaxed)
    }

    pub fn set_joined_sent(&self) {
        self.joined_sent.store(true, Ordering::Relaxed);
    }
}

/// Everything a room needs to take a member in.
#[derive(Debug, Clone)]
pub struct MemberInit {
    pub id: u64,
    pub name: String,
    pub outbox: Outbox,
    pub cursor: Arc<MemberCursor>,
    /// Where the client asked to resume, if it did.
    pub resume: Option<Resume>,
}

/// A member being caught up (see the module docs).
pub struct CatchUp {
    /// Tells this catch-up's pages from those of an earlier one for the same member.
    pub generation: u64,
    /// The last seq the backlog covers; later frames are in `buffer`.
    pub target: u64,
    pub plan: BacklogPlan,
    /// `Some` until the first page: the `joined` this catch-up starts with.
    pub header: Option<JoinHeader>,
    /// Frames fanned out meanwhile (with their seq, if numbered), in order.
    buffer: VecDeque<(Option<u64>, Utf8Bytes)>,
    buffer_bytes: usize,
    /// Fired when the member is live (the connection waits for it when it rejoins several rooms).
    pub done: Option<oneshot::Sender<()>>,
}

/// How a catch-up begins.
#[derive(Debug, Clone)]
pub enum JoinHeader {
    /// A join: send `joined` (with `gap` decided on the first page), then the backlog.
    Join { resume: Option<Resume> },
    /// The room restarted under a member that already has its `joined`: continue after its
    /// cursor without a word, unless frames it is owed are gone (then `joined` with `gap: true`).
    Silent,
}

impl CatchUp {
    pub fn new(
        generation: u64,
        target: u64,
        plan: BacklogPlan,
        header: JoinHeader,
        done: Option<oneshot::Sender<()>>,
    ) -> CatchUp {
        CatchUp {
            generation,
            target,
            plan,
            header: Some(header),
            buffer: VecDeque::new(),
            buffer_bytes: 0,
            done,
        }
    }

    /// Takes up to a page of buffered frames (see [`page_budget`]), oldest first.
    pub fn take_buffered(&mut self, outbox: &Outbox) -> Vec<(Option<u64>, Utf8Bytes)> {
        let (max_frames, max_bytes) = page_budget(outbox);
        let mut taken = Vec::new();
        let mut bytes = 0;
        while let Some((_, frame)) = self.buffer.front() {
            let size = frame.as_str().len();
            if !taken.is_empty() && (taken.len() >= max_frames || bytes + size > max_bytes) {
                break;
            }
            bytes += size;
            self.buffer_bytes -= size;
            if let Some(frame) = self.buffer.pop_front() {
                taken.push(frame);
            }
        }
        taken
    }

    pub fn buffer_is_empty(&self) -> bool {
        self.buffer.is_empty()
    }
}

/// How a member receives frames right now.
pub enum Sync {
    Live,
    /// Boxed: a catch-up is rare and large, and every member of every room carries a `Sync`
    /// (the room's member map holds them inline).
    CatchingUp(Box<CatchUp>),
}

/// A member as the room sees it.
pub struct Member {
    pub id: u64,
    pub name: String,
    pub outbox: Outbox,
    pub cursor: Arc<MemberCursor>,
    pub sync: Sync,
}

impl Member {
    /// A member taken in live; the caller starts its catch-up.
    pub fn live(init: MemberInit) -> Member {
        Member {
            id: init.id,
            name: init.name,
            outbox: init.outbox,
            cursor: init.cursor,
            sync: Sync::Live,
        }
    }

    pub fn catch_up_mut(&mut self, generation: u64) -> Option<&mut CatchUp> {
        match &mut self.sync {
            Sync::CatchingUp(catch_up) if catch_up.generation == generation => Some(catch_up),
            _ => None,
        }
    }

    /// Hands `frame` (numbered `seq`, if it is) to the member: to its outbox if live, to its
    /// buffer if catching up. True if it was accepted. A live member's outbox depth goes into
    /// `fan_out`'s tally, and its copy of the frame carries the post, if it is one.
    pub fn offer(&mut self, frame: &Utf8Bytes, seq: Option<u64>, fan_out: &mut FanOut) -> bool {
        let metrics = fan_out.metrics;
        match &mut self.sync {
            Sync::Live => {
                let queued = self.outbox.deliver_fanned_out(
                    frame.clone(),
                    fan_out.post,
                    &mut fan_out.depths,
                ) == Delivery::Queued;
                if let (true, Some(seq)) = (queued, seq) {
                    self.cursor.set_delivered(seq);
                }
                queued
            }
            Sync::CatchingUp(catch_up) => {
                if self.outbox.close_code().is_some() {
                    return false;
                }
                let limits = self.outbox.limits();
                let size = frame.as_str().len();
                if catch_up.buffer.len() >= limits.frames
                    || catch_up.buffer_bytes + size > limits.bytes
                {
                    // As slow as a live member whose queue filled up: the same 1013.
                    Metrics::count(&metrics.queue_overflows);
                    self.outbox.close(CloseCode::SlowConsumer);
                    catch_up.buffer.clear();
                    catch_up.buffer_bytes = 0;
                    return false;
                }
                catch_up.buffer_bytes += size;
                catch_up.buffer.push_back((seq, frame.clone()));
                true
            }
        }
    }
}

/// What one fan-out shares across its members: the counters, the post being delivered (if the
/// frame is one), and the outbox depths counted so far (merged once, at the end).
pub struct FanOut<'a> {
    pub metrics: &'a Metrics,
    pub post: Option<&'a Arc<PostInFlight>>,
    pub depths: DepthTally,
}

/// How much one page of a backlog (or of a buffer being released) may hold: a quarter of the
/// member's outbox limits, and at least one frame. Pages are handed over only when the outbox is
/// at most half full, so a page always fits, with room left for live frames of other rooms.
pub fn page_budget(outbox: &Outbox) -> (usize, usize) {
    let limits = outbox.limits();
    ((limits.frames / 4).max(1), (limits.bytes / 4).max(1))
}
