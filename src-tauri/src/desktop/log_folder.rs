//! "Open log folder": the tray item that opens the directory of the log file (see `logging`) in
//! the desktop's file manager, through tauri-plugin-opener (`xdg-open` on Linux), so a user can
//! attach the log to a bug report without knowing where it lives.

use std::path::PathBuf;

use tauri::menu::MenuItem;
use tauri::{App, AppHandle, Manager, Wry};
use tauri_plugin_opener::OpenerExt;

/// The tray menu item's id.
pub const MENU_ID: &str = "open-log-folder";

/// The log file in use (`None`: none could be opened), as Tauri state.
pub struct LogFile(pub Option<PathBuf>);

/// The tray item; disabled when there is no log file.
pub fn menu_item(app: &App) -> tauri::Result<MenuItem<Wry>> {
    let enabled = app
        .try_state::<LogFile>()
        .is_some_and(|file| file.0.is_some());
    MenuItem::with_id(app, MENU_ID, "Open log folder", enabled, None::<&str>)
}

/// Handles a click on [`MENU_ID`]; false for any other item.
pub fn on_menu(app: &AppHandle, id: &str) -> bool {
    if id != MENU_ID {
        return false;
    }
    let folder = app.try_state::<LogFile>().and_then(|file| {
        file.0
            .as_ref()
            .and_then(|path| path.parent())
            .map(ToOwned::to_owned)
    });
    let Some(folder) = folder else {
        tracing::warn!("no log file, so no log folder to open");
        return true;
    };
    let shown = folder.display().to_string();
    match app.opener().open_path(&shown, None::<&str>) {
        Ok(()) => tracing::info!(folder = %shown, "opened the log folder"),
        Err(error) => tracing::warn!(%error, folder = %shown, "could not open the log folder"),
    }
    true
}
