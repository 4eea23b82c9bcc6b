//! Where the app keeps its files: one data directory per user, shared by the window and headless
//! mode.
//!
//! The default follows the platform's convention for per-user application data, through the
//! [`dirs`] crate (the same lookup Tauri's path API does): `$XDG_DATA_HOME/<identifier>`, that is
//! `~/.local/share/dev.tauri-ractor-websocket.hub` on Linux. `--data-dir DIR` (or `TRW_DATA_DIR`)
//! moves it. Tests always pass a temporary directory, so they never touch a user's data.

use std::path::PathBuf;

/// The app's identifier, as in `tauri.conf.json`: the name of its directories.
pub const APP_IDENTIFIER: &str = "dev.tauri-ractor-websocket.hub";

/// The per-user data directory, or `None` when the platform has no home to put it in.
pub fn default_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|base| base.join(APP_IDENTIFIER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_data_dir_ends_with_the_identifier() {
        if let Some(dir) = default_data_dir() {
            assert!(dir.ends_with(APP_IDENTIFIER), "{dir:?}");
        }
    }

    #[test]
    fn the_identifier_matches_tauri_conf() {
        let conf: serde_json::Value = serde_json::from_str(include_str!("../../tauri.conf.json"))
            .expect("tauri.conf.json is JSON");
        assert_eq!(conf["identifier"], APP_IDENTIFIER);
    }
}
