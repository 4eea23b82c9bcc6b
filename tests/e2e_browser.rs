//! End-to-end: the real server binary, driven through a real headless Chromium.
//!
//! What this proves that the core tests cannot: the page served at `/` really connects from a
//! browser (same-origin WebSocket, CSP, the UI's own JavaScript), renders what the room sends,
//! and what a user types there reaches other WebSocket clients.
//!
//! Setup per test: start `tauri-ractor-websocket --headless --port P` as a child process and
//! wait for `/health`; start chromedriver; open a WebDriver session with a headless Chromium;
//! load `http://127.0.0.1:P/`. Everything is torn down at the end, also on failure.
//!
//! Needs `chromium` and `chromedriver` (`scripts/install-prereqs --test`). Without them the tests
//! print "skipped: ..." and pass, unless `TRW_REQUIRE_E2E=1`.

mod support {
    pub mod data_dir;
    pub mod webdriver;
}

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fantoccini::{Client, Locator};
use support::webdriver::{
    artifacts_dir, chromium_capabilities, chromium_tools, free_port, http_broadcast,
    save_screenshot, unique_suffix, wait_until, with_enter, ChatPage, Driver, Process, Result,
    RoomClient, UI_TIMEOUT,
};

/// The app binary Cargo built for this package (honours `CARGO_TARGET_DIR`).
const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

/// The server, running headless on a free port; stopped (SIGTERM) when dropped.
struct Server {
    port: u16,
    _process: Process,
}

impl Server {
    async fn start() -> Result<Server> {
        let port = free_port();
        let mut command = Command::new(APP);
        command
            .args(["--headless", "--port", &port.to_string()])
            .env("TRW_DATA_DIR", support::data_dir::fresh("e2e-browser"))
            .env("RUST_LOG", "info");
        let mut process = Process::spawn(&format!("server-{port}"), command)?;
        process
            .wait_http_ok(
                &format!("http://127.0.0.1:{port}/health"),
                Duration::from_secs(30),
            )
            .await?;
        Ok(Server {
            port,
            _process: process,
        })
    }

    fn page_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

/// Start server, driver and browser; run `scenario` on the loaded page; always close the browser.
///
/// The scenario returns `Result` instead of panicking so that the teardown below always runs:
/// the session is deleted (closing Chromium) and a screenshot is kept for post-mortems.
async fn with_page<F>(test: &str, scenario: F)
where
    F: for<'a> AsyncFnOnce(&'a ChatPage<'a>, &'a Server) -> Result<()>,
{
    let Some(rig) = Rig::start(test).await else {
        return;
    };
    let (server, session) = (&rig.server, rig.open_tab().await);

    let page = ChatPage { session: &session };
    let outcome = match session.goto(&server.page_url()).await {
        Ok(()) => scenario(&page, server).await,
        Err(e) => Err(e.into()),
    };

    let shot = artifacts_dir().join(format!("{test}.png"));
    close_session(test, session, &shot).await;
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n(screenshot: {})", shot.display());
    }
}

/// What every browser test needs: the server binary, chromedriver, and where Chromium is.
struct Rig {
    server: Server,
    driver: Driver,
    chromium: PathBuf,
}

impl Rig {
    /// `None` when the browser tools are missing (see `chromium_tools`).
    async fn start(test: &str) -> Option<Rig> {
        let (chromium, chromedriver) = chromium_tools(test)?;
        let server = Server::start().await.expect("start the server binary");
        let driver = Driver::chromedriver(&chromedriver)
            .await
            .expect("start chromedriver");
        Some(Rig {
            server,
            driver,
            chromium,
        })
    }

    /// A new headless Chromium (its own profile), not yet on any page.
    async fn open_tab(&self) -> Client {
        self.driver
            .session(chromium_capabilities(&self.chromium))
            .await
            .expect("open a headless Chromium session")
    }
}

/// Teardown, success or not: keep a screenshot for post-mortems, then close the browser.
async fn close_session(test: &str, session: Client, shot: &std::path::Path) {
    if let Err(e) = save_screenshot(&session, shot).await {
        eprintln!("{test}: could not save a screenshot: {e}");
    }
    if let Err(e) = session.close().await {
        eprintln!("{test}: could not delete the session: {e}");
    }
}

