//! End-to-end: the app that lives in the tray (issue 13), run for real under Xvfb with a D-Bus
//! session, the way a desktop runs it.
//!
//! The desktop around the app is made of stand-ins at the system's own boundaries:
//!
//! - **The panel** (`desktop::panel`): a `org.kde.StatusNotifierWatcher` that says a tray host
//!   runs, and a notification server that records what it is asked to show. Tests without it
//!   have no tray host at all, as on a bare window manager.
//! - **The window manager** (`desktop::x11`): a close request is the `WM_DELETE_WINDOW` message
//!   a title bar's close button sends; "mapped" is what the X server says.
//! - **The tray menu** (`desktop::tray_menu`): read and clicked over D-Bus, as a panel does.
//! - **The file manager**: a fake `xdg-open` first on the app's `PATH`, recording its arguments
//!   ("Open log folder" goes through tauri-plugin-opener, which runs `xdg-open`).
//! - **The user's home**: a throwaway `HOME` (and `XDG_*_HOME`, data directory), so the
//!   autostart entry, settings and logs never touch real files.
//!
//! The cases:
//!
//! 1. With a tray host: closing the window hides it, the process lives, a Chromium tab stays
//!    connected and gets broadcasts, one notification says the app still runs (once, not on
//!    the second close); "Open window" maps it again; the log file has the "connection opened"
//!    lines; "Open log folder" opens its directory; `/api/about` and the page's About panel
//!    match reality; Quit closes the tab's socket with 1001.
//! 2. Without a tray host: closing the window quits (exit 0, graceful shutdown).
//! 3. `--minimized` with a tray host: no window is mapped while the server answers; "Open
//!    window" creates the window, and it connects. "Start at login" writes the autostart entry
//!    with `--minimized` and removes it again. With "Close to tray" turned off, closing quits
//!    even with a tray host.
//! 4. `--minimized` without a tray host: the window opens after all (after the app's 10 s wait
//!    for a panel), so the app is never an invisible process.
#![cfg(feature = "desktop")]

mod support {
    pub mod data_dir;
    pub mod webdriver;
}
mod desktop;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use desktop::panel::{name_has_owner, Panel, WATCHER};
use desktop::tray_menu::{click, find_menu, menu_items};
use desktop::x11::{Display, TopLevel};
use desktop::{health, log_file, window_tools, APP};
use fantoccini::Locator;
use serde_json::Value;
use support::webdriver::{
    chromium_capabilities, chromium_tools, free_port, fresh_dir, http_broadcast, http_client,
    wait_until, ChatPage, Driver, Result, RoomClient, UI_TIMEOUT,
};

/// The start of the main window's title (`desktop::window::title`).
const WINDOW_TITLE: &str = "tauri-ractor-websocket — ";

/// The autostart entry's name: the product name in `tauri.conf.json`.
const AUTOSTART_ENTRY: &str = ".config/autostart/tauri-ractor-websocket.desktop";

/// A throwaway home for one app run, with a fake `xdg-open` that records what it is asked to open.
struct Home {
    dir: PathBuf,
}

impl Home {
    fn new(name: &str) -> Result<Home> {
        let dir = fresh_dir(name);
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin)?;
        let script = bin.join("xdg-open");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n",
                dir.join("xdg-open.args").display()
            ),
        )?;
        let mut permissions = std::fs::metadata(&script)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&script, permissions)?;
        Ok(Home { dir })
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Where the desktop app writes its log by default (`paths::default_log_file`).
    fn log_path(&self) -> PathBuf {
        self.data_dir().join("logs/tauri-ractor-websocket.log")
    }

    fn autostart_entry(&self) -> PathBuf {
        self.dir.join(AUTOSTART_ENTRY)
    }

    /// Each `xdg-open` call's arguments, one line per call.
    fn opened(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("xdg-open.args"))
            .unwrap_or_default()
            .lines()
            .map(ToOwned::to_owned)
            .collect()
    }

    fn env(&self, port: u16) -> Vec<(&'static str, String)> {
        let path = std::env::var("PATH").unwrap_or_default();
        vec![
            ("HOME", self.dir.display().to_string()),
            (
                "XDG_CONFIG_HOME",
                self.dir.join(".config").display().to_string(),
            ),
            (
                "XDG_DATA_HOME",
                self.dir.join(".local/share").display().to_string(),
            ),
            (
                "XDG_CACHE_HOME",
                self.dir.join(".cache").display().to_string(),
            ),
            ("TRW_DATA_DIR", self.data_dir().display().to_string()),
            ("TRW_PORT", port.to_string()),
            ("PATH", format!("{}:{path}", self.dir.join("bin").display())),
            ("RUST_LOG", "info".to_owned()),
        ]
    }
}

