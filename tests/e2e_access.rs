//! End-to-end: the token login in a real headless Chromium (issue 12).
//!
//! The server binary runs with `--auth token`. A tab that opens the join URL
//! (`/?token=…`) gets the HttpOnly cookie and a redirect to `/`; the page then connects with
//! that cookie, and the token is left neither in `location` nor in `document.cookie`.
//!
//! Needs `chromium` and `chromedriver` (`scripts/install-prereqs --test`); skipped otherwise
//! unless `TRW_REQUIRE_E2E=1`.

mod support {
    pub mod webdriver;
}

use std::process::Command;
use std::time::Duration;

use support::webdriver::{
    artifacts_dir, chromium_capabilities, chromium_tools, free_port, fresh_dir, http_client,
    save_screenshot, unique_suffix, ChatPage, Driver, Process, Result, RoomClient,
};

const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

#[tokio::test]
async fn the_token_url_logs_a_browser_in_and_leaves_no_token_in_the_page() {
    let test = "access_cookie_login";
    let Some((chromium, chromedriver)) = chromium_tools(test) else {
        return;
    };
    let port = free_port();
    let data = fresh_dir("access-data");
    let mut command = Command::new(APP);
    command
        .args(["--headless", "--port", &port.to_string(), "--auth", "token"])
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "info");
    let mut server =
        Process::spawn(&format!("access-server-{port}"), command).expect("start the server");
    server
        .wait_http_ok(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(30),
        )
        .await
        .expect("the server answers /health");
    let token = std::fs::read_to_string(data.join("auth-token"))
        .expect("the token file")
        .trim()
        .to_owned();

    let driver = Driver::chromedriver(&chromedriver)
        .await
        .expect("start chromedriver");
    let session = driver
        .session(chromium_capabilities(&chromium))
        .await
        .expect("open a headless Chromium session");
    let outcome = scenario(&session, port, &token).await;
    let shot = artifacts_dir().join(format!("{test}.png"));
    let _ = save_screenshot(&session, &shot).await;
    let _ = session.close().await;
    let log = server.log_tail();
    server.stop();
    if let Err(e) = outcome {
        panic!(
            "{test} failed: {e}\n(screenshot: {}; server log: {log})",
            shot.display()
        );
    }
    assert!(
        !log.contains(&token),
        "the token must never be logged:\n{log}"
    );
}

async fn scenario(session: &fantoccini::Client, port: u16, token: &str) -> Result<()> {
    // Without the token, the API refuses (the page itself is open).
    let refused = http_client()
        .get(format!("http://127.0.0.1:{port}/api/actors"))
        .send()
        .await?;
    if refused.status() != 401 {
        return Err(format!("/api/actors without a token: {}", refused.status()).into());
    }

    session
        .goto(&format!("http://127.0.0.1:{port}/?token={token}"))
        .await?;
    let page = ChatPage { session };
    page.wait_for_state("connected").await?;

    let location = session.current_url().await?;
    if location.as_str().contains(token) || location.query().is_some() || location.path() != "/" {
        return Err(format!("the token is still in the address bar: {location}").into());
    }
    let seen = session
        .execute(
            "return [location.href, document.cookie, history.length];",
            vec![],
        )
        .await?;
    if seen.to_string().contains(token) {
        return Err(format!("the page can see the token: {seen}").into());
    }

    // The page is really in the room: a message from a token-holding client shows up.
    let mut other = RoomClient::connect_with_token(port, token).await?;
    let text = format!("through the cookie {}", unique_suffix());
    other.send_chat(&text).await?;
    page.wait_for_message(&text).await
}
