//! WebDriver sessions through fantoccini, plus the process plumbing end-to-end tests need.
//!
//! WebDriver (<https://www.w3.org/TR/webdriver2/>) is JSON over HTTP: a *driver* process
//! (chromedriver, or tauri-driver in front of WebKitWebDriver) listens on a port, a new session
//! starts a browser (or our app), and every later command goes to that session. The tests speak
//! it through [`fantoccini::Client`]: [`Driver::session`] opens one, with the capabilities of
//! [`chromium_capabilities`] or tauri-driver's `tauri:options`.
//!
//! The rest of this module is test plumbing:
//! - [`Process`]: a child process (driver or server) that is stopped when the guard is dropped,
//!   even when the test panics, with its output in a log file under `target/e2e/`.
//! - [`wait_until`]: poll a condition with an upper bound. UI tests must wait for things
//!   (a WebSocket to connect, a message to render); a deadline turns "never happened" into a
//!   clear failure without turning the test into a timing assertion.
//! - [`require_or_skip`]: e2e tests skip when a tool is missing, unless `TRW_REQUIRE_E2E=1`
//!   (set by `scripts/test`), where a missing tool is a failure.
//! - [`ChatPage`]: a *page object*: the chat UI's element contract (`#status`, `#messages`,
//!   `#chat-input`, ...) in one place, so tests read as user actions, not CSS selectors.
//! - [`RoomClient`]: a raw WebSocket member of the room (tokio-tungstenite), to check that what
//!   the page does reaches other clients, frame for frame as in `docs/PROTOCOL.md`.
//!
//! Each test binary compiles this file separately and uses a different part of it.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

// One port chooser for every test (see its docs); a path, because this file is also included
// on its own.
#[path = "free_port.rs"]
mod free_port_choice;
pub use free_port_choice::free_port;

/// Errors carry a message with enough context to diagnose a failed e2e run from the log alone.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Set to `1` to make missing e2e tools a test failure instead of a skip.
pub const REQUIRE_E2E_VAR: &str = "TRW_REQUIRE_E2E";

/// Upper bound for one WebDriver command, so that a hung driver fails the test instead of
/// blocking it forever. Generous: starting a browser or the app on a busy 2-core machine, the
/// longest command, can take a while.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Plain HTTP (every driver is on 127.0.0.1) with the [`COMMAND_TIMEOUT`] on every read and write.
fn driver_connector() -> TimeoutConnector<HttpConnector> {
    let mut connector = TimeoutConnector::new(HttpConnector::new());
    connector.set_connect_timeout(Some(COMMAND_TIMEOUT));
    connector.set_read_timeout(Some(COMMAND_TIMEOUT));
    connector.set_write_timeout(Some(COMMAND_TIMEOUT));
    connector
}

/// The text WebDriver types for `text` followed by the Enter key.
pub fn with_enter(text: &str) -> String {
    format!("{text}{}", char::from(Key::Enter))
}

/// Press `keys` on whatever has the focus (WebDriver actions), e.g. `[Key::Tab]`: what a
/// keyboard user does, without choosing the target element first.
pub async fn press_keys(session: &Client, keys: &[Key]) -> Result<()> {
    let mut actions = KeyActions::new("keyboard".to_owned());
    for key in keys {
        let value = char::from(*key);
        actions = actions
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
    }
    session.perform_actions(actions).await?;
    Ok(())
}

/// A Chrome DevTools Protocol command through chromedriver (Chromium only), e.g.
/// `Emulation.setEmulatedMedia` to emulate `prefers-color-scheme: dark`.
pub async fn chromium_cdp(session: &Client, cmd: &str, params: Value) -> Result<Value> {
    let answer = session
        .issue_cmd(ChromiumCdp {
            cmd: cmd.to_owned(),
            params,
        })
        .await
        .map_err(|e| format!("CDP {cmd}: {e}"))?;
    Ok(answer)
}

/// chromedriver's vendor endpoint `POST /session/{id}/goog/cdp/execute`, which fantoccini does not
/// wrap: its [`WebDriverCompatibleCommand`] trait is how a client adds such a command.
#[derive(Debug)]
struct ChromiumCdp {
    cmd: String,
    params: Value,
}

impl WebDriverCompatibleCommand for ChromiumCdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> std::result::Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params }).to_string();
        (axum::http::Method::POST, Some(body))
    }
}

/// Takes a screenshot of the viewport and writes it to `path` as PNG (parent directories are
/// created).
pub async fn save_screenshot(session: &Client, path: &Path) -> Result<()> {
    let png = session.screenshot().await?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(path, png).map_err(|e| format!("writing {}: {e}", path.display()).into())
}

/// An HTTP client for loopback use: no proxy (a CI `HTTP_PROXY` must not capture 127.0.0.1) and a
/// timeout per request so a hung server fails the test instead of blocking it.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("building a reqwest client with static settings cannot fail")
}

