//! A room actor: takes posts, has them numbered and stored by the room's log, fans them out, and
//! keeps members (and their presence) in order.
//!
//! **The log is not the room's.** The numbered history and the seq counter live in a
//! [`RoomLog`] owned by the store, which outlives room actors (see [`crate::room_log`]). A room
//! that crashes is restarted by the supervisor, opens the same log and continues its numbering
//! with no gap; the directory hands it its members back, each with its cursor (see
//! [`member`]), and every member is caught up from exactly where it was.
//!
//! **Acknowledged means stored.** A post is fanned out, echoed to its sender and answered (HTTP)
//! only after the log stored it. The log is asynchronous (SQLite commits, Redis round trips): at
//! most **one append is in flight** per room, and the posts that arrive meanwhile are gathered
//! into the next batch (per-room group commit). Frames go out in seq order because batches are
//! appended one after another. A store that answers at once (the in-memory one, and SQLite when
//! its writer is free: the room commits on its own thread) is polled once before any task is
//! spawned, so it costs no extra hop; a store that answers within a moment from a thread of its
//! own (SQLite's writer thread) is waited for on the room's thread, briefly, when the runtime is
//! crowded ([`inline_wait`]); anything slower (Redis, a stalled disk) is awaited in a task while
//! the room goes on with joins, leaves and the next posts.
//!
//! **Append failures** refuse the batch (`unavailable` to each sender, 503 over HTTP), use up no
//! seq, and the room carries on with the next batch. The append of a room that dies meanwhile
//! finishes anyway; its outcome is forwarded to the room's next incarnation, so stored posts are
//! still delivered and answered, and unstored ones refused. See [`post`].
//!
//! **Membership frames are in order.** `joined`, the backlog, live frames and `left` are all
//! written by this actor into the member's outbox, so none can overtake another. Backlogs are
//! read and paced by a task per joining member ([`catch_up`]).
//!
//! Fan-out is the hot path. Each frame is encoded **once** into a shared, reference-counted
//! [`Utf8Bytes`] and every member's [`Outbox`](crate::actors::outbox::Outbox) gets a clone (a
//! pointer copy). Delivery never waits, and never touches the directory or the supervisor: a
//! member whose queue is full is closed as a slow consumer and leaves when its actor stops.

pub mod catch_up;
mod inline_wait;
mod live;
mod member;
mod post;
mod presence;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort};
use tokio::sync::oneshot;

use crate::actors::directory::DirectoryMsg;
use crate::actors::outbox::Outbox;
use crate::cluster::presence::RemoteMembers;
use crate::metrics::{DepthTally, Metrics, PostInFlight};
use crate::protocol::{FrameTemplate, MessageKind, NoticeEvent, ServerMessage, SEQ_PLACEHOLDER};
use crate::room_log::{
    Appended, Epoch, LiveInbox, LiveSubscription, LogError, LogHead, LogPage, LogStore, NewEntry,
    RoomLog,
};
use catch_up::PageAnswer;
use member::{FanOut, JoinHeader, Member, Sync};
pub use member::{MemberCursor, MemberInit};
pub use post::{PendingPost, Post, PostReceipt, PostRefused, PostReply};
pub use presence::PRESENCE_SUMMARY_INTERVAL;

/// Re-exported for the actors' convenience: both live in [`crate::protocol`], below this layer.
pub use crate::protocol::{unix_millis, LOBBY};

/// How many of the most recent frames a plain join (without `since`) replays.
pub const JOIN_BACKLOG: usize = 50;

/// Most posts stored in one append.
pub const MAX_BATCH: usize = 256;

/// A member the directory hands back to a (re)started room.
#[derive(Debug, Clone)]
pub struct RestoredMember {
    pub init: MemberInit,
    /// `Some(send_left)` if the member was leaving when the previous actor died.
    pub leaving: Option<bool>,
}

/// A room's vital signs, for the actor inspector.
#[derive(Clone)]
pub struct RoomStats {
    pub name: String,
    pub epoch: String,
    pub members: usize,
    /// Members still being caught up.
    pub catching_up: usize,
    /// The last seq fanned out.
    pub last_seq: u64,
    /// Posts waiting for the next append (not counting the one in flight).
    pub pending_posts: usize,
    /// The log, for what it keeps (read outside the actor).
    pub log: Arc<dyn RoomLog>,
}

