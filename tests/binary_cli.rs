//! The real binary, as a user runs it: `--headless`, a taken port, SIGTERM with clients attached.

mod support {
    pub mod data_dir;
    pub mod free_port;
    pub mod ws_client;
}

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::free_port::free_port;
use support::ws_client::{wait_for_counts, Client, PATIENCE};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

/// Starts the headless server on `port` and waits until `/health` answers.
async fn spawn_headless(port: u16) -> Child {
    let child = Command::new(APP)
        .args(["--headless", "--port", &port.to_string()])
        .env("TRW_DATA_DIR", support::data_dir::fresh("binary-cli"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let deadline = Instant::now() + PATIENCE;
    while reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the server never answered /health"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

fn send_sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

#[test]
fn a_taken_port_is_a_clear_error_and_a_non_zero_exit() {
    // Someone else's program holds the port.
    let squatter = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = squatter.local_addr().expect("addr").port();

    let output = Command::new(APP)
        .args(["--headless", "--port", &port.to_string()])
        .env("TRW_DATA_DIR", support::data_dir::fresh("port-taken"))
        .output()
        .expect("run the binary");
    assert!(!output.status.success(), "must not run on silently");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("port {port}")) && stderr.contains("already in use"),
        "the message names the port: {stderr}"
    );
    assert!(
        stderr.contains("--port"),
        "the message says how to fix it: {stderr}"
    );
}

#[test]
fn every_flag_can_come_from_the_environment() {
    let squatter = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = squatter.local_addr().expect("addr").port();
    // TRW_HEADLESS and TRW_PORT instead of flags: the same clear failure proves both were read.
    let output = Command::new(APP)
        .env("TRW_HEADLESS", "1")
        .env("TRW_PORT", port.to_string())
        .env("TRW_HOST", "127.0.0.1")
        .env("TRW_DATA_DIR", support::data_dir::fresh("env-flags"))
        .output()
        .expect("run the binary");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_every_client_with_1001_and_exits() {
    let port = free_port();
    let mut child = spawn_headless(port).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let mut clients = Vec::new();
    for _ in 0..100 {
        clients.push(Client::connect(addr).await);
    }
    // And ten that never read and will never answer a close frame.
    let mut mute = Vec::new();
    for _ in 0..10 {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("connect");
        mute.push(ws);
    }
    wait_for_counts(addr, 110).await;

    let signalled = Instant::now();
    send_sigterm(&child);
    // The drain is bounded by its own timeouts (designed worst case 1.75 s), not by the
    // clients, so the mute ones cannot hold the process. How fast it exits is measured by
    // scripts/startup-bench; here only that it does, well within a generous bound.
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        assert!(
            signalled.elapsed() < PATIENCE,
            "the process did not exit within {PATIENCE:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "graceful exit is a success: {status}");
    for client in &mut clients {
        assert_eq!(client.expect_close().await, CloseCode::Away);
    }
}
