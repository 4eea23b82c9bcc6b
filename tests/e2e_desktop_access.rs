//! End-to-end: the desktop window with `--auth token` (issue 12).
//!
//! The window's page is not served by the app's server, so it gets no cookie: the app hands it
//! the token in `window.__TRW_CONFIG__`, and the page offers it as a `Sec-WebSocket-Protocol`
//! entry (`trw.v1, trw.token.<token>`) and as a Bearer header on its HTTP requests. This test
//! checks that the real window still connects that way, while a client without the token is
//! refused, and that after a rotation (4003) the window takes the app's new token and connects
//! again.
#![cfg(feature = "desktop")]

mod support {
    pub mod data_dir;
    pub mod webdriver;
}
mod desktop;

use desktop::{health, window_tools, Window};
use support::webdriver::{
    free_port, fresh_dir, http_client, save_screenshot, wait_until, ChatPage, Result, UI_TIMEOUT,
};

#[tokio::test]
async fn the_window_connects_with_the_token_through_the_subprotocol_entry() {
    let test = "desktop_token_window";
    let Some(tauri_driver) = window_tools(test, false) else {
        return;
    };
    let port = free_port();
    let data = fresh_dir("desktop-token");
    let window = Window::launch(
        &tauri_driver,
        &[
            ("TRW_PORT", port.to_string()),
            ("TRW_AUTH", "token".to_owned()),
            ("TRW_DATA_DIR", data.display().to_string()),
        ],
    )
    .await
    .expect("launch the app through tauri-driver");
    let outcome = scenario(&window, port, &data).await;
    let shot = support::webdriver::artifacts_dir().join("desktop-token-window.png");
    if let Err(e) = save_screenshot(&window.session, &shot).await {
        eprintln!("{test}: could not save a screenshot: {e}");
    }
    let log = window.driver.process.log_tail();
    window.close(test).await;
    if let Err(e) = outcome {
        panic!(
            "{test} failed: {e}\n(screenshot: {}; driver log: {log})",
            shot.display()
        );
    }
}

async fn scenario(window: &Window, port: u16, data: &std::path::Path) -> Result<()> {
    let session = &window.session;
    ChatPage { session }.wait_for_state("connected").await?;
    let counts = health(port).await?;
    if counts["active_websockets"] != 1 {
        return Err(format!("expected the window connected, /health says {counts}").into());
    }
    // Token auth really is on: a client without it is refused.
    let refused = http_client()
        .get(format!("http://127.0.0.1:{port}/api/actors"))
        .send()
        .await?;
    if refused.status() != 401 {
        return Err(format!("/api/actors without a token answered {}", refused.status()).into());
    }
    // The page's own HTTP requests carry the token (as a Bearer header): the same request
    // from inside the window is answered.
    let status = session
        .execute_async(
            "const done = arguments[arguments.length - 1];\n\
             fetch(window.__TRW_CONFIG__.httpBase + '/api/actors', { cache: 'no-store' })\n\
               .then((r) => done(r.status), (e) => done(String(e)));",
            vec![],
        )
        .await?;
    if status != 200 {
        return Err(format!("/api/actors from the window answered {status}").into());
    }

    // Rotation: the window's socket is closed with 4003; the page asks the app for the new
    // token (the `access_token` command) and connects again with it.
    let old = std::fs::read_to_string(data.join("auth-token"))?
        .trim()
        .to_owned();
    let rotated: serde_json::Value = http_client()
        .post(format!("http://127.0.0.1:{port}/api/auth/rotate"))
        .bearer_auth(&old)
        .send()
        .await?
        .json()
        .await?;
    let new = rotated["token"].as_str().ok_or("no new token")?.to_owned();
    wait_until(
        "the window to be closed with 4003 and back",
        UI_TIMEOUT,
        || async {
            let metrics = http_client()
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .bearer_auth(&new)
                .send()
                .await?
                .text()
                .await?;
            let closed = metrics.contains("trw_disconnects_total{reason=\"unauthorized\"} 1");
            let counts = health(port).await?;
            if closed && counts["active_websockets"] == 1 {
                Ok(())
            } else {
                Err(format!("closed with 4003: {closed}; /health: {counts}").into())
            }
        },
    )
    .await?;
    ChatPage { session }.wait_for_state("connected").await?;
    Ok(())
}
