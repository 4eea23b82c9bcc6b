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
//!
//! A second test clicks "Share on 127.0.0.2 (configured)" and "Stop sharing" (issue 12).
#![cfg(feature = "desktop")]

mod support {
    pub mod data_dir;
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
        .env("TRW_DATA_DIR", support::data_dir::fresh("desktop-tray"))
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

/// "Share on this network" from the tray (issue 12): the share listener answers on 127.0.0.2
/// (offered through `TRW_SHARE_ADDRESSES`, standing in for a LAN address) over TLS with the
/// certificate kept in the data directory, wants the token, and "Stop sharing" closes it and
/// the WebSockets that came through it.
#[tokio::test]
async fn share_on_this_network_from_the_tray_and_stop_sharing() {
    let test = "tray_share";
    if window_tools(test, true).is_none() {
        return;
    }
    let _turn = desktop::one_window_at_a_time().await;
    let port = free_port();
    let data = fresh_dir("tray-share-data");
    let log = log_file(test);
    std::fs::create_dir_all(log.parent().expect("log dir")).expect("create the log dir");
    let out = std::fs::File::create(&log).expect("create the log file");
    let err = out.try_clone().expect("clone the log file");
    let child = Command::new(APP)
        .env("TRW_PORT", port.to_string())
        .env("TRW_DATA_DIR", &data)
        .env("TRW_SHARE_ADDRESSES", "127.0.0.2")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start the app");
    let app = App { child };
    let pid = app.child.id();

    let outcome = async {
        let share_item = "Share on 127.0.0.2 (configured)";
        let menu = wait_until("the tray menu to offer 127.0.0.2", UI_TIMEOUT, || async {
            let menu = find_menu(pid)?;
            let items = menu_items(&menu)?;
            if items.contains_key(share_item) && items.contains_key("Not shared on the network") {
                Ok(menu)
            } else {
                Err(format!("menu items: {:?}", items.keys()).into())
            }
        })
        .await?;

        click(&menu, share_item)?;
        let shared_at = wait_until("the tray to say where it shares", UI_TIMEOUT, || async {
            let items = menu_items(&menu)?;
            items
                .keys()
                .find_map(|label| label.strip_prefix("Shared at ").map(str::to_owned))
                .ok_or_else(|| format!("menu items: {:?}", items.keys()).into())
        })
        .await?;
        let shared_port: u16 = shared_at
            .strip_prefix("https://127.0.0.2:")
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| format!("shared at {shared_at:?}, not https on 127.0.0.2"))?;
        let shared = std::net::SocketAddr::from(([127, 0, 0, 2], shared_port));
        let cert = std::fs::read_to_string(data.join("tls/self-signed-127.0.0.2.pem"))?;
        let token = std::fs::read_to_string(data.join("auth-token"))?
            .trim()
            .to_owned();

        // Without the token: 401. With it: a WebSocket through the share.
        match share_client::wss(shared, &cert, None).await {
            Err(refusal) if refusal == "HTTP 401" => {}
            Err(refusal) => return Err(format!("without the token: {refusal}").into()),
            Ok(_) => return Err("without the token the share let a WebSocket in".into()),
        }
        let mut through_share = share_client::wss(shared, &cert, Some(&token))
            .await
            .map_err(|e| format!("with the token: {e}"))?;

        click(&menu, "Stop sharing")?;
        let code = share_client::close_code(&mut through_share).await?;
        if code != 1001 {
            return Err(format!("the shared socket closed with {code}, not 1001").into());
        }
        wait_until("the share listener to close", UI_TIMEOUT, || async {
            match tokio::net::TcpStream::connect(shared).await {
                Err(_) => Ok(()),
                Ok(_) => Err("127.0.0.2 still accepts connections".into()),
            }
        })
        .await?;
        wait_until(
            "the tray to say it no longer shares",
            UI_TIMEOUT,
            || async {
                let items = menu_items(&menu)?;
                if items.contains_key("Not shared on the network") {
                    Ok(())
                } else {
                    Err(format!("menu items: {:?}", items.keys()).into())
                }
            },
        )
        .await?;
        // The window is (still) connected on the main listener: only the share was closed.
        wait_until("the window on the main listener", UI_TIMEOUT, || async {
            let health = health(port).await?;
            if health["active_websockets"] == 1 {
                Ok(())
            } else {
                Err(format!("after Stop sharing, /health says {health}").into())
            }
        })
        .await?;
        // The tray follows a share started and stopped from the page's panel (over HTTP).
        let api = format!("http://127.0.0.1:{port}/api/share");
        support::webdriver::http_client()
            .post(&api)
            .json(&serde_json::json!({"address": "127.0.0.2", "tls": false}))
            .send()
            .await?
            .error_for_status()?;
        wait_until("the tray to show the page's share", UI_TIMEOUT, || async {
            let items = menu_items(&menu)?;
            if items
                .keys()
                .any(|label| label.starts_with("Shared at http://127.0.0.2:"))
            {
                Ok(())
            } else {
                Err(format!("menu items: {:?}", items.keys()).into())
            }
        })
        .await?;
        support::webdriver::http_client()
            .post(format!("{api}/stop"))
            .send()
            .await?
            .error_for_status()?;
        wait_until("the tray to show the share stopped", UI_TIMEOUT, || async {
            let items = menu_items(&menu)?;
            if items.contains_key("Not shared on the network") {
                Ok(())
            } else {
                Err(format!("menu items: {:?}", items.keys()).into())
            }
        })
        .await?;

        let output = std::fs::read_to_string(&log).unwrap_or_default();
        if output.contains(&token) {
            return Err("the token appears in the log".into());
        }
        Ok::<(), support::webdriver::Error>(())
    }
    .await;
    drop(app);
    if let Err(e) = outcome {
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("{test} failed: {e}\n--- app log ---\n{output}");
    }
}

/// A wss client that trusts exactly the share's self-signed certificate.
mod share_client {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use futures_util::StreamExt;
    use rustls::pki_types::pem::PemObject;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    use super::support::webdriver::{Result, UI_TIMEOUT};

    pub type Socket =
        tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

    pub async fn wss(
        addr: SocketAddr,
        cert_pem: &str,
        token: Option<&str>,
    ) -> std::result::Result<Socket, String> {
        let other = |e: &dyn std::fmt::Display| e.to_string();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
            roots
                .add(cert.map_err(|e| other(&e))?)
                .map_err(|e| other(&e))?;
        }
        let provider = tauri_ractor_websocket::server::access::tls::crypto_provider();
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| other(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| other(&e))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(rustls::pki_types::ServerName::from(addr.ip()), tcp)
            .await
            .map_err(|e| other(&e))?;
        let mut request = format!("wss://{addr}/ws")
            .into_client_request()
            .map_err(|e| other(&e))?;
        if let Some(token) = token {
            let value = format!("Bearer {token}").parse().map_err(|e| other(&e))?;
            request.headers_mut().insert("authorization", value);
        }
        match tokio_tungstenite::client_async(request, tls).await {
            Ok((socket, _)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(format!("HTTP {}", response.status().as_u16()))
            }
            Err(e) => Err(other(&e)),
        }
    }

    /// Reads until the server's close frame; its code.
    pub async fn close_code(socket: &mut Socket) -> Result<u16> {
        loop {
            match tokio::time::timeout(UI_TIMEOUT, socket.next()).await? {
                Some(Ok(Message::Close(Some(close)))) => return Ok(close.code.into()),
                Some(Ok(_)) => continue,
                other => return Err(format!("no close frame: {other:?}").into()),
            }
        }
    }
}
