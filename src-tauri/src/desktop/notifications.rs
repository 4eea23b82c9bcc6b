//! Native notifications for room messages while the window is not focused.
//!
//! The design is deliberately plain:
//!
//! 1. The page already receives every message over its WebSocket. For each message that is not
//!    its own, it calls the Tauri command [`notify`] (`window.__TAURI__.core.invoke`).
//! 2. Rust decides: nothing happens when the user turned notifications off (the tray's
//!    "Notifications" check item) or when the window has focus (the user is looking at it).
//!    Otherwise tauri-plugin-notification shows a desktop notification (on Linux a D-Bus call to
//!    `org.freedesktop.Notifications`).
//!
//! Keeping the decision in Rust means the page needs no knowledge of focus rules or settings,
//! and the server needs no extra subscriber. The on/off choice survives restarts: turning it off
//! writes an empty marker file `notifications-off` in the app's config directory.
//!
//! Both inputs of the decision are logged at debug level (`RUST_LOG=tauri_ractor_websocket=debug`):
//! each request with the focus and setting it was decided on, and each change of the window's
//! focus ([`log_focus_change`]). That answers "why did I (not) get a notification?", and it is
//! what `tests/e2e_desktop_notifications.rs` waits for before it sends a message to a window it
//! has just unfocused.

use tauri::{AppHandle, Runtime, State, WebviewWindow, Window, WindowEvent};
use tauri_plugin_notification::NotificationExt;

use super::saved_switch::SavedSwitch;

/// Longest body shown; notification servers truncate anyway, this keeps the D-Bus call small.
const MAX_BODY_CHARS: usize = 200;

/// The user's choice, managed as Tauri state.
pub struct Notifications(SavedSwitch);

impl Notifications {
    /// Reads the saved choice (on unless the marker file exists).
    pub fn load<R: Runtime>(app: &AppHandle<R>) -> Self {
        Self(SavedSwitch::load(
            app,
            "notifications-off",
            "desktop notifications",
        ))
    }

    pub fn enabled(&self) -> bool {
        self.0.enabled()
    }

    /// Turns notifications on or off and remembers the choice.
    pub fn set_enabled(&self, enabled: bool) {
        self.0.set_enabled(enabled);
    }
}

/// Window event hook (`Builder::on_window_event`): logs each focus change at debug level.
///
/// On Linux the event comes from GTK's `focus-in`/`focus-out` handlers and reaches this hook
/// through the event loop, so once it is logged, [`notify`]'s `is_focused()` already agrees.
pub fn log_focus_change<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if let WindowEvent::Focused(focused) = event {
        tracing::debug!(window = window.label(), focused, "window focus changed");
    }
}

/// What the page reports about a message it just showed.
#[derive(Debug, serde::Deserialize)]
pub struct Incoming {
    /// `chat`, `direct`, `broadcast` or another kind of notification.
    pub kind: String,
    pub sender: String,
    pub text: String,
    #[serde(default)]
    pub room: String,
}

/// Tauri command: show a notification for `message` if the user wants one right now.
/// Returns whether one was shown (the page ignores it; useful in the devtools console).
#[tauri::command]
pub fn notify<R: Runtime>(
    app: AppHandle<R>,
    window: WebviewWindow<R>,
    settings: State<'_, Notifications>,
    message: Incoming,
) -> bool {
    let focused = window.is_focused().unwrap_or(false);
    tracing::debug!(kind = %message.kind, focused, enabled = settings.enabled(), "notify requested");
    if focused || !settings.enabled() {
        return false;
    }
    let title = match message.kind.as_str() {
        "chat" => format!("{} in #{}", message.sender, message.room),
        "direct" => format!("{} (direct message)", message.sender),
        // Broadcasts and notifications: the page passes their title as `sender`.
        _ if !message.sender.is_empty() => message.sender.clone(),
        _ => "Broadcast".to_owned(),
    };
    let body: String = message.text.chars().take(MAX_BODY_CHARS).collect();
    match app
        .notification()
        .builder()
        .title(&title)
        .body(&body)
        .show()
    {
        Ok(()) => {
            tracing::info!(%title, "notification shown");
            true
        }
        Err(error) => {
            tracing::warn!(%error, "could not show a notification");
            false
        }
    }
}
