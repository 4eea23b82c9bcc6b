//! End-to-end: the page's side of protocol v2 (CONTRACT.md), in a real headless Chromium, against
//! a scripted server.
//!
//! The server half of protocol v2 (session tokens, epochs, 4001, `unavailable`, `history`,
//! `/api/about`, `/health`'s `cluster`) lands on other branches; this page must work with it and
//! with today's server. So here the test plays the server itself: a small axum app that serves
//! `ui/` from disk, answers `/health` and `/api/about`, and hands every WebSocket to the test,
//! which sends the frames CONTRACT.md describes, frame by frame, and reads what the page sends
//! back (the reconnect URL's `?session=` and `?since=room:EPOCH:SEQ`, `history` requests, chats).
//! Everything else is real: the browser, the sockets, the page's own modules.
//!
//! One scenario, in order:
//! 1. welcome (with a session) and a lobby with an epoch and a 50-frame backlog; a frame for a room
//!    never joined, and a late frame after `left`, do not create rooms; a direct message goes to
//!    its own conversation;
//! 2. a chat refused with `unavailable` is shown as not sent;
//! 3. older history: the "Load older messages" button asks `before` the oldest seq, the answer is
//!    put in front; scrolling to the top asks again, and an `unknown_type` answer is coped with;
//! 4. About: a 404 from `/api/about` is explained; the next time its JSON is shown, and "Copy
//!    diagnostics" puts it on the clipboard; `/health`'s `cluster` shows in the status bar;
//! 5. the server drops the socket: the page comes back with `?session=` and `?since=lobby:E1:121`;
//!    it finds a restarted server with a new log (epoch) and shows the new log's frames;
//! 6. 4001: the page stops, says why, and only its Reconnect button brings it back, resuming in
//!    the new log without the session token (it belongs to the connection that took over); 4003
//!    stops it again.

mod support {
    pub mod data_dir;
    pub mod webdriver;
}

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use support::webdriver::{
    artifacts_dir, chromium_capabilities, chromium_cdp, chromium_tools, save_screenshot,
    wait_until, ChatPage, Driver, Result, UI_TIMEOUT,
};
use tokio::sync::{mpsc, Mutex};

/// What the scripted server shares with its handlers.
struct Shared {
    sockets: mpsc::Sender<Peer>,
    /// WebSocket upgrades so far: the page's connection attempts.
    accepted: AtomicUsize,
    about_requests: AtomicUsize,
}

/// One WebSocket the page opened, and the query string it opened it with.
struct Peer {
    query: String,
    socket: WebSocket,
}

impl Peer {
    async fn send(&mut self, frame: Value) -> Result<()> {
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .map_err(|e| format!("sending {frame}: {e}").into())
    }

    /// The next frame from the page that `wanted` accepts (others are skipped).
    async fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Result<Value> {
        let read = async {
            while let Some(message) = self.socket.recv().await {
                if let Message::Text(text) = message.map_err(|e| format!("reading: {e}"))? {
                    let frame: Value = serde_json::from_str(text.as_str())?;
                    if wanted(&frame) {
                        return Ok(frame);
                    }
                }
            }
            Err("the page closed the socket".into())
        };
        tokio::time::timeout(UI_TIMEOUT, read)
            .await
            .map_err(|_| format!("the page never sent {what}"))?
    }

    async fn close(mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }
}

/// The scripted server: its port, and the page's sockets as they arrive.
struct StandIn {
    port: u16,
    shared: Arc<Shared>,
    sockets: Mutex<mpsc::Receiver<Peer>>,
}