/// Messages a room understands.
pub enum RoomMsg {
    /// A post to number, store and fan out.
    Post(PendingPost),
    /// The outcome of an append (sent by the append task; `forwarded` if it was started by an
    /// earlier incarnation of this room).
    Appended {
        batch: Vec<PendingPost>,
        result: Result<Appended, LogError>,
        forwarded: bool,
    },
    /// Take a member in (or, for a current member, re-sync it from a new resume point).
    Join {
        member: MemberInit,
        done: Option<oneshot::Sender<()>>,
    },
    /// A member is gone; `send_left` if it asked to leave (its connection stays open).
    Leave {
        id: u64,
        outbox: Outbox,
        cursor: Arc<MemberCursor>,
        send_left: bool,
    },
    Renamed {
        id: u64,
        name: String,
    },
    /// From a catch-up task: a page of the log for member `id`.
    CatchUpPage {
        id: u64,
        generation: u64,
        page: LogPage,
        reply: RpcReplyPort<PageAnswer>,
    },
    /// From a catch-up task: release buffered frames to member `id`.
    CatchUpRelease {
        id: u64,
        generation: u64,
        reply: RpcReplyPort<PageAnswer>,
    },
    /// From a catch-up task: the log could not be read.
    CatchUpFailed {
        id: u64,
        generation: u64,
        reason: String,
    },
    Stats(RpcReplyPort<RoomStats>),
    /// From the cluster's presence loop: this room's members on other nodes changed.
    RemotePresence(RemoteMembers),
    /// The live inbox has frames from other nodes (or asks for a re-sync): see [`live`].
    Live,
    /// The log's current head, read to check for missed frames or a new epoch (see [`live`]).
    HeadChecked(Result<LogHead, LogError>),
    /// The frames an append's reply skipped did not come on the channel in time: fill them from
    /// the log (see [`live`]).
    ChannelLate(u64),
    /// Time to send the pending presence summary of a large room (sent by the room to itself).
    FlushPresence,
    /// Test-only: make the room panic, to show that it heals.
    #[cfg(any(test, feature = "test-hooks"))]
    Panic,
}

/// What a room starts with.
pub struct RoomArgs {
    pub name: String,
    pub store: Arc<dyn LogStore>,
    pub directory: ActorRef<DirectoryMsg>,
    /// Up to this many members, every join/leave/rename is announced with the full list.
    pub presence_limit: usize,
    /// How long to wait for the directory when registering.
    pub call_timeout: Duration,
    pub metrics: Arc<Metrics>,
}

/// The room's behaviour; its data lives in [`RoomState`].
pub struct RoomActor;

/// The room's data, owned by the actor task.
pub struct RoomState {
    name: String,
    myself: ActorRef<RoomMsg>,
    directory: ActorRef<DirectoryMsg>,
    call_timeout: Duration,
    log: Arc<dyn RoomLog>,
    epoch: Epoch,
    /// The last seq fanned out.
    delivered_seq: u64,
    /// Ordered by id, so presence lists are stable.
    members: BTreeMap<u64, Member>,
    /// Posts waiting for the append in flight to finish.
    pending: Vec<PendingPost>,
    appending: bool,
    presence_limit: usize,
    /// A presence summary is scheduled (large rooms only).
    summary_pending: bool,
    next_generation: u64,
    metrics: Arc<Metrics>,
    /// This room's members on other nodes of the cluster (empty on a single node).
    remote: RemoteMembers,
    /// Live frames from other nodes, filled by the node's subscriber (see [`live`]).
    inbox: Arc<LiveInbox>,
    /// `Some` while the room has members and its log has other writers.
    live: Option<LiveSubscription>,
    /// A head check is in flight; another one is wanted after it.
    head_check: (bool, bool),
    /// Appends answered under another epoch, waiting for the head check.
    parked: Vec<live::Parked>,
    /// `(seq, members reached)` of frames delivered from the channel while an append was in
    /// flight (their receipts, if they are this room's own posts).
    recent: VecDeque<(u64, usize)>,
    /// Joiners whose backlog waits for the head check: `(id, catch-up generation)`.
    awaiting_head: Vec<(u64, u64)>,
    /// An append answered before the channel brought the frames numbered before it.
    waiting_for_channel: Option<live::Waiting>,
    next_wait: u64,
}

