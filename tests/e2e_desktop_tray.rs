//! End-to-end: the tray menu, read and clicked the way a desktop shell does it, over D-Bus.
//!
//! On Linux the tray icon is an app indicator: libayatana-appindicator exports the menu on the
//! session bus with the `com.canonical.dbusmenu` interface, at
//! `/org/ayatana/NotificationItem/<id>/Menu` on the app's own bus connection. A panel reads the
//! labels with `GetLayout` and reports a click with `Event(id, "clicked", …)`. This test does the
//! same with `dbus-send` (package `dbus-bin`, pulled in by `dbus`):
//!
//! 1. the menu shows the live connection count and the URL actually in use;
//! 2. the count follows a new WebSocket client;
//! 3. clicking "Copy URL" puts that URL on the clipboard (read back with `xclip`);
//! 4. clicking "Notifications" turns them off and on, saved in the app's config directory;
//! 5. clicking "Open in browser" opens the URL in the desktop's default browser, through the
//!    same `xdg-open` lookup a real desktop uses. The test's throwaway XDG directories make a
//!    headless Chromium the default browser, and the tab it opens connects to the app's server;
//! 6. clicking "Quit" shuts the app down gracefully (exit 0, "server stopped").
#![cfg(feature = "desktop")]

mod support {
    pub mod webdriver;
}
mod desktop;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use desktop::tray_menu::{click, find_menu, menu_items};
use desktop::{health, log_file, window_tools, APP};
use support::webdriver::{
    chromium_tools, free_port, fresh_dir, wait_until, Result, RoomClient, UI_TIMEOUT,
};