impl StandIn {
    async fn start() -> Result<StandIn> {
        let (tx, rx) = mpsc::channel(8);
        let shared = Arc::new(Shared {
            sockets: tx,
            accepted: AtomicUsize::new(0),
            about_requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/ws", get(upgrade))
            .route("/health", get(health))
            .route("/api/about", get(about))
            .fallback(ui_file)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(StandIn {
            port,
            shared,
            sockets: Mutex::new(rx),
        })
    }

    async fn next_socket(&self) -> Result<Peer> {
        let mut sockets = self.sockets.lock().await;
        match tokio::time::timeout(UI_TIMEOUT, sockets.recv()).await {
            Ok(Some(peer)) => Ok(peer),
            _ => Err("the page did not connect".into()),
        }
    }

    fn attempts(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    shared.accepted.fetch_add(1, Ordering::SeqCst);
    let query = query.unwrap_or_default();
    ws.on_upgrade(move |socket| async move {
        let _ = shared.sockets.send(Peer { query, socket }).await;
    })
}

async fn health() -> Json<Value> {
    Json(json!({
        "active_websockets": 1, "active_actors": 1, "server": "tauri-ractor-websocket",
        "cluster": { "redis": "down", "nodes": 3, "active_websockets": 7 }
    }))
}

/// 404 the first time (a server from before `/api/about`), the JSON of CONTRACT.md after.
async fn about(State(shared): State<Arc<Shared>>) -> Response {
    if shared.about_requests.fetch_add(1, Ordering::SeqCst) == 0 {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    Json(json!({
        "version": "0.1.0", "instance": "inst-2", "data_dir": "/srv/trw-data", "log_file": null,
        "listening": ["http://127.0.0.1:8000"], "uptime_ms": 3_723_000,
        "open_file_limit": 20000, "max_connections": 19872, "build": "test"
    }))
    .into_response()
}

/// The page's files, from `ui/` on disk (no `..`), with the types a module script needs.
async fn ui_file(uri: Uri) -> Response {
    let path = match uri.path() {
        "/" => "/index.html",
        other => other,
    };
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ui")
        .join(&path[1..]);
    if path.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        _ => "text/html",
    };
    match std::fs::read(&file) {
        Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Frames, as the server sends them
// ---------------------------------------------------------------------------------------------

fn welcome(id: u64, instance: &str, session: &str) -> Value {
    json!({ "type": "welcome", "id": id, "name": "guest-1", "room": "lobby",
            "server": "tauri-ractor-websocket", "version": "0.1.0", "instance": instance,
            "heartbeat_ms": 10000, "session": session })
}

fn joined(room: &str, epoch: &str, last_seq: u64, resumed_from: Value, gap: bool) -> Value {
    json!({ "type": "joined", "room": room, "epoch": epoch, "last_seq": last_seq,
            "members": [{ "id": 1, "name": "guest-1" }, { "id": 7, "name": "ada" }],
            "member_count": 2, "resumed_from": resumed_from, "gap": gap })
}

fn chat(room: &str, seq: u64, text: &str) -> Value {
    json!({ "type": "message", "kind": "chat", "room": room, "seq": seq, "sender": "ada",
            "sender_id": 7, "text": text, "ts": 1_700_000_000_000u64 + seq })
}

/// The query parameter `name` of a raw query string (values here need no decoding).
fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_page_speaks_protocol_v2() {
    let test = "page_protocol_v2";
    let Some((chromium, chromedriver)) = chromium_tools(test) else {
        return;
    };
    let server = StandIn::start().await.expect("start the scripted server");
    let driver = Driver::chromedriver(&chromedriver)
        .await
        .expect("start chromedriver");
    let session = driver
        .session(chromium_capabilities(&chromium))
        .await
        .expect("open Chromium");
    let outcome = scenario(&session, &server).await;
    let shot = artifacts_dir().join(format!("{test}.png"));
    let _ = save_screenshot(&session, &shot).await;
    let _ = session.close().await;
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n(screenshot: {})", shot.display());
    }
}

async fn scenario(session: &Client, server: &StandIn) -> Result<()> {
    let page = ChatPage { session };
    session
        .goto(&format!("http://127.0.0.1:{}/", server.port))
        .await?;
    let mut first = server.next_socket().await?;
    if param(&first.query, "since").is_some() || param(&first.query, "session").is_some() {
        return Err(format!("a first connection resumes nothing: ?{}", first.query).into());
    }
    rooms_and_directs(&page, &mut first).await?;
    refused_post(&page, &mut first).await?;
    older_history(&page, &mut first).await?;
    about_and_cluster(session).await?;

    // 5. The socket drops: the page resumes with its session and the lobby's epoch and seq...
    first.close(1011, "test drops the connection").await;
    let mut second = server.next_socket().await?;
    let query = second.query.clone();
    if param(&query, "session") != Some("S-one_1") || param(&query, "since") != Some("lobby:E1:121")
    {
        return Err(format!("expected ?session=S-one_1&since=lobby:E1:121, got ?{query}").into());
    }
    // ...and finds a restarted server whose lobby has a new log: numbering from 1 again.
    second.send(welcome(2, "inst-2", "S-two")).await?;
    second
        .send(joined("lobby", "E2", 1, json!(120), true))
        .await?;
    second
        .send(chat("lobby", 1, "first of the new log"))
        .await?;
    page.wait_for_message("first of the new log").await?;
    page.wait_for_message("m120").await?; // what was seen before stays

    // 6. 4001: another connection took over. No reconnect until the user asks.
    second.close(4001, "replaced").await;
    page.wait_for_state("replaced").await?;
    let reconnect = session.find(Locator::Css("#reconnect-button")).await?;
    if reconnect.attr("hidden").await?.is_some() {
        return Err("no Reconnect button after 4001".into());
    }
    page.wait_for_system_line("Another connection of yours took over")
        .await?;
    let attempts = server.attempts();
    if attempts != 2 {
        return Err(
            format!("the page reconnected by itself after 4001 ({attempts} attempts)").into(),
        );
    }
    reconnect.click().await?;
    let mut third = server.next_socket().await?;
    // Resumed in the new log, without the token the other connection took over.
    if param(&third.query, "since") != Some("lobby:E2:1")
        || param(&third.query, "session").is_some()
    {
        return Err(format!(
            "expected ?since=lobby:E2:1 and no session, got ?{}",
            third.query
        )
        .into());
    }
    third.send(welcome(3, "inst-2", "S-three")).await?;
    page.wait_for_state("connected").await?;
    third.close(4003, "unauthorized").await;
    page.wait_for_state("unauthorized").await?;
    page.wait_for_system_line("access token is missing or no longer valid")
        .await
}

/// 1. Rooms only on `joined`; direct messages in their own conversation.
async fn rooms_and_directs(page: &ChatPage<'_>, peer: &mut Peer) -> Result<()> {
    peer.send(welcome(1, "inst-1", "S-one_1")).await?;
    peer.send(joined("lobby", "E1", 120, Value::Null, false))
        .await?;
    // A short backlog, so the list does not fill the screen and "Load older" is in view.
    for seq in 116..=120 {
        peer.send(chat("lobby", seq, &format!("m{seq}"))).await?;
    }
    peer.send(chat("ghost", 1, "from a room never joined"))
        .await?;
    peer.send(joined("dev", "D1", 0, Value::Null, false))
        .await?;
    peer.send(json!({ "type": "left", "room": "dev" })).await?;
    peer.send(chat("dev", 1, "late frame after left")).await?;
    let direct = json!({ "type": "direct", "from_id": 7, "from": "ada", "to_id": 1,
                         "to": "guest-1", "text": "psst", "ts": 1 });
    peer.send(direct).await?;
    peer.send(chat("lobby", 121, "sync point")).await?;
    page.wait_for_message("sync point").await?;

    let session = page.session;
    let mut rooms = Vec::new();
    for item in session
        .find_all(Locator::Css("#room-list .room-name"))
        .await?
    {
        rooms.push(item.text().await?);
    }
    if rooms != ["lobby"] {
        return Err(format!("rooms must come from joined only; the list shows {rooms:?}").into());
    }
    let texts = page.message_texts().await?;
    for stray in ["from a room never joined", "late frame after left", "psst"] {
        if texts.iter().any(|t| t == stray) {
            return Err(format!("{stray:?} is shown in the lobby").into());
        }
    }
    let dm = session
        .find(Locator::Css("#direct-list .room-name"))
        .await?;
    if dm.text().await? != "ada" {
        return Err("the direct message has no conversation with ada".into());
    }
    Ok(())
}

/// 2. A post the server could not store is shown as not sent.
async fn refused_post(page: &ChatPage<'_>, peer: &mut Peer) -> Result<()> {
    page.send_chat("this one fails").await?;
    peer.wait_for("the chat", |f| {
        f["type"] == "chat" && f["text"] == "this one fails"
    })
    .await?;
    peer.send(
        json!({ "type": "error", "code": "unavailable", "message": "the log store is failing" }),
    )
    .await?;
    wait_until("the post shown as not sent", UI_TIMEOUT, || async {
        let failed = page
            .session
            .find(Locator::Css("#messages li[data-failed='true']"))
            .await?;
        let text = failed.text().await?;
        if text.contains("this one fails") && text.contains("not sent") && text.contains("failing")
        {
            Ok(())
        } else {
            Err(format!("the failed item reads {text:?}").into())
        }
    })
    .await
}

/// 3. Older history: the button, then scrolling to the top; a server without `history`.
async fn older_history(page: &ChatPage<'_>, peer: &mut Peer) -> Result<()> {
    let session = page.session;
    session
        .find(Locator::Css("#load-older"))
        .await?
        .click()
        .await?;
    let request = peer
        .wait_for("a history request", |f| f["type"] == "history")
        .await?;
    if request != json!({ "type": "history", "room": "lobby", "before": 116, "limit": 50 }) {
        return Err(format!("unexpected history request {request}").into());
    }
    let older: Vec<Value> = (66..=115)
        .map(|seq| chat("lobby", seq, &format!("m{seq}")))
        .collect();
    peer.send(
        json!({ "type": "history", "room": "lobby", "epoch": "E1", "messages": older,
                      "has_more": true }),
    )
    .await?;
    wait_until("m66 first in the list", UI_TIMEOUT, || async {
        let texts = page.message_texts().await?;
        match texts.first() {
            Some(first) if first == "m66" => Ok(()),
            other => Err(format!("the first message is {other:?}").into()),
        }
    })
    .await?;
    // Scrolling to the top asks for the next page; this server does not know `history` after all.
    session
        .execute(
            "document.getElementById('message-scroller').scrollTop = 0",
            vec![],
        )
        .await?;
    let request = peer
        .wait_for("a second history request", |f| f["type"] == "history")
        .await?;
    if request["before"] != 66 {
        return Err(format!("the second request should ask before 66: {request}").into());
    }
    peer.send(
        json!({ "type": "error", "code": "unknown_type", "message": "unknown message type" }),
    )
    .await?;
    page.wait_for_system_line("This server cannot load older messages")
        .await?;
    let button = session.find(Locator::Css("#load-older")).await?;
    if button.attr("hidden").await?.is_none() {
        return Err("the Load older button is still offered".into());
    }
    Ok(())
}

/// 4. The About panel (404, then the server's JSON, and Copy diagnostics); the cluster.
async fn about_and_cluster(session: &Client) -> Result<()> {
    let button = session.find(Locator::Css("#about-button")).await?;
    button.click().await?;
    wait_for_text(session, "#about-note", "no /api/about").await?;
    session
        .find(Locator::Css("#about-close"))
        .await?
        .click()
        .await?;
    button.click().await?;
    wait_for_text(session, "#about-list", "/srv/trw-data").await?;
    wait_for_text(session, "#about-list", "1 h 2 min 3 s").await?;
    let grant = json!({ "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"] });
    chromium_cdp(session, "Browser.grantPermissions", grant).await?;
    session
        .find(Locator::Css("#about-copy"))
        .await?
        .click()
        .await?;
    wait_for_text(session, "#about-copied", "Copied").await?;
    let copied = session
        .execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.clipboard.readText().then(done, (e) => done('error: ' + e));",
            vec![],
        )
        .await?;
    let copied = copied.as_str().unwrap_or_default();
    for wanted in [
        "Data directory: /srv/trw-data",
        "Build: test",
        "Session token: yes",
        "\"cluster\"",
    ] {
        if !copied.contains(wanted) {
            return Err(format!("the diagnostics lack {wanted:?}:\n{copied}").into());
        }
    }
    session
        .find(Locator::Css("#about-close"))
        .await?
        .click()
        .await?;
    wait_for_text(session, "#cluster", "3 nodes").await?;
    wait_for_text(session, "#cluster", "redis down").await
}

async fn wait_for_text(session: &Client, selector: &str, wanted: &str) -> Result<()> {
    wait_until(
        &format!("{selector} to show {wanted:?}"),
        UI_TIMEOUT,
        || async {
            let text = session.find(Locator::Css(selector)).await?.text().await?;
            if text.contains(wanted) {
                Ok(())
            } else {
                Err(format!("{selector} reads {text:?}").into())
            }
        },
    )
    .await
}
