//! The desktop shell: a thin Tauri layer over the core.
//!
//! The order of startup is the point of this module:
//!
//! 1. **Plugins** are registered on the builder. Their setup runs first, when the app is built,
//!    and that is where single-instance hands a second launch over to the first one and exits
//!    ([`single_instance`]), before this process has touched the port.
//! 2. **The server** starts in the app's `setup` hook, so its real address is known before the
//!    window exists ([`port_choice`] picks the next free port when 8000 is taken and `--port` was
//!    not given).
//! 3. **The window** is created with the address and the server's instance id injected as
//!    `window.__TRW_CONFIG__` ([`window`]). The page refuses any server that answers with a
//!    different instance: if another program holds the port, the window never talks to it.
//!    With `--minimized` there is no window yet ([`minimized`]); "Open window" creates it.
//! 4. **The tray** and the **live status** (title + tray count) follow ([`tray`], [`live_status`]).
//! 5. Closing the window hides it when a tray can bring it back ([`close_to_tray`]); otherwise
//!    it quits. On exit (tray Quit, SIGINT/SIGTERM, or closing without a tray) the server shuts
//!    down gracefully. If the server fails beyond healing, the app exits too, with status 1.

mod autostart;
mod close_to_tray;
mod live_status;
mod log_folder;
mod minimized;
mod notifications;
mod port_choice;
mod saved_switch;
mod share;
mod single_instance;
mod tray;
mod tray_host;
mod window;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use tauri::{App, Manager, RunEvent};
use tauri_plugin_window_state::StateFlags;

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

/// The running server, as Tauri state: taken out exactly once, at exit, for a graceful shutdown.
struct ServerSlot(Mutex<Option<RunningServer>>);

/// Starts the server, opens the window, and runs until the app quits.
pub fn run(cli: Cli) -> ExitCode {
    // Why the server could not start, for the exit code (setup errors come back wrapped).
    let start_failure: Arc<Mutex<Option<String>>> = Arc::default();
    let failure_slot = Arc::clone(&start_failure);

    let builder = single_instance::register(tauri::Builder::default())
        // Everything but visibility: a window hidden in the tray at exit must not start hidden.
        .plugin(
            tauri_plugin_window_state::Builder::new()
                .with_state_flags(StateFlags::all() - StateFlags::VISIBLE)
                .build(),
        )
        .plugin(autostart::plugin())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        .invoke_handler(tauri::generate_handler![
            notifications::notify,
            share::access_token
        ])
        .on_window_event(|window, event| {
            notifications::log_focus_change(window, event);
            close_to_tray::on_window_event(window, event);
        })
        .setup(move |app| {
            setup(app, &cli).inspect_err(|error| {
                if let Ok(mut slot) = failure_slot.lock() {
                    *slot = Some(error.to_string());
                }
            })
        });

    let app = match builder.build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(error) => {
            let failure = start_failure.lock().ok().and_then(|mut slot| slot.take());
            return match failure {
                Some(failure) => {
                    eprintln!("error: {failure}");
                    ExitCode::from(2)
                }
                None => {
                    eprintln!("error: cannot start the desktop app: {error}");
                    ExitCode::FAILURE
                }
            };
        }
    };

    let exit_code = app.run_return(|handle, event| {
        if let RunEvent::ExitRequested { code, api, .. } = &event {
            if close_to_tray::keeps_running(handle, *code) {
                api.prevent_exit();
            }
        }
        if let RunEvent::Exit = event {
            let running = handle
                .try_state::<ServerSlot>()
                .and_then(|slot| slot.0.lock().ok().and_then(|mut slot| slot.take()));
            if let Some(running) = running {
                tracing::info!("closing every connection with 1001 and stopping the actors");
                tauri::async_runtime::block_on(running.shutdown());
            }
        }
    });
    ExitCode::from(u8::try_from(exit_code).unwrap_or(1))
}

/// Server, window, tray, live status, signal handling; in that order.
fn setup(app: &mut App, cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    // Tauri owns a tokio runtime (`tauri::async_runtime`); the server runs on it too.
    let (server, notice) = tauri::async_runtime::block_on(port_choice::start_server(cli))
        .inspect_err(|error| tracing::error!("{error}"))?;
    let url = server.base_url();
    let state = Arc::clone(server.state());
    let failure = server.failure();

    app.manage(notifications::Notifications::load(app.handle()));
    app.manage(close_to_tray::CloseToTray::load(app.handle()));
    app.manage(log_folder::LogFile(cli.log_file.clone()));
    app.manage(share::ServerAccess(Arc::clone(&state)));
    let page = window::PageConfig::new(&server, notice.as_deref());
    if !cli.minimized {
        window::open(app, &page)?;
    }
    app.manage(page);
    app.manage(ServerSlot(Mutex::new(Some(server))));

    // A desktop without a tray (no appindicator library, no status notifier host) still works.
    let tray = share::ShareMenu::new(app, Arc::clone(&state))
        .and_then(|share| tray::install(app, &url, state.sockets.get(), share));
    if let Err(error) = tray {
        tracing::warn!(%error, "no tray icon");
    }
    if cli.minimized {
        minimized::start(app.handle());
    }
    live_status::spawn(app.handle().clone(), state, url.clone());
    tracing::info!(%url, minimized = cli.minimized, "desktop app started");

    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move {
        tokio::select! {
            signal = wait_for_shutdown_signal() => {
                tracing::info!(signal, "quitting");
                handle.exit(0);
            }
            reason = failure => {
                tracing::error!(%reason, "the server failed beyond healing; quitting");
                eprintln!("error: {reason}");
                handle.exit(1);
            }
        }
    });
    Ok(())
}
