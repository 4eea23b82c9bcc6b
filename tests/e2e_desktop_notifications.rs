//! End-to-end: native notifications appear while the window is not focused, and only then.
//!
//! The app is started directly (no WebDriver), with a throwaway `HOME` and `XDG_*_HOME`, so the
//! persisted setting and window state never touch the real user's files. For each case the test
//! sends a chat (from a raw WebSocket member of the room) and an HTTP broadcast; the page in the
//! window asks the app's `notify` command for each. Three cases:
//!
//! | window | setting | expected |
//! |---|---|---|
//! | not focused | on | a `Notify` call carrying each text |
//! | focused | on | none |
//! | not focused | off (the `notifications-off` file, as the tray's item leaves it) | none |
//!
//! **Focus without a window manager.** Under a bare Xvfb nothing ever moves the focus, so the
//! test does it with X itself: it opens another X client window (`xmessage`) and gives it the
//! input focus with `xdotool windowfocus` (`XSetInputFocus`, which needs no window manager); the
//! same command gives it back to the app's window. The app logs each focus change it sees
//! (`window focus changed`, debug level), and the test waits for that line before it sends
//! anything, so the app's own view of its focus is settled.
//!
//! **Seeing the notification.** On Linux a notification is a D-Bus method call,
//! `org.freedesktop.Notifications.Notify`, on the session bus. `dbus-monitor` prints every such
//! call with its arguments (the body text among them), whether or not a notification daemon
//! runs. The app's log also records each decision (`notify requested ... focused=… enabled=…`),
//! which tells the test when a message has been decided on, and checks that the right inputs
//! were used.
//!
//! "No notification" is proved without a timed wait: after the app has exited, the test sends a
//! sentinel `Notify` call of its own and reads the monitor's output up to it. Anything the app
//! sent was on the bus before that.
#![cfg(feature = "desktop")]

mod support {
    pub mod data_dir;
    pub mod webdriver;
}
mod desktop;

use std::path::Path;
use std::process::Command;

use desktop::{health, log_file, spawn_app};
use support::webdriver::{
    find_program, free_port, fresh_dir, http_broadcast, require_or_skip, unique_suffix, wait_until,
    Process, Result, RoomClient, UI_TIMEOUT,
};

/// The app's identifier (`tauri.conf.json`): its config directory is `$XDG_CONFIG_HOME/<this>`.
const IDENTIFIER: &str = "dev.tauri-ractor-websocket.hub";

/// The X class of the window that takes the focus away from the app.
const THIEF_CLASS: &str = "trw-focus-thief";

#[tokio::test]
async fn notifications_only_while_unfocused_and_turned_on() {
    let test = "desktop_notifications";
    if !tools_present(test) {
        return;
    }
    let _turn = desktop::one_window_at_a_time().await;
    let home = fresh_dir("notifications-home");
    let monitor = spawn_monitor(test).expect("start dbus-monitor");
    let tag = unique_suffix();
    let away = format!("away-{tag}");
    let looking = format!("looking-{tag}");
    let muted = format!("muted-{tag}");

    let outcome = async {
        // dbus-monitor starts watching a moment after it starts: wait until it sees calls.
        sync_with_monitor(&monitor, &format!("ready-{tag}")).await?;
        let _thief = spawn_thief(test)?;

        // Notifications on (a fresh config directory): the first launch.
        let mut app = launch(test, &home).await?;
        let mut member = RoomClient::connect(app.port).await?;
        focus(&app, Focus::Thief).await?;
        send_both(&app, &mut member, &away).await?;
        expect_decisions(&app, 2, "focused=false enabled=true").await?;
        wait_for_notify(&monitor, &format!("{away}-chat")).await?;
        wait_for_notify(&monitor, &format!("{away}-broadcast")).await?;

        focus(&app, Focus::App).await?;
        send_both(&app, &mut member, &looking).await?;
        expect_decisions(&app, 4, "focused=true enabled=true").await?;
        app.process.stop();

        // Notifications off, as the tray item saves it: the second launch reads the marker.
        let config = home.join(".config").join(IDENTIFIER);
        std::fs::create_dir_all(&config)?;
        std::fs::write(config.join("notifications-off"), b"")?;
        let mut app = launch(&format!("{test}_off"), &home).await?;
        let mut member = RoomClient::connect(app.port).await?;
        focus(&app, Focus::Thief).await?;
        send_both(&app, &mut member, &muted).await?;
        expect_decisions(&app, 2, "focused=false enabled=false").await?;
        app.process.stop();

        // Both apps have exited: whatever they sent is on the bus before this sentinel.
        let texts = sync_with_monitor(&monitor, &format!("done-{tag}")).await?;
        let unwanted: Vec<&String> = texts
            .iter()
            .filter(|text| text.starts_with(&looking) || text.starts_with(&muted))
            .collect();
        if !unwanted.is_empty() {
            return Err(
                format!("notifications that should not have been sent: {unwanted:?}").into(),
            );
        }
        Ok::<(), support::webdriver::Error>(())
    }
    .await;
    if let Err(e) = outcome {
        panic!(
            "{test} failed: {e}\n(app logs: {}, {}; bus: {})",
            log_file(test).display(),
            log_file(&format!("{test}_off")).display(),
            monitor.process.log_tail()
        );
    }
}