impl Actor for RoomActor {
    type Msg = RoomMsg;
    type State = RoomState;
    type Arguments = RoomArgs;

    /// Opens the log: a restarted room continues where the log is.
    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RoomArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let log = args.store.open(&args.name).await?;
        let head = log.head().await?;
        let doorbell = myself.clone();
        let inbox = LiveInbox::new(move || {
            let _ = doorbell.cast(RoomMsg::Live);
        });
        Ok(RoomState {
            name: args.name,
            myself,
            directory: args.directory,
            call_timeout: args.call_timeout,
            log,
            epoch: head.epoch,
            delivered_seq: head.last_seq,
            members: BTreeMap::new(),
            pending: Vec::new(),
            appending: false,
            presence_limit: args.presence_limit,
            summary_pending: false,
            next_generation: 0,
            metrics: args.metrics,
            remote: RemoteMembers::default(),
            inbox,
            live: None,
            head_check: (false, false),
            parked: Vec::new(),
            recent: VecDeque::new(),
            awaiting_head: Vec::new(),
            waiting_for_channel: None,
            next_wait: 0,
        })
    }

    /// Registers with the directory, which answers with the members to take (back) in.
    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let room = state.name.clone();
        let answer = state
            .directory
            .call(
                |reply| DirectoryMsg::RoomStarted {
                    room,
                    actor: myself.clone(),
                    reply,
                },
                Some(state.call_timeout),
            )
            .await?;
        match answer {
            CallResult::Success(Some(members)) => {
                for member in members {
                    state.restore(member);
                }
                state.sync_subscription();
                Ok(())
            }
            CallResult::Success(None) => {
                // Evicted while starting: nobody wants this room any more.
                myself.stop(Some("no longer needed".to_owned()));
                Ok(())
            }
            CallResult::Timeout | CallResult::SenderError => {
                Err("the directory did not answer the room's registration".into())
            }
        }
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RoomMsg::Post(post) => {
                state.pending.push(post);
                state.start_batch();
            }
            RoomMsg::Appended {
                batch,
                result,
                forwarded,
            } => {
                if !forwarded {
                    state.appending = false;
                }
                state.on_appended(batch, result, forwarded);
                state.start_batch();
            }
            RoomMsg::Join { member, done } => state.join(member, done),
            RoomMsg::Leave {
                id,
                outbox,
                cursor,
                send_left,
            } => state.leave(id, &outbox, cursor, send_left),
            RoomMsg::Renamed { id, name } => state.rename(id, name),
            RoomMsg::RemotePresence(remote) => state.remote_presence(remote),
            RoomMsg::CatchUpPage {
                id,
                generation,
                page,
                reply,
            } => {
                let answer = state.on_catch_up_page(id, generation, page);
                RoomState::answer(reply, answer);
            }
            RoomMsg::CatchUpRelease {
                id,
                generation,
                reply,
            } => {
                let answer = state.on_catch_up_release(id, generation);
                RoomState::answer(reply, answer);
            }
            RoomMsg::CatchUpFailed {
                id,
                generation,
                reason,
            } => state.on_catch_up_failed(id, generation, &reason),
            RoomMsg::FlushPresence => {
                state.summary_pending = false;
                let presence = state.presence_frame();
                state.fan_out(&presence, None);
            }
            RoomMsg::Stats(reply) => {
                let _ = reply.send(state.stats());
            }
            RoomMsg::Live => {
                state.on_live();
                state.start_batch();
            }
            RoomMsg::ChannelLate(token) => {
                state.on_channel_late(token);
                state.start_batch();
            }
            RoomMsg::HeadChecked(result) => {
                state.on_head_checked(result);
                state.start_batch();
            }
            #[cfg(any(test, feature = "test-hooks"))]
            RoomMsg::Panic => panic!("panic injected by a test into room #{}", state.name),
        }
        state.sync_subscription();
        Ok(())
    }
}