/// Session capabilities for a headless Chromium with a fresh profile (the flags keep it from
/// calling home, which this machine could not do anyway), in a 1280×800 window.
pub fn chromium_capabilities(chromium: &Path) -> Capabilities {
    chromium_capabilities_sized(chromium, "1280,800")
}

/// [`chromium_capabilities`] with another window size, `"WIDTH,HEIGHT"` (e.g. `"800,600"`).
pub fn chromium_capabilities_sized(chromium: &Path, size: &str) -> Capabilities {
    let profile = fresh_dir("chromium-profile");
    let mut capabilities = Capabilities::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={size}"),
            ]
        }),
    );
    capabilities
}

// ---------------------------------------------------------------------------------------------
// Processes: drivers and the server
// ---------------------------------------------------------------------------------------------

/// A child process that is stopped when this guard is dropped, also when the test panics.
///
/// Stopping sends SIGTERM first, so the process can clean up (tauri-driver kills its
/// WebKitWebDriver; our server closes WebSockets with 1001), then SIGKILL if it lingers.
/// Output goes to `target/e2e/<name>.log`, which failures point at.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Spawn `command` with stdout and stderr appended to `target/e2e/<name>.log`.
    pub fn spawn(name: &str, mut command: Command) -> Result<Process> {
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let log = dir.join(format!("{name}.log"));
        let file =
            std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let file2 = file.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file2)
            .spawn()
            .map_err(|e| format!("starting {name} ({command:?}): {e}"))?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Fail if the process has already exited (e.g. it could not bind its port).
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!(
                "{} exited early ({status}); its output:\n{}",
                self.name,
                self.log_tail()
            )
            .into()),
        }
    }

    /// The last lines of the process's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("--- last lines of {} ---\n{tail}", self.log.display())
    }

    /// Poll `url` until it answers HTTP 200 (a driver's `/status`, the server's `/health`).
    pub async fn wait_http_ok(&mut self, url: &str, timeout: Duration) -> Result<()> {
        let http = http_client();
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            self.check_running()?;
            match http.get(url).timeout(Duration::from_secs(2)).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("HTTP {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{} did not answer {url} within {timeout:?} (last: {last})\n{}",
            self.name,
            self.log_tail()
        )
        .into())
    }

    /// SIGKILL at once (a crash, a power cut of the process), and reap it.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, wait up to 5 s, then SIGKILL.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // std can only SIGKILL; `kill -TERM` asks politely without a libc dependency.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A local driver: the process and the URL its WebDriver API answers on.
pub struct Driver {
    pub url: String,
    pub process: Process,
}

impl Driver {
    /// Start `chromedriver --port=P` and wait until `/status` answers.
    pub async fn chromedriver(program: &Path) -> Result<Driver> {
        let port = free_port();
        let mut command = Command::new(program);
        command.arg(format!("--port={port}"));
        Self::start(&format!("chromedriver-{port}"), command, port).await
    }

    /// Start `tauri-driver --port P --native-port Q` (it starts WebKitWebDriver on Q itself) and
    /// wait until `/status` answers. `env` is set on the driver and so inherited by the app it
    /// launches: that is how a test tells the app which port to serve on.
    pub async fn tauri_driver(program: &Path, env: &[(&str, String)]) -> Result<Driver> {
        let port = free_port();
        let native_port = free_port();
        let mut command = Command::new(program);
        command
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()]);
        // The app it launches gets a data directory of its own (unless the test names one).
        command.env(
            "TRW_DATA_DIR",
            crate::support::data_dir::fresh(&format!("window-{port}")),
        );
        for (key, value) in env {
            command.env(key, value);
        }
        Self::start(&format!("tauri-driver-{port}"), command, port).await
    }

    /// A new WebDriver session on this driver: a browser, or the app for tauri-driver. Always
    /// [`Client::close`] it at the end: that closes the browser or quits the app (killing the
    /// driver alone can leave the browser running).
    pub async fn session(&self, capabilities: Capabilities) -> Result<Client> {
        ClientBuilder::new(driver_connector())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .map_err(|e| format!("creating a WebDriver session at {}: {e}", self.url).into())
    }

    async fn start(name: &str, command: Command, port: u16) -> Result<Driver> {
        let url = format!("http://127.0.0.1:{port}");
        let mut process = Process::spawn(name, command)?;
        process
            .wait_http_ok(&format!("{url}/status"), Duration::from_secs(30))
            .await?;
        Ok(Driver { url, process })
    }
}

// ---------------------------------------------------------------------------------------------
// The chat page and a raw WebSocket member of the room
// ---------------------------------------------------------------------------------------------