/// xdotool, xmessage (x11-utils), dbus-monitor and dbus-send (dbus-bin), a display and a session
/// bus; `false` after printing why not (panics instead under `TRW_REQUIRE_E2E=1`).
fn tools_present(test: &str) -> bool {
    let mut missing = Vec::new();
    for (program, package) in [
        ("xdotool", "xdotool"),
        ("xmessage", "x11-utils"),
        ("dbus-monitor", "dbus-bin"),
        ("dbus-send", "dbus-bin"),
    ] {
        if find_program(program).is_none() {
            missing.push(format!("{program} not found (apt-get install {package})"));
        }
    }
    if std::env::var_os("DISPLAY").is_none() {
        missing.push("no X display: DISPLAY is unset (run under xvfb-run -a)".to_owned());
    }
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        missing.push("no D-Bus session bus (run under dbus-run-session)".to_owned());
    }
    require_or_skip(test, &missing)
}

/// The running app: its process (log in `target/e2e/<name>.log`) and its server's port.
struct App {
    process: Process,
    port: u16,
    name: String,
}

/// Starts the app with debug logs, no colours and `home` as every XDG base directory, and
/// waits until its window's page is connected.
async fn launch(name: &str, home: &Path) -> Result<App> {
    let port = free_port();
    let dir = |sub: &str| home.join(sub).display().to_string();
    let env = [
        ("TRW_PORT", port.to_string()),
        ("RUST_LOG", "info,tauri_ractor_websocket=debug".to_owned()),
        ("NO_COLOR", "1".to_owned()),
        ("HOME", home.display().to_string()),
        ("XDG_CONFIG_HOME", dir(".config")),
        ("XDG_DATA_HOME", dir(".local/share")),
        ("XDG_CACHE_HOME", dir(".cache")),
        ("XDG_STATE_HOME", dir(".local/state")),
    ];
    let mut process = spawn_app(name, &env, &[])?;
    process
        .wait_http_ok(&format!("http://127.0.0.1:{port}/health"), UI_TIMEOUT)
        .await?;
    wait_until("the window's page to connect", UI_TIMEOUT, || async {
        let health = health(port).await?;
        if health["active_websockets"] == 1 {
            Ok(())
        } else {
            Err(format!("health: {health}").into())
        }
    })
    .await?;
    Ok(App {
        process,
        port,
        name: name.to_owned(),
    })
}

impl App {
    /// The app's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(log_file(&self.name)).unwrap_or_default()
    }
}

/// A chat from `member` and a broadcast over HTTP, with texts `<prefix>-chat` and
/// `<prefix>-broadcast`: the two kinds of message the page asks to be notified about.
async fn send_both(app: &App, member: &mut RoomClient, prefix: &str) -> Result<()> {
    let chat = format!("{prefix}-chat");
    member.send_chat(&chat).await?;
    // Our own copy coming back means the server has fanned it out to the window too.
    member.wait_for_message(&chat).await?;
    http_broadcast(app.port, &format!("{prefix}-broadcast")).await?;
    Ok(())
}

/// Waits until the app has logged `count` notify decisions, then checks the last two were made
/// on `inputs` (e.g. `focused=false enabled=true`).
async fn expect_decisions(app: &App, count: usize, inputs: &str) -> Result<()> {
    let decisions = wait_until(
        &format!("{count} `notify requested` lines in the app's log"),
        UI_TIMEOUT,
        || async {
            let decisions: Vec<String> = app
                .log()
                .lines()
                .filter(|line| line.contains("notify requested"))
                .map(str::to_owned)
                .collect();
            if decisions.len() >= count {
                Ok(decisions)
            } else {
                Err(format!("{} so far", decisions.len()).into())
            }
        },
    )
    .await?;
    let latest = &decisions[count - 2..];
    if decisions.len() != count || !latest.iter().all(|line| line.ends_with(inputs)) {
        return Err(format!(
            "expected {count} decisions, the last two on {inputs}: {decisions:#?}"
        )
        .into());
    }
    Ok(())
}

/// Which window gets the X input focus.
#[derive(Clone, Copy, Debug)]
enum Focus {
    /// The app's window.
    App,
    /// The `xmessage` window of [`spawn_thief`].
    Thief,
}

/// Gives the input focus to `to` and waits until the app has seen the change: its latest
/// `window focus changed` log line agrees.
async fn focus(app: &App, to: Focus) -> Result<()> {
    let window = match to {
        Focus::Thief => find_window(&["--classname", THIEF_CLASS]).await?,
        // The title carries the URL: "tauri-ractor-websocket — http://127.0.0.1:PORT — 2 ...".
        Focus::App => find_window(&["--name", &format!("127\\.0\\.0\\.1:{} ", app.port)]).await?,
    };
    xdotool(&["windowfocus", "--sync", &window]).await?;
    let expected = format!("focused={}", matches!(to, Focus::App));
    wait_until(
        &format!("the app to log {expected}"),
        UI_TIMEOUT,
        || async {
            let log = app.log();
            let latest = log
                .lines()
                .rfind(|line| line.contains("window focus changed"));
            match latest {
                Some(line) if line.ends_with(&expected) => Ok(()),
                other => Err(format!("latest focus line: {other:?}").into()),
            }
        },
    )
    .await
}

