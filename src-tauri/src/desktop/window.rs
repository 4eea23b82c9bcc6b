//! The main window: size, icon, title, and the page's configuration.
//!
//! - **Size and position** start at [`DEFAULT_SIZE`], centred. tauri-plugin-window-state saves
//!   them when the app exits and puts the window back there on the next start.
//! - **The icon** is the project's own (`src-tauri/icons/`), embedded at compile time with
//!   `tauri::include_image!`, so the window and the tray never show Tauri's default logo.
//! - **The title** carries the URL in use and the live connection count (see
//!   [`title`] and `live_status`): X11 window titles do not follow `document.title`.

use serde_json::json;
use tauri::image::Image;
use tauri::{App, WebviewUrl, WebviewWindow, WebviewWindowBuilder};

use crate::server::RunningServer;

/// The label of the one window; the capability file and the window-state plugin refer to it.
pub const MAIN_WINDOW: &str = "main";

/// A size that fits the three-column layout on a 1280×800 screen.
pub const DEFAULT_SIZE: (f64, f64) = (1100.0, 720.0);

/// Below this the layout stops making sense.
pub const MIN_SIZE: (f64, f64) = (640.0, 480.0);

/// The project's icon, 128×128 RGBA, decoded from PNG at compile time.
pub fn app_icon() -> Image<'static> {
    tauri::include_image!("src-tauri/icons/128x128.png")
}

/// `tauri-ractor-websocket — http://127.0.0.1:8000 — 2 connections`
pub fn title(url: &str, connections: usize) -> String {
    let noun = if connections == 1 {
        "connection"
    } else {
        "connections"
    };
    format!("tauri-ractor-websocket — {url} — {connections} {noun}")
}

/// Opens the main window, its page told where its server is (`window.__TRW_CONFIG__`).
///
/// The page refuses any server whose `welcome` carries a different `instance`, so the window
/// never talks to another program's server. `notice` (e.g. "port 8000 was taken …") is shown
/// in the page's `#notice` banner.
pub fn open(
    app: &App,
    server: &RunningServer,
    notice: Option<&str>,
) -> tauri::Result<WebviewWindow> {
    let address = server.local_addr();
    let url = format!("http://{address}");
    let page_config = json!({
        "wsUrl": format!("ws://{address}/ws"),
        "httpBase": url,
        "instance": server.instance(),
        "notice": notice,
    });
    let init_script = format!("window.__TRW_CONFIG__ = Object.freeze({page_config});");
    let (width, height) = DEFAULT_SIZE;
    let (min_width, min_height) = MIN_SIZE;
    WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
        .title(title(&url, server.state().sockets.get()))
        .icon(app_icon())?
        .inner_size(width, height)
        .min_inner_size(min_width, min_height)
        .center()
        .initialization_script(init_script)
        .build()
}

#[cfg(test)]
mod tests {
    use super::title;

    #[test]
    fn the_title_names_the_url_and_the_count() {
        assert_eq!(
            title("http://127.0.0.1:8000", 1),
            "tauri-ractor-websocket — http://127.0.0.1:8000 — 1 connection"
        );
        assert!(title("http://127.0.0.1:8001", 0).ends_with("— 0 connections"));
    }
}
