//! Shared plumbing for the desktop end-to-end tests (`tests/e2e_desktop_*.rs`): launching the
//! real app window through tauri-driver, and launching the app binary directly.
//!
//! Each test binary compiles this module separately and uses a different part of it.
#![allow(dead_code)]

pub mod panel;
pub mod tray_menu;
pub mod x11;

use std::path::{Path, PathBuf};
use std::process::Command;

use fantoccini::wd::Capabilities;
use fantoccini::Client;
use serde_json::{json, Value};

use crate::support::webdriver::{
    find_program, http_client, require_or_skip, Driver, Process, Result,
};

/// The app binary Cargo built for this package (honours `CARGO_TARGET_DIR`).
pub const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

/// Where webkit2gtk-driver installs the native WebDriver; tauri-driver looks for it there.
pub const WEBKIT_WEBDRIVER: &str = "/usr/bin/WebKitWebDriver";

/// Find tauri-driver and check WebKitWebDriver, a display and (if `needs_bus`) a D-Bus session
/// bus. `None`: skipped (a reason was printed); panics instead under `TRW_REQUIRE_E2E=1`.
pub fn window_tools(test: &str, needs_bus: bool) -> Option<PathBuf> {
    let tauri_driver = find_program("tauri-driver");
    let mut missing = Vec::new();
    if tauri_driver.is_none() {
        missing.push(
            "tauri-driver not found (cargo install tauri-driver --version '^2' --locked)"
                .to_owned(),
        );
    }
    if !Path::new(WEBKIT_WEBDRIVER).is_file() {
        missing.push(format!(
            "{WEBKIT_WEBDRIVER} not found (apt-get install webkit2gtk-driver)"
        ));
    }
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        missing.push("no display: DISPLAY is unset (run under xvfb-run -a)".to_owned());
    }
    if needs_bus && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        missing.push(
            "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is unset (run under dbus-run-session)"
                .to_owned(),
        );
    }
    if !require_or_skip(test, &missing) {
        return None;
    }
    tauri_driver
}

/// The app is single-instance per D-Bus session: a second window launched while one is open
/// would hand over to the first and exit. Tests in one binary run in parallel, so every window
/// launch takes this turn first (test binaries themselves run one after another).
static WINDOW_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The name the running app owns on the session bus (tauri-plugin-single-instance registers
/// `<identifier from tauri.conf.json>.SingleInstance`).
const SINGLE_INSTANCE_NAME: &str = "dev.tauri-ractor-websocket.hub.SingleInstance";

/// Waits until no other test in this binary has a window open, and until no app left over from
/// an earlier test binary still owns the single-instance name (test binaries share one D-Bus
/// session under `scripts/test`, and an app told to quit at the end of one may still be
/// exiting when the next one starts; a new launch would then hand over to it and exit).
pub async fn one_window_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    let turn = WINDOW_TURN.lock().await;
    wait_until_no_app_runs("before a launch").await;
    turn
}

/// Waits (bounded) until no app owns the single-instance name on this bus. An app still there
/// after that is a leftover a test failed to close (for example an orphan of a killed driver):
/// it is stopped, loudly, so that it cannot make every later launch hand over to it.
pub async fn wait_until_no_app_runs(when: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while single_instance_name_owned() {
        if std::time::Instant::now() >= deadline {
            stop_leftover_app(when);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Sends SIGTERM to the owner of the single-instance name if it is this package's app binary.
fn stop_leftover_app(when: &str) {
    let Some(pid) = single_instance_owner_pid() else {
        return;
    };
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    if !exe.to_string_lossy().contains("tauri-ractor-websocket") {
        eprintln!("{when}: the single-instance name is held by pid {pid} ({exe:?}), not our app");
        return;
    }
    eprintln!("{when}: stopping a leftover app (pid {pid}) that a previous test did not close");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while single_instance_name_owned() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The pid of the process owning [`SINGLE_INSTANCE_NAME`], if any.
fn single_instance_owner_pid() -> Option<u32> {
    let output = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            &format!("string:{SINGLE_INSTANCE_NAME}"),
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .skip_while(|word| *word != "uint32")
        .nth(1)
        .and_then(|pid| pid.parse().ok())
}

/// Whether some app owns [`SINGLE_INSTANCE_NAME`] on the session bus (false without a bus).
fn single_instance_name_owned() -> bool {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return false;
    }
    Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            &format!("string:{SINGLE_INSTANCE_NAME}"),
        ])
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("boolean true"))
}

