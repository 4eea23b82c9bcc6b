//! The axum server: binding, routing, and a graceful shutdown that reaches every client.
//!
//! [`start`] binds first and fails with a clear [`StartError`] if the port is taken, then starts
//! the actor tree and serves on a background task. The returned [`RunningServer`] is the only
//! handle needed: it knows the bound address and how to shut everything down.
//!
//! Connections are accepted by [`connections`], a hand-written accept loop over hyper that
//! holds slow and idle HTTP clients to timeouts and caps before they reach the router.
//!
//! **When the server cannot heal itself** (a room keeps failing beyond the restart intensity,
//! the directory or the supervisor is gone), it starts its graceful shutdown on its own: new
//! WebSockets get 503, every client gets 1001. The embedding program learns why from
//! [`RunningServer::failure`], finishes with [`RunningServer::shutdown`] and exits non-zero.

mod about;
pub mod access;
mod api_error;
mod broadcast;
mod cluster_node;
pub mod connections;
#[cfg(feature = "test-hooks")]
mod debug;
mod health;
mod history;
mod inspector;
mod metrics_endpoint;
mod notify;
mod request_guard;
mod routes;
mod state;
mod static_ui;
mod storage;
mod websocket;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

use crate::actors::directory::DirectoryMsg;
use crate::actors::supervisor::{ConnectionSupervisor, FatalSignal, SupervisorArgs, SupervisorMsg};
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::protocol::CloseCode;
use crate::room_log::sqlite::OpenError;
use crate::room_log::LogError;
pub use request_guard::RequestPolicy;
pub use state::{AppState, SocketCounter};
/// tungstenite's buffer sizes per WebSocket (the benchmark's baseline uses the same).
pub use websocket::{READ_BUFFER_BYTES, WRITE_BUFFER_BYTES};

/// At shutdown, how long stopping the actor tree may take (each of two steps).
const STOP_ACTORS_BUDGET: Duration = Duration::from_millis(250);

/// At shutdown, how long HTTP connections (not WebSockets) get to finish their request.
const STOP_HTTP_BUDGET: Duration = Duration::from_millis(250);

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    /// The address is taken (or not ours to bind). The message names the port and the fix.
    Bind { addr: SocketAddr, source: io::Error },
    /// The actor system refused to start an actor.
    Actors(String),
    /// The access token or the TLS certificate could not be read or made.
    Access(String),
    /// The room log could not be opened (its data directory is in use by another process, its
    /// file is damaged or from a newer version...). The message names the file and the fix.
    Storage(OpenError),
    /// `--redis` names no usable Redis URL.
    Cluster(LogError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind { addr, source } if source.kind() == io::ErrorKind::AddrInUse => {
                write!(
                    f,
                    "port {port} on {ip} is already in use by another program. \
                 Stop that program, or choose another port with --port <N> (or TRW_PORT=<N>). \
                 `ss -ltnp 'sport = :{port}'` shows who holds it.",
                    port = addr.port(),
                    ip = addr.ip(),
                )
            }
            StartError::Bind { addr, source } => write!(
                f,
                "cannot listen on {addr}: {source}. Choose another address with --host/--port \
                 (or TRW_HOST/TRW_PORT)."
            ),
            StartError::Actors(reason) => write!(f, "cannot start the actor system: {reason}"),
            StartError::Access(reason) => write!(f, "{reason}"),
            StartError::Storage(error) => write!(f, "{error}"),
            StartError::Cluster(error) => write!(f, "--redis: {error}"),
        }
    }
}

impl std::error::Error for StartError {}

impl StartError {
    /// True when the port was taken by someone else (as opposed to any other failure).
    pub fn is_addr_in_use(&self) -> bool {
        matches!(self, StartError::Bind { source, .. } if source.kind() == io::ErrorKind::AddrInUse)
    }
}

/// A server that is accepting connections.
pub struct RunningServer {
    local_addr: SocketAddr,
    app: Arc<AppState>,
    accept_task: JoinHandle<()>,
    supervisor: ActorRef<SupervisorMsg>,
}

