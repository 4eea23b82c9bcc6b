//! Entry point: parse flags, start logging, then run the window, or the server alone.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

use clap::Parser;
use tauri_ractor_websocket::cli::Cli;
use tauri_ractor_websocket::{headless, logging};

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let headless = cli.headless || !window_possible();
    // The desktop app always keeps a log file (its stderr may go nowhere); headless mode only
    // with --log-file.
    let wanted = if headless {
        cli.log_file.clone()
    } else {
        cli.desktop_log_file()
    };
    let logs = logging::init(wanted.as_deref());
    // What is really written (`None` if the file could not be opened), for `/api/about`.
    cli.log_file = logs.file().map(ToOwned::to_owned);

    let code = if cli.redis_url.is_some() && !headless {
        tracing::error!("--redis (TRW_REDIS_URL) makes a cluster node: add --headless");
        ExitCode::from(2)
    } else if headless {
        if !cli.headless {
            tracing::info!("{}", no_window_reason());
        }
        headless::run(cli.server_config())
    } else {
        run_with_window(cli)
    };
    drop(logs); // flushes the log file
    code
}

#[cfg(feature = "desktop")]
fn window_possible() -> bool {
    tauri_ractor_websocket::desktop::display_available()
}

#[cfg(feature = "desktop")]
fn no_window_reason() -> &'static str {
    "no display found (DISPLAY and WAYLAND_DISPLAY are unset): running headless"
}

#[cfg(feature = "desktop")]
fn run_with_window(cli: Cli) -> ExitCode {
    tauri_ractor_websocket::desktop::run(cli)
}

#[cfg(not(feature = "desktop"))]
fn window_possible() -> bool {
    false
}

#[cfg(not(feature = "desktop"))]
fn no_window_reason() -> &'static str {
    "built without the `desktop` feature: running headless"
}

#[cfg(not(feature = "desktop"))]
fn run_with_window(cli: Cli) -> ExitCode {
    headless::run(cli.server_config())
}
