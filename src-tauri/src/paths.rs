//! Where the app keeps its files: one data directory per user, shared by the window and headless
//! mode.
//!
//! The default follows the platform's convention for per-user application data, through the
//! [`dirs`] crate (the same lookup Tauri's path API does): `$XDG_DATA_HOME/<identifier>`, that is
//! `~/.local/share/dev.tauri-ractor-websocket.hub` on Linux. `--data-dir DIR` (or `TRW_DATA_DIR`)
//! moves it. Tests always pass a temporary directory, so they never touch a user's data.
//!
//! The desktop app's log file lives in that directory too, under `logs/` ([`default_log_file`]):
//! with the default data directory that is exactly Tauri's app log directory on Linux
//! (`$XDG_DATA_HOME/<identifier>/logs`), and it moves with `--data-dir`.

use std::path::{Path, PathBuf};

/// The app's identifier, as in `tauri.conf.json`: the name of its directories.
pub const APP_IDENTIFIER: &str = "dev.tauri-ractor-websocket.hub";

/// The per-user data directory, or `None` when the platform has no home to put it in.
pub fn default_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|base| base.join(APP_IDENTIFIER))
}

/// The log file's name inside the log directory (rolled files get `.1` … `.4` appended).
pub const LOG_FILE_NAME: &str = "tauri-ractor-websocket.log";

/// The desktop app's log file for a data directory: `<data dir>/logs/tauri-ractor-websocket.log`.
pub fn default_log_file(data_dir: &Path) -> PathBuf {
    data_dir.join("logs").join(LOG_FILE_NAME)
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
    fn the_log_file_is_under_logs_in_the_data_dir() {
        assert_eq!(
            default_log_file(Path::new("/data")),
            Path::new("/data/logs/tauri-ractor-websocket.log")
        );
    }

    #[test]
    fn the_identifier_matches_tauri_conf() {
        let conf: serde_json::Value = serde_json::from_str(include_str!("../../tauri.conf.json"))
            .expect("tauri.conf.json is JSON");
        assert_eq!(conf["identifier"], APP_IDENTIFIER);
    }
}