/// The app, started directly so the test knows its pid (to find its bus connection).
struct App {
    child: Child,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The X clipboard's text, read the way another application would paste it.
fn read_clipboard() -> Result<String> {
    let output = Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .output()
        .map_err(|e| format!("running xclip (apt-get install xclip): {e}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Throwaway `XDG_CONFIG_HOME`/`XDG_DATA_HOME` in which the default browser (the handler of
/// `x-scheme-handler/http`, as `xdg-open` looks it up) is a headless Chromium. Dropping it
/// stops that browser.
struct DefaultBrowser {
    dir: PathBuf,
}

impl DefaultBrowser {
    fn install(chromium: &Path) -> Result<DefaultBrowser> {
        let dir = fresh_dir("default-browser");
        let applications = dir.join("data/applications");
        std::fs::create_dir_all(&applications)?;
        std::fs::create_dir_all(dir.join("config"))?;
        let launcher = dir.join("browser");
        std::fs::write(
            &launcher,
            format!(
                "#!/bin/sh\nexec {} --headless --no-sandbox --disable-gpu --disable-quic \
                 --no-first-run --disable-background-networking --disable-component-update \
                 --disable-sync --user-data-dir={} \"$1\"\n",
                chromium.display(),
                dir.join("profile").display()
            ),
        )?;
        let mut permissions = std::fs::metadata(&launcher)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&launcher, permissions)?;
        std::fs::write(
            applications.join("trw-test-browser.desktop"),
            format!(
                "[Desktop Entry]\nType=Application\nName=Test browser\nExec={} %u\n\
                 MimeType=x-scheme-handler/http;\n",
                launcher.display()
            ),
        )?;
        std::fs::write(
            dir.join("config/mimeapps.list"),
            "[Default Applications]\nx-scheme-handler/http=trw-test-browser.desktop\n",
        )?;
        Ok(DefaultBrowser { dir })
    }

    /// Environment for the app, so that its `xdg-open` finds this browser.
    fn env(&self) -> [(&'static str, PathBuf); 2] {
        [
            ("XDG_CONFIG_HOME", self.dir.join("config")),
            ("XDG_DATA_HOME", self.dir.join("data")),
        ]
    }
}

impl Drop for DefaultBrowser {
    fn drop(&mut self) {
        // The browser was started by xdg-open, not by us: find it by its profile directory.
        let profile = self.dir.join("profile");
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(profile.as_os_str())
            .status();
    }
}

#[tokio::test]
async fn the_tray_menu_shows_the_live_count_and_quits_gracefully() {
    let test = "tray_menu";
    if window_tools(test, true).is_none() {
        return;
    }
    let Some((chromium, _)) = chromium_tools(test) else {
        return;
    };
    let _turn = desktop::one_window_at_a_time().await;
    let browser = DefaultBrowser::install(&chromium).expect("set up a default browser");
    let port = free_port();
    let log = log_file(test);
    std::fs::create_dir_all(log.parent().expect("log dir")).expect("create the log dir");
    let out = std::fs::File::create(&log).expect("create the log file");
    let err = out.try_clone().expect("clone the log file");
    let child = Command::new(APP)
        .env("TRW_PORT", port.to_string())
        .env("RUST_LOG", "info")
        .envs(browser.env())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start the app");
    let mut app = App { child };
    let pid = app.child.id();
    let url = format!("http://127.0.0.1:{port}");

    let outcome = async {
        // 1. The window connects, and the menu says so, with the real URL.
        let menu = wait_until("the tray menu to show 1 connection", UI_TIMEOUT, || async {
            let menu = find_menu(pid)?;
            let items = menu_items(&menu)?;
            if items.contains_key("1 connection") && items.contains_key(&url) {
                Ok(menu)
            } else {
                Err(format!("menu items: {:?}", items.keys()).into())
            }
        })
        .await?;

        // 2. One more client: the count follows.
        let _client = RoomClient::connect(port).await?;
        wait_until(
            "the tray menu to show 2 connections",
            UI_TIMEOUT,
            || async {
                let items = menu_items(&menu)?;
                if items.contains_key("2 connections") {
                    Ok(())
                } else {
                    Err(format!("menu items: {:?}", items.keys()).into())
                }
            },
        )
        .await?;

        // 3. "Copy URL" puts the URL in use on the clipboard.
        click(&menu, "Copy URL")?;
        wait_until("the URL on the clipboard", UI_TIMEOUT, || async {
            let clipboard = read_clipboard()?;
            if clipboard.trim() == url {
                Ok(())
            } else {
                Err(format!("the clipboard holds {clipboard:?}").into())
            }
        })
        .await?;

        // 4. The "Notifications" check item turns them off, saved for the next start (the same
        //    marker file the notification test checks the effect of), and on again.
        let marker = browser
            .env()
            .iter()
            .find(|(key, _)| *key == "XDG_CONFIG_HOME")
            .map(|(_, dir)| dir.join("dev.tauri-ractor-websocket.hub/notifications-off"))
            .ok_or("no XDG_CONFIG_HOME for the app")?;
        for expect_off in [true, false] {
            click(&menu, "Notifications")?;
            wait_until(
                "the notifications setting to be saved",
                UI_TIMEOUT,
                || async {
                    if marker.exists() == expect_off {
                        Ok(())
                    } else {
                        Err(format!("{} exists: {}", marker.display(), marker.exists()).into())
                    }
                },
            )
            .await?;
        }

        // 5. "Open in browser": a browser tab on the URL in use joins as a third connection.
        click(&menu, "Open in browser")?;
        wait_until("the browser tab to connect", UI_TIMEOUT, || async {
            let health = health(port).await?;
            if health["active_websockets"] == 3 {
                Ok(())
            } else {
                Err(format!("/health: {health}").into())
            }
        })
        .await?;

        // 6. "Quit" is a graceful shutdown.
        click(&menu, "Quit")?;
        let deadline = Instant::now() + UI_TIMEOUT; // hang guard
        let status = loop {
            if let Some(status) = app.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                return Err("the app did not exit after Quit".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        if !status.success() || !output.contains("server stopped") {
            return Err(format!("Quit: exit {status}, log:\n{output}").into());
        }
        Ok::<(), support::webdriver::Error>(())
    }
    .await;
    if let Err(e) = outcome {
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("{test} failed: {e}\n--- app log ---\n{output}");
    }
}