/// What [`RunningServer::shutdown`] observed, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections that were asked to close with 1001.
    pub clients_notified: usize,
    /// Sockets still open when the drain deadline passed (they were dropped).
    pub sockets_left_open: usize,
    /// Connection actors still alive after the actor tree stopped (should be 0).
    pub actors_left: usize,
}

/// Opens the room log, binds, starts the actor tree and serves in the background.
///
/// The room log is opened first, so that a second process on the same data directory is told
/// so (whatever port it asked for) before it touches the network.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    let metrics = Arc::new(Metrics::default());
    let store = match &config.cluster.redis_url {
        Some(url) => storage::open_cluster_store(url, &config, &metrics.cluster)
            .map_err(StartError::Cluster)?,
        None => storage::open_store(&config).map_err(StartError::Storage)?,
    };
    let requested = SocketAddr::new(config.host, config.port);
    let listener = TcpListener::bind(requested)
        .await
        .map_err(|source| StartError::Bind {
            addr: requested,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: requested,
        source,
    })?;

    let access = access_setup(&config, local_addr)?;

    let instance = new_instance_id();
    let scope = format!("server-{instance}");
    let sockets = state::SocketCounter::default();
    let cluster = cluster_node::open(&config, &instance, local_addr, &sockets)?;
    let fatal = Arc::new(FatalSignal::default());
    let supervisor_args = SupervisorArgs {
        store: Arc::clone(&store),
        presence_limit: config.presence_limit,
        max_rooms: config.max_rooms,
        max_room_restarts: config.max_room_restarts,
        room_restart_window: config.room_restart_window,
        call_timeout: config.actor_call_timeout,
        metrics: Arc::clone(&metrics),
        fatal: Arc::clone(&fatal),
        cluster: cluster.clone(),
        #[cfg(feature = "test-hooks")]
        start_connection_delay: (
            config.test_hooks.start_connection_delay,
            config.test_hooks.delayed_starts,
        ),
    };
    let (supervisor, supervisor_task) = Actor::spawn(None, ConnectionSupervisor, supervisor_args)
        .await
        .map_err(|error| StartError::Actors(error.to_string()))?;
    let directory = match supervisor
        .call(SupervisorMsg::Directory, Some(config.actor_call_timeout))
        .await
    {
        Ok(CallResult::Success(directory)) => directory,
        _ => {
            supervisor.stop(None);
            return Err(StartError::Actors("the directory did not start".to_owned()));
        }
    };

    let open_file_limit = crate::os_limits::raise_open_file_limit();
    let max_connections = config
        .max_connections
        .unwrap_or_else(|| crate::os_limits::connection_cap(open_file_limit));
    tracing::info!(
        open_file_limit = open_file_limit.map_or_else(|| "unknown".to_owned(), |l| l.to_string()),
        max_connections,
        "open-file limit raised to the hard limit"
    );

    let limits = connections::ConnectionLimits::resolve(&config, max_connections);
    let per_peer_cap =
        connections::limits::per_peer_cap(config.max_connections_per_peer, local_addr.ip());
    tracing::info!(
        header_timeout_secs = limits.header_timeout.as_secs_f64(),
        idle_timeout_secs = limits.idle_timeout.as_secs_f64(),
        max_pending = limits.max_pending,
        max_per_peer = per_peer_cap.map_or_else(|| "off".to_owned(), |cap| cap.to_string()),
        trusted_proxies = limits.trusted_proxies.len(),
        "HTTP connection limits"
    );
    let http = connections::HttpConnections::new(limits, Arc::clone(&metrics));

    let policy = RequestPolicy::new(&config, local_addr);
    let main_listener = Arc::new(access::ListenerInfo {
        auth: access.mode,
        secure: access.tls.is_some(),
        ip: config.host,
        port: local_addr.port(),
        policy: policy.clone(),
        closing: CancellationToken::new(),
        shared: false,
    });
    let app = Arc::new(AppState {
        config,
        instance,
        store,
        started: std::time::Instant::now(),
        supervisor: supervisor.clone(),
        directory,
        lobby: std::sync::Mutex::new(None),
        fatal,
        scope,
        sockets,
        draining: CancellationToken::new(),
        policy,
        metrics,
        http: Arc::clone(&http),
        max_connections,
        open_file_limit,
        listening: vec![local_addr],
        next_connection_id: std::sync::atomic::AtomicU64::new(1),
        local_addr,
        access: access.control,
        cluster,
    });
    if app.lobby().await.is_none() {
        supervisor.stop(None);
        return Err(StartError::Actors(
            "the lobby room did not start".to_owned(),
        ));
    }
    let router = routes::router(Arc::clone(&app));
    let accept_task = match access.tls {
        Some(tls) => {
            let transport =
                connections::transport::Tls(tokio_rustls::TlsAcceptor::from(tls.config));
            let listener = connections::Listener {
                tcp: listener,
                transport,
                per_peer_cap,
                info: main_listener,
            };
            tokio::spawn(connections::accept_loop(listener, router, http))
        }
        None => {
            let listener = connections::Listener {
                tcp: listener,
                transport: connections::transport::PlainTcp,
                per_peer_cap,
                info: main_listener,
            };
            tokio::spawn(connections::accept_loop(listener, router, http))
        }
    };
    cluster_node::spawn(&app).await;
    tokio::spawn(drain_on_failure(Arc::clone(&app)));
    tokio::spawn(watch_supervisor(Arc::clone(&app), supervisor_task));

    tracing::info!(address = %local_addr, instance = %app.instance, auth = ?access.mode, tls = access.scheme, "server listening");
    Ok(RunningServer {
        local_addr,
        app,
        accept_task,
        supervisor,
    })
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:8000`, or `https://…` over TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.app.config.access.tls.is_on() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.local_addr)
    }

    /// The access token when the main listener wants one (the desktop window needs it).
    pub fn access_token(&self) -> Option<String> {
        if self.app.config.access.auth_mode(self.local_addr.ip()) == crate::config::AuthMode::Token
        {
            self.app.access.tokens.token().ok()
        } else {
            None
        }
    }

    /// The random id of this server run, also sent in every `welcome` frame.
    pub fn instance(&self) -> &str {
        &self.app.instance
    }

    /// Shared state, for embedding (the desktop shell reads counts from it).
    pub fn state(&self) -> &Arc<AppState> {
        &self.app
    }

    /// Resolves, with the reason, if the server failed beyond healing (see the module docs).
    /// The server then already refuses new sockets and has asked every client to go (1001); the
    /// caller should [`RunningServer::shutdown`] and exit non-zero. Never resolves otherwise.
    pub fn failure(&self) -> impl Future<Output = String> + Send + 'static {
        let fatal = Arc::clone(&self.app.fatal);
        async move { fatal.raised().await }
    }

    /// Test-only: makes the actor of connection `connection_id` panic. Compiled only with the
    /// `test-hooks` feature, so no release build can be made to panic this way.
    #[cfg(feature = "test-hooks")]
    pub async fn inject_panic(&self, connection_id: u64) -> bool {
        debug::inject(
            &self.app,
            crate::actors::supervisor::PanicTarget::Connection(connection_id),
        )
        .await
    }

    /// Test-only: makes the actor of `room` panic (it is restarted from its log).
    #[cfg(feature = "test-hooks")]
    pub async fn inject_room_panic(&self, room: &str) -> bool {
        debug::inject(
            &self.app,
            crate::actors::supervisor::PanicTarget::Room(room.to_owned()),
        )
        .await
    }

    /// Graceful shutdown:
    /// 1. refuse new WebSockets and stop accepting connections;
    /// 2. ask every connection to close with 1001 and give them `drain_timeout` to get it out;
    /// 3. stop every actor, then the supervisor.
    ///
    /// Bounded in time whatever the clients do: a client that never reads is simply dropped.
    pub async fn shutdown(self) -> ShutdownReport {
        let drain_timeout = self.app.config.drain_timeout;
        self.app.draining.cancel();
        // Stop accepting; idle keep-alive connections close now, others after their request.
        self.app.http.begin_shutdown();
        let _ = self
            .supervisor
            .call(SupervisorMsg::PrepareShutdown, Some(drain_timeout))
            .await;
        let clients_notified = close_all(&self.app, drain_timeout).await;

        let deadline = Instant::now() + drain_timeout;
        while self.app.sockets.get() > 0 && Instant::now() < deadline {
            sleep(Duration::from_millis(10)).await;
        }
        let sockets_left_open = self.app.sockets.get();

        // Stopping actors takes microseconds when all is well; the budget only bounds the
        // unusual case, so that the process always exits about a second after the signal.
        let reason = Some("server shutting down".to_owned());
        let _ = self
            .supervisor
            .stop_children_and_wait(reason.clone(), Some(STOP_ACTORS_BUDGET))
            .await;
        let _ = self
            .supervisor
            .stop_and_wait(reason, Some(STOP_ACTORS_BUDGET))
            .await;
        let actors_left = self.app.active_actors();

        // HTTP connections get a moment to finish their request; then they are dropped.
        self.app.http.finish_shutdown(STOP_HTTP_BUDGET).await;
        self.accept_task.abort();
        let report = ShutdownReport {
            clients_notified,
            sockets_left_open,
            actors_left,
        };
        tracing::info!(?report, "server stopped");
        report
    }
}

