//! The actor side: a supervisor, one actor per connection, and the rooms.
//!
//! ```text
//!                  ConnectionSupervisor  (never stops because a child did)
//!                 /        |          \
//!        RoomActor   ConnectionActor  ConnectionActor ...   (all linked children)
//!        "lobby"          │                 │
//!                       Outbox            Outbox    (bounded queue + writer task each)
//! ```

pub mod connection;
pub mod lifecycle_log;
pub mod outbox;
pub mod rate_limit;
pub mod room;
pub mod supervisor;
