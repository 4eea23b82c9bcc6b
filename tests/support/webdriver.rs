//! A minimal W3C WebDriver client, plus the process plumbing end-to-end tests need.
//!
//! WebDriver (<https://www.w3.org/TR/webdriver2/>) is plain JSON over HTTP: a *driver* process
//! (chromedriver, or tauri-driver in front of WebKitWebDriver) listens on a port, `POST /session`
//! starts a browser (or our app) and returns a session id, and every later command is a request
//! under `/session/{id}/...`. Every answer is `{"value": ...}`; errors are
//! `{"value": {"error": "no such element", "message": "..."}}` with a 4xx/5xx status.
//!
//! That is small enough to speak directly with `reqwest`, so the tests need no WebDriver crate:
//! [`Session`] covers the dozen commands the tests use.
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
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Errors carry a message with enough context to diagnose a failed e2e run from the log alone.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// The JSON key under which WebDriver returns an element reference (fixed by the spec).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The WebDriver key code for Enter, usable inside [`Session::send_keys`] text.
pub const ENTER: &str = "\u{E007}";

/// Set to `1` to make missing e2e tools a test failure instead of a skip.
pub const REQUIRE_E2E_VAR: &str = "TRW_REQUIRE_E2E";

// ---------------------------------------------------------------------------------------------
// The WebDriver session
// ---------------------------------------------------------------------------------------------

/// One WebDriver session: a browser, or the app's window, driven through a driver's HTTP API.
///
/// Always call [`Session::delete`] at the end: that closes the browser/app. (There is no async
/// `Drop`, and killing the driver alone can leave the browser running.)
pub struct Session {
    http: reqwest::Client,
    /// e.g. `http://127.0.0.1:4444/session/<id>`
    base: String,
}

/// A reference to a DOM element inside a [`Session`]; only valid while the page is not reloaded.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Session {
    /// `POST /session` on the driver at `driver_url` (e.g. `http://127.0.0.1:4444`) with the
    /// given capabilities, e.g. `{"capabilities": {"alwaysMatch": {...}}}`.
    pub async fn new(driver_url: &str, capabilities: Value) -> Result<Session> {
        let http = http_client();
        // Starting a browser or the app can take a while on a busy 2-core machine.
        let value = command(
            http.post(format!("{driver_url}/session"))
                .timeout(Duration::from_secs(120))
                .json(&capabilities),
        )
        .await
        .map_err(|e| format!("creating a WebDriver session at {driver_url} failed: {e}"))?;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| format!("new session answer has no sessionId: {value}"))?;
        Ok(Session {
            http,
            base: format!("{driver_url}/session/{id}"),
        })
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        command(self.http.get(&url))
            .await
            .map_err(|e| format!("GET {path}: {e}").into())
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        command(self.http.post(&url).json(&body))
            .await
            .map_err(|e| format!("POST {path}: {e}").into())
    }

    /// Load `url` and wait for the page load to finish (the driver does the waiting).
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await.map(drop)
    }

    /// The URL of the current page (`tauri://localhost/...` inside the app's window).
    pub async fn current_url(&self) -> Result<String> {
        Ok(as_string(self.get("/url").await?))
    }

    /// The page's `document.title`.
    pub async fn title(&self) -> Result<String> {
        Ok(as_string(self.get("/title").await?))
    }

    /// The first element matching a CSS selector (an error, "no such element", if none).
    pub async fn find(&self, css: &str) -> Result<Element> {
        let value = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await?;
        element_from(&value)
            .ok_or_else(|| format!("bad element reference for {css}: {value}").into())
    }

    /// Every element matching a CSS selector, in document order (empty if none).
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let value = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        let list = value
            .as_array()
            .ok_or_else(|| format!("find elements {css}: expected a list, got {value}"))?;
        list.iter()
            .map(|v| element_from(v).ok_or_else(|| format!("bad element reference: {v}").into()))
            .collect()
    }

    /// The rendered text of an element (what a user sees, whitespace-normalised by the browser).
    pub async fn text(&self, element: &Element) -> Result<String> {
        Ok(as_string(
            self.get(&format!("/element/{}/text", element.0)).await?,
        ))
    }

    /// An HTML attribute, e.g. `data-state`; `None` if the element does not have it.
    pub async fn attribute(&self, element: &Element, name: &str) -> Result<Option<String>> {
        let value = self
            .get(&format!("/element/{}/attribute/{name}", element.0))
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// A DOM property, e.g. `value` of an `<input>` (JSON, since properties have any type).
    pub async fn property(&self, element: &Element, name: &str) -> Result<Value> {
        self.get(&format!("/element/{}/property/{name}", element.0))
            .await
    }

    /// Type text into an element as a user would (focus, key events); [`ENTER`] presses Enter.
    pub async fn send_keys(&self, element: &Element, text: &str) -> Result<()> {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await
        .map(drop)
    }

    /// Click an element (scrolled into view first by the driver).
    pub async fn click(&self, element: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await
            .map(drop)
    }

    /// Run JavaScript in the page (`script` is a function body: use `return`), with `args` as
    /// `arguments`. Prefer the element commands: a strict Content-Security-Policy may block this
    /// in some engines.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// A PNG screenshot of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let value = self.get("/screenshot").await?;
        let encoded = value
            .as_str()
            .ok_or_else(|| format!("screenshot: expected base64 text, got {value}"))?;
        base64_decode(encoded)
    }

    /// Take a screenshot and write it to `path` (parent directories are created).
    pub async fn save_screenshot(&self, path: &Path) -> Result<()> {
        let png = self.screenshot().await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("writing {}: {e}", path.display()).into())
    }

    /// End the session: the driver closes the browser window, or quits the app.
    pub async fn delete(self) -> Result<()> {
        command(self.http.delete(&self.base))
            .await
            .map(drop)
            .map_err(|e| format!("deleting session {}: {e}", self.base).into())
    }
}

