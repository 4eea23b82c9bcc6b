//! `GET /ws`: upgrade, start the connection's actor, then pump the socket's read half into it.
//!
//! The handler task that axum gives each upgraded socket *is* the reader: it waits on the next
//! frame (no polling, no per-second wake-ups: an idle connection costs nothing until its
//! heartbeat), forwards it to the actor, and ends the connection when the client goes quiet for
//! longer than the idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::StreamExt;
use ractor::rpc::CallResult;
use ractor::ActorRef;
use tokio::sync::{Semaphore, TryAcquireError};
use tokio::time::{sleep, Instant};

use super::access::credentials::SUBPROTOCOL;
use super::access::token_store::Grant;
use super::access::ListenerInfo;
use super::api_error::ApiError;
use super::state::{AppState, SocketGuard};
use serde::Deserialize;

use crate::actors::connection::{
    ConnectionArgs, ConnectionMsg, RateLimit, INBOUND_IN_FLIGHT, MAX_ROOMS_PER_CONNECTION,
};
use crate::actors::outbox::{Outbox, OutboxLimits};
use crate::actors::supervisor::{cluster_names, SupervisorMsg};
use crate::metrics::{ActorCall, ConnectionStats, DisconnectReason, Metrics};
use crate::protocol::resume::{is_valid_token, parse_since_list};
use crate::protocol::{unix_millis, CloseCode};

/// tungstenite reads in chunks of this size, into a buffer it allocates (and zero-fills) up front
/// for every connection. Its default (128 KiB) would dominate the memory of an idle connection,
/// and clients here send short JSON lines. Longer messages, up to `max_message_bytes`, are still
/// read whole: tungstenite reserves a frame's full length once its header is in, and reads it in
/// chunks of this size. 512 B rather than 4 KiB saves 3.5 KiB per connection (docs/BENCHMARKS.md).
pub const READ_BUFFER_BYTES: usize = 512;

/// Frames are gathered up to this size before a write, so a burst becomes one syscall.
pub const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// `?name=alice&since=lobby:EPOCH:120,dev:33&session=TOKEN`, all optional: what a reconnecting
/// client sends.
#[derive(Debug, Default, Deserialize)]
pub struct ConnectParams {
    name: Option<String>,
    since: Option<String>,
    session: Option<String>,
}

pub async fn upgrade(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    grant: Option<Extension<Grant>>,
    listener: Option<Extension<Arc<ListenerInfo>>>,
    params: Result<Query<ConnectParams>, QueryRejection>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Malformed parameters are ignored: the client still gets a connection, just no resume.
    let params = params.map(|Query(params)| params).unwrap_or_default();
    if app.draining.is_cancelled() {
        Metrics::count(&app.metrics.connections_refused);
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .into_response();
    }
    if app
        .cluster
        .as_ref()
        .is_some_and(|cluster| cluster.node_number().is_none())
    {
        Metrics::count(&app.metrics.connections_refused);
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this node has not joined its cluster yet (Redis is unreachable); try again",
        )
        .into_response();
    }
    let Some(slot) = app.sockets.try_open(app.max_connections) else {
        Metrics::count(&app.metrics.connections_refused);
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
    let ends = Ends {
        revoked: grant.map(|Extension(grant)| grant.revoked()),
        listener_closing: listener.map(|Extension(listener)| listener.closing.clone()),
    };
    upgrade
        // Answer the subprotocol the page offers next to its token entry (browsers fail a
        // handshake whose offered subprotocols get no answer); never the token entry itself.
        .protocols([SUBPROTOCOL])
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| run_connection(app, socket, peer, params, slot, ends))
}

/// The upgraded socket's task. Its future lives as long as the connection, so it is kept to the
/// read loop: the start-up (the supervisor call, with its arguments and timer) runs once, in a
/// box that is freed before the loop starts. `tests::the_reader_future_stays_small` pins it.
fn run_connection(
    app: Arc<AppState>,
    socket: WebSocket,
    peer: SocketAddr,
    params: ConnectParams,
    slot: SocketGuard,
    ends: Ends,
) -> impl std::future::Future<Output = ()> + Send {
    let start = Box::pin(start_connection(app, socket, peer, params));
    async move {
        let _slot = slot;
        let Some(live) = start.await else {
            return;
        };
        live.run(ends).await;
    }
}

/// One connection once its actor runs: what the read loop needs.
struct Live {
    app: Arc<AppState>,
    actor: ActorRef<ConnectionMsg>,
    outbox: Outbox,
    stats: Arc<ConnectionStats>,
    stream: futures_util::stream::SplitStream<WebSocket>,
}

