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
use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindow, WebviewWindowBuilder};

use crate::server::{RunningServer, SocketCounter};

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

/// What every (re)created main window is told: the page's `window.__TRW_CONFIG__`, and the
/// URL for its title. Kept as Tauri state, so that the tray's "Open window" can create the
/// window again after a `--minimized` start or if it was destroyed.
pub struct PageConfig {
    url: String,
    init_script: String,
    sockets: SocketCounter,
}

impl PageConfig {
    /// The page is told where its server is and which instance to expect.
    ///
    /// The page refuses any server whose `welcome` carries a different `instance`, so the window
    /// never talks to another program's server. `notice` (e.g. "port 8000 was taken …") is
    /// shown in the page's `#notice` banner.
    pub fn new(server: &RunningServer, notice: Option<&str>) -> Self {
        let url = server.base_url();
        let ws_url = format!("{}/ws", url.replacen("http", "ws", 1));
        // With token auth on the main listener, the page sends the token as a subprotocol entry
        // (WebSocket) and a Bearer header (HTTP): it is not served by the server, so no cookie.
        // After a rotation it asks the app for the new one (`share::access_token`).
        let page_config = json!({
            "wsUrl": ws_url,
            "httpBase": url,
            "instance": server.instance(),
            "notice": notice,
            "token": server.access_token(),
        });
        Self {
            url,
            init_script: format!("window.__TRW_CONFIG__ = Object.freeze({page_config});"),
            sockets: server.state().sockets.clone(),
        }
    }
}

/// Opens the main window with `config`.
pub fn open<R: Runtime, M: Manager<R>>(
    manager: &M,
    config: &PageConfig,
) -> tauri::Result<WebviewWindow<R>> {
    let (width, height) = DEFAULT_SIZE;
    let (min_width, min_height) = MIN_SIZE;
    WebviewWindowBuilder::new(manager, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
        .title(title(&config.url, config.sockets.get()))
        .icon(app_icon())?
        .inner_size(width, height)
        .min_inner_size(min_width, min_height)
        .center()
        .initialization_script(&config.init_script)
        .build()
}

/// Shows, un-minimizes and focuses the main window, creating it first if there is none (a
/// `--minimized` start, or a window that was destroyed). The tray's "Open window" and a second
/// launch (single-instance) both end here.
pub fn show_or_create<R: Runtime>(app: &AppHandle<R>) {
    let window = match app.get_webview_window(MAIN_WINDOW) {
        Some(window) => window,
        None => {
            let Some(config) = app.try_state::<PageConfig>() else {
                tracing::warn!("no page configuration: cannot open the window");
                return;
            };
            match open(app, &config) {
                Ok(window) => {
                    tracing::info!("window opened");
                    window
                }
                Err(error) => {
                    tracing::warn!(%error, "could not open the window");
                    return;
                }
            }
        }
    };
    for (what, result) in [
        ("show", window.show()),
        ("unminimize", window.unminimize()),
        ("focus", window.set_focus()),
    ] {
        if let Err(error) = result {
            tracing::warn!(%error, "could not {what} the window");
        }
    }
    tracing::info!("window shown");
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