/// An HTTP client for loopback use: no proxy (a CI `HTTP_PROXY` must not capture 127.0.0.1) and a
/// timeout per request so a hung driver fails the test instead of blocking it forever.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("building a reqwest client with static settings cannot fail")
}

/// Send one WebDriver command and unwrap the `{"value": ...}` envelope, turning WebDriver error
/// objects into errors that carry the driver's own message.
async fn command(request: reqwest::RequestBuilder) -> Result<Value> {
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("HTTP {status} with a body that is not JSON: {e}"))?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    if !status.is_success() {
        let error = value["error"].as_str().unwrap_or("unknown error");
        let message = value["message"].as_str().unwrap_or("");
        return Err(format!("WebDriver error ({status}) {error}: {message}").into());
    }
    Ok(value)
}

fn element_from(value: &Value) -> Option<Element> {
    value[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned()))
}

fn as_string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Decode standard base64 (RFC 4648, with padding), which is how WebDriver returns screenshots.
/// Twenty lines here spare the tests a dependency.
pub fn base64_decode(input: &str) -> Result<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let clean: Vec<u8> = input
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        // Pack up to four 6-bit values into the top of a 24-bit group, then emit whole bytes.
        let mut group = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let bits =
                sextet(c).ok_or_else(|| format!("invalid base64 character {:?}", c as char))?;
            group |= bits << (18 - 6 * i);
        }
        let bytes = group.to_be_bytes(); // [0, b1, b2, b3]
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Ok(out)
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
        for (key, value) in env {
            command.env(key, value);
        }
        Self::start(&format!("tauri-driver-{port}"), command, port).await
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
    pub session: &'a Session,
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
                let status = self.session.find("#status").await?;
                match self.session.attribute(&status, "data-state").await? {
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
        for element in self.session.find_all("#messages .message-text").await? {
            texts.push(self.session.text(&element).await?);
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

    /// Type `text` into `#chat-input` and press Enter, as a user would.
    pub async fn send_chat(&self, text: &str) -> Result<()> {
        let input = self.session.find("#chat-input").await?;
        self.session.click(&input).await?;
        self.session
            .send_keys(&input, &format!("{text}{ENTER}"))
            .await
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
        let (ws, _response) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| format!("connecting to {url}: {e}"))?;
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

/// A TCP port that was free a moment ago: bind port 0, read the port the OS chose, release it.
/// (Another process could take it in between; on a test machine that is rare enough.)
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding 127.0.0.1:0 to find a free port")
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

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64_round_trips_known_vectors() {
        // RFC 4648 section 10 test vectors.
        for (encoded, decoded) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(base64_decode(encoded).expect(encoded), decoded.as_bytes());
        }
        assert!(base64_decode("Zm9v!").is_err());
    }
}