impl Live {
    async fn run(self, ends: Ends) {
        let Live {
            app,
            actor,
            outbox,
            stats,
            stream,
        } = self;
        let ended = read_frames(&app, stream, &actor, &outbox, &stats, ends).await;
        let reason = ended.unwrap_or_else(|| server_side_reason(outbox.close_code()));
        app.metrics.count_disconnect(reason);
        // The actor's `post_stop` leaves its rooms and asks the writer to close. Wait for the
        // writer so this socket counts as open until its close frame is out.
        actor.stop(Some(reason.label().to_owned()));
        outbox.finished().await;
    }
}

/// Splits the socket, starts the writer and the connection's actor. `None` if the actor could
/// not be started (the client has been closed with 1011 by then).
async fn start_connection(
    app: Arc<AppState>,
    socket: WebSocket,
    peer: SocketAddr,
    params: ConnectParams,
) -> Option<Live> {
    Metrics::count(&app.metrics.connections_opened);
    let Some(id) = app.next_connection_id() else {
        tracing::warn!(%peer, "no connection id left on this node (or no node number)");
        let limits = OutboxLimits {
            frames: 1,
            bytes: 1024,
        };
        let (sink, _stream) = socket.split();
        let outbox = Outbox::spawn_writer(
            sink,
            limits,
            app.config.heartbeat_interval,
            Arc::new(ConnectionStats::new(unix_millis())),
            Arc::clone(&app.metrics),
        );
        outbox.close(CloseCode::SlowConsumer);
        outbox.finished().await;
        return None;
    };
    let stats = Arc::new(ConnectionStats::new(unix_millis()));
    let (sink, stream) = socket.split();
    let limits = OutboxLimits {
        frames: app.config.outbound_queue_frames,
        bytes: app.config.outbound_queue_bytes,
    };
    let outbox = Outbox::spawn_writer(
        sink,
        limits,
        app.config.heartbeat_interval,
        Arc::clone(&stats),
        Arc::clone(&app.metrics),
    );

    let args = ConnectionArgs {
        id,
        name: String::new(), // chosen by the directory
        name_refusal: None,
        session: String::new(), // made by the directory
        outbox: outbox.clone(),
        directory: app.directory.clone(),
        resume: parse_since_list(params.since.as_deref(), MAX_ROOMS_PER_CONNECTION),
        scope: app.scope.clone(),
        instance: app.instance.clone(),
        heartbeat_ms: app.config.heartbeat_interval.as_millis() as u64,
        rate_limit: RateLimit {
            per_sec: app.config.rate_limit_per_sec,
            burst: app.config.rate_limit_burst,
            strikes: app.config.rate_limit_strikes,
        },
        call_timeout: app.config.actor_call_timeout,
        stats: Arc::clone(&stats),
        metrics: Arc::clone(&app.metrics),
        store: Arc::clone(&app.store),
        cluster: app.cluster.clone(),
    };
    // `?name=` is claimed in the cluster (if any) here, so the supervisor never waits for Redis.
    let requested_name = cluster_names::reserve(app.cluster.as_deref(), id, params.name).await;
    // A token can only match if it has the shape of one; anything else is ignored.
    let session = params.session.filter(|token| is_valid_token(token));
    let timer = app.metrics.call_timer(ActorCall::HttpToSupervisor);
    let started = app
        .supervisor
        .call(
            |reply| SupervisorMsg::StartConnection {
                args: Box::new(args),
                requested_name,
                session,
                peer,
                reply,
            },
            Some(app.config.actor_call_timeout),
        )
        .await;
    drop(timer);
    let actor = match started {
        Ok(CallResult::Success(Ok(actor))) => actor,
        _ => {
            tracing::warn!(connection = id, %peer, "could not start an actor for a connection");
            outbox.close(CloseCode::InternalError);
            outbox.finished().await;
            return None;
        }
    };
    Some(Live {
        app,
        actor,
        outbox,
        stats,
        stream,
    })
}