/// The app, started directly (the test needs its pid for X and D-Bus); killed if still running
/// when dropped.
struct App {
    child: Child,
    log: PathBuf,
}

impl App {
    fn spawn(name: &str, env: &[(&'static str, String)]) -> Result<App> {
        let log = log_file(name);
        std::fs::create_dir_all(log.parent().ok_or("no log dir")?)?;
        let out = std::fs::File::create(&log)?;
        let child = Command::new(APP)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("starting {APP}: {e}"))?;
        Ok(App { child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails if the app has exited.
    fn alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("the app exited ({status})").into()),
        }
    }

    /// Waits (bounded, as a hang guard) for the app to exit.
    async fn exit_status(&mut self) -> Result<ExitStatus> {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err("the app did not exit".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the app's own log has `text` (`count` times).
    async fn wait_for_log(&self, text: &str, count: usize) -> Result<()> {
        wait_until(
            &format!("{count}× {text:?} in the app's log"),
            UI_TIMEOUT,
            || async {
                let seen = self.output().matches(text).count();
                if seen >= count {
                    Ok(())
                } else {
                    Err(format!("seen {seen} times").into())
                }
            },
        )
        .await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The main window of `pid` once it is mapped.
async fn wait_for_mapped_window(display: &Display, pid: u32) -> Result<TopLevel> {
    wait_until("the app's window to be mapped", UI_TIMEOUT, || async {
        let windows = display.windows_of(pid)?;
        windows
            .iter()
            .find(|w| w.viewable && w.title.starts_with(WINDOW_TITLE))
            .cloned()
            .ok_or_else(|| format!("windows of the app: {windows:?}").into())
    })
    .await
}

/// Waits until `pid` has no mapped window at all.
async fn wait_until_unmapped(display: &Display, pid: u32) -> Result<()> {
    wait_until("no window of the app mapped", UI_TIMEOUT, || async {
        let mapped = display.viewable_windows_of(pid)?;
        if mapped.is_empty() {
            Ok(())
        } else {
            Err(format!("still mapped: {mapped:?}").into())
        }
    })
    .await
}

/// Waits for the tray menu of `pid` to have an item labelled `label`.
async fn wait_for_menu_item(pid: u32, label: &str) -> Result<(String, String)> {
    wait_until(&format!("a tray item {label:?}"), UI_TIMEOUT, || async {
        let menu = find_menu(pid)?;
        let items = menu_items(&menu)?;
        if items.contains_key(label) {
            Ok(menu)
        } else {
            Err(format!("menu items: {:?}", items.keys()).into())
        }
    })
    .await
}

/// Waits for `/health` to count `sockets` open WebSockets.
async fn wait_for_sockets(port: u16, sockets: u64) -> Result<Value> {
    wait_until(
        &format!("{sockets} open WebSockets"),
        UI_TIMEOUT,
        || async {
            let health = health(port).await?;
            if health["active_websockets"] == sockets {
                Ok(health)
            } else {
                Err(format!("/health: {health}").into())
            }
        },
    )
    .await
}

async fn get_json(url: &str) -> Result<Value> {
    let response = http_client()
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let response = response
        .error_for_status()
        .map_err(|e| format!("GET {url}: {e}"))?;
    Ok(response.json().await?)
}

/// The soft "Max open files" limit of `pid`, as the kernel reports it.
fn open_file_limit_of(pid: u32) -> Result<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .ok_or("no open-file limit in /proc/PID/limits")?;
    let soft = line
        .split_whitespace()
        .nth(3)
        .ok_or("no soft limit in /proc/PID/limits")?;
    Ok(soft.parse()?)
}

/// The "still running in the tray" notifications the panel was asked to show. (The hidden
/// window's page also asks for one per broadcast, as any unfocused window does.)
fn still_running(panel: &Panel) -> Vec<(String, String)> {
    panel
        .notifications()
        .into_iter()
        .filter(|(summary, _)| summary.contains("still running"))
        .collect()
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[tokio::test]
async fn with_a_tray_host_closing_hides_the_window_and_the_server_keeps_serving() {
    let test = "tray_app_close_to_tray";
    if window_tools(test, true).is_none() {
        return;
    }
    let Some((chromium, chromedriver)) = chromium_tools(test) else {
        return;
    };
    let _turn = desktop::one_window_at_a_time().await;
    let panel = Panel::start().expect("start the panel stand-in");
    let home = Home::new(test).expect("a throwaway home");
    let port = free_port();
    let mut app = App::spawn(test, &home.env(port)).expect("start the app");
    let pid = app.pid();
    let url = format!("http://127.0.0.1:{port}");

    let outcome = async {
        let display = Display::connect()?;
        // The window is up and connected; the app's icon registered with the panel.
        let menu = wait_for_menu_item(pid, "1 connection").await?;
        wait_until(
            "the app's icon to register with the panel",
            UI_TIMEOUT,
            || async {
                if panel.items().is_empty() {
                    Err("no RegisterStatusNotifierItem yet".into())
                } else {
                    Ok(())
                }
            },
        )
        .await?;
        let window = wait_for_mapped_window(&display, pid).await?;

        // A browser tab on the same server.
        let driver = Driver::chromedriver(&chromedriver).await?;
        let tab = driver.session(chromium_capabilities(&chromium)).await?;
        let tab_result = async {
            tab.goto(&url).await?;
            let page = ChatPage { session: &tab };
            page.wait_for_state("connected").await?;
            wait_for_sockets(port, 2).await?;

            // 1. The close button hides the window; the app lives and says so, once.
            display.request_close(window.id)?;
            wait_until_unmapped(&display, pid).await?;
            app.wait_for_log("window hidden: still running in the tray", 1)
                .await?;
            app.alive()?;
            wait_until("the still-running notification", UI_TIMEOUT, || async {
                let shown = still_running(&panel);
                if shown.len() == 1 {
                    Ok(())
                } else {
                    Err(format!("notifications: {shown:?}").into())
                }
            })
            .await?;

            // 2. The server keeps serving: the tab stays connected and gets a broadcast; the
            //    hidden window's page is still connected too.
            http_broadcast(port, "while-hidden").await?;
            page.wait_for_message("while-hidden").await?;
            wait_for_sockets(port, 2).await?;

            // 3. "Open window" maps it again, still connected.
            click(&menu, "Open window")?;
            let window = wait_for_mapped_window(&display, pid).await?;
            wait_for_sockets(port, 2).await?;

            // Hidden a second time: no second notification.
            display.request_close(window.id)?;
            wait_until_unmapped(&display, pid).await?;
            app.wait_for_log("window hidden: still running in the tray", 2)
                .await?;
            click(&menu, "Open window")?;
            wait_for_mapped_window(&display, pid).await?;
            let shown = still_running(&panel);
            if shown.len() != 1 {
                return Err(format!("one still-running notification expected: {shown:?}").into());
            }

            // 4. The log file is where it should be, with a line per connection.
            let log = home.log_path();
            let text = std::fs::read_to_string(&log)
                .map_err(|e| format!("reading the log file {}: {e}", log.display()))?;
            let opened = text.matches("connection opened").count();
            if opened < 2 {
                return Err(
                    format!("{opened} \"connection opened\" lines in {}", log.display()).into(),
                );
            }

            // 5. "Open log folder" asks the desktop (xdg-open) to open the log's directory.
            click(&menu, "Open log folder")?;
            let logs_dir = log.parent().ok_or("log dir")?.to_path_buf();
            wait_until(
                "xdg-open to be asked for the log folder",
                UI_TIMEOUT,
                || async {
                    let opened = home.opened();
                    if opened
                        .iter()
                        .any(|arg| same_file(Path::new(arg), &logs_dir))
                    {
                        Ok(())
                    } else {
                        Err(format!("xdg-open calls: {opened:?}").into())
                    }
                },
            )
            .await?;

            // 6. /api/about matches reality.
            let about = get_json(&format!("{url}/api/about")).await?;
            let health = health(port).await?;
            let data_dir = about["data_dir"].as_str().ok_or("data_dir")?;
            let log_file = about["log_file"].as_str().ok_or("log_file")?;
            let checks = [
                ("version", about["version"] == health["version"]),
                ("instance", about["instance"] == health["instance"]),
                ("data_dir exists", Path::new(data_dir).is_dir()),
                (
                    "data_dir is ours",
                    same_file(Path::new(data_dir), &home.data_dir()),
                ),
                ("log_file exists", Path::new(log_file).is_file()),
                ("log_file is the log", same_file(Path::new(log_file), &log)),
                (
                    "listening",
                    about["listening"] == serde_json::json!([format!("127.0.0.1:{port}")]),
                ),
                (
                    "uptime_ms",
                    about["uptime_ms"].as_u64().is_some_and(|ms| ms > 0),
                ),
                (
                    "open_file_limit",
                    about["open_file_limit"].as_u64() == Some(open_file_limit_of(pid)?),
                ),
                (
                    "connection_cap",
                    about["connection_cap"].as_u64().is_some_and(|cap| cap > 0),
                ),
            ];
            let failed: Vec<_> = checks
                .iter()
                .filter(|(_, ok)| !ok)
                .map(|(what, _)| *what)
                .collect();
            if !failed.is_empty() {
                return Err(format!("/api/about is wrong about {failed:?}: {about}").into());
            }

            // 7. The page's About panel shows the same facts.
            tab.find(Locator::Css("#about-button"))
                .await?
                .click()
                .await?;
            wait_until(
                "the About panel to list the data directory",
                UI_TIMEOUT,
                || async {
                    let list = tab.find(Locator::Css("#about-list")).await?.text().await?;
                    if list.contains(data_dir) && list.contains(log_file) {
                        Ok(())
                    } else {
                        Err(format!("About panel: {list:?}").into())
                    }
                },
            )
            .await?;

            // 8. Quit: a graceful shutdown, 1001 to every client.
            let mut member = RoomClient::connect(port).await?;
            click(&menu, "Quit")?;
            page.wait_for_system_line("Server shutting down").await?;
            let closed = loop {
                match member.next_frame(UI_TIMEOUT).await {
                    Ok(_) => continue,
                    Err(e) => break e.to_string(),
                }
            };
            if !closed.contains("Away") {
                return Err(format!("the raw client was not closed with 1001: {closed}").into());
            }
            let status = app.exit_status().await?;
            if !status.success() || !app.output().contains("server stopped") {
                return Err(format!("Quit: exit {status}").into());
            }
            Ok::<(), support::webdriver::Error>(())
        }
        .await;
        let _ = tab.close().await;
        tab_result
    }
    .await;
    drop(panel);
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n--- app log ---\n{}", app.output());
    }
}

#[tokio::test]
async fn without_a_tray_host_closing_the_window_quits() {
    let test = "tray_app_no_tray_host";
    if window_tools(test, true).is_none() {
        return;
    }
    let _turn = desktop::one_window_at_a_time().await;
    assert!(
        !name_has_owner(WATCHER),
        "a StatusNotifierWatcher runs on this bus: this test needs a desktop without a tray"
    );
    let home = Home::new(test).expect("a throwaway home");
    let port = free_port();
    let mut app = App::spawn(test, &home.env(port)).expect("start the app");
    let pid = app.pid();

    let outcome = async {
        let display = Display::connect()?;
        wait_for_menu_item(pid, "1 connection").await?;
        let window = wait_for_mapped_window(&display, pid).await?;
        display.request_close(window.id)?;
        let status = app.exit_status().await?;
        let output = app.output();
        if !status.success() || !output.contains("server stopped") {
            return Err(format!("closing without a tray: exit {status}").into());
        }
        if !output.contains("no tray host runs") {
            return Err("the app did not say why it quit".into());
        }
        Ok::<(), support::webdriver::Error>(())
    }
    .await;
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n--- app log ---\n{}", app.output());
    }
}

#[tokio::test]
async fn minimized_starts_in_the_tray_and_start_at_login_writes_the_entry() {
    let test = "tray_app_minimized";
    if window_tools(test, true).is_none() {
        return;
    }
    let _turn = desktop::one_window_at_a_time().await;
    let panel = Panel::start().expect("start the panel stand-in");
    let home = Home::new(test).expect("a throwaway home");
    let port = free_port();
    let mut env = home.env(port);
    env.push(("TRW_MINIMIZED", "1".to_owned()));
    let mut app = App::spawn(test, &env).expect("start the app");
    let pid = app.pid();

    let outcome = async {
        let display = Display::connect()?;
        // 1. Tray only: the server answers, the menu is there, and no window is mapped once the
        //    app has decided to stay in the tray.
        let menu = wait_for_menu_item(pid, "0 connections").await?;
        app.wait_for_log("staying in the tray", 1).await?;
        let mapped = display.viewable_windows_of(pid)?;
        if !mapped.is_empty() {
            return Err(format!("--minimized mapped a window: {mapped:?}").into());
        }
        let health = health(port).await?;
        if health["active_websockets"] != 0 {
            return Err(format!("a page connected without a window: {health}").into());
        }

        // 2. "Open window" creates the window, and its page connects.
        click(&menu, "Open window")?;
        wait_for_mapped_window(&display, pid).await?;
        wait_for_sockets(port, 1).await?;

        // 3. "Start at login" writes the XDG autostart entry, which starts the app minimized;
        //    clicking again removes it.
        let entry = home.autostart_entry();
        if entry.exists() {
            return Err(format!("{} exists before any click", entry.display()).into());
        }
        click(&menu, "Start at login")?;
        let text = wait_until("the autostart entry", UI_TIMEOUT, || async {
            std::fs::read_to_string(&entry)
                .map_err(|e| support::webdriver::Error::from(format!("{}: {e}", entry.display())))
        })
        .await?;
        let exec = text
            .lines()
            .find_map(|line| line.strip_prefix("Exec="))
            .ok_or_else(|| format!("no Exec= line in {text:?}"))?;
        let app_path = std::fs::canonicalize(APP)?;
        let mut words = exec.split_whitespace();
        let program = words.next().unwrap_or_default();
        if !same_file(Path::new(program), &app_path) || words.collect::<Vec<_>>() != ["--minimized"]
        {
            return Err(format!("the entry runs {exec:?}, not this app with --minimized").into());
        }
        click(&menu, "Start at login")?;
        wait_until("the autostart entry to go", UI_TIMEOUT, || async {
            if entry.exists() {
                Err("still there".into())
            } else {
                Ok(())
            }
        })
        .await?;

        // 4. "Close to tray" off: closing quits even with a tray host, and the choice is saved.
        click(&menu, "Close to tray")?;
        let marker = home
            .dir
            .join(".config/dev.tauri-ractor-websocket.hub/close-to-tray-off");
        wait_until(
            "the close-to-tray setting to be saved",
            UI_TIMEOUT,
            || async {
                if marker.exists() {
                    Ok(())
                } else {
                    Err(format!("no {}", marker.display()).into())
                }
            },
        )
        .await?;
        let window = wait_for_mapped_window(&display, pid).await?;
        display.request_close(window.id)?;
        let status = app.exit_status().await?;
        if !status.success() || !app.output().contains("close-to-tray is off: quitting") {
            return Err(format!("closing with close-to-tray off: exit {status}").into());
        }
        if !still_running(&panel).is_empty() {
            return Err(format!("notifications: {:?}", panel.notifications()).into());
        }
        Ok::<(), support::webdriver::Error>(())
    }
    .await;
    drop(panel);
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n--- app log ---\n{}", app.output());
    }
}

#[tokio::test]
async fn minimized_without_a_tray_host_opens_the_window_after_all() {
    let test = "tray_app_minimized_no_tray_host";
    if window_tools(test, true).is_none() {
        return;
    }
    let _turn = desktop::one_window_at_a_time().await;
    assert!(
        !name_has_owner(WATCHER),
        "a StatusNotifierWatcher runs on this bus: this test needs a desktop without a tray"
    );
    let home = Home::new(test).expect("a throwaway home");
    let port = free_port();
    let mut env = home.env(port);
    env.push(("TRW_MINIMIZED", "1".to_owned()));
    let mut app = App::spawn(test, &env).expect("start the app");
    let pid = app.pid();

    let outcome = async {
        let display = Display::connect()?;
        // No tray to live in: after its wait (10 s) the app opens its window rather than stay
        // invisible, and the window connects.
        app.wait_for_log("opening the window instead of staying invisible", 1)
            .await?;
        let window = wait_for_mapped_window(&display, pid).await?;
        wait_for_sockets(port, 1).await?;
        display.request_close(window.id)?;
        let status = app.exit_status().await?;
        if !status.success() {
            return Err(format!("closing: exit {status}").into());
        }
        Ok::<(), support::webdriver::Error>(())
    }
    .await;
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n--- app log ---\n{}", app.output());
    }
}
