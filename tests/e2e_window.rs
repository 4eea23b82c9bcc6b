//! End-to-end: the real Tauri window, driven through tauri-driver + WebKitWebDriver under Xvfb.
//!
//! This is the one test that sees what a desktop user sees: the app binary starts its server,
//! opens its window (a WebKitGTK WebView with the page from the bundle, origin
//! `tauri://localhost`, told the server's address through `window.__TRW_CONFIG__`), and the
//! page connects back over WebSocket. The test then checks that the window and an outside
//! WebSocket client are in one room, in both directions.
//!
//! How the app is launched: tauri-driver receives `tauri:options.application` in the session
//! capabilities and has WebKitWebDriver start that binary. The app inherits tauri-driver's
//! environment, so the port is chosen by setting `TRW_PORT` on the driver process.
//!
//! Needs a display (`scripts/test` runs it under `xvfb-run` in a `dbus-run-session`),
//! `tauri-driver` (`cargo install tauri-driver --version '^2' --locked`) and
//! `/usr/bin/WebKitWebDriver` (`apt-get install webkit2gtk-driver`). Without them the test prints
//! "skipped: ..." and passes, unless `TRW_REQUIRE_E2E=1`.
#![cfg(feature = "desktop")]

mod support {
    pub mod data_dir;
    pub mod webdriver;
}
mod desktop;

use desktop::{window_tools, Window};
use support::webdriver::{
    artifacts_dir, free_port, http_broadcast, http_client, save_screenshot, unique_suffix,
    wait_until, ChatPage, Driver, RoomClient, UI_TIMEOUT,
};

#[tokio::test]
async fn the_window_and_a_websocket_client_share_one_room() {
    let test = "window_room";
    let Some(tauri_driver) = window_tools(test, false) else {
        return;
    };

    // The port the app's server will use: handed to the app through the driver's environment.
    let port = free_port();
    let window = Window::launch(&tauri_driver, &[("TRW_PORT", port.to_string())])
        .await
        .expect("launch the app through tauri-driver");

    let page = ChatPage {
        session: &window.session,
    };
    let outcome = scenario(&page, port).await;

    let shot = artifacts_dir().join("window.png");
    if let Err(e) = save_screenshot(&window.session, &shot).await {
        eprintln!("{test}: could not save a screenshot: {e}");
    }
    // Closing quits the app; dropping the driver then stops tauri-driver.
    let log = window.driver.process.log_tail();
    window.close(test).await;
    if let Err(e) = outcome {
        panic!(
            "{test} failed: {e}\n(screenshot: {}; driver log: {log})",
            shot.display(),
        );
    }
}

async fn scenario(page: &ChatPage<'_>, port: u16) -> support::webdriver::Result<()> {
    // The window's page comes from the app bundle, not from the server.
    let url = String::from(page.session.current_url().await?);
    if !url.starts_with("tauri://") && !url.starts_with("http://tauri.localhost") {
        return Err(format!("expected the bundled page (tauri://localhost), got {url}").into());
    }

    // The app serves on the port it was given, before the page loads...
    wait_until("the app's /health", UI_TIMEOUT, || async {
        let health = format!("http://127.0.0.1:{port}/health");
        let response = http_client().get(health).send().await?;
        response.error_for_status().map(drop).map_err(Into::into)
    })
    .await?;
    // ...and the page connects to it.
    page.wait_for_state("connected").await?;

    // Server → window: a broadcast from outside shows up in the window.
    let broadcast = format!("window broadcast {}", unique_suffix());
    http_broadcast(port, &broadcast).await?;
    page.wait_for_message(&broadcast).await?;

    // Window → room: a chat typed in the window reaches an outside WebSocket client.
    let mut other = RoomClient::connect(port).await?;
    let chat = format!("typed in the window {}", unique_suffix());
    page.send_chat(&chat).await?;
    page.wait_for_message(&chat).await?;
    let frame = other.wait_for_message(&chat).await?;
    if frame["kind"] != "chat" {
        return Err(format!("expected a chat message, got {frame}").into());
    }

    // Room → window: the outside client's chat shows up in the window too.
    let reply = format!("reply from a websocket client {}", unique_suffix());
    other.send_chat(&reply).await?;
    page.wait_for_message(&reply).await
}

/// Window → Chromium tab → window: the desktop window and a real browser tab on
/// `http://127.0.0.1:PORT` are members of one room.
#[tokio::test]
async fn a_chat_from_the_window_reaches_a_chromium_tab_and_back() {
    let test = "window_and_chromium";
    let Some(tauri_driver) = window_tools(test, false) else {
        return;
    };
    let Some((chromium, chromedriver)) = support::webdriver::chromium_tools(test) else {
        return;
    };
    let port = free_port();
    let window = Window::launch(&tauri_driver, &[("TRW_PORT", port.to_string())])
        .await
        .expect("launch the app through tauri-driver");
    let chromedriver = Driver::chromedriver(&chromedriver)
        .await
        .expect("start chromedriver");
    let tab = chromedriver
        .session(support::webdriver::chromium_capabilities(&chromium))
        .await
        .expect("open a headless Chromium session");

    let outcome = async {
        let window_page = ChatPage {
            session: &window.session,
        };
        let tab_page = ChatPage { session: &tab };
        window_page.wait_for_state("connected").await?;
        tab.goto(&format!("http://127.0.0.1:{port}/")).await?;
        tab_page.wait_for_state("connected").await?;

        let there = format!("from the window to the tab {}", unique_suffix());
        window_page.send_chat(&there).await?;
        tab_page.wait_for_message(&there).await?;

        let back = format!("from the tab to the window {}", unique_suffix());
        tab_page.send_chat(&back).await?;
        window_page.wait_for_message(&back).await
    }
    .await;

    if let Err(e) = tab.close().await {
        eprintln!("{test}: could not close Chromium: {e}");
    }
    let log = window.driver.process.log_tail();
    window.close(test).await;
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n(driver log: {log})");
    }
}
