//! The tray icon and its menu.
//!
//! On Linux the tray is an app indicator (libayatana-appindicator, exported over D-Bus). It
//! sends **no click events**: a click always opens the menu. So every action is a menu item:
//!
//! | item | does |
//! |---|---|
//! | `3 connections` (disabled) | live count, kept current by `live_status` |
//! | `http://127.0.0.1:8000` (disabled) | the URL actually in use (it may not be 8000) |
//! | Open window | shows, un-minimizes and focuses the window, creating it if there is none |
//! | Open in browser | the URL in the default browser (tauri-plugin-opener) |
//! | Copy URL | the URL to the clipboard (tauri-plugin-clipboard-manager) |
//! | Notifications (check) | desktop notifications on or off (see `notifications`) |
//! | Close to tray (check) | the close button hides the window (see `close_to_tray`) |
//! | Start at login (check) | the XDG autostart entry, with `--minimized` (see `autostart`) |
//! | Open log folder | the log file's directory in the file manager (see `log_folder`) |
//! | Share on this network… | see [`super::share`]: share on an address, copy the join link, stop, new token |
//! | Quit | `app.exit(0)`: the graceful shutdown (1001 to every client) |

use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{App, AppHandle, Manager, Wry};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;

use super::notifications::Notifications;
use super::share::{self, ShareMenu};
use super::window::{app_icon, show_or_create};
use super::{autostart, close_to_tray, log_folder};

const OPEN_WINDOW: &str = "open-window";
const OPEN_BROWSER: &str = "open-browser";
const COPY_URL: &str = "copy-url";
const NOTIFICATIONS: &str = "notifications";
const QUIT: &str = "quit";

/// The menu item whose text `live_status` rewrites; kept as Tauri state.
pub struct ConnectionsItem(pub MenuItem<Wry>);

/// The URL the server actually listens on, as Tauri state (the tray actions need it).
pub struct ServerUrl(pub String);

/// Builds the tray icon and its menu. `url` is the server's real address.
pub fn install(app: &App, url: &str, connections: usize, share: ShareMenu) -> tauri::Result<()> {
    let count = MenuItem::with_id(
        app,
        "connections",
        connections_label(connections),
        false,
        None::<&str>,
    )?;
    let address = MenuItem::with_id(app, "url", url, false, None::<&str>)?;
    let notifications_on = app.state::<Notifications>().enabled();
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(
        app,
        &[
            &count,
            &address,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, OPEN_WINDOW, "Open window", true, None::<&str>)?,
            &MenuItem::with_id(app, OPEN_BROWSER, "Open in browser", true, None::<&str>)?,
            &MenuItem::with_id(app, COPY_URL, "Copy URL", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &CheckMenuItem::with_id(
                app,
                NOTIFICATIONS,
                "Notifications",
                true,
                notifications_on,
                None::<&str>,
            )?,
            &close_to_tray::menu_item(app)?,
            &autostart::menu_item(app)?,
            &log_folder::menu_item(app)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?,
        ],
    )?;
    // The share items, before Quit.
    let quit_position = menu.items()?.len().saturating_sub(1);
    let share_items = share.items();
    let separator: &dyn IsMenuItem<Wry> = &separator;
    for (offset, item) in share_items.into_iter().chain([separator]).enumerate() {
        menu.insert(item, quit_position + offset)?;
    }
    app.manage(share);
    ShareMenu::follow(app.handle().clone());
    TrayIconBuilder::with_id("main")
        .icon(app_icon())
        .tooltip(format!("tauri-ractor-websocket — {url}"))
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event)
        .build(app)?;
    app.manage(ConnectionsItem(count));
    app.manage(ServerUrl(url.to_owned()));
    Ok(())
}

/// `1 connection`, `3 connections`.
pub fn connections_label(connections: usize) -> String {
    match connections {
        1 => "1 connection".to_owned(),
        n => format!("{n} connections"),
    }
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let url = app.state::<ServerUrl>().0.clone();
    match event.id().as_ref() {
        OPEN_WINDOW => show_or_create(app),
        OPEN_BROWSER => {
            if let Err(error) = app.opener().open_url(&url, None::<&str>) {
                tracing::warn!(%error, %url, "could not open the browser");
            }
        }
        COPY_URL => match app.clipboard().write_text(url.clone()) {
            Ok(()) => tracing::info!(%url, "URL copied to the clipboard"),
            Err(error) => tracing::warn!(%error, "could not copy the URL"),
        },
        NOTIFICATIONS => {
            let settings = app.state::<Notifications>();
            settings.set_enabled(!settings.enabled());
        }
        QUIT => {
            tracing::info!("quit from the tray menu");
            app.exit(0);
        }
        other => {
            let _handled = close_to_tray::on_menu(app, other)
                || autostart::on_menu(app, other)
                || log_folder::on_menu(app, other)
                || share::on_menu_event(app, other);
        }
    }
}
