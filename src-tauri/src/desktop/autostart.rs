//! "Start at login": a tray check item backed by tauri-plugin-autostart (the Tauri project's
//! plugin, over the `auto-launch` crate).
//!
//! On Linux turning it on writes the XDG autostart entry
//! `~/.config/autostart/tauri-ractor-websocket.desktop`, whose `Exec=` line runs this executable
//! with `--minimized` (tray only, server running; see `minimized`); turning it off removes the
//! file. (macOS: a LaunchAgent; Windows: the `Run` registry key.) The check mark is read back
//! from the system after each click, so it shows what is really set, not what was asked.

use tauri::menu::CheckMenuItem;
use tauri::plugin::TauriPlugin;
use tauri::{App, AppHandle, Manager, Wry};
use tauri_plugin_autostart::ManagerExt;

/// The tray menu item's id.
pub const MENU_ID: &str = "start-at-login";

/// The flag the login launch passes (see `cli::Cli::minimized`).
pub const LOGIN_ARGS: [&str; 1] = ["--minimized"];

/// The check item, managed as Tauri state so that a click can set its mark to the outcome.
pub struct StartAtLoginItem(CheckMenuItem<Wry>);

/// The plugin, configured to start the app minimized.
pub fn plugin() -> TauriPlugin<Wry> {
    tauri_plugin_autostart::Builder::new()
        .args(LOGIN_ARGS)
        .build()
}

/// The tray's check item, showing whether the app is registered now.
pub fn menu_item(app: &App) -> tauri::Result<CheckMenuItem<Wry>> {
    let enabled = app.autolaunch().is_enabled().unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot tell whether the app starts at login");
        false
    });
    let item = CheckMenuItem::with_id(app, MENU_ID, "Start at login", true, enabled, None::<&str>)?;
    app.manage(StartAtLoginItem(item.clone()));
    Ok(item)
}

/// Handles a click on [`MENU_ID`]; false for any other item.
pub fn on_menu(app: &AppHandle, id: &str) -> bool {
    if id != MENU_ID {
        return false;
    }
    let autostart = app.autolaunch();
    let was = autostart.is_enabled().unwrap_or(false);
    let outcome = if was {
        autostart.disable()
    } else {
        autostart.enable()
    };
    match outcome {
        Ok(()) => tracing::info!(enabled = !was, "start at login"),
        Err(error) => tracing::warn!(%error, "could not change the start-at-login setting"),
    }
    let now = autostart.is_enabled().unwrap_or(false);
    if let Some(item) = app.try_state::<StartAtLoginItem>() {
        if let Err(error) = item.0.set_checked(now) {
            tracing::debug!(%error, "could not update the tray check mark");
        }
    }
    true
}
