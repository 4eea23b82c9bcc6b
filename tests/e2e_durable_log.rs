//! End-to-end, in Chromium, against the real binary and its SQLite log:
//!
//! 1. a tab stays open while the server is killed and started again on the same data directory,
//!    and carries on exactly where it was;
//! 2. scrolling to the top of the list loads older messages from the log (`history`).
//!
//! About 1:
//! The page keeps each room's resume point (`epoch`, last `seq`) across the restart; the server
//! comes back with the same epoch and numbering from its SQLite log, so the page's reconnect
//! with `?since=lobby:EPOCH:SEQ` gets `gap: false` and exactly what it missed. To be sure there
//! *is* something missed, a broadcast is made while the tab is disconnected: by a server run on
//! another port (the tab does not know it) over the same data directory, in between.
//!
//! Needs `chromium` and `chromedriver`; skipped without them unless `TRW_REQUIRE_E2E=1`.

mod support {
    pub mod data_dir;
    pub mod webdriver;
}

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fantoccini::{Client, Locator};
use support::webdriver::{
    artifacts_dir, chromium_capabilities, chromium_tools, free_port, http_broadcast,
    save_screenshot, unique_suffix, ChatPage, Driver, Process, Result,
};

const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

async fn start_server(dir: &Path, port: u16, name: &str) -> Result<Process> {
    let mut command = Command::new(APP);
    command
        .args(["--headless", "--port", &port.to_string(), "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "info");
    let mut process = Process::spawn(name, command)?;
    process
        .wait_http_ok(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(30),
        )
        .await?;
    Ok(process)
}

async fn system_lines(session: &Client) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for element in session
        .find_all(Locator::Css("#messages .system-text"))
        .await?
    {
        lines.push(element.text().await?);
    }
    Ok(lines)
}

/// Chromium and chromedriver, a headless session, and a screenshot + teardown after `scenario`.
async fn with_browser<F>(test: &str, scenario: F)
where
    F: for<'a> AsyncFnOnce(&'a Client) -> Result<()>,
{
    let Some((chromium, chromedriver)) = chromium_tools(test) else {
        return;
    };
    let driver = Driver::chromedriver(&chromedriver)
        .await
        .expect("start chromedriver");
    let session = driver
        .session(chromium_capabilities(&chromium))
        .await
        .expect("open a headless Chromium session");
    let outcome = scenario(&session).await;
    let shot = artifacts_dir().join(format!("{test}.png"));
    if let Err(e) = save_screenshot(&session, &shot).await {
        eprintln!("{test}: could not save a screenshot: {e}");
    }
    let _ = session.close().await;
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n(screenshot: {})", shot.display());
    }
}

#[tokio::test]
async fn scrolling_to_the_top_loads_older_messages_from_the_log() {
    let test = "browser_older_history";
    let dir = support::data_dir::fresh(test);
    let port = free_port();
    let server = start_server(&dir, port, test)
        .await
        .expect("start the server");
    let tag = unique_suffix();
    for i in 1..=120 {
        http_broadcast(port, &format!("m{i} {tag}"))
            .await
            .expect("broadcast");
    }
    with_browser(test, async |session| {
        let page = ChatPage { session };
        session.goto(&format!("http://127.0.0.1:{port}/")).await?;
        page.wait_for_state("connected").await?;
        // A join replays the newest 50.
        page.wait_for_message(&format!("m120 {tag}")).await?;
        let shown = page.message_texts().await?;
        if shown.iter().any(|text| text.starts_with("m70 ")) {
            return Err(format!("more than the join backlog was shown: {}", shown.len()).into());
        }
        // Scroll to the top, twice: the page asks for older history, a page at a time.
        for expected in [21, 1] {
            session
                .execute(
                    "document.getElementById('message-scroller').scrollTop = 0; \
                     document.getElementById('message-scroller').dispatchEvent(new Event('scroll'));",
                    vec![],
                )
                .await?;
            page.wait_for_message(&format!("m{expected} {tag}")).await?;
        }
        let texts = page.message_texts().await?;
        let ours: Vec<String> = texts.into_iter().filter(|text| text.contains(&tag)).collect();
        let expected: Vec<String> = (1..=120).map(|i| format!("m{i} {tag}")).collect();
        if ours != expected {
            return Err(format!(
                "expected m1..m120 once each, in order; got {} messages: first {:?}, last {:?}",
                ours.len(),
                ours.first(),
                ours.last()
            )
            .into());
        }
        Ok(())
    })
    .await;
    drop(server);
}

#[tokio::test]
async fn a_tab_open_across_a_server_restart_resumes_exactly_without_a_gap() {
    let test = "browser_restart";
    let dir = support::data_dir::fresh(test);
    let port = free_port();
    let server = start_server(&dir, port, &format!("{test}-first"))
        .await
        .expect("start the server");
    with_browser(test, async |session| {
        scenario(session, &dir, port, server).await
    })
    .await;
}

async fn scenario(session: &Client, dir: &Path, port: u16, mut server: Process) -> Result<()> {
    let page = ChatPage { session };
    session.goto(&format!("http://127.0.0.1:{port}/")).await?;
    page.wait_for_state("connected").await?;
    let tag = unique_suffix();
    let before: Vec<String> = (1..=3).map(|i| format!("before {i} {tag}")).collect();
    for text in &before {
        http_broadcast(port, text).await?;
        page.wait_for_message(text).await?;
    }

    // The server dies without a word.
    server.kill_9();
    page.wait_for_state("reconnecting").await?;

    // While the tab is away, the same log takes a post (a server run the tab cannot see).
    let missed = format!("missed while away {tag}");
    let side_port = free_port();
    let mut side = start_server(dir, side_port, "browser_restart-side").await?;
    http_broadcast(side_port, &missed).await?;
    side.stop();

    // Back on the tab's port, on the same data directory.
    let _server = start_server(dir, port, "browser_restart-second").await?;
    page.wait_for_message(&missed).await?;
    page.wait_for_state("connected").await?;
    let after = format!("after the restart {tag}");
    http_broadcast(port, &after).await?;
    page.wait_for_message(&after).await?;

    // Every message once, in order: nothing lost, nothing twice.
    let texts = page.message_texts().await?;
    let ours: Vec<&String> = texts.iter().filter(|text| text.contains(&tag)).collect();
    let mut expected: Vec<&String> = before.iter().collect();
    expected.push(&missed);
    expected.push(&after);
    if ours != expected {
        return Err(format!("the tab shows {ours:?}, expected {expected:?}").into());
    }
    // The page noticed the restart, and found no gap and no new log.
    let lines = system_lines(session).await?;
    if !lines
        .iter()
        .any(|line| line.contains("The server restarted"))
    {
        return Err(format!("no restart line: {lines:?}").into());
    }
    let bad = ["no longer available", "started over", "Missed"];
    if let Some(line) = lines
        .iter()
        .find(|line| bad.iter().any(|word| line.contains(word)))
    {
        return Err(format!("the resume was not exact: {line:?} (all lines: {lines:?})").into());
    }
    Ok(())
}
