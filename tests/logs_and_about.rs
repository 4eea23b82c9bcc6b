//! `GET /api/about` against the facts it reports, and the log file of headless mode: written
//! only with `--log-file`, with the same lines as stderr.

mod support {
    pub mod free_port;
    pub mod ws_client;
}

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::free_port::free_port;
use support::ws_client::{start_server_with, Client, PATIENCE};
use tauri_ractor_websocket::config::ServerConfig;

const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "trw-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

async fn get_about(base: &str) -> Value {
    let response = reqwest::get(format!("{base}/api/about"))
        .await
        .expect("GET /api/about");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

/// The soft open-file limit of this process (the in-process server raised it at start).
fn soft_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit.rlim_cur
}

#[tokio::test]
async fn about_reports_what_the_server_really_uses() {
    let dir = fresh_dir("about");
    let log_file = dir.join("logs/app.log");
    let server = start_server_with(ServerConfig {
        data_dir: Some(dir.clone()),
        log_file: Some(log_file.clone()),
        max_connections: Some(77),
        ..ServerConfig::ephemeral()
    })
    .await;
    let addr = server.local_addr();
    let base = format!("http://{addr}");
    let about = get_about(&base).await;
    let health: Value = reqwest::get(format!("{base}/health"))
        .await
        .expect("GET /health")
        .json()
        .await
        .expect("JSON");

    assert_eq!(about["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(about["instance"], server.instance());
    assert_eq!(about["instance"], health["instance"]);
    assert_eq!(about["data_dir"], json!(dir.display().to_string()));
    assert_eq!(about["log_file"], json!(log_file.display().to_string()));
    assert_eq!(about["listening"], json!([addr.to_string()]));
    assert_eq!(about["connection_cap"], 77);
    assert_eq!(about["open_file_limit"], soft_open_file_limit());
    let uptime = about["uptime_ms"].as_u64().expect("uptime_ms is a number");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let later = get_about(&base).await["uptime_ms"]
        .as_u64()
        .expect("uptime_ms");
    assert!(later > uptime, "the uptime grows: {uptime} then {later}");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn about_says_null_for_what_does_not_exist() {
    let server = start_server_with(ServerConfig::ephemeral()).await;
    let about = get_about(&format!("http://{}", server.local_addr())).await;
    assert_eq!(about["data_dir"], Value::Null);
    assert_eq!(about["log_file"], Value::Null);
    server.shutdown().await;
}

/// The headless binary; killed when dropped (a failing assertion must not leave it running).
struct Headless(Child);

impl Drop for Headless {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The headless binary on `port`, its stderr in `stderr`; waits until `/health` answers.
async fn spawn_headless(port: u16, args: &[&str], data_dir: &Path, stderr: &Path) -> Headless {
    let child = Command::new(APP)
        .args(["--headless", "--port", &port.to_string()])
        .args(args)
        .env("TRW_DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .env_remove("TRW_LOG_FILE")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).expect("create the stderr file"))
        .spawn()
        .expect("start the binary");
    let child = Headless(child);
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

/// SIGTERM, then wait for the exit (bounded; a server still running then is killed on drop).
fn stop(mut child: Headless) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let deadline = Instant::now() + PATIENCE;
    while child.0.try_wait().ok().flatten().is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `path` contains `text`.
async fn wait_for_text(path: &Path, text: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let content = std::fs::read_to_string(path).unwrap_or_default();
        if content.contains(text) {
            return content;
        }
        assert!(
            Instant::now() < deadline,
            "{} never got {text:?}; it has:\n{content}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn headless_writes_a_log_file_only_when_asked() {
    let dir = fresh_dir("headless-log");

    // With --log-file: the file gets the same lines as stderr, and /api/about names it.
    let data_dir = dir.join("data");
    let log_file = dir.join("elsewhere/server.log");
    let stderr = dir.join("stderr-1.txt");
    let port = free_port();
    let child = spawn_headless(
        port,
        &["--log-file", &log_file.display().to_string()],
        &data_dir,
        &stderr,
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::connect(([127, 0, 0, 1], port).into()).await;
    let logged = wait_for_text(&log_file, "connection opened").await;
    wait_for_text(&stderr, "connection opened").await;
    assert!(
        !logged.contains("\u{1b}["),
        "the file has no terminal colour codes"
    );
    let about = get_about(&base).await;
    assert_eq!(about["log_file"], json!(log_file.display().to_string()));
    client.close().await;
    stop(child);

    // Without it: stderr only, no file anywhere in the data directory.
    let stderr = dir.join("stderr-2.txt");
    let port = free_port();
    let child = spawn_headless(port, &[], &data_dir, &stderr).await;
    let client = Client::connect(([127, 0, 0, 1], port).into()).await;
    wait_for_text(&stderr, "connection opened").await;
    let about = get_about(&format!("http://127.0.0.1:{port}")).await;
    assert_eq!(about["log_file"], Value::Null);
    assert!(
        !data_dir.join("logs").exists(),
        "headless mode made a log directory without --log-file"
    );
    client.close().await;
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
