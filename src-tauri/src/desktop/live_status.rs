//! Keeps the window title and the tray's count in step with the server.
//!
//! The server exposes its open-socket count as an atomic gauge (`AppState::sockets`) and has no
//! change notifications, so this task samples it twice a second and touches the GUI only when
//! the number changed. Reading an atomic is nearly free; GUI updates are what cost, and those
//! happen only on change. GUI calls from this tokio task are safe: Tauri forwards them to the
//! main (GTK) thread.

use std::sync::Arc;
use std::time::Duration;

use tauri::{AppHandle, Manager};

use super::tray::{connections_label, ConnectionsItem};
use super::window::{title, MAIN_WINDOW};
use crate::server::AppState;

const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Runs until the app exits (the runtime is dropped with it).
pub fn spawn(app: AppHandle, state: Arc<AppState>, url: String) {
    tauri::async_runtime::spawn(async move {
        let mut shown = None;
        let mut ticker = tokio::time::interval(SAMPLE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            let now = state.sockets.get();
            if shown == Some(now) {
                continue;
            }
            shown = Some(now);
            if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                if let Err(error) = window.set_title(&title(&url, now)) {
                    tracing::debug!(%error, "could not set the window title");
                }
            }
            if let Some(item) = app.try_state::<ConnectionsItem>() {
                if let Err(error) = item.0.set_text(connections_label(now)) {
                    tracing::debug!(%error, "could not update the tray");
                }
            }
        }
    });
}