/// The chat UI as the tests see it (a "page object"): the element contract of `ui/` in one place.
///
/// Every wait is bounded by [`UI_TIMEOUT`], generous because a 2-core CI machine may be compiling
/// or running another browser at the same time.
pub struct ChatPage<'a> {
    pub session: &'a Client,
}

/// Upper bound for "the UI never got there".
pub const UI_TIMEOUT: Duration = Duration::from_secs(20);

impl ChatPage<'_> {
    /// Wait until `#status` has `data-state="<state>"` (connecting, connected, reconnecting, ...).
    pub async fn wait_for_state(&self, state: &str) -> Result<()> {
        wait_until(
            &format!("#status[data-state={state}]"),
            UI_TIMEOUT,
            || async {
                let status = self.session.find(Locator::Css("#status")).await?;
                match status.attr("data-state").await? {
                    Some(s) if s == state => Ok(()),
                    other => Err(format!("data-state is {other:?}").into()),
                }
            },
        )
        .await
    }

    /// The texts of all messages in `#messages`, oldest first.
    pub async fn message_texts(&self) -> Result<Vec<String>> {
        let mut texts = Vec::new();
        for element in self
            .session
            .find_all(Locator::Css("#messages .message-text"))
            .await?
        {
            texts.push(element.text().await?);
        }
        Ok(texts)
    }

    /// Wait until a message whose text contains `text` is shown in `#messages`.
    pub async fn wait_for_message(&self, text: &str) -> Result<()> {
        wait_until(
            &format!("a message {text:?} in #messages"),
            UI_TIMEOUT,
            || async {
                let texts = self.message_texts().await?;
                if texts.iter().any(|t| t.contains(text)) {
                    Ok(())
                } else {
                    Err(format!("{} messages shown, last: {:?}", texts.len(), texts.last()).into())
                }
            },
        )
        .await
    }

    /// Wait until a line from the page itself (`#messages .system-text`: connection events,
    /// refusals) contains `text`.
    pub async fn wait_for_system_line(&self, text: &str) -> Result<()> {
        wait_until(
            &format!("a line {text:?} in #messages"),
            UI_TIMEOUT,
            || async {
                let mut lines = Vec::new();
                for element in self
                    .session
                    .find_all(Locator::Css("#messages .system-text"))
                    .await?
                {
                    lines.push(element.text().await?);
                }
                if lines.iter().any(|line| line.contains(text)) {
                    Ok(())
                } else {
                    Err(format!("page lines: {lines:?}").into())
                }
            },
        )
        .await
    }

    /// Type `text` into `#chat-input` and press Enter, as a user would.
    pub async fn send_chat(&self, text: &str) -> Result<()> {
        let input = self.session.find(Locator::Css("#chat-input")).await?;
        input.click().await?;
        input.send_keys(&with_enter(text)).await?;
        Ok(())
    }
}

/// The stream type `tokio_tungstenite::connect_async` returns for `ws://` URLs.
type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw WebSocket client in the room, speaking the JSON frames of `docs/PROTOCOL.md`.
pub struct RoomClient {
    ws: WsStream,
    /// The `welcome` frame the server sent first (id, name, instance, ...).
    pub welcome: Value,
}

impl RoomClient {
    /// Connect to `ws://127.0.0.1:<port>/ws` and read the `welcome` frame.
    pub async fn connect(port: u16) -> Result<RoomClient> {
        let url = format!("ws://127.0.0.1:{port}/ws");
        RoomClient::connect_request(url.as_str()).await
    }

    /// The same, with `Authorization: Bearer <token>` (a server with `--auth token`).
    pub async fn connect_with_token(port: u16, token: &str) -> Result<RoomClient> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("ws://127.0.0.1:{port}/ws");
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        RoomClient::connect_request(request).await
    }

    async fn connect_request(
        request: impl tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
    ) -> Result<RoomClient> {
        let (ws, _response) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let mut client = RoomClient {
            ws,
            welcome: Value::Null,
        };
        let first = client.next_frame(UI_TIMEOUT).await?;
        if first["type"] != "welcome" {
            return Err(format!("expected a welcome frame first, got {first}").into());
        }
        client.welcome = first;
        Ok(client)
    }

    /// The next text frame, parsed as JSON (pings and pongs are skipped).
    pub async fn next_frame(&mut self, timeout: Duration) -> Result<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;

        let read = async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return serde_json::from_str::<Value>(text.as_str()).map_err(|e| {
                            format!("frame is not JSON ({e}): {}", text.as_str()).into()
                        })
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Err(format!("server closed the WebSocket: {frame:?}").into())
                    }
                    Some(Ok(_)) => continue, // ping/pong/binary: not a protocol frame
                    Some(Err(e)) => return Err(format!("WebSocket error: {e}").into()),
                    None => return Err("WebSocket stream ended".into()),
                }
            }
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| format!("no frame within {timeout:?}"))?
    }

    /// Say something in the room: a `chat` frame.
    pub async fn send_chat(&mut self, text: &str) -> Result<()> {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;

        let frame = json!({ "type": "chat", "text": text }).to_string();
        self.ws
            .send(Message::text(frame))
            .await
            .map_err(|e| format!("sending a chat frame: {e}").into())
    }

    /// Send any client frame (JSON), e.g. a `direct` or a `join`.
    pub async fn send_json(&mut self, frame: &Value) -> Result<()> {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;

        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .map_err(|e| format!("sending {frame}: {e}").into())
    }

    /// Read frames until a `message` whose `text` equals `text`; return that frame.
    pub async fn wait_for_message(&mut self, text: &str) -> Result<Value> {
        let deadline = Instant::now() + UI_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self.next_frame(left).await.map_err(|e| {
                format!("waiting for a message {text:?}: {e}; frames seen: {seen:?}")
            })?;
            if frame["type"] == "message" && frame["text"] == text {
                return Ok(frame);
            }
            seen.push(frame);
        }
    }
}