impl RoomState {
    /// Takes a member back after a restart (or one that joined while the room was starting).
    fn restore(&mut self, restored: RestoredMember) {
        let init = restored.init;
        if let Some(send_left) = restored.leaving {
            self.finish_leave(init.id, &init.outbox, init.cursor, send_left);
            return;
        }
        let id = init.id;
        let name = init.name.clone();
        if init.cursor.joined_sent() {
            // Its previous room actor died under it: resume it where it was, without a word.
            self.members.insert(id, Member::live(init));
            self.start_catch_up(id, JoinHeader::Silent, self.delivered_seq, None);
        } else {
            // It joined while the room was (re)starting: a join like any other.
            let resume = init.resume.clone();
            self.members.insert(id, Member::live(init));
            self.start_catch_up(id, JoinHeader::Join { resume }, self.delivered_seq, None);
            self.announce(NoticeEvent::Joined, id, name, None);
        }
    }

    fn join(&mut self, init: MemberInit, done: Option<oneshot::Sender<()>>) {
        let id = init.id;
        let resync = self
            .members
            .get(&id)
            .is_some_and(|member| Arc::ptr_eq(&member.cursor, &init.cursor));
        let name = init.name.clone();
        let resume = init.resume.clone();
        let listening = self.live.is_some();
        if !resync {
            self.members.insert(id, Member::live(init));
        }
        self.sync_subscription();
        if !listening && self.live.is_some() {
            // Not listening until now: other nodes may have posted meanwhile. The backlog is
            // read once the room knows how far its log is (see `live`).
            self.join_after_head(id, JoinHeader::Join { resume }, done);
        } else {
            self.start_catch_up(id, JoinHeader::Join { resume }, self.delivered_seq, done);
        }
        if !resync {
            // Everyone is told; the joiner's copy waits in its buffer, after its backlog.
            self.announce(NoticeEvent::Joined, id, name, None);
        }
    }

    fn leave(&mut self, id: u64, outbox: &Outbox, cursor: Arc<MemberCursor>, send_left: bool) {
        let same_membership = self
            .members
            .get(&id)
            .map(|member| Arc::ptr_eq(&member.cursor, &cursor));
        match same_membership {
            Some(true) => {
                self.finish_leave(id, outbox, cursor, send_left);
                if let Some(member) = self.members.remove(&id) {
                    if let Sync::CatchingUp(mut catch_up) = member.sync {
                        if let Some(done) = catch_up.done.take() {
                            let _ = done.send(());
                        }
                    }
                    self.announce(NoticeEvent::Left, id, member.name, None);
                }
            }
            // A newer membership of the same connection is here: only the receipt.
            Some(false) => self.finish_leave(id, outbox, cursor, false),
            // Never taken in (its join was lost with a crash): `left` all the same.
            None => self.finish_leave(id, outbox, cursor, send_left),
        }
    }

    /// `left` (after everything this room queued for the member), and the directory's receipt.
    fn finish_leave(&self, id: u64, outbox: &Outbox, cursor: Arc<MemberCursor>, send_left: bool) {
        // The receipt first: once the client reads `left`, the directory already knows.
        let _ = self.directory.cast(DirectoryMsg::MemberLeft {
            room: self.name.clone(),
            id,
            cursor,
        });
        if send_left {
            outbox.deliver_text(encode(&ServerMessage::Left {
                room: self.name.clone(),
            }));
        }
    }

    fn rename(&mut self, id: u64, name: String) {
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        let old_name = std::mem::replace(&mut member.name, name.clone());
        self.announce(NoticeEvent::Renamed, id, name, Some(old_name));
    }

    /// Starts an append of the waiting posts, unless one is in flight.
    fn start_batch(&mut self) {
        while !self.appending && !self.pending.is_empty() {
            self.append_next_batch();
        }
    }

