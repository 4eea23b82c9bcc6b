//! End-to-end: the token login in a real headless Chromium (issue 12).
//!
//! The server binary runs with `--auth token`. A tab that opens the join URL
//! (`/?token=…`) gets the HttpOnly cookie and a redirect to `/`; the page then connects with
//! that cookie, and the token is left neither in `location` nor in `document.cookie`.
//!
//! Needs `chromium` and `chromedriver` (`scripts/install-prereqs --test`); skipped otherwise
//! unless `TRW_REQUIRE_E2E=1`.

mod support {
    pub mod data_dir;
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

    // A tab without the token: the page is served, its socket is refused, and it says why.
    session.goto(&format!("http://127.0.0.1:{port}/")).await?;
    let page = ChatPage { session };
    page.wait_for_system_line("This server wants its access token")
        .await?;

    session
        .goto(&format!("http://127.0.0.1:{port}/?token={token}"))
        .await?;
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

/// The page's "Share" panel: share on 127.0.0.2 (without TLS, so that a headless browser can
/// open the link without a certificate prompt), see the join link and its QR code, open the
/// link in a second tab that then connects through the share, and stop sharing.
#[tokio::test]
async fn the_share_panel_shares_shows_a_qr_code_and_a_link_that_joins() {
    let test = "access_share_panel";
    let Some((chromium, chromedriver)) = chromium_tools(test) else {
        return;
    };
    let port = free_port();
    let data = fresh_dir("share-panel-data");
    let mut command = Command::new(APP);
    command
        .args([
            "--headless",
            "--port",
            &port.to_string(),
            "--share-address",
            "127.0.0.2",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "info");
    let mut server =
        Process::spawn(&format!("share-panel-{port}"), command).expect("start the server");
    server
        .wait_http_ok(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(30),
        )
        .await
        .expect("the server answers /health");
    let driver = Driver::chromedriver(&chromedriver)
        .await
        .expect("start chromedriver");
    let owner = driver
        .session(chromium_capabilities(&chromium))
        .await
        .expect("a Chromium session");
    let guest = driver
        .session(chromium_capabilities(&chromium))
        .await
        .expect("a second Chromium session");
    let outcome = share_scenario(&owner, &guest, port).await;
    for (session, name) in [(owner, "owner"), (guest, "guest")] {
        let _ = save_screenshot(
            &session,
            &artifacts_dir().join(format!("{test}-{name}.png")),
        )
        .await;
        let _ = session.close().await;
    }
    let log = server.log_tail();
    server.stop();
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n(server log: {log})");
    }
}

async fn share_scenario(
    owner: &fantoccini::Client,
    guest: &fantoccini::Client,
    port: u16,
) -> Result<()> {
    use fantoccini::Locator;
    use support::webdriver::{wait_until, UI_TIMEOUT};

    owner.goto(&format!("http://127.0.0.1:{port}/")).await?;
    ChatPage { session: owner }
        .wait_for_state("connected")
        .await?;
    let button = wait_until("the Share button", UI_TIMEOUT, || async {
        let button = owner.find(Locator::Css("#share-button")).await?;
        if button.attr("hidden").await?.is_none() {
            Ok(button)
        } else {
            Err("#share-button is hidden".into())
        }
    })
    .await?;
    button.click().await?;
    wait_until("127.0.0.2 to be offered", UI_TIMEOUT, || async {
        let options = owner
            .find_all(Locator::Css("#share-address option"))
            .await?;
        for option in options {
            if option.attr("value").await?.as_deref() == Some("127.0.0.2") {
                option.click().await?;
                return Ok(());
            }
        }
        Err("no 127.0.0.2 option".into())
    })
    .await?;
    owner
        .find(Locator::Css("#share-tls"))
        .await?
        .click()
        .await?; // untick: plain http
    owner
        .find(Locator::Css("#share-start"))
        .await?
        .click()
        .await?;
    let join_url = wait_until("the join link", UI_TIMEOUT, || async {
        let link = owner.find(Locator::Css("#share-link")).await?;
        let text = link.prop("textContent").await?.unwrap_or_default();
        if link.attr("hidden").await?.is_none() && text.starts_with("http://127.0.0.2:") {
            Ok(text)
        } else {
            Err(format!("#share-link: {text:?}").into())
        }
    })
    .await?;
    if !join_url.contains("/?token=") {
        return Err(format!("the join link has no token: {join_url}").into());
    }
    wait_until("the QR code", UI_TIMEOUT, || async {
        let src = owner
            .find(Locator::Css("#share-qr"))
            .await?
            .attr("src")
            .await?
            .unwrap_or_default();
        if src.starts_with("data:image/svg+xml") && src.contains("svg") {
            Ok(())
        } else {
            Err(format!("#share-qr src: {src:.60}").into())
        }
    })
    .await?;

    // A guest opens the link: logged in by the cookie, connected through the share, and the
    // share's page does not offer to control sharing.
    guest.goto(&join_url).await?;
    ChatPage { session: guest }
        .wait_for_state("connected")
        .await?;
    let location = guest.current_url().await?;
    if location.as_str().contains("token") {
        return Err(format!("the token stayed in the guest's address bar: {location}").into());
    }
    let text = format!("from the guest {}", unique_suffix());
    ChatPage { session: guest }.send_chat(&text).await?;
    ChatPage { session: owner }.wait_for_message(&text).await?;
    if guest
        .find(Locator::Css("#share-button"))
        .await?
        .attr("hidden")
        .await?
        .is_none()
    {
        return Err("the guest's page offers the Share button".into());
    }

    // Stop sharing: the guest loses its connection, the owner keeps its own.
    owner
        .find(Locator::Css("#share-stop"))
        .await?
        .click()
        .await?;
    wait_until("the guest to be disconnected", UI_TIMEOUT, || async {
        let state = guest
            .find(Locator::Css("#status"))
            .await?
            .attr("data-state")
            .await?
            .unwrap_or_default();
        if state != "connected" {
            Ok(())
        } else {
            Err("the guest is still connected".into())
        }
    })
    .await?;
    ChatPage { session: owner }
        .wait_for_state("connected")
        .await
}