/// `GET /broadcast?message=<text>` on the server at `port`: what an external script would do to
/// notify everyone in the room. Returns the JSON answer (`{"delivered_to": N, "seq": S}`).
pub async fn http_broadcast(port: u16, text: &str) -> Result<Value> {
    let url = format!("http://127.0.0.1:{port}/broadcast");
    // reqwest's query builder percent-encodes the text (form encoding, as a browser would).
    let response = http_client()
        .get(&url)
        .query(&[("message", text)])
        .send()
        .await
        .map_err(|e| format!("GET {url}?message={text:?}: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("GET {url}: HTTP {status}, body is not JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {status}: {body}").into());
    }
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// Poll `probe` until it returns `Ok`, or fail after `timeout`.
///
/// `Err` from the probe means "not yet": its message is kept and reported if time runs out,
/// so a failure says what was last seen (e.g. "status is reconnecting"), not just "timeout".
/// The timeout is an upper bound for "it never happened", not a performance assertion.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => {
                return Err(
                    format!("timed out after {timeout:?} waiting for {what}; last: {last}").into(),
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(150)).await,
        }
    }
}

/// Where e2e tests write logs and screenshots: `<target dir>/e2e` (honours `CARGO_TARGET_DIR`).
pub fn artifacts_dir() -> PathBuf {
    // Cargo sets CARGO_TARGET_TMPDIR to `<target dir>/tmp` for integration tests.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("e2e")
}

/// A fresh, empty directory under `<target dir>/tmp` (e.g. a browser profile).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        unique_suffix()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a temp dir under CARGO_TARGET_TMPDIR");
    dir
}

/// A short string unique enough to tell this test's messages from any other's.
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Find an executable: an absolute path if it exists, else a name looked up in `PATH` and then
/// in `$CARGO_HOME/bin` or `~/.cargo/bin` (where `cargo install tauri-driver` puts it, which is
/// not always on `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let candidate = Path::new(name);
    if candidate.is_absolute() {
        return candidate.is_file().then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .map(|cargo_home| cargo_home.join("bin"));
    std::env::split_paths(&path)
        .chain(cargo_bin)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Decide whether an e2e test can run. `missing` lists what is absent (tools, DISPLAY).
///
/// Returns `true` when nothing is missing. Otherwise prints why the test is skipped and returns
/// `false` — unless `TRW_REQUIRE_E2E=1`, where a skip would hide a broken setup, so it panics.
pub fn require_or_skip(test: &str, missing: &[String]) -> bool {
    if missing.is_empty() {
        return true;
    }
    let reason = missing.join("; ");
    if std::env::var(REQUIRE_E2E_VAR).is_ok_and(|v| v == "1") {
        panic!(
            "{test}: {REQUIRE_E2E_VAR}=1 but the e2e prerequisites are missing: {reason} \
             (run scripts/install-prereqs --test)"
        );
    }
    println!("skipped: {test}: {reason} (set {REQUIRE_E2E_VAR}=1 to make this a failure)");
    false
}

/// Chromium and chromedriver, or `None` after printing why not (panics under
/// `TRW_REQUIRE_E2E=1`).
pub fn chromium_tools(test: &str) -> Option<(PathBuf, PathBuf)> {
    let chromium = find_program("chromium").or_else(|| find_program("chromium-browser"));
    let chromedriver = find_program("chromedriver");
    let mut missing = Vec::new();
    if chromium.is_none() {
        missing.push("chromium not found (apt-get install chromium)".to_owned());
    }
    if chromedriver.is_none() {
        missing.push("chromedriver not found (apt-get install chromium-driver)".to_owned());
    }
    if !require_or_skip(test, &missing) {
        return None;
    }
    Some((chromium?, chromedriver?))
}