    fn append_next_batch(&mut self) {
        let take = self.pending.len().min(MAX_BATCH);
        let batch: Vec<PendingPost> = self.pending.drain(..take).collect();
        let ts = unix_millis();
        let mut entries = Vec::with_capacity(batch.len());
        let mut accepted = Vec::with_capacity(batch.len());
        for post in batch {
            match self.entry(&post.post, ts) {
                Some(entry) => {
                    entries.push(entry);
                    accepted.push(post);
                }
                None => post.refuse("it could not be encoded"),
            }
        }
        if entries.is_empty() {
            return;
        }
        let log = Arc::clone(&self.log);
        let mut append: BoxFuture<'static, Result<Appended, LogError>> =
            Box::pin(async move { log.append(entries).await });
        if let Some(result) = (&mut append).now_or_never() {
            self.on_appended(accepted, result, false);
            return;
        }
        let quick_store = self.log.inline_append_wait();
        if let Some(limit) = quick_store.filter(|_| inline_wait::runtime_is_crowded()) {
            append = match inline_wait::wait_briefly(append, limit) {
                Ok(result) => {
                    self.on_appended(accepted, result, false);
                    return;
                }
                Err(still_pending) => still_pending,
            };
        }
        self.appending = true;
        let room = self.myself.clone();
        let directory = self.directory.clone();
        let name = self.name.clone();
        let timeout = self.call_timeout;
        tokio::spawn(async move {
            let result = append.await;
            deliver_outcome(room, directory, name, timeout, accepted, result).await;
        });
    }

    /// The numbered frame a post becomes, cut around its seq for the log to fill in.
    fn entry(&self, post: &Post, ts: u64) -> Option<NewEntry> {
        let room = self.name.clone();
        let message = match post.clone() {
            Post::Chat {
                sender,
                sender_id,
                text,
            } => ServerMessage::Message {
                kind: MessageKind::Chat,
                room,
                seq: SEQ_PLACEHOLDER,
                sender,
                sender_id: Some(sender_id),
                text,
                ts,
            },
            Post::Notification {
                source,
                title,
                text,
                level,
            } => ServerMessage::Notification {
                source,
                room,
                seq: SEQ_PLACEHOLDER,
                title,
                text,
                level,
                ts,
            },
        };
        let template = FrameTemplate::new(&message);
        if template.is_none() {
            tracing::error!(room = %self.name, "a numbered frame has no seq placeholder");
        }
        Some(NewEntry {
            template: template?,
            ts,
        })
    }

    /// Fans out what was stored (in seq order), then answers each post.
    fn on_appended(
        &mut self,
        batch: Vec<PendingPost>,
        result: Result<Appended, LogError>,
        forwarded: bool,
    ) {
        let appended = match result {
            Ok(appended) => appended,
            Err(error) => {
                tracing::warn!(room = %self.name, posts = batch.len(), %error, "could not store posts; refused them");
                for post in batch {
                    Metrics::count(&self.metrics.posts_refused);
                    post.refuse(&error.message);
                }
                return;
            }
        };
        if appended.epoch != self.epoch || !self.parked.is_empty() {
            // Which epoch is current, the log's head tells (see `live`).
            self.park(live::Parked {
                batch,
                appended,
                forwarded,
            });
            return;
        }
        if !forwarded && self.frames_on_their_way(&appended) {
            // Other nodes' frames before this batch are still on the channel (the reply came
            // first): wait for them rather than read them from the log (see `live`).
            self.wait_for_channel(batch, appended);
            return;
        }
        self.deliver_appended(batch, appended);
    }

    /// Fans out what was stored under the room's epoch (in seq order), then answers each post.
    fn deliver_appended(&mut self, batch: Vec<PendingPost>, appended: Appended) {
        if appended.frames.len() != batch.len() {
            tracing::error!(room = %self.name, posts = batch.len(), frames = appended.frames.len(), "the log stored a different number of frames than it was given");
        }
        // Frames numbered after a hole (another writer, an earlier incarnation of this room)
        // wait until every member has the hole filled from the log.
        if let Some(first_new) = appended
            .frames
            .iter()
            .map(|frame| frame.seq)
            .find(|seq| *seq > self.delivered_seq)
        {
            if first_new > self.delivered_seq.saturating_add(1) {
                self.fill_hole(first_new - 1);
            }
        }
        let mut batch = batch.into_iter();
        for stored in &appended.frames {
            let Some(mut post) = batch.next() else { break };
            post.mark_stored();
            let delivered_to = if stored.seq > self.delivered_seq {
                let started = Instant::now();
                let in_flight = PostInFlight::start(post.posted, &self.metrics.post_delivery);
                let count = self.fan_out_post(&stored.frame, Some(stored.seq), Some(&in_flight));
                self.metrics
                    .post_fanout
                    .observe(started.elapsed().as_secs_f64());
                // From here on, only the members' copies keep the post waiting.
                drop(in_flight);
                self.delivered_seq = stored.seq;
                count
            } else {
                // Already delivered: from the channel (counted then), or from the log by a
                // catch-up.
                self.delivered_from_channel(stored.seq).unwrap_or(0)
            };
            if matches!(post.post, Post::Chat { .. }) {
                Metrics::count(&self.metrics.chat_messages);
            }
            post.acknowledge(PostReceipt {
                seq: stored.seq,
                delivered_to,
            });
        }
    }