/// Every client is asked to close with 1001; answers how many were asked.
async fn close_all(app: &AppState, timeout: Duration) -> usize {
    let answer = app
        .directory
        .call(
            |reply| DirectoryMsg::CloseAll {
                code: CloseCode::GoingAway,
                reply,
            },
            Some(timeout),
        )
        .await;
    match answer {
        Ok(CallResult::Success(count)) => count,
        _ => 0,
    }
}

/// When the fatal signal is raised: refuse new sockets, stop accepting, ask everyone to go.
async fn drain_on_failure(app: Arc<AppState>) {
    let reason = tokio::select! {
        reason = app.fatal.raised() => reason,
        () = app.draining.cancelled() => return, // an ordinary shutdown
    };
    if app.draining.is_cancelled() {
        return;
    }
    tracing::error!(%reason, "the server cannot go on: closing every connection with 1001");
    app.draining.cancel();
    app.http.begin_shutdown();
    close_all(&app, app.config.drain_timeout).await;
}

/// The supervisor is the root of the tree: if it ends while the server is not shutting down,
/// nothing would restart anything any more.
async fn watch_supervisor(app: Arc<AppState>, supervisor: JoinHandle<()>) {
    let _ = supervisor.await;
    if !app.draining.is_cancelled() {
        app.fatal
            .raise("the supervisor stopped unexpectedly".to_owned());
    }
}

