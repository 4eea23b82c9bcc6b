//! A post on its way into a room, and the promise that goes with it: **acknowledged means
//! stored**.
//!
//! A [`PendingPost`] carries the post and whoever waits for its outcome:
//!
//! - a chat from a connection carries the sender's outbox and the **inbound permit** of the frame
//!   it came in: the client's reader stays throttled until the room has stored and fanned out the
//!   post (not merely received it), so no queue fed by a client grows without bound;
//! - an HTTP post (`/broadcast`, `/api/notify`) carries the reply port its handler awaits.
//!
//! The acknowledgement of a chat is its echo (the sender's own copy, from the room's fan-out after
//! the post is stored); of an HTTP post, the receipt with its seq.
//!
//! A post may also be **refused**: its append failed, or the room died before it was stored (a
//! crash drops the room's state, and the post with it). Refusal is not left to every code path to
//! remember: dropping a `PendingPost` that was neither acknowledged nor stored refuses it (an
//! `error` frame `unavailable` to the chat sender, an error reply to HTTP). A post known to be
//! stored is never refused, because it *will* be delivered (by the restarted room, from the log).

use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use ractor::RpcReplyPort;
use tokio::sync::OwnedSemaphorePermit;

use crate::actors::outbox::Outbox;
use crate::protocol::{ErrorCode, Level, NotificationSource, ServerMessage};

/// A numbered frame offered to a room.
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

/// What the room did with a stored post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostReceipt {
    pub seq: u64,
    /// Members whose queue accepted it.
    pub delivered_to: usize,
}

/// Why a post was not stored. It was delivered to nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRefused {
    pub reason: String,
}

/// How the HTTP side waits for a post.
pub type PostReply = RpcReplyPort<Result<PostReceipt, PostRefused>>;

enum Waiter {
    Chat {
        outbox: Outbox,
        _permit: Option<OwnedSemaphorePermit>,
    },
    Http(Option<PostReply>),
}

/// A post plus whoever waits for it; see the module docs.
pub struct PendingPost {
    pub post: Post,
    room: String,
    waiter: Waiter,
    stored: bool,
    /// When the post was made (for `trw_post_delivery_seconds`).
    pub posted: Instant,
}

impl PendingPost {
    /// A chat from a connection, holding the permit of the frame it came in.
    pub fn chat(
        room: String,
        post: Post,
        outbox: Outbox,
        permit: Option<OwnedSemaphorePermit>,
    ) -> PendingPost {
        PendingPost {
            post,
            room,
            waiter: Waiter::Chat {
                outbox,
                _permit: permit,
            },
            stored: false,
            posted: Instant::now(),
        }
    }

    /// A post from an HTTP handler that awaits `reply`.
    pub fn http(room: String, post: Post, reply: PostReply) -> PendingPost {
        PendingPost {
            post,
            room,
            waiter: Waiter::Http(Some(reply)),
            stored: false,
            posted: Instant::now(),
        }
    }

    /// The post is in the log: from now on it will be delivered, whatever happens to this room
    /// actor, so dropping it no longer refuses it.
    pub fn mark_stored(&mut self) {
        self.stored = true;
    }

    /// Stored and fanned out: answers the HTTP caller (a chat's answer is its echo).
    pub fn acknowledge(mut self, receipt: PostReceipt) {
        self.stored = true;
        if let Waiter::Http(reply) = &mut self.waiter {
            if let Some(reply) = reply.take() {
                let _ = reply.send(Ok(receipt));
            }
        }
    }

    /// Not stored: tells the sender so, with `reason`.
    pub fn refuse(mut self, reason: &str) {
        self.refuse_now(reason);
    }

    fn refuse_now(&mut self, reason: &str) {
        self.stored = true; // answered: nothing more to do on drop
        match &mut self.waiter {
            Waiter::Chat { outbox, .. } => {
                let error = ServerMessage::error(
                    ErrorCode::Unavailable,
                    format!(
                        "your message to #{} was not sent: {reason}; send it again",
                        self.room
                    ),
                );
                let frame: Utf8Bytes = error.to_json().into();
                outbox.deliver_text(frame);
            }
            Waiter::Http(reply) => {
                if let Some(reply) = reply.take() {
                    let _ = reply.send(Err(PostRefused {
                        reason: reason.to_owned(),
                    }));
                }
            }
        }
    }
}

impl Drop for PendingPost {
    fn drop(&mut self) {
        if !self.stored {
            self.refuse_now("the room restarted before it could store it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::outbox::OutboxLimits;
    use axum::extract::ws::Message;

    fn chat_post() -> Post {
        Post::Chat {
            sender: "a".into(),
            sender_id: 1,
            text: "hi".into(),
        }
    }

    fn limits() -> OutboxLimits {
        OutboxLimits {
            frames: 8,
            bytes: 4096,
        }
    }

    fn text(frame: Option<Message>) -> String {
        match frame {
            Some(Message::Text(text)) => text.as_str().to_owned(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn dropping_an_unstored_chat_tells_the_sender() {
        let (outbox, mut socket) = Outbox::for_test(limits(), true);
        drop(PendingPost::chat("dev".into(), chat_post(), outbox, None));
        let error = text(socket.recv().await);
        assert!(error.contains(r#""code":"unavailable""#), "{error}");
        assert!(error.contains("#dev"), "{error}");
    }

    #[tokio::test]
    async fn a_stored_chat_is_never_refused() {
        let (outbox, mut socket) = Outbox::for_test(limits(), true);
        let mut post = PendingPost::chat("dev".into(), chat_post(), outbox.clone(), None);
        post.mark_stored();
        drop(post);
        outbox.deliver_text("marker".into());
        assert_eq!(text(socket.recv().await), "marker");
    }

    #[tokio::test]
    async fn http_posts_get_their_receipt_or_refusal() {
        let (reply, answer) = tokio::sync::oneshot::channel();
        PendingPost::http("lobby".into(), chat_post(), reply.into()).acknowledge(PostReceipt {
            seq: 4,
            delivered_to: 2,
        });
        assert_eq!(
            answer.await.expect("answered"),
            Ok(PostReceipt {
                seq: 4,
                delivered_to: 2
            })
        );

        let (reply, answer) = tokio::sync::oneshot::channel();
        drop(PendingPost::http("lobby".into(), chat_post(), reply.into()));
        assert!(answer.await.expect("answered").is_err());
    }
}