    /// Every member must get the frames up to `through` from the log before anything newer.
    fn fill_hole(&mut self, through: u64) {
        tracing::warn!(room = %self.name, from = self.delivered_seq + 1, through, "filling a hole in the numbering from the log");
        Metrics::count(&self.metrics.cluster.gap_fills);
        self.metrics
            .cluster
            .gap_filled_frames
            .inc_by(through.saturating_sub(self.delivered_seq));
        self.delivered_seq = through;
        let ids: Vec<u64> = self.members.keys().copied().collect();
        for id in ids {
            let Some(member) = self.members.get_mut(&id) else {
                continue;
            };
            let (header, done) = match std::mem::replace(&mut member.sync, Sync::Live) {
                Sync::Live => (JoinHeader::Silent, None),
                Sync::CatchingUp(mut catch_up) => (
                    catch_up.header.take().unwrap_or(JoinHeader::Silent),
                    catch_up.done.take(),
                ),
            };
            self.start_catch_up(id, header, through, done);
        }
    }

    /// Queues `frame` for every member; returns how many accepted it.
    ///
    /// A member whose connection is closing stays listed until its `Leave` arrives, so that its
    /// departure is announced exactly once.
    fn fan_out(&mut self, frame: &Utf8Bytes, seq: Option<u64>) -> usize {
        self.fan_out_post(frame, seq, None)
    }

    /// [`fan_out`](Self::fan_out), with the post the frame carries (see `metrics::PostInFlight`).
    /// Records the members' outbox depths, merged once for all of them.
    fn fan_out_post(
        &mut self,
        frame: &Utf8Bytes,
        seq: Option<u64>,
        post: Option<&Arc<PostInFlight>>,
    ) -> usize {
        let mut fan_out = FanOut {
            metrics: &self.metrics,
            post,
            depths: DepthTally::default(),
        };
        let accepted = self
            .members
            .values_mut()
            .filter_map(|member| member.offer(frame, seq, &mut fan_out).then_some(()))
            .count();
        self.metrics.outbox_depth.merge(&fan_out.depths);
        accepted
    }

    fn stats(&self) -> RoomStats {
        RoomStats {
            name: self.name.clone(),
            epoch: self.epoch.to_string(),
            members: self.members.len(),
            catching_up: self
                .members
                .values()
                .filter(|member| matches!(member.sync, Sync::CatchingUp(_)))
                .count(),
            last_seq: self.delivered_seq,
            pending_posts: self.pending.len(),
            log: Arc::clone(&self.log),
        }
    }
}

/// Hands an append's outcome to the room that started it or, if that actor died meanwhile, to
/// the room's next incarnation: stored posts are then still fanned out and answered (the
/// successor skips frames it already delivered from the log), and unstored ones are refused.
async fn deliver_outcome(
    room: ActorRef<RoomMsg>,
    directory: ActorRef<DirectoryMsg>,
    name: String,
    timeout: Duration,
    batch: Vec<PendingPost>,
    result: Result<Appended, LogError>,
) {
    let outcome = RoomMsg::Appended {
        batch,
        result,
        forwarded: false,
    };
    let Err(MessagingErr::SendErr(RoomMsg::Appended {
        mut batch, result, ..
    })) = room.cast(outcome)
    else {
        return;
    };
    if result.is_err() {
        return; // dropping the batch refuses every post in it
    }
    for post in &mut batch {
        post.mark_stored();
    }
    let successor = directory
        .call(
            |reply| DirectoryMsg::WhereIs {
                room: name,
                create: false,
                reply,
            },
            Some(timeout),
        )
        .await;
    if let Ok(CallResult::Success(Some(successor))) = successor {
        let _ = successor.cast(RoomMsg::Appended {
            batch,
            result,
            forwarded: true,
        });
    }
}

pub(crate) fn encode(message: &ServerMessage) -> Utf8Bytes {
    message.to_json().into()
}
