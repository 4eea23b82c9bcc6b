//! A room actor: numbers messages, keeps recent history, tracks presence and fans out.
//!
//! The room is the single writer of its sequence counter and its history, which is what makes
//! numbering gap-free and resume exact without any lock: the actor handles one message at a time,
//! so a `Join` (member added, backlog sent) and a `Post` can never interleave. A client that
//! resumes gets exactly the frames it missed, then live frames, in order.
//!
//! Why an actor per room rather than a ractor process group? A group is only a membership list;
//! a room also owns state that must change atomically with delivery (sequence numbers, history,
//! the presence list). An actor gives us that for free.
//!
//! Fan-out is the hot path. Each frame is encoded **once** into a shared, reference-counted
//! [`Utf8Bytes`] and every member's [`Outbox`] gets a clone (a pointer copy). Delivery never
//! waits: a member whose queue is full is closed as a slow consumer, and leaves the room when
//! its actor stops.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::outbox::{Delivery, Outbox};
use crate::protocol::{
    Level, MemberView, MessageKind, NoticeEvent, NotificationSource, ServerMessage,
};

/// Re-exported for the actors' convenience: both live in [`crate::protocol`], below this layer.
pub use crate::protocol::{unix_millis, LOBBY};

/// How many of the most recent frames a plain join (without `since`) replays.
pub const JOIN_BACKLOG: usize = 50;

/// In a room with more members than its presence limit, a join or leave is not announced to
/// everyone at once: a summary `presence` (the first `presence_limit` members and the count) goes
/// out at most this often. Without it, N clients joining a room would cost N² frames.
pub const PRESENCE_SUMMARY_INTERVAL: Duration = Duration::from_secs(2);

/// A member as the room sees it: enough to address and label it.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub outbox: Outbox,
}

/// A numbered frame offered to the room.
#[derive(Debug, Clone)]
pub enum Post {
    Chat {
        sender: String,
        sender_id: u64,
        text: String,
    },
    Notification {
        source: NotificationSource,
        title: String,
        text: String,
        level: Level,
    },
}

/// What the room did with a [`Post`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostReceipt {
    pub seq: u64,
    pub delivered_to: usize,
}

/// A room's vital signs, for the actor inspector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomStats {
    pub name: String,
    pub members: usize,
    pub last_seq: u64,
    pub history: usize,
}

/// Messages a room understands.
pub enum RoomMsg {
    /// Add (or re-add) a member; `since` asks for a resume after that sequence number.
    Join {
        member: Member,
        since: Option<u64>,
    },
    Leave {
        id: u64,
    },
    Renamed {
        id: u64,
        name: String,
    },
    /// Post and do not wait (chat from a connection actor).
    Post(Post),
    /// Post and answer with the receipt (the HTTP endpoints wait for it).
    PostAndReply(Post, RpcReplyPort<PostReceipt>),
    Stats(RpcReplyPort<RoomStats>),
    /// Time to send the pending presence summary of a large room (sent by the room to itself).
    FlushPresence,
}

/// What a room starts with.
pub struct RoomArgs {
    pub name: String,
    /// Frames kept for late joiners and resumes.
    pub history_limit: usize,
    /// Up to this many members, every join/leave/rename is announced with the full list.
    pub presence_limit: usize,
}

/// The room's behaviour; its data lives in [`RoomState`].
pub struct RoomActor;

/// The room's data, owned by the actor task.
pub struct RoomState {
    name: String,
    last_seq: u64,
    /// Ordered by id, so presence lists are stable.
    members: BTreeMap<u64, Member>,
    /// The most recent numbered frames, oldest first, already encoded.
    history: VecDeque<(u64, Utf8Bytes)>,
    history_limit: usize,
    presence_limit: usize,
    /// A presence summary is scheduled (large rooms only).
    summary_pending: bool,
    myself: ActorRef<RoomMsg>,
}

impl Actor for RoomActor {
    type Msg = RoomMsg;
    type State = RoomState;
    type Arguments = RoomArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RoomArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RoomState {
            name: args.name,
            last_seq: 0,
            members: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: args.history_limit.max(1),
            presence_limit: args.presence_limit,
            summary_pending: false,
            myself,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RoomMsg::Join { member, since } => state.join(member, since),
            RoomMsg::Leave { id } => state.leave(id),
            RoomMsg::Renamed { id, name } => state.rename(id, name),
            RoomMsg::Post(post) => {
                state.publish(post);
            }
            RoomMsg::PostAndReply(post, reply) => {
                let receipt = state.publish(post);
                // The caller may have timed out and gone; that is its business.
                let _ = reply.send(receipt);
            }
            RoomMsg::FlushPresence => {
                state.summary_pending = false;
                state.fan_out(&state.presence_frame());
            }
            RoomMsg::Stats(reply) => {
                let _ = reply.send(RoomStats {
                    name: state.name.clone(),
                    members: state.members.len(),
                    last_seq: state.last_seq,
                    history: state.history.len(),
                });
            }
        }
        Ok(())
    }
}

