//! Logging with `tracing`, filtered by `RUST_LOG` (default: `info` for this crate, `warn` for
//! the rest). One line per connection opened or closed, with the actor's id.
//!
//! Every line goes to stderr, and, when a log file is given, also to that file:
//!
//! - **The desktop app** always keeps a file, `<data dir>/logs/tauri-ractor-websocket.log`
//!   (`paths::default_log_file`), so that an app started from a desktop menu, whose
//!   stderr goes nowhere, still leaves a log a user can attach to a bug report. `--log-file PATH`
//!   moves it.
//! - **Headless mode** keeps stderr only (a service manager collects it), and writes a file only
//!   with `--log-file PATH`.
//!
//! The file rotates by size: at [`MAX_LOG_FILE_BYTES`] (10 MiB) `app.log` becomes `app.log.1`,
//! `app.log.1` becomes `app.log.2` and so on; [`KEPT_LOG_FILES`] (5) files in all, so at most
//! about 50 MiB. tracing-appender's own roller rotates by time only, so the rolling is done by
//! the `rolling-file` crate, behind tracing-appender's non-blocking writer: a worker thread does
//! the file I/O, and a task logging a line never waits on the disk. When the worker falls behind
//! by more than its buffer (128k lines), lines are dropped rather than slowing the server down.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use rolling_file::{BasicRollingFileAppender, RollingConditionBasic};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// A log file rolls over when it reaches this size.
pub const MAX_LOG_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Log files kept: the current one and `KEPT_LOG_FILES - 1` rolled ones (`.1` is the newest).
pub const KEPT_LOG_FILES: usize = 5;

/// Keeps the log file's writer alive. Hold it until the process exits: dropping it flushes the
/// lines still queued for the file.
#[must_use = "dropping the guard stops writing the log file"]
pub struct Logging {
    file: Option<PathBuf>,
    _worker: Option<WorkerGuard>,
}

impl Logging {
    /// The file being written, if any (`None` without one, or when it could not be opened).
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

/// Installs the global subscriber: stderr, plus `file` when given. A file that cannot be opened
/// (no permission, a read-only disk) is reported on stderr and the app goes on without it.
/// Safe to call more than once (later calls install nothing).
pub fn init(file: Option<&Path>) -> Logging {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,tauri_ractor_websocket=info"));
    let (file_writer, opened) = match file.map(open_rolling) {
        Some(Ok((writer, path))) => (Some(writer), Some(path)),
        Some(Err(error)) => {
            eprintln!("warning: no log file: {error}");
            (None, None)
        }
        None => (None, None),
    };
    let (file_layer, worker) = match file_writer {
        Some(appender) => {
            let (writer, worker) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(false)
                .fmt_fields(PlainFields::default())
                .with_writer(writer);
            (Some(layer), Some(worker))
        }
        None => (None, None),
    };
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(stderr_layer)
        .with(file_layer)
        .try_init()
        .is_ok();
    if installed {
        if let Some(path) = &opened {
            tracing::info!(path = %path.display(), "writing the log file");
        }
    }
    Logging {
        file: opened.filter(|_| installed),
        _worker: worker.filter(|_| installed),
    }
}

/// The default field formatting under a type of its own. tracing-subscriber caches each span's
/// formatted fields per formatter *type*; with the same type as the stderr layer, the file would
/// get the terminal's colour codes in span fields.
#[derive(Default)]
struct PlainFields(DefaultFields);

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(
        &self,
        writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        self.0.format_fields(writer, fields)
    }
}

/// Opens (creating its directory) the size-rolled log file at `path`; returns it with the
/// absolute path, which is what `/api/about` reports.
fn open_rolling(path: &Path) -> Result<(BasicRollingFileAppender, PathBuf), String> {
    let describe = |error: std::io::Error| format!("{}: {error}", path.display());
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(describe)?;
    }
    let appender = BasicRollingFileAppender::new(
        path,
        RollingConditionBasic::new().max_size(MAX_LOG_FILE_BYTES),
        KEPT_LOG_FILES - 1,
    )
    .map_err(describe)?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    Ok((appender, absolute))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_log_file_that_cannot_be_made_is_an_error_that_names_it() {
        // A directory cannot be created under a regular file.
        let file = std::env::temp_dir().join(format!(
            "trw-logging-not-a-dir-{}-{}",
            std::process::id(),
            crate::protocol::unix_millis()
        ));
        std::fs::write(&file, b"").expect("make a plain file");
        let Err(error) = open_rolling(&file.join("logs/app.log")) else {
            panic!("a log file under a plain file");
        };
        assert!(error.contains("app.log"), "{error}");
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn the_file_rolls_over_by_size_and_keeps_five() {
        let dir = std::env::temp_dir().join(format!(
            "trw-logging-test-{}-{}",
            std::process::id(),
            crate::protocol::unix_millis()
        ));
        let path = dir.join("logs/app.log");
        let (mut appender, absolute) = open_rolling(&path).expect("open the log file");
        assert!(absolute.is_absolute());
        // A 1 MiB line 60 times: 6 files' worth, of which 5 are kept.
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..60 {
            appender.write_all(&line).expect("write");
        }
        appender.flush().expect("flush");
        let mut names: Vec<String> = std::fs::read_dir(dir.join("logs"))
            .expect("list the log dir")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "app.log",
                "app.log.1",
                "app.log.2",
                "app.log.3",
                "app.log.4"
            ]
        );
        for name in &names {
            let size = std::fs::metadata(dir.join("logs").join(name))
                .expect("stat")
                .len();
            assert!(size <= MAX_LOG_FILE_BYTES, "{name}: {size} bytes");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
