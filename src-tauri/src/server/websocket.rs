//! `GET /ws`: upgrade, start the connection's actor, then pump the socket's read half into it.
//!
//! The handler task that axum gives each upgraded socket *is* the reader: it waits on the next
//! frame (no polling, no per-second wake-ups: an idle connection costs nothing until its
//! heartbeat), forwards it to the actor, and ends the connection when the client goes quiet for
//! longer than the idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use ractor::rpc::CallResult;
use ractor::ActorRef;
use tokio::sync::Semaphore;
use tokio::time::{sleep, Instant};

use super::api_error::ApiError;
use super::state::{AppState, SocketGuard};
use crate::actors::connection::{ConnectionArgs, ConnectionMsg, RateLimit, INBOUND_IN_FLIGHT};
use crate::actors::outbox::{Outbox, OutboxLimits};
use crate::actors::supervisor::SupervisorMsg;
use crate::protocol::CloseCode;

/// tungstenite reads in chunks of this size. Its default (128 KiB) would dominate the memory
/// of an idle connection; messages larger than this are still read, in several chunks.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Frames are gathered up to this size before a write, so a burst becomes one syscall.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

pub async fn upgrade(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if app.draining.is_cancelled() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .into_response();
    }
    let Some(slot) = app.sockets.try_open(app.max_connections) else {
        tracing::warn!(max = app.max_connections, %peer, "refused a WebSocket: connection cap reached");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            format!(
                "this server holds its maximum of {} connections; try again later",
                app.max_connections
            ),
        )
        .into_response();
    };
    let max_message = app.config.max_message_bytes;
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| run_connection(app, socket, peer, slot))
}

async fn run_connection(
    app: Arc<AppState>,
    socket: WebSocket,
    peer: SocketAddr,
    _slot: SocketGuard,
) {
    let id = app.next_connection_id();
    let (sink, stream) = socket.split();
    let limits = OutboxLimits {
        frames: app.config.outbound_queue_frames,
        bytes: app.config.outbound_queue_bytes,
    };
    let outbox = Outbox::spawn_writer(sink, limits, app.config.heartbeat_interval);

    let args = ConnectionArgs {
        id,
        name: format!("guest-{id}"),
        outbox: outbox.clone(),
        lobby: app.lobby.clone(),
        scope: app.scope.clone(),
        instance: app.instance.clone(),
        heartbeat_ms: app.config.heartbeat_interval.as_millis() as u64,
        rate_limit: RateLimit {
            per_sec: app.config.rate_limit_per_sec,
            burst: app.config.rate_limit_burst,
            strikes: app.config.rate_limit_strikes,
        },
    };
    let started = app
        .supervisor
        .call(
            |reply| SupervisorMsg::StartConnection { args, peer, reply },
            Some(app.config.actor_call_timeout),
        )
        .await;
    let actor = match started {
        Ok(CallResult::Success(Ok(actor))) => actor,
        _ => {
            tracing::warn!(connection = id, %peer, "could not start an actor for a connection");
            outbox.close(CloseCode::InternalError);
            outbox.finished().await;
            return;
        }
    };

    let ended_because = read_frames(&app, stream, &actor, &outbox).await;
    // The actor's `post_stop` leaves the room and asks the writer to close. Wait for the
    // writer so this socket counts as open until its close frame is out.
    actor.stop(Some(ended_because.to_owned()));
    outbox.finished().await;
}

/// Forwards frames to the actor until the connection ends; returns why it ended.
async fn read_frames(
    app: &AppState,
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    actor: &ActorRef<ConnectionMsg>,
    outbox: &Outbox,
) -> &'static str {
    let in_flight = Arc::new(Semaphore::new(INBOUND_IN_FLIGHT));
    let idle_timeout = app.config.idle_timeout;
    let idle = sleep(idle_timeout);
    tokio::pin!(idle);

    loop {
        let frame = tokio::select! {
            biased;
            () = outbox.close_requested() => return "closed by the server",
            () = &mut idle => {
                outbox.close(CloseCode::Normal);
                return "idle timeout: no frame or pong from the client";
            }
            frame = stream.next() => frame,
        };
        idle.as_mut().reset(Instant::now() + idle_timeout);

        let message = match frame {
            Some(Ok(message)) => message,
            Some(Err(error)) => return read_error(error, outbox),
            None => return "client disconnected",
        };
        // Backpressure: wait for the actor to catch up before reading more.
        let permit = tokio::select! {
            () = outbox.close_requested() => return "closed by the server",
            permit = Arc::clone(&in_flight).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return "closed by the server",
            },
        };
        let forwarded = match message {
            Message::Text(text) => actor.cast(ConnectionMsg::Text(text, permit)),
            Message::Binary(_) => actor.cast(ConnectionMsg::Binary(permit)),
            // tungstenite answers pings by itself; any frame already counted as liveness.
            Message::Ping(_) | Message::Pong(_) => Ok(()),
            Message::Close(_) => {
                outbox.close(CloseCode::Normal);
                return "client closed the connection";
            }
        };
        if forwarded.is_err() {
            return "connection actor is gone";
        }
    }
}

fn read_error(error: axum::Error, outbox: &Outbox) -> &'static str {
    let too_big = error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)));
    if too_big {
        outbox.close(CloseCode::MessageTooBig);
        "message too big"
    } else {
        outbox.close(CloseCode::Normal);
        "read error"
    }
}
