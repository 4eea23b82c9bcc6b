//! End-to-end: one app per D-Bus session, and no crash without a bus.
//!
//! 1. With a session bus (`scripts/test` runs the suite in `dbus-run-session`), a second launch
//!    must hand over to the first window and exit 0 *without starting a server of its own*:
//!    it is given a different port, and nothing may ever answer there.
//! 2. Without a bus (`DBUS_SESSION_BUS_ADDRESS` removed), the app cannot check for another
//!    instance. It must say so in its log and still start: its server answers and its window
//!    connects.
#![cfg(feature = "desktop")]

mod support {
    pub mod data_dir;
    pub mod webdriver;
}
mod desktop;

use std::time::Duration;

use desktop::{health, log_file, run_to_exit, spawn_app, window_tools, Window};
use support::webdriver::{free_port, wait_until, ChatPage, UI_TIMEOUT};

/// Hang guard for the second launch, which should exit within a second or two.
const SECOND_LAUNCH_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_second_launch_leaves_one_server_running() {
    let test = "second_launch";
    let Some(tauri_driver) = window_tools(test, true) else {
        return;
    };
    let port = free_port();
    let window = Window::launch(&tauri_driver, &[("TRW_PORT", port.to_string())])
        .await
        .expect("launch the first instance through tauri-driver");
    let outcome = async {
        ChatPage {
            session: &window.session,
        }
        .wait_for_state("connected")
        .await?;
        let first = health(port).await?;

        // The second launch asks for another port: if it started a server, it would be there.
        let second_port = free_port();
        let status = tokio::task::spawn_blocking(move || {
            run_to_exit(
                test,
                &[("TRW_PORT", second_port.to_string())],
                SECOND_LAUNCH_DEADLINE,
            )
        })
        .await??;
        let second_log = std::fs::read_to_string(log_file(test)).unwrap_or_default();
        if !status.success() {
            return Err(format!("the second launch exited with {status}:\n{second_log}").into());
        }
        if second_log.contains("server listening") || health(second_port).await.is_ok() {
            return Err(format!("the second launch started a server:\n{second_log}").into());
        }

        // The first instance is untouched: same server, window still connected.
        let after = health(port).await?;
        if after["instance"] != first["instance"] || after["active_websockets"] != 1 {
            return Err(format!("first server changed: before {first}, after {after}").into());
        }
        Ok::<(), support::webdriver::Error>(())
    }
    .await;
    let log = window.driver.process.log_tail();
    window.close(test).await;
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n(driver log: {log})");
    }
}

#[tokio::test]
async fn without_a_session_bus_the_app_still_starts() {
    let test = "no_session_bus";
    // The window is needed (single instance is a desktop-only check) but not tauri-driver.
    if window_tools(test, false).is_none() {
        return;
    }
    let port = free_port();
    let mut app = spawn_app(
        test,
        &[("TRW_PORT", port.to_string())],
        // XDG_RUNTIME_DIR too: a bus socket there would also be found.
        &["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"],
    )
    .expect("start the app");
    let outcome = async {
        // Fails at once, with the app's output, if the app exits (e.g. panics) instead.
        app.wait_http_ok(&format!("http://127.0.0.1:{port}/health"), UI_TIMEOUT)
            .await?;
        wait_until(
            "the window to connect (active_websockets = 1)",
            UI_TIMEOUT,
            || async {
                let health = health(port).await?;
                if health["active_websockets"] == 1 {
                    Ok(())
                } else {
                    Err(format!("health: {health}").into())
                }
            },
        )
        .await
    }
    .await;
    let log = std::fs::read_to_string(log_file(test)).unwrap_or_default();
    app.stop();
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n{}", app.log_tail());
    }
    assert!(
        log.contains("could not check for another instance: no D-Bus session bus"),
        "{test}: the log should say why there was no instance check:\n{log}"
    );
    assert!(
        !log.contains("panicked"),
        "{test}: the app panicked:\n{log}"
    );
}
