//! Entry point: parse flags, then run the window, or the server alone.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

use clap::Parser;
use tauri_ractor_websocket::cli::Cli;
use tauri_ractor_websocket::{headless, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();

    if cli.headless {
        return headless::run(cli.server_config());
    }
    run_with_window(cli)
}

#[cfg(feature = "desktop")]
fn run_with_window(cli: Cli) -> ExitCode {
    if !tauri_ractor_websocket::desktop::display_available() {
        tracing::info!(
            "no display found (DISPLAY and WAYLAND_DISPLAY are unset): running headless"
        );
        return headless::run(cli.server_config());
    }
    tauri_ractor_websocket::desktop::run(cli)
}

#[cfg(not(feature = "desktop"))]
fn run_with_window(cli: Cli) -> ExitCode {
    tracing::info!("built without the `desktop` feature: running headless");
    headless::run(cli.server_config())
}
