//! End-to-end: a Chromium tab stays open while the server is killed and started again on the
//! same data directory, and carries on exactly where it was.
//!
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

#[tokio::test]
async fn a_tab_open_across_a_server_restart_resumes_exactly_without_a_gap() {
    let test = "browser_restart";
    let Some((chromium, chromedriver)) = chromium_tools(test) else {
        return;
    };
    let dir = support::data_dir::fresh(test);
    let port = free_port();
    let server = start_server(&dir, port, &format!("{test}-first"))
        .await
        .expect("start the server");
    let driver = Driver::chromedriver(&chromedriver)
        .await
        .expect("start chromedriver");
    let session = driver
        .session(chromium_capabilities(&chromium))
        .await
        .expect("open a headless Chromium session");

    let outcome = scenario(&session, &dir, port, server).await;

    let shot = artifacts_dir().join(format!("{test}.png"));
    if let Err(e) = save_screenshot(&session, &shot).await {
        eprintln!("{test}: could not save a screenshot: {e}");
    }
    let _ = session.close().await;
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n(screenshot: {})", shot.display());
    }
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