/// Forwards frames to the actor until the connection ends. Returns why, when the client side
/// ended it; `None` when the server side asked to close (the outbox knows the code).
async fn read_frames(
    app: &AppState,
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    actor: &ActorRef<ConnectionMsg>,
    outbox: &Outbox,
    stats: &ConnectionStats,
    ends: Ends,
) -> Option<DisconnectReason> {
    // Boxed, and only for a connection that has something to wait for: most have neither a
    // revocable token nor a listener that stops, and a never-ending future costs nothing.
    let mut revoked: std::pin::Pin<Box<dyn std::future::Future<Output = CloseCode> + Send>> =
        if ends.revoked.is_none() && ends.listener_closing.is_none() {
            Box::pin(std::future::pending())
        } else {
            Box::pin(ends.wait())
        };
    let in_flight = Arc::new(Semaphore::new(INBOUND_IN_FLIGHT));
    let idle_timeout = app.config.idle_timeout;
    let idle = sleep(idle_timeout);
    tokio::pin!(idle);
    let close_requested = outbox.close_requested();
    tokio::pin!(close_requested);

    loop {
        let frame = tokio::select! {
            biased;
            () = &mut close_requested => return None,
            code = &mut revoked => {
                outbox.close(code);
                return None;
            }
            () = &mut idle => {
                outbox.close(CloseCode::Normal);
                return Some(DisconnectReason::IdleTimeout);
            }
            frame = stream.next() => frame,
        };
        idle.as_mut().reset(Instant::now() + idle_timeout);

        let message = match frame {
            Some(Ok(message)) => message,
            Some(Err(error)) => return Some(read_error(error, outbox)),
            None => return Some(DisconnectReason::ClientDropped),
        };
        // Backpressure: wait for the actor to catch up before reading more. Waiting is rare
        // (the actor is INBOUND_IN_FLIGHT frames behind), so its future is boxed, not kept in
        // this task's future for the connection's life.
        let permit = match Arc::clone(&in_flight).try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return None,
            Err(TryAcquireError::NoPermits) => {
                let waiting = Box::pin(Arc::clone(&in_flight).acquire_owned());
                tokio::select! {
                    () = &mut close_requested => return None,
                    permit = waiting => match permit {
                        Ok(permit) => permit,
                        Err(_) => return None,
                    },
                }
            }
        };
        let forwarded = match message {
            Message::Text(text) => actor.cast(ConnectionMsg::Text(text, permit)),
            Message::Binary(_) => actor.cast(ConnectionMsg::Binary(permit)),
            // tungstenite answers pings by itself; any frame already counted as liveness.
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => {
                outbox.close(CloseCode::Normal);
                return Some(DisconnectReason::ClientClosed);
            }
        };
        ConnectionStats::count(&stats.messages_in);
        Metrics::count(&app.metrics.messages_in);
        if forwarded.is_err() {
            return None;
        }
    }
}

/// What ends a connection from outside its own traffic: its access token rotated away (4003),
/// or the listener it came through stopped (Stop sharing: 1001).
struct Ends {
    revoked: Option<tokio_util::sync::CancellationToken>,
    listener_closing: Option<tokio_util::sync::CancellationToken>,
}

impl Ends {
    /// Resolves with the close code when either happens; never on a connection with neither.
    async fn wait(self) -> CloseCode {
        let revoked = async {
            match &self.revoked {
                Some(token) => token.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let closing = async {
            match &self.listener_closing {
                Some(token) => token.cancelled().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = revoked => CloseCode::Unauthorized,
            () = closing => CloseCode::GoingAway,
        }
    }
}

/// Why the server closed a connection, from the close code it chose.
fn server_side_reason(code: Option<CloseCode>) -> DisconnectReason {
    match code {
        Some(CloseCode::SlowConsumer) => DisconnectReason::SlowConsumer,
        Some(CloseCode::PolicyViolation) => DisconnectReason::Flooding,
        Some(CloseCode::MessageTooBig) => DisconnectReason::MessageTooBig,
        Some(CloseCode::InternalError) => DisconnectReason::ActorFailed,
        Some(CloseCode::GoingAway) => DisconnectReason::ServerShutdown,
        Some(CloseCode::Replaced) => DisconnectReason::Replaced,
        Some(CloseCode::Unauthorized) => DisconnectReason::Unauthorized,
        Some(CloseCode::Normal) | None => DisconnectReason::ClientDropped,
    }
}

fn read_error(error: axum::Error, outbox: &Outbox) -> DisconnectReason {
    let too_big = error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)));
    if too_big {
        outbox.close(CloseCode::MessageTooBig);
        DisconnectReason::MessageTooBig
    } else {
        outbox.close(CloseCode::Normal);
        DisconnectReason::ClientDropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `make` would return, without making one.
    fn size_of_output<A, F: std::future::Future>(_make: impl Fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// The reader task holds this future for the connection's whole life, so every byte of it is
    /// memory per connection. Debug build (what `cargo test` measures): 1,896 bytes when the
    /// start-up (supervisor call, timer, arguments, the unsplit socket), the revocation wait and
    /// the permit wait were inline; 704 with them boxed.
    #[test]
    fn the_reader_future_stays_small() {
        type Args = (
            Arc<AppState>,
            WebSocket,
            SocketAddr,
            ConnectParams,
            SocketGuard,
            Ends,
        );
        let size = size_of_output(|(app, socket, peer, params, slot, ends): Args| {
            run_connection(app, socket, peer, params, slot, ends)
        });
        assert!(size <= 768, "the reader task's future is {size} bytes");
    }
}
