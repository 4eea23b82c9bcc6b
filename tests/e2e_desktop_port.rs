//! End-to-end: the preferred port is taken by another program.
//!
//! A plain TCP listener (standing in for "another program") holds the port the app would
//! prefer. The app is launched *without* `--port`/`TRW_PORT` (which would force that port) and
//! with `TRW_PREFERRED_PORT` pointing at the taken port, since tests never use the real 8000.
//! The window must show the notice in `#notice`, connect to the app's own server on another
//! port, and show that URL; the log says the same.
#![cfg(feature = "desktop")]

mod support {
    pub mod data_dir;
    pub mod webdriver;
}
mod desktop;

use std::net::TcpListener;

use desktop::{health, window_tools, Window};
use fantoccini::Locator;
use support::webdriver::{save_screenshot, wait_until, ChatPage, Result, UI_TIMEOUT};

#[tokio::test]
async fn a_taken_port_is_reported_in_the_window() {
    let test = "port_taken";
    let Some(tauri_driver) = window_tools(test, false) else {
        return;
    };
    // Another program on the preferred port: it accepts connections and never answers.
    let squatter = TcpListener::bind("127.0.0.1:0").expect("bind a squatting listener");
    let taken = squatter.local_addr().expect("squatter address").port();

    let window = Window::launch(
        &tauri_driver,
        // No TRW_PORT: that would force a port and turn the fallback off.
        &[("TRW_PREFERRED_PORT", taken.to_string())],
    )
    .await
    .expect("launch the app through tauri-driver");
    let outcome = scenario(&window, taken).await;
    let shot = support::webdriver::artifacts_dir().join("port-taken.png");
    if let Err(e) = save_screenshot(&window.session, &shot).await {
        eprintln!("{test}: could not save a screenshot: {e}");
    }
    let log = window.driver.process.log_tail();
    window.close(test).await;
    drop(squatter);
    if let Err(e) = outcome {
        panic!(
            "{test} failed: {e}\n(screenshot: {}; driver log: {log})",
            shot.display()
        );
    }
}

async fn scenario(window: &Window, taken: u16) -> Result<()> {
    let session = &window.session;
    ChatPage { session }.wait_for_state("connected").await?;

    // The banner names the taken port and the one in use.
    let notice = wait_until("#notice to be shown", UI_TIMEOUT, || async {
        let banner = session.find(Locator::Css("#notice")).await?;
        if banner.attr("hidden").await?.is_some() {
            return Err("#notice is hidden".into());
        }
        Ok(session
            .find(Locator::Css("#notice-text"))
            .await?
            .text()
            .await?)
    })
    .await?;
    if !notice.contains(&format!("Port {taken} is in use by another program")) {
        return Err(format!("unexpected notice: {notice:?}").into());
    }

    // The page shows, and talks to, the URL actually in use: the app's own server.
    // textContent, not the rendered text: a narrow layout may hide the URL.
    let ws_url = session
        .find(Locator::Css("#ws-url"))
        .await?
        .prop("textContent")
        .await?;
    let ws_url = ws_url.as_deref().unwrap_or_default();
    let port: u16 = ws_url
        .trim_start_matches("ws://127.0.0.1:")
        .trim_end_matches("/ws")
        .parse()
        .map_err(|e| format!("#ws-url {ws_url:?} has no port: {e}"))?;
    if port == taken {
        return Err(format!("the window uses the taken port: {ws_url}").into());
    }
    if !notice.contains(&format!("using port {port} instead")) {
        return Err(format!("the notice does not name port {port}: {notice:?}").into());
    }
    let health = health(port).await?;
    if health["active_websockets"] != 1 {
        return Err(format!("expected the window on {port}, health says {health}").into());
    }
    Ok(())
}
