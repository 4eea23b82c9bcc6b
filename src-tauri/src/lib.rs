//! # tauri-ractor-websocket
//!
//! A desktop app with a built-in WebSocket server, and a reference for wiring an async web
//! server (axum on tokio) to an actor system (ractor).
//!
//! The crate has two layers, split by the `desktop` cargo feature:
//!
//! - **The core**, always compiled: [`protocol`] (the wire format), [`room_log`] (each room's
//!   numbered history, behind a trait), [`actors`] (a supervisor, a directory, one actor per
//!   connection, rooms), [`server`] (axum routes and graceful shutdown),
//!   [`headless`] (run the server alone). It has no GUI dependency at all:
//!   `cargo test --no-default-features` builds and tests it without Tauri.
//! - **The desktop shell** (`desktop` feature, on by default): a Tauri window that starts the
//!   same server on a background task and points its page at it.
//!
//! ## Layers: dependencies point one way
//!
//! ```text
//! desktop → cli, headless → server → actors → config, metrics, room_log, paths, … → protocol
//! ```
//!
//! A module may use the layers below it, never one above or beside it:
//!
//! - [`protocol`] uses nothing of this crate. What every layer shares about the wire lives
//!   here: [`protocol::LOBBY`], [`protocol::unix_millis`], the close and error codes.
//! - The small support modules ([`config`], [`metrics`], [`paths`], [`os_limits`],
//!   [`logging`], [`shutdown_signal`]), the room log ([`room_log`]) and the cluster's membership
//!   ([`cluster`]) use only `protocol` (and `config`).
//! - [`actors`] never uses [`server`]: the actors do not know they are behind HTTP.
//! - [`server`] uses the actors; inside it, the request guard takes only its
//!   [`server::RequestPolicy`], not the server state.
//! - Nothing in the core (everything but `desktop`) uses `desktop` or a Tauri crate.
//!
//! `tests/layering.rs` reads the source tree and fails on any path that breaks this
//! (`use crate::…`, `crate::…` in code and macros, `super::` climbing out of a module). A new
//! top-level module needs a place in its layer table.
//!
//! Start reading at [`server::start`], then [`actors::connection`].

pub mod actors;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod headless;
pub mod logging;
pub mod metrics;
pub mod os_limits;
pub mod paths;
pub mod protocol;
pub mod room_log;
pub mod server;
pub mod shutdown_signal;

#[cfg(feature = "desktop")]
pub mod desktop;

/// Sent in `welcome` frames and `/health`, so clients can tell this server from another program.
pub const SERVER_NAME: &str = "tauri-ractor-websocket";

/// This build's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
