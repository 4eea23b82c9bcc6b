//! Close to tray: the window's close button hides the window, and the server goes on serving
//! every browser tab and tool, as Docker Desktop, Slack or Discord do.
//!
//! The rules:
//!
//! - **A setting, on by default**: the tray's "Close to tray" check item. Turning it off writes
//!   an empty marker file `close-to-tray-off` in the app's config directory (the same scheme as
//!   the notification setting), so the choice survives restarts.
//! - **Only with a tray to come back from.** At each close request the app asks the session bus
//!   whether a StatusNotifier host runs ([`super::tray_host`]) and whether its own tray icon
//!   exists. If not, closing quits as before, so the app never becomes an invisible process.
//! - **Hide, not destroy.** The close request is refused and the window hidden: its page stays
//!   connected, and "Open window" shows it again at once ([`super::window::show_or_create`],
//!   which also creates it again when it is gone).
//! - **Quit stays Quit.** The tray's Quit (and SIGINT/SIGTERM) exits with the graceful shutdown,
//!   1001 to every client. [`keeps_running`] refuses only the implicit exit Tauri requests when
//!   the last window is gone.
//! - **Said once.** The first time the window is hidden in a run, a native notification tells
//!   the user the app is still running in the tray. It is shown whatever the "Notifications"
//!   setting (that one is about room messages): without it, a closed window would look like a
//!   quit app that still holds its port.

use std::sync::atomic::{AtomicBool, Ordering};

use tauri::menu::CheckMenuItem;
use tauri::{App, AppHandle, Manager, Runtime, Window, WindowEvent, Wry};
use tauri_plugin_notification::NotificationExt;

use super::saved_switch::SavedSwitch;
use super::tray_host;
use super::window::MAIN_WINDOW;

/// The tray menu item's id.
pub const MENU_ID: &str = "close-to-tray";

/// The tray icon's id (see `tray::install`): no icon, no way back, so no hiding.
const TRAY_ID: &str = "main";

/// The user's choice, and whether this run has told them yet; managed as Tauri state.
pub struct CloseToTray {
    setting: SavedSwitch,
    told: AtomicBool,
}

impl CloseToTray {
    /// Reads the saved choice (on unless the marker file exists).
    pub fn load<R: Runtime>(app: &AppHandle<R>) -> Self {
        Self {
            setting: SavedSwitch::load(app, "close-to-tray-off", "close to tray"),
            told: AtomicBool::new(false),
        }
    }

    pub fn enabled(&self) -> bool {
        self.setting.enabled()
    }

    /// Turns the behaviour on or off and remembers the choice.
    pub fn set_enabled(&self, enabled: bool) {
        self.setting.set_enabled(enabled);
    }
}

/// The tray's check item, showing the saved choice.
pub fn menu_item(app: &App) -> tauri::Result<CheckMenuItem<Wry>> {
    let enabled = app.state::<CloseToTray>().enabled();
    CheckMenuItem::with_id(app, MENU_ID, "Close to tray", true, enabled, None::<&str>)
}

/// Handles a click on [`MENU_ID`]; false for any other item.
pub fn on_menu(app: &AppHandle, id: &str) -> bool {
    if id != MENU_ID {
        return false;
    }
    let setting = app.state::<CloseToTray>();
    setting.set_enabled(!setting.enabled());
    true
}

/// Whether closing the window should hide it: the setting is on, this app has a tray icon, and
/// a tray host shows it. `Err` says why not. Blocking (a D-Bus probe, bounded); called on a
/// close request.
fn hide_instead_of_quit<R: Runtime>(app: &AppHandle<R>) -> Result<(), &'static str> {
    let setting = app
        .try_state::<CloseToTray>()
        .ok_or("the app is not set up yet")?;
    if !setting.enabled() {
        return Err("close-to-tray is off");
    }
    if app.tray_by_id(TRAY_ID).is_none() {
        return Err("the app has no tray icon");
    }
    if !tray_host::available() {
        return Err("no tray host runs (no StatusNotifier watcher with a host)");
    }
    Ok(())
}

/// Window event hook (`Builder::on_window_event`): a close request on the main window hides it
/// when [`hide_instead_of_quit`] says so; otherwise the window closes and the app quits.
pub fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api, .. } = event else {
        return;
    };
    if window.label() != MAIN_WINDOW {
        return;
    }
    let app = window.app_handle();
    if let Err(why) = hide_instead_of_quit(app) {
        tracing::info!("window closed and {why}: quitting");
        return;
    }
    api.prevent_close();
    if let Err(error) = window.hide() {
        tracing::warn!(%error, "could not hide the window");
        return;
    }
    tracing::info!("window hidden: still running in the tray");
    let first = app
        .try_state::<CloseToTray>()
        .is_some_and(|setting| !setting.told.swap(true, Ordering::Relaxed));
    if first {
        tell_still_running(app);
    }
}

/// Whether an exit Tauri requests by itself (`code` `None`: the last window is gone) should be
/// refused, so that the server keeps running in the tray. Explicit exits (Quit, signals, a
/// failed server) have a code and always go through.
pub fn keeps_running<R: Runtime>(app: &AppHandle<R>, code: Option<i32>) -> bool {
    let keep = code.is_none() && hide_instead_of_quit(app).is_ok();
    if keep {
        tracing::info!("the window is gone: still running in the tray");
    }
    keep
}

fn tell_still_running<R: Runtime>(app: &AppHandle<R>) {
    let shown = app
        .notification()
        .builder()
        .title("tauri-ractor-websocket is still running")
        .body("The server keeps serving your tabs and tools. Open the window or quit from the tray icon.")
        .show();
    match shown {
        Ok(()) => tracing::info!("told the user the app is still running in the tray"),
        Err(error) => tracing::warn!(%error, "could not show the still-running notification"),
    }
}
