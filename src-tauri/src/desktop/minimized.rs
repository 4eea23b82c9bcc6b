//! `--minimized` (`TRW_MINIMIZED`): start in the tray only, the server running and no window
//! mapped. "Start at login" launches the app this way (see `autostart`).
//!
//! At login the panel may come up after the app, so the app waits up to [`WAIT_FOR_TRAY`] for a
//! tray host ([`super::tray_host`]). If none appears, it opens the window after all: an app
//! started with no way to reach it would be an invisible process.

use std::time::Duration;

use tauri::AppHandle;

use super::tray_host;
use super::window::show_or_create;

/// How long a `--minimized` start waits for a tray host before opening the window.
pub const WAIT_FOR_TRAY: Duration = Duration::from_secs(10);

const POLL_EVERY: Duration = Duration::from_millis(500);

/// Starts without a window; watches (on a blocking thread) for a tray to live in.
pub fn start(app: &AppHandle) {
    tracing::info!("started minimized: tray only, no window");
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + WAIT_FOR_TRAY;
        loop {
            if app.tray_by_id("main").is_some() && tray_host::available() {
                tracing::info!("a tray host shows the icon: staying in the tray");
                return;
            }
            if std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL_EVERY);
        }
        tracing::warn!(
            "no tray host after {} s: opening the window instead of staying invisible",
            WAIT_FOR_TRAY.as_secs()
        );
        let handle = app.clone();
        if let Err(error) = app.run_on_main_thread(move || show_or_create(&handle)) {
            tracing::warn!(%error, "could not open the window");
        }
    });
}