/// The app's window, launched by tauri-driver. Call [`Window::close`] at the end.
pub struct Window {
    pub session: Client,
    pub driver: Driver,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Window {
    /// Starts tauri-driver with `env` (inherited by the app) and opens a session on the app.
    pub async fn launch(tauri_driver: &Path, env: &[(&str, String)]) -> Result<Window> {
        let turn = one_window_at_a_time().await;
        let driver = Driver::tauri_driver(tauri_driver, env).await?;
        let session = driver.session(app_capabilities()?).await?;
        Ok(Window {
            session,
            driver,
            _turn: turn,
        })
    }

    /// Deletes the session, which quits the app, and waits until the app has really gone (its
    /// graceful shutdown takes up to about 1.5 s), so that the next test starts on a clean bus.
    /// tauri-driver stops when `self` drops.
    pub async fn close(self, test: &str) {
        if let Err(e) = self.session.close().await {
            eprintln!("{test}: could not delete the session: {e}");
        }
        wait_until_no_app_runs(test).await;
    }
}

/// The capabilities that make tauri-driver launch the app binary: `tauri:options.application`
/// (an absolute path) and nothing else of ours. Adding `browserName` makes tauri-driver's
/// capability match fail. (fantoccini adds `pageLoadStrategy: normal` and
/// `goog:chromeOptions: {"w3c": true}`; WebKitWebDriver accepts both.)
pub fn app_capabilities() -> Result<Capabilities> {
    let application =
        std::fs::canonicalize(APP).map_err(|e| format!("absolute path of {APP}: {e}"))?;
    let mut capabilities = Capabilities::new();
    capabilities.insert(
        "tauri:options".into(),
        json!({ "application": application }),
    );
    Ok(capabilities)
}

/// Starts the app binary directly (not through a driver), its log under `target/e2e/<name>.log`.
/// `remove` lists environment variables the app must not inherit.
pub fn spawn_app(name: &str, env: &[(&str, String)], remove: &[&str]) -> Result<Process> {
    let mut command = Command::new(APP);
    command
        .env("RUST_LOG", "info")
        .env("TRW_DATA_DIR", crate::support::data_dir::fresh(name));
    for (key, value) in env {
        command.env(key, value);
    }
    for key in remove {
        command.env_remove(key);
    }
    Process::spawn(name, command)
}

/// `GET /health` on the app's server at `port`, as JSON.
pub async fn health(port: u16) -> Result<Value> {
    let url = format!("http://127.0.0.1:{port}/health");
    let response = http_client()
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let response = response
        .error_for_status()
        .map_err(|e| format!("GET {url}: {e}"))?;
    Ok(response
        .json()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?)
}

/// The log file [`spawn_app`] and [`run_to_exit`] write for `name`.
pub fn log_file(name: &str) -> PathBuf {
    crate::support::webdriver::artifacts_dir().join(format!("{name}.log"))
}

/// Runs the app binary to completion (output in [`log_file`]`(name)`), with `deadline` only as a
/// hang guard: a process still running then is killed and reported as an error.
pub fn run_to_exit(
    name: &str,
    env: &[(&str, String)],
    deadline: std::time::Duration,
) -> Result<std::process::ExitStatus> {
    let log = log_file(name);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::create(&log)?;
    let mut command = Command::new(APP);
    command
        .env("RUST_LOG", "info")
        .env("TRW_DATA_DIR", crate::support::data_dir::fresh(name))
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {APP}: {e}"))?;
    let until = std::time::Instant::now() + deadline;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if std::time::Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(
                format!("{name} was still running after {deadline:?}; output:\n{output}").into(),
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
