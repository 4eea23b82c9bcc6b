//! A real WebSocket test client (tokio-tungstenite over a real TCP socket) and helpers to start
//! an in-process server on an ephemeral port.
//!
//! Several test crates include this file and each uses a different subset of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tauri_ractor_websocket::config::ServerConfig;
use tauri_ractor_websocket::server::{self, RunningServer};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound for "this should have happened by now". Not a performance assertion: only a
/// guard so that a broken server fails the test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Starts a server on 127.0.0.1 with an OS-chosen port.
pub async fn start_server() -> RunningServer {
    start_server_with(ServerConfig::ephemeral()).await
}

pub async fn start_server_with(config: ServerConfig) -> RunningServer {
    server::start(config)
        .await
        .expect("server starts on an ephemeral port")
}

/// One connected client that has already read its `welcome` frame.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub id: u64,
    pub name: String,
}

impl Client {
    /// Connects and waits until the lobby has taken the client in (`welcome`, then `joined`).
    pub async fn connect(addr: SocketAddr) -> Client {
        let (mut client, _welcome) = Client::connect_with(addr, "").await;
        let joined = client.next_of_type("joined").await;
        assert_eq!(joined["room"], "lobby");
        client
    }

    /// Connects with query parameters (`name=...&since=...`); returns the client and its
    /// welcome frame, before anything else is read.
    pub async fn connect_with(addr: SocketAddr, query: &str) -> (Client, Value) {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?{query}"))
            .await
            .expect("WebSocket handshake succeeds");
        let mut client = Client {
            ws,
            id: 0,
            name: String::new(),
        };
        let welcome = client.next_json().await;
        assert_eq!(
            welcome["type"], "welcome",
            "first frame is welcome: {welcome}"
        );
        client.id = welcome["id"].as_u64().expect("welcome has a numeric id");
        client.name = welcome["name"]
            .as_str()
            .expect("welcome has a name")
            .to_owned();
        (client, welcome)
    }

    /// The next frame of the given `type`, skipping others.
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Joins `room` and returns its `joined` frame (frames before it are skipped).
    pub async fn join(&mut self, room: &str) -> Value {
        self.send_json(serde_json::json!({"type": "join", "room": room}))
            .await;
        self.next_of_type("joined").await
    }

    /// The next numbered frame (`message` or `notification`), skipping others.
    pub async fn next_numbered(&mut self) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == "message" || frame["type"] == "notification" {
                return frame;
            }
        }
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send a text frame");
    }

    pub async fn send_chat(&mut self, text: &str) {
        self.send_json(serde_json::json!({"type": "chat", "text": text}))
            .await;
    }

    /// The next JSON text frame (pings and pongs are skipped). Panics on close or timeout.
    pub async fn next_json(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame arrives in time")
                .expect("the connection is still open")
                .expect("a valid frame");
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(&text).expect("server frames are JSON")
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next `message` frame, skipping anything else.
    pub async fn next_message(&mut self) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == "message" {
                return frame;
            }
        }
    }

    /// Reads until the server closes; returns the close code it sent.
    pub async fn expect_close(&mut self) -> CloseCode {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("the server closes in time");
            match frame {
                Some(Ok(Message::Close(Some(close)))) => return close.code,
                Some(Ok(Message::Close(None))) => panic!("close frame without a code"),
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("connection failed before a close frame: {error}"),
                None => panic!("connection ended without a close frame"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Drain until the server's close reply, so the closing handshake completes.
        let _ =
            tokio::time::timeout(PATIENCE, async { while self.ws.next().await.is_some() {} }).await;
    }
}

/// Opens a WebSocket with an `Origin` header, as a browser would; returns the HTTP status of a
/// refused handshake, or 101 on success.
pub async fn handshake_status(addr: SocketAddr, headers: &[(&str, &str)]) -> u16 {
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("valid request");
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_ws, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected handshake failure: {other}"),
    }
}

/// `GET /health` as JSON.
pub async fn health(addr: SocketAddr) -> Value {
    reqwest::get(format!("http://{addr}/health"))
        .await
        .expect("GET /health")
        .json()
        .await
        .expect("/health is JSON")
}

/// `GET /api/actors` as JSON.
pub async fn actors(addr: SocketAddr) -> Value {
    reqwest::get(format!("http://{addr}/api/actors"))
        .await
        .expect("GET /api/actors")
        .json()
        .await
        .expect("/api/actors is JSON")
}

/// The room called `name` in an `/api/actors` answer.
pub fn room_in(tree: &Value, name: &str) -> Option<Value> {
    tree["rooms"]
        .as_array()?
        .iter()
        .find(|room| room["name"] == name)
        .cloned()
}

/// Polls `/api/actors` until `check` holds for room `name`; returns that room's view.
pub async fn wait_for_room(addr: SocketAddr, name: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let tree = actors(addr).await;
        if let Some(room) = room_in(&tree, name).filter(|room| check(room)) {
            return room;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("#{name} never got there; /api/actors says {tree}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `/health` until both counts equal `expected`; panics with the last answer otherwise.
pub async fn wait_for_counts(addr: SocketAddr, expected: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let health = health(addr).await;
        if health["active_websockets"] == expected && health["active_actors"] == expected {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("expected {expected} websockets and actors, /health says {health}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
