//! "Share on this network" and the access token, in the tray menu.
//!
//! | item | does |
//! |---|---|
//! | `Not shared on the network` / `Shared at https://192.168.1.20:8000` (disabled) | what is shared |
//! | `Share on 192.168.1.20 (wlan0)` (one per address) | starts sharing there (token auth on, TLS self-signed); moves an existing share |
//! | Copy join link | the join URL, with the token, to the clipboard |
//! | Stop sharing | closes that listener and every connection that came through it |
//! | New access token | rotates the token: connections that used the old one get 4003 |
//!
//! The work itself is the server's ([`crate::server::access::share`]); the page's "Share"
//! panel does the same through `/api/share`. Menu actions run on Tauri's async runtime; the
//! labels follow the share's changes from either side ([`ShareMenu::follow`]; Tauri forwards
//! GUI calls to the main thread).

use std::net::IpAddr;
use std::sync::Arc;

use tauri::menu::{IsMenuItem, MenuItem};
use tauri::{App, AppHandle, Manager, State, Wry};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::config::AuthMode;
use crate::server::access::share::{self, ShareRequest};
use crate::server::AppState;

/// The server's state, for the `access_token` command.
pub struct ServerAccess(pub Arc<AppState>);

/// The window's `access_token` command: the current token when the main listener wants one.
///
/// The window gets the token in `__TRW_CONFIG__` at start; after a rotation its socket is
/// closed with 4003 and the page asks here for the new one, then reconnects by itself (the app
/// handing over its own new token is not the "someone else's token" case 4003 guards).
#[tauri::command]
pub fn access_token(server: State<'_, ServerAccess>) -> Option<String> {
    let app = &server.0;
    (app.config.access.auth_mode(app.config.host) == AuthMode::Token)
        .then(|| app.access.tokens.token().ok())
        .flatten()
}

const SHARE_ON: &str = "share-on:";
const COPY_JOIN: &str = "share-copy-join-link";
const STOP_SHARING: &str = "share-stop";
const ROTATE_TOKEN: &str = "rotate-token";

/// The share items of the tray menu, kept as Tauri state to update their labels.
pub struct ShareMenu {
    status: MenuItem<Wry>,
    addresses: Vec<MenuItem<Wry>>,
    copy: MenuItem<Wry>,
    stop: MenuItem<Wry>,
    rotate: MenuItem<Wry>,
    server: Arc<AppState>,
}

impl ShareMenu {
    pub fn new(app: &App, server: Arc<AppState>) -> tauri::Result<Self> {
        let offered = share::candidates(&server.config.access.share_addresses);
        let addresses = offered
            .iter()
            .map(|candidate| {
                MenuItem::with_id(
                    app,
                    format!("{SHARE_ON}{}", candidate.address),
                    format!("Share on {} ({})", candidate.address, candidate.interface),
                    true,
                    None::<&str>,
                )
            })
            .collect::<tauri::Result<Vec<_>>>()?;
        Ok(Self {
            status: MenuItem::with_id(
                app,
                "share-status",
                "Not shared on the network",
                false,
                None::<&str>,
            )?,
            addresses,
            copy: MenuItem::with_id(app, COPY_JOIN, "Copy join link", false, None::<&str>)?,
            stop: MenuItem::with_id(app, STOP_SHARING, "Stop sharing", false, None::<&str>)?,
            rotate: MenuItem::with_id(app, ROTATE_TOKEN, "New access token", true, None::<&str>)?,
            server,
        })
    }

    /// The items, in menu order.
    pub fn items(&self) -> Vec<&dyn IsMenuItem<Wry>> {
        let mut items: Vec<&dyn IsMenuItem<Wry>> = vec![&self.status];
        items.extend(
            self.addresses
                .iter()
                .map(|item| item as &dyn IsMenuItem<Wry>),
        );
        items.push(&self.copy);
        items.push(&self.stop);
        items.push(&self.rotate);
        items
    }

    /// Keeps the share items in step with the share, whoever starts or stops it (these items
    /// or the page's Share panel). Runs until the app exits.
    pub fn follow(app: AppHandle) {
        let Some(menu) = app.try_state::<ShareMenu>() else {
            return;
        };
        let mut changes = menu.server.access.share.subscribe();
        tauri::async_runtime::spawn(async move {
            while changes.changed().await.is_ok() {
                let shared_at = changes.borrow_and_update().clone();
                if let Some(menu) = app.try_state::<ShareMenu>() {
                    menu.show(shared_at.as_deref());
                }
            }
        });
    }

    fn show(&self, shared_at: Option<&str>) {
        let text = match shared_at {
            Some(url) => format!("Shared at {url}"),
            None => "Not shared on the network".to_owned(),
        };
        let results = [
            self.status.set_text(text),
            self.copy.set_enabled(shared_at.is_some()),
            self.stop.set_enabled(shared_at.is_some()),
        ];
        for error in results.into_iter().filter_map(Result::err) {
            tracing::debug!(%error, "could not update the tray's share items");
        }
    }
}

/// Handles a click on one of the share items; `false` when `id` is not one of them.
pub fn on_menu_event(app: &AppHandle, id: &str) -> bool {
    let Some(menu) = app.try_state::<ShareMenu>() else {
        return false;
    };
    let server = Arc::clone(&menu.server);
    let handle = app.clone();
    if let Some(address) = id.strip_prefix(SHARE_ON) {
        let Ok(address) = address.parse::<IpAddr>() else {
            return true;
        };
        tauri::async_runtime::spawn(async move {
            let request = ShareRequest { address, tls: true };
            if let Err(error) = share::start(&server, request).await {
                tracing::warn!(%error, "could not share on the network");
            }
        });
        return true;
    }
    match id {
        STOP_SHARING => {
            tauri::async_runtime::spawn(async move {
                share::stop(&server).await;
            });
        }
        COPY_JOIN => {
            tauri::async_runtime::spawn(async move {
                if let Some(status) = share::status(&server).await {
                    match handle.clipboard().write_text(status.join_url) {
                        Ok(()) => {
                            tracing::info!(url = %status.url, "join link copied to the clipboard")
                        }
                        Err(error) => tracing::warn!(%error, "could not copy the join link"),
                    }
                }
            });
        }
        ROTATE_TOKEN => {
            if let Err(error) = server.access.tokens.rotate() {
                tracing::warn!(%error, "could not replace the access token");
            }
        }
        _ => return false,
    }
    true
}
