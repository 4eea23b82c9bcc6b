//! An on/off setting of the desktop app that survives restarts: on by default, off while a marker
//! file exists in the app's config directory.
//!
//! A marker file rather than a settings document: each switch is one bit, reading it is one
//! `stat`, and two switches never race on a shared file. The tray's "Notifications" and "Close to
//! tray" items are both one of these.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use tauri::{AppHandle, Manager, Runtime};

pub struct SavedSwitch {
    enabled: AtomicBool,
    /// `None` when the OS gives no config directory: the switch then lasts for this run only.
    marker: Option<PathBuf>,
    /// What the switch is called in the log ("desktop notifications").
    name: &'static str,
}

impl SavedSwitch {
    /// Reads the saved choice: on unless `<config dir>/<off_marker>` exists.
    pub fn load<R: Runtime>(app: &AppHandle<R>, off_marker: &str, name: &'static str) -> Self {
        let marker = app
            .path()
            .app_config_dir()
            .ok()
            .map(|dir| dir.join(off_marker));
        let enabled = !marker.as_ref().is_some_and(|path| path.exists());
        Self {
            enabled: AtomicBool::new(enabled),
            marker,
            name,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns the switch on or off and remembers the choice. A choice that cannot be saved still
    /// holds for this run, and the log says why it was not kept.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
        tracing::info!(enabled, setting = self.name, "setting changed");
        let Some(marker) = &self.marker else { return };
        let saved = if enabled {
            match std::fs::remove_file(marker) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        } else {
            marker
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(marker, b""))
        };
        if let Err(error) = saved {
            tracing::warn!(%error, path = %marker.display(), setting = self.name, "could not save the setting");
        }
    }
}