/// The id of the one visible window that `xdotool search <what>` finds (waits for it to map).
async fn find_window(what: &[&str]) -> Result<String> {
    wait_until(&format!("a window {what:?}"), UI_TIMEOUT, || async {
        let mut args = vec!["search", "--onlyvisible"];
        args.extend_from_slice(what);
        let found = xdotool(&args).await.unwrap_or_default();
        match found.lines().collect::<Vec<_>>()[..] {
            [one] => Ok(one.to_owned()),
            ref other => Err(format!("found {other:?}").into()),
        }
    })
    .await
}

/// Runs `xdotool args` (bounded, as a hang guard) and returns its output.
async fn xdotool(args: &[&str]) -> Result<String> {
    let run = tokio::process::Command::new("xdotool")
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(UI_TIMEOUT, run)
        .await
        .map_err(|_| format!("xdotool {args:?} still running after {UI_TIMEOUT:?}"))??;
    if !output.status.success() {
        return Err(format!(
            "xdotool {args:?}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Another X client with a window of its own, to hold the focus while the app should not.
fn spawn_thief(test: &str) -> Result<Process> {
    let mut command = Command::new("xmessage");
    command.args(["-name", THIEF_CLASS, "taking the focus from the app"]);
    Process::spawn(&format!("{test}_focus_thief"), command)
}

/// `dbus-monitor`, printing every `Notify` call on the session bus to its log file.
struct Monitor {
    process: Process,
    /// The log's name, for [`log_file`].
    name: String,
}

fn spawn_monitor(test: &str) -> Result<Monitor> {
    let name = format!("{test}_bus");
    let mut command = Command::new("dbus-monitor");
    command.args([
        "--session",
        "interface='org.freedesktop.Notifications',member='Notify'",
    ]);
    Ok(Monitor {
        process: Process::spawn(&name, command)?,
        name,
    })
}

/// Sends `Notify` calls of our own whose only argument is `text` until the monitor prints one;
/// returns the string arguments of every `Notify` call printed by then. The match rule selects
/// these calls too, and the bus delivers to the monitor in order, so once one is printed,
/// everything sent before it has been printed as well. (The first of them may come before
/// dbus-monitor is watching, hence "until".)
async fn sync_with_monitor(monitor: &Monitor, text: &str) -> Result<Vec<String>> {
    wait_until(
        &format!("dbus-monitor to print {text:?}"),
        UI_TIMEOUT,
        || async {
            send_sentinel(text).await?;
            let strings = monitor.notify_strings();
            if strings.iter().any(|s| s == text) {
                Ok(strings)
            } else {
                // Not printed yet: `wait_until` pauses, then this sends another one.
                Err(format!("Notify strings so far: {strings:?}").into())
            }
        },
    )
    .await
}

/// `dbus-send` a `Notify` call with the single argument `text` (no reply is awaited: without a
/// notification daemon the bus answers with an error that nobody reads).
async fn send_sentinel(text: &str) -> Result<()> {
    let status = tokio::process::Command::new("dbus-send")
        .args([
            "--session",
            "--type=method_call",
            "--dest=org.freedesktop.Notifications",
            "/org/freedesktop/Notifications",
            "org.freedesktop.Notifications.Notify",
            &format!("string:{text}"),
        ])
        .status()
        .await?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("dbus-send exited with {status}").into())
    }
}

/// Waits until the monitor has printed a `Notify` call with the string argument `text`.
async fn wait_for_notify(monitor: &Monitor, text: &str) -> Result<()> {
    wait_until(
        &format!("a Notify call with {text:?}"),
        UI_TIMEOUT,
        || async {
            let strings = monitor.notify_strings();
            if strings.iter().any(|s| s == text) {
                Ok(())
            } else {
                Err(format!("Notify strings so far: {strings:?}").into())
            }
        },
    )
    .await
}

impl Monitor {
    /// The `string "…"` arguments of the `Notify` method calls printed so far: dbus-monitor
    /// prints a call as a `method call … member=Notify` line followed by its indented arguments.
    fn notify_strings(&self) -> Vec<String> {
        let output = std::fs::read_to_string(log_file(&self.name)).unwrap_or_default();
        let mut strings = Vec::new();
        let mut in_notify = false;
        for line in output.lines() {
            if !line.starts_with(' ') {
                in_notify = line.starts_with("method call") && line.contains("member=Notify");
            } else if let Some(quoted) = line.trim().strip_prefix("string \"") {
                if in_notify {
                    strings.push(quoted.trim_end_matches('"').to_owned());
                }
            }
        }
        strings
    }
}