/// 64 random bits as hex, from the standard library's per-process random hash keys.
fn new_instance_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// What [`access_setup`] prepares before the server starts.
struct AccessSetup {
    mode: crate::config::AuthMode,
    tls: Option<access::tls::TlsSetup>,
    scheme: &'static str,
    control: Arc<access::AccessControl>,
}

/// The auth mode, the token (made or rotated now, so that a problem shows at start) and TLS.
fn access_setup(config: &ServerConfig, bound: SocketAddr) -> Result<AccessSetup, StartError> {
    use crate::config::{AuthMode, TlsMode};
    let mode = config.access.auth_mode(config.host);
    let tokens = access::token_store::TokenStore::new(config.data_dir.as_deref());
    if config.access.rotate_token {
        tokens.rotate().map_err(|error| {
            StartError::Access(format!("cannot replace the access token: {error}"))
        })?;
    }
    if mode == AuthMode::Token {
        tokens
            .token()
            .map_err(|error| StartError::Access(format!("the access token: {error}")))?;
        match tokens.file() {
            Some(file) => {
                tracing::info!(file = %file.display(), "token auth is on; the token is in this file")
            }
            None => tracing::info!("token auth is on; the token lives in memory for this run"),
        }
    }
    let tls = match &config.access.tls {
        TlsMode::Off => None,
        TlsMode::Files { cert, key } => {
            Some(access::tls::from_pem_files(cert, key).map_err(StartError::Access)?)
        }
        TlsMode::SelfSigned => Some(
            access::tls::self_signed(config.data_dir.as_deref(), bound.ip())
                .map_err(StartError::Access)?,
        ),
    };
    if let Some(tls) = &tls {
        tracing::info!(sha256 = %tls.fingerprint, "TLS on: https and wss; the certificate's fingerprint");
    }
    Ok(AccessSetup {
        mode,
        scheme: if tls.is_some() { "https" } else { "http" },
        tls,
        control: access::AccessControl::new(tokens),
    })
}