#[tokio::test]
async fn a_broadcast_over_http_appears_in_a_browser_tab() {
    with_page("browser_broadcast", async |page, server| {
        page.wait_for_state("connected").await?;

        let text = format!("browser broadcast {}", unique_suffix());
        let answer = http_broadcast(server.port, &text).await?;
        if answer["delivered_to"].as_u64().unwrap_or(0) < 1 {
            return Err(format!("the broadcast reached nobody: {answer}").into());
        }

        page.wait_for_message(&text).await
    })
    .await;
}

#[tokio::test]
async fn a_chat_typed_in_a_browser_tab_reaches_other_websocket_clients() {
    with_page("browser_chat", async |page, server| {
        page.wait_for_state("connected").await?;
        let mut other = RoomClient::connect(server.port).await?;

        let text = format!("typed in chromium {}", unique_suffix());
        page.send_chat(&text).await?;

        // The room echoes to everyone, the sender included: the page shows it...
        page.wait_for_message(&text).await?;
        // ...and a raw WebSocket client in the same room receives it as a chat message.
        let frame = other.wait_for_message(&text).await?;
        if frame["kind"] != "chat" || !frame["seq"].is_u64() {
            return Err(format!("expected a chat message with a seq, got {frame}").into());
        }

        // And the other way: the raw client's chat shows up in the tab.
        let reply = format!("reply from a websocket client {}", unique_suffix());
        other.send_chat(&reply).await?;
        page.wait_for_message(&reply).await
    })
    .await;
}

/// Two tabs in different rooms each see only their own room's messages, and the actor
/// inspector in either tab lists both connections.
#[tokio::test]
async fn two_tabs_in_different_rooms_and_the_actor_inspector() {
    let test = "browser_rooms";
    let Some(rig) = Rig::start(test).await else {
        return;
    };
    let (first, second) = (rig.open_tab().await, rig.open_tab().await);

    let outcome = two_rooms_scenario(&first, &second, &rig.server).await;

    for (session, name) in [(first, "first"), (second, "second")] {
        let shot = artifacts_dir().join(format!("{test}-{name}.png"));
        close_session(test, session, &shot).await;
    }
    if let Err(e) = outcome {
        panic!(
            "{test} failed: {e} (screenshots in {})",
            artifacts_dir().display()
        );
    }
}

async fn two_rooms_scenario(first: &Client, second: &Client, server: &Server) -> Result<()> {
    let in_dev = ChatPage { session: first };
    let in_lobby = ChatPage { session: second };
    for page in [&in_dev, &in_lobby] {
        page.session.goto(&server.page_url()).await?;
        page.wait_for_state("connected").await?;
    }

    // The first tab joins #dev through the UI and switches to it.
    let join = first.find(Locator::Css("#join-room-input")).await?;
    join.send_keys(&with_enter("dev")).await?;
    wait_until("#room-name to read dev", UI_TIMEOUT, || async {
        let title = first.find(Locator::Css("#room-name")).await?.text().await?;
        if title.trim() == "dev" {
            Ok(())
        } else {
            Err(format!("#room-name is {title:?}").into())
        }
    })
    .await?;

    let dev_text = format!("only for dev {}", unique_suffix());
    let lobby_text = format!("only for the lobby {}", unique_suffix());
    in_dev.send_chat(&dev_text).await?;
    in_lobby.send_chat(&lobby_text).await?;
    in_dev.wait_for_message(&dev_text).await?;
    in_lobby.wait_for_message(&lobby_text).await?;
    // Each tab shows its own room only.
    let dev_view = in_dev.message_texts().await?;
    let lobby_view = in_lobby.message_texts().await?;
    if dev_view.iter().any(|t| t.contains(&lobby_text)) {
        return Err(format!("the #dev view shows a lobby message: {dev_view:?}").into());
    }
    if lobby_view.iter().any(|t| t.contains(&dev_text)) {
        return Err(format!("the lobby view shows a #dev message: {lobby_view:?}").into());
    }

    // The inspector (visible at 1280 px) lists both connections by name.
    let names = [
        first.find(Locator::Css("#my-name")).await?.text().await?,
        second.find(Locator::Css("#my-name")).await?.text().await?,
    ];
    wait_until(
        "both connections in the actor inspector",
        UI_TIMEOUT,
        || async {
            let mut listed = Vec::new();
            for item in first
                .find_all(Locator::Css("#actors-connections li.actor-connection"))
                .await?
            {
                listed.push(item.text().await?);
            }
            let all_there = names
                .iter()
                .all(|name| listed.iter().any(|entry| entry.contains(name.as_str())));
            if all_there {
                Ok(())
            } else {
                Err(format!("inspector lists {listed:?}, expected {names:?}").into())
            }
        },
    )
    .await
}
