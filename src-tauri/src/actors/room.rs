//! A room actor: numbers messages and fans them out to its members.
//!
//! The room is the single writer of its sequence counter, which is what makes the numbering
//! gap-free and strictly increasing without any lock: the actor handles one message at a time.
//!
//! Fan-out is the hot path. The room encodes each message **once** into a shared, reference
//! counted [`Utf8Bytes`] and hands a clone (a pointer copy) to every member's [`Outbox`].
//! Delivery never waits: a member whose queue is full is closed as a slow consumer, and the
//! others are not held up.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::outbox::{Delivery, Outbox};
use crate::protocol::{MessageKind, ServerMessage};

/// The room every connection starts in.
pub const LOBBY: &str = "lobby";

/// A member as the room sees it: enough to address and label it.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub outbox: Outbox,
}

/// A message offered to the room.
#[derive(Debug, Clone)]
pub struct Post {
    pub kind: MessageKind,
    pub sender: String,
    pub sender_id: Option<u64>,
    pub text: String,
}

/// What the room did with a [`Post`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostReceipt {
    pub seq: u64,
    pub delivered_to: usize,
}

/// Messages a room understands.
pub enum RoomMsg {
    Join(Member),
    Leave {
        id: u64,
    },
    /// Post and do not wait (chat from a connection actor).
    Post(Post),
    /// Post and answer with the receipt (the HTTP `/broadcast` endpoint waits for it).
    PostAndReply(Post, RpcReplyPort<PostReceipt>),
}

/// The room's behaviour; its data lives in [`RoomState`].
pub struct RoomActor;

/// The room's data, owned by the actor task.
pub struct RoomState {
    name: String,
    last_seq: u64,
    members: HashMap<u64, Member>,
}

impl Actor for RoomActor {
    type Msg = RoomMsg;
    type State = RoomState;
    type Arguments = String;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        name: String,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RoomState {
            name,
            last_seq: 0,
            members: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RoomMsg::Join(member) => {
                state.members.insert(member.id, member);
            }
            RoomMsg::Leave { id } => {
                state.members.remove(&id);
            }
            RoomMsg::Post(post) => {
                state.publish(post);
            }
            RoomMsg::PostAndReply(post, reply) => {
                let receipt = state.publish(post);
                // The caller may have timed out and gone; that is its business.
                let _ = reply.send(receipt);
            }
        }
        Ok(())
    }
}

impl RoomState {
    /// Numbers the post, encodes it once and queues it for every member.
    fn publish(&mut self, post: Post) -> PostReceipt {
        self.last_seq += 1;
        let frame: Utf8Bytes = ServerMessage::Message {
            kind: post.kind,
            room: self.name.clone(),
            seq: self.last_seq,
            sender: post.sender,
            sender_id: post.sender_id,
            text: post.text,
            ts: unix_millis(),
        }
        .to_json()
        .into();

        let mut delivered_to = 0;
        // A member whose connection already closed is dropped here rather than waiting for
        // its `Leave`: a connection actor that panicked never sends one.
        self.members.retain(
            |_, member| match member.outbox.deliver_text(frame.clone()) {
                Delivery::Queued => {
                    delivered_to += 1;
                    true
                }
                Delivery::Overflowed | Delivery::Closed => false,
            },
        );
        PostReceipt {
            seq: self.last_seq,
            delivered_to,
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}
