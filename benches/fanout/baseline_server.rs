//! The baseline: the smallest fair axum broadcast server, with no actors at all.
//!
//! It speaks the same protocol as the real server (same endpoints, same `welcome` and `message`
//! frames, encoded by the same `ServerMessage` type) and uses the same write batching. Its
//! tungstenite buffers are either ours (the same read chunk and write batch, so the only
//! difference left is the architecture) or, with `--axum-default-buffers`, what axum gives a
//! user who sets nothing (128 KiB each way):
//!
//! ```text
//!   baseline: /broadcast ─▶ tokio::sync::broadcast::Sender ─▶ one task per socket ─▶ socket
//!   ours:     /broadcast ─▶ RoomActor ─▶ Outbox (bounded mpsc) ─▶ writer task ─▶ socket
//!                                        + a ConnectionActor and a reader task per socket
//! ```
//!
//! Run as `fanout --serve-baseline --port P`; the benchmark starts it as a child process so that
//! its memory can be read from `/proc` exactly like ours.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tauri_ractor_websocket::protocol::{Level, NotificationSource, ServerMessage};
use tokio::sync::broadcast;

/// Same as the real server (`server/websocket.rs`): tungstenite's read chunk and write batch.
pub const READ_BUFFER_BYTES: usize = tauri_ractor_websocket::server::READ_BUFFER_BYTES;
pub const WRITE_BUFFER_BYTES: usize = tauri_ractor_websocket::server::WRITE_BUFFER_BYTES;
/// Frames a subscriber may fall behind before it lags; the real server's outbox holds 1,024.
const CHANNEL_CAPACITY: usize = 1024;
/// Same as the real writer: frames written before one flush.
const MAX_FRAMES_PER_FLUSH: usize = 64;

struct Hub {
    sender: broadcast::Sender<Utf8Bytes>,
    /// Held while numbering *and* sending, so frames reach the channel in `seq` order.
    last_seq: Mutex<u64>,
    sockets: AtomicUsize,
    next_id: AtomicU64,
    instance: String,
    /// Leave tungstenite's buffers at axum's defaults.
    default_buffers: bool,
}

#[derive(Deserialize)]
struct BroadcastRequest {
    message: String,
}

/// Serves until the process is killed; with `default_buffers`, axum's buffer sizes.
pub async fn serve(port: u16, default_buffers: bool) -> std::io::Result<()> {
    let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
    let hub = Arc::new(Hub {
        sender,
        last_seq: Mutex::new(0),
        sockets: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
        instance: format!("baseline-{}", std::process::id()),
        default_buffers,
    });
    let router = Router::new()
        .route("/ws", get(upgrade))
        .route("/health", get(health))
        .route(
            "/broadcast",
            get(|State(hub), Query(request)| broadcast_text(hub, request))
                .post(|State(hub), Json(request)| broadcast_text(hub, request)),
        )
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("baseline listening on {}", listener.local_addr()?);
    axum::serve(listener, router).await
}

async fn health(State(hub): State<Arc<Hub>>) -> Json<serde_json::Value> {
    let sockets = hub.sockets.load(Ordering::Relaxed);
    Json(json!({
        "active_websockets": sockets,
        "active_actors": 0,
        "server": "baseline",
        "instance": hub.instance,
    }))
}

async fn broadcast_text(hub: Arc<Hub>, request: BroadcastRequest) -> Response {
    if request.message.trim().is_empty() {
        return (StatusCode::BAD_REQUEST, "empty message").into_response();
    }
    let mut last_seq = match hub.last_seq.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    *last_seq += 1;
    let seq = *last_seq;
    // Encoded once; every subscriber gets a clone of the same reference-counted bytes.
    let frame: Utf8Bytes = ServerMessage::Notification {
        source: NotificationSource::Broadcast,
        room: "lobby".to_owned(),
        seq,
        title: "Broadcast".to_owned(),
        text: request.message,
        level: Level::Info,
        ts: tauri_ractor_websocket::actors::room::unix_millis(),
    }
    .to_json()
    .into();
    let delivered_to = hub.sender.send(frame).unwrap_or(0);
    drop(last_seq);
    Json(json!({ "delivered_to": delivered_to, "seq": seq })).into_response()
}

async fn upgrade(State(hub): State<Arc<Hub>>, upgrade: WebSocketUpgrade) -> Response {
    let upgrade = if hub.default_buffers {
        upgrade
    } else {
        upgrade
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(WRITE_BUFFER_BYTES)
    };
    upgrade.on_upgrade(move |socket| connection(hub, socket))
}

/// One task per socket: subscribe, greet, then copy the channel to the socket.
async fn connection(hub: Arc<Hub>, socket: WebSocket) {
    hub.sockets.fetch_add(1, Ordering::Relaxed);
    let mut frames = hub.sender.subscribe();
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let welcome = ServerMessage::Welcome {
        id,
        name: format!("guest-{id}"),
        room: "lobby".to_owned(),
        server: "baseline",
        version: tauri_ractor_websocket::VERSION,
        instance: hub.instance.clone(),
        heartbeat_ms: 10_000,
        session: String::new(),
    };
    let (mut sink, mut stream) = socket.split();
    if sink
        .send(Message::Text(welcome.to_json().into()))
        .await
        .is_ok()
    {
        loop {
            tokio::select! {
                frame = frames.recv() => {
                    let Ok(frame) = frame else { break }; // lagged (slow client) or closed
                    if write_burst(&mut sink, frame, &mut frames).await.is_err() {
                        break;
                    }
                }
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {} // the benchmark's clients send nothing else
                },
            }
        }
    }
    hub.sockets.fetch_sub(1, Ordering::Relaxed);
}

/// Writes `first` and whatever else is already in the channel, then flushes once.
async fn write_burst(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    first: Utf8Bytes,
    frames: &mut broadcast::Receiver<Utf8Bytes>,
) -> Result<(), axum::Error> {
    sink.feed(Message::Text(first)).await?;
    for _ in 1..MAX_FRAMES_PER_FLUSH {
        match frames.try_recv() {
            Ok(next) => sink.feed(Message::Text(next)).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
}