impl RoomState {
    fn join(&mut self, member: Member, since: Option<u64>) {
        let is_new = !self.members.contains_key(&member.id);
        let (backlog, gap) = self.backlog(since);
        let member_count = self.members.len() + usize::from(is_new);
        let joined = ServerMessage::Joined {
            room: self.name.clone(),
            last_seq: self.last_seq,
            members: self.member_views(Some(&member)),
            member_count,
            resumed_from: since,
            gap,
        };
        // The joiner's own frames first: `joined`, then the backlog, in order.
        member.outbox.deliver_text(encode(&joined));
        for frame in backlog {
            member.outbox.deliver_text(frame);
        }
        let (id, name) = (member.id, member.name.clone());
        self.members.insert(id, member);
        if is_new {
            self.announce(NoticeEvent::Joined, id, name, None);
        }
    }

    /// The frames a joiner should receive, and whether some it asked for are gone.
    fn backlog(&self, since: Option<u64>) -> (Vec<Utf8Bytes>, bool) {
        match since {
            None => {
                let skip = self.history.len().saturating_sub(JOIN_BACKLOG);
                (
                    self.history
                        .iter()
                        .skip(skip)
                        .map(|(_, f)| f.clone())
                        .collect(),
                    false,
                )
            }
            Some(since) => {
                let oldest_kept = self
                    .history
                    .front()
                    .map_or(self.last_seq + 1, |(seq, _)| *seq);
                // Missing frames are gone if they predate the history, or if the client has
                // seen numbers this room never issued (the server restarted).
                let gap = since + 1 < oldest_kept || since > self.last_seq;
                let frames = self
                    .history
                    .iter()
                    .filter(|(seq, _)| gap || *seq > since)
                    .map(|(_, frame)| frame.clone())
                    .collect();
                (frames, gap)
            }
        }
    }

    fn leave(&mut self, id: u64) {
        if let Some(member) = self.members.remove(&id) {
            self.announce(NoticeEvent::Left, id, member.name, None);
        }
    }

    fn rename(&mut self, id: u64, name: String) {
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        let old_name = std::mem::replace(&mut member.name, name.clone());
        self.announce(NoticeEvent::Renamed, id, name, Some(old_name));
    }

    /// Tells every member what happened and who is here now. Large rooms get a periodic
    /// summary instead (see [`PRESENCE_SUMMARY_INTERVAL`]).
    fn announce(&mut self, event: NoticeEvent, id: u64, name: String, old_name: Option<String>) {
        if self.members.len() > self.presence_limit {
            if !self.summary_pending {
                self.summary_pending = true;
                self.myself
                    .send_after(PRESENCE_SUMMARY_INTERVAL, || RoomMsg::FlushPresence);
            }
            return;
        }
        let notice = encode(&ServerMessage::Notice {
            room: self.name.clone(),
            event,
            id,
            name,
            old_name,
            ts: unix_millis(),
        });
        self.fan_out(&notice);
        self.fan_out(&self.presence_frame());
    }

    fn presence_frame(&self) -> Utf8Bytes {
        encode(&ServerMessage::Presence {
            room: self.name.clone(),
            members: self.member_views(None),
            member_count: self.members.len(),
        })
    }

    /// Members as clients see them, at most `presence_limit` of them (`extra` always included).
    fn member_views(&self, extra: Option<&Member>) -> Vec<MemberView> {
        let others = self
            .members
            .values()
            .filter(|member| extra.is_none_or(|extra| extra.id != member.id))
            .take(
                self.presence_limit
                    .saturating_sub(usize::from(extra.is_some())),
            );
        let mut views: Vec<MemberView> = others
            .chain(extra)
            .map(|member| MemberView {
                id: member.id,
                name: member.name.clone(),
            })
            .collect();
        views.sort_by_key(|view| view.id);
        views
    }

    /// Numbers the post, keeps it, encodes it once and queues it for every member.
    fn publish(&mut self, post: Post) -> PostReceipt {
        self.last_seq += 1;
        let seq = self.last_seq;
        let room = self.name.clone();
        let ts = unix_millis();
        let message = match post {
            Post::Chat {
                sender,
                sender_id,
                text,
            } => ServerMessage::Message {
                kind: MessageKind::Chat,
                room,
                seq,
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
                seq,
                title,
                text,
                level,
                ts,
            },
        };
        let frame = encode(&message);
        self.history.push_back((seq, frame.clone()));
        if self.history.len() > self.history_limit {
            self.history.pop_front();
        }
        let delivered_to = self.fan_out(&frame);
        PostReceipt { seq, delivered_to }
    }

    /// Queues `frame` for every member; returns how many accepted it.
    ///
    /// A member whose connection is closing stays listed until its `Leave` arrives (from its
    /// actor's `post_stop`, or from the supervisor if the actor failed), so that its departure
    /// is announced exactly once.
    fn fan_out(&self, frame: &Utf8Bytes) -> usize {
        self.members
            .values()
            .filter(|member| member.outbox.deliver_text(frame.clone()) == Delivery::Queued)
            .count()
    }
}

fn encode(message: &ServerMessage) -> Utf8Bytes {
    message.to_json().into()
}
