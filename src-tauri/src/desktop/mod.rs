//! The desktop shell: a thin Tauri layer over the core.
//!
//! Order matters here. The server is started (and its port known) **before** the window is
//! created, so the page's first script already knows where its server is: the address and the
//! server's instance id are injected with an initialization script as `window.__TRW_CONFIG__`.
//! The page then refuses any server that answers with a different instance: if another program
//! holds the port, the window never talks to it.

mod port_choice;

use std::process::ExitCode;
use std::sync::Mutex;

use serde_json::json;
use tauri::{RunEvent, WebviewUrl, WebviewWindowBuilder};

use crate::cli::Cli;
use crate::server::RunningServer;
use crate::shutdown_signal::wait_for_shutdown_signal;

/// True when a GUI can be shown. On Linux that needs an X11 or Wayland display.
pub fn display_available() -> bool {
    if cfg!(target_os = "linux") {
        let set = |name| std::env::var_os(name).is_some_and(|value| !value.is_empty());
        set("DISPLAY") || set("WAYLAND_DISPLAY")
    } else {
        true
    }
}

/// Starts the server, opens the window, and runs until the app quits.
pub fn run(cli: Cli) -> ExitCode {
    // Tauri owns a tokio runtime (`tauri::async_runtime`); the server runs on it too.
    let started = tauri::async_runtime::block_on(port_choice::start_server(&cli));
    let (server, notice) = match started {
        Ok(started) => started,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let address = server.local_addr();
    let page_config = json!({
        "wsUrl": format!("ws://{address}/ws"),
        "httpBase": format!("http://{address}"),
        "instance": server.instance(),
        "notice": notice,
    });
    let init_script = format!("window.__TRW_CONFIG__ = Object.freeze({page_config});");
    let title = format!("tauri-ractor-websocket — http://{address}");

    // Taken out exactly once, when the app exits, for a graceful shutdown.
    let server = Mutex::new(Some(server));

    let app = tauri::Builder::default()
        .setup(move |app| {
            WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
                .title(title)
                .inner_size(1100.0, 720.0)
                .min_inner_size(640.0, 480.0)
                .initialization_script(init_script)
                .build()?;
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                let signal = wait_for_shutdown_signal().await;
                tracing::info!(signal, "quitting");
                handle.exit(0);
            });
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            eprintln!("error: cannot start the desktop app: {error}");
            return ExitCode::FAILURE;
        }
    };

    let exit_code = app.run_return(move |_handle, event| {
        if let RunEvent::Exit = event {
            let running = server.lock().ok().and_then(|mut slot| slot.take());
            if let Some(running) = running {
                shut_down(running);
            }
        }
    });
    ExitCode::from(u8::try_from(exit_code).unwrap_or(1))
}

fn shut_down(server: RunningServer) {
    tracing::info!("closing every connection with 1001 and stopping the actors");
    tauri::async_runtime::block_on(server.shutdown());
}
