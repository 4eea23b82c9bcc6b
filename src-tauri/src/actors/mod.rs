//! The actor side: a supervisor, a directory, one actor per connection, and the rooms.
//!
//! ```text
//!                      ConnectionSupervisor   lifecycles only: spawns, restarts rooms,
//!                 /        |          |    \  never stops because a child did
//!        Directory    RoomActor   ConnectionActor  ConnectionActor ...  (all linked children)
//!   names, sessions,  "lobby"          │                 │
//!   rooms by name,      │            Outbox            Outbox    (bounded queue + writer task)
//!   memberships       RoomLog  (owned by the store, outlives the room actor)
//! ```
//!
//! Who talks to whom on the hot path: a connection posts straight into its room (address cached),
//! the room fans out straight into outboxes. The directory is asked only for rare things (joins,
//! renames, a DM's recipient, a room's new address after a restart) and never waits on anyone.

pub mod cluster_calls;
pub mod connection;
pub mod directory;
pub mod lifecycle_log;
pub mod outbox;
pub mod rate_limit;
pub mod room;
pub mod room_list;
pub mod supervisor;
