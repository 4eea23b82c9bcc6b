//! `GET /api/about`: what this server is and where it keeps things, for the page's About panel
//! and for bug reports ("Copy diagnostics").
//!
//! Everything here is known at start, except the uptime and the share listener: the handler reads
//! the state and the share's short-held lock, and asks no actor, so it answers even when the
//! actors are busy.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::state::AppState;

/// The answer. Keys are snake_case; `null` where a thing does not exist (no data directory, no
/// log file, an OS that does not say its open-file limit).
#[derive(Debug, Serialize)]
pub struct About {
    version: &'static str,
    /// Random per process, as in `/health` and `welcome`.
    instance: String,
    /// Where the app keeps its data (`--data-dir`).
    data_dir: Option<String>,
    /// The log file being written (`--log-file`, or the desktop app's default one).
    log_file: Option<String>,
    /// The addresses the server accepts connections on, as `ip:port`: the main listener's, then
    /// the "Share on this network" listener's while a share is open.
    listening: Vec<String>,
    uptime_ms: u64,
    /// The soft open-file limit in force (raised to the hard limit at start).
    open_file_limit: Option<u64>,
    /// Most WebSockets open at once; more get HTTP 503.
    connection_cap: usize,
}

pub async fn about(State(app): State<Arc<AppState>>) -> Json<About> {
    let mut listening: Vec<String> = app.listening.iter().map(ToString::to_string).collect();
    if let Some(share) = super::access::share::status(&app).await {
        listening.push(std::net::SocketAddr::new(share.address, share.port).to_string());
    }
    let path =
        |path: &Option<std::path::PathBuf>| path.as_ref().map(|path| path.display().to_string());
    Json(About {
        version: crate::VERSION,
        instance: app.instance.clone(),
        data_dir: path(&app.config.data_dir),
        log_file: path(&app.config.log_file),
        listening,
        uptime_ms: u64::try_from(app.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        open_file_limit: app.open_file_limit,
        connection_cap: app.max_connections,
    })
}
