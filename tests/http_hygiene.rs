//! HTTP connection hygiene (SECURITY.md, "Slow and idle HTTP clients" and the rows after it),
//! over real sockets on loopback: slow request heads, idle keep-alive connections, the pending
//! and per-peer caps, and the three limits that already held (431, body size, traversal).
//! Every count is bounded, and every wait ends at a generous deadline.

mod support {
    pub mod data_dir;
    pub mod free_port;
    pub mod raw_http;
    pub mod ws_client;
}

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::free_port::free_port;
use support::raw_http::{
    connect_from, eventually, get, incomplete_head, read_response, slow_client, status_of,
    wait_for_close, Ending,
};
use support::ws_client::{start_server_with, Client, PATIENCE};
use tauri_ractor_websocket::config::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const OTHER_SOURCE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

/// `trw_http_closes_total{reason="..."}` from `/metrics`, asked from `source`.
async fn http_closes(addr: SocketAddr, reason: &str, source: IpAddr) -> u64 {
    let http = reqwest::Client::builder()
        .local_address(source)
        .build()
        .expect("an HTTP client");
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    let series = format!("trw_http_closes_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

/// A chat from `from` arrives at `to` (and back at `from`).
async fn chat_works(from: &mut Client, to: &mut Client, text: &str) {
    from.send_chat(text).await;
    assert_eq!(to.next_message().await["text"], text);
    assert_eq!(from.next_message().await["text"], text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_request_heads_are_closed_after_the_header_timeout_while_websockets_chat() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
    const MARGIN: Duration = Duration::from_secs(2);
    let config = ServerConfig {
        http_header_timeout: HEADER_TIMEOUT,
        ..ServerConfig::ephemeral()
    };
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let mut alice = Client::connect(addr).await;

    let mut slow = Vec::new();
    for _ in 0..200 {
        let opened = Instant::now();
        slow.push((opened, slow_client(addr).await));
    }
    // Meanwhile a normal client connects and chats.
    let mut bob = Client::connect(addr).await;
    chat_works(&mut bob, &mut alice, "hello while 200 heads hang").await;

    for (index, (opened, stream)) in slow.iter_mut().enumerate() {
        let ending = wait_for_close(stream, *opened + HEADER_TIMEOUT + MARGIN).await;
        assert_eq!(
            ending,
            Ending::Closed(Vec::new()),
            "socket {index} is closed, without an answer, within the header timeout + 2 s"
        );
        assert!(
            opened.elapsed() >= HEADER_TIMEOUT,
            "socket {index} was closed by the timeout, not at once"
        );
    }
    assert_eq!(http_closes(addr, "header_timeout", LOCALHOST).await, 200);

    // The WebSockets outlived the header timeout: it does not apply to them.
    chat_works(&mut alice, &mut bob, "still here").await;
    server.shutdown().await;
}

const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

/// The headless binary with `flags`, once `/health` answers.
async fn spawn_headless(port: u16, flags: &[&str]) -> Child {
    let data_dir = support::data_dir::fresh("http-hygiene");
    let child = Command::new(APP)
        .args(["--headless", "--port", &port.to_string()])
        .args(flags)
        .env("TRW_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    eventually("the server answers /health", || async {
        reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .is_ok()
    })
    .await;
    child
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
    let port = free_port();
    let mut child = spawn_headless(port, &["--http-idle-timeout-secs", "1"]).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut alice = Client::connect(addr).await;
    let mut bob = Client::connect(addr).await;

    let mut keep_alive = TcpStream::connect(addr).await.expect("connect");
    // Two requests on one connection: it is kept alive between them.
    let mut idle_since = Instant::now();
    for _ in 0..2 {
        // The server's idle timer can only start once it has this request, so the time just
        // before sending it is a lower bound of the idling it measures. (The time after reading
        // the answer is not: on a busy machine the test may read it late, after the timer started.)
        idle_since = Instant::now();
        let (status, _) = get(&mut keep_alive, addr, "/health")
            .await
            .expect("an answer");
        assert_eq!(status, 200);
    }
    let ending = wait_for_close(&mut keep_alive, idle_since + PATIENCE).await;
    assert_eq!(ending, Ending::Closed(Vec::new()), "closed while idle");
    assert!(
        idle_since.elapsed() >= IDLE_TIMEOUT,
        "closed by the idle timeout, not at once"
    );
    assert_eq!(http_closes(addr, "idle_timeout", LOCALHOST).await, 1);

    // The WebSockets were idle just as long and follow their own heartbeat rules instead.
    chat_works(&mut alice, &mut bob, "websockets keep their own rules").await;

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_pending_connections_make_way_and_a_real_client_gets_through() {
    let config = ServerConfig {
        max_pending_connections: Some(50),
        http_header_timeout: Duration::from_secs(60),
        ..ServerConfig::ephemeral()
    };
    let server = start_server_with(config).await;
    let addr = server.local_addr();

    let mut slow = Vec::new();
    for _ in 0..60 {
        slow.push(slow_client(addr).await);
    }
    // The 61st pending connection: it takes the place of the oldest left, and gets through.
    let mut alice = Client::connect(addr).await;
    alice.send_chat("made it").await;
    assert_eq!(alice.next_message().await["text"], "made it");

    // The 11 oldest were closed, in order of age...
    for (index, stream) in slow.iter_mut().enumerate().take(11) {
        let ending = wait_for_close(stream, Instant::now() + PATIENCE).await;
        assert_eq!(
            ending,
            Ending::Closed(Vec::new()),
            "slow socket {index} made way"
        );
    }
    // ...and the 49 newest are still there: finishing their heads gets them answered.
    for (index, stream) in slow.iter_mut().enumerate().skip(11) {
        stream.write_all(b"\r\n").await.expect("finish the head");
        let answer = read_response(stream).await;
        assert_eq!(
            answer.map(|(status, _)| status),
            Some(200),
            "slow socket {index} was kept"
        );
    }
    assert_eq!(http_closes(addr, "pending_cap", LOCALHOST).await, 11);
    server.shutdown().await;
}

/// Opens a connection from `source`, asks for `/health` and returns the status and body, or
/// `None` when the server closed it without an answer.
async fn health_from(source: IpAddr, addr: SocketAddr) -> Option<(u16, String)> {
    let mut stream = connect_from(source, addr).await;
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    // A refused connection may already be closed: the write can fail.
    let _ = stream.write_all(request.as_bytes()).await;
    match wait_for_close(&mut stream, Instant::now() + PATIENCE).await {
        Ending::Closed(bytes) => {
            let status = status_of(&bytes)?;
            Some((status, String::from_utf8_lossy(&bytes).into_owned()))
        }
        Ending::StillOpen => panic!("the server neither answered nor closed"),
    }
}

async fn health_status_from(source: IpAddr, addr: SocketAddr) -> Option<u16> {
    health_from(source, addr).await.map(|(status, _)| status)
}

/// Asserts that a connection from `source` is refused over the per-peer cap: a 503 with the
/// JSON error, then the close.
async fn assert_refused_from(source: IpAddr, addr: SocketAddr) {
    let answer = health_from(source, addr).await;
    let (status, text) = answer.expect("a refused connection still gets its 503");
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("too_many_connections_from_peer"), "{text}");
}

/// A WebSocket client whose socket is bound to `source`, once the lobby has taken it in.
async fn websocket_from(source: IpAddr, addr: SocketAddr) -> Client {
    websocket_forwarded_for(source, addr, None)
        .await
        .expect("the handshake succeeds")
}

/// Like [`websocket_from`], sending `X-Forwarded-For: forwarded_for` as a proxy would; a
/// refused handshake gives its status and body.
async fn websocket_forwarded_for(
    source: IpAddr,
    addr: SocketAddr,
    forwarded_for: Option<&str>,
) -> Result<Client, (u16, String)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Error;

    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("a request");
    if let Some(forwarded_for) = forwarded_for {
        request.headers_mut().insert(
            "x-forwarded-for",
            forwarded_for.parse().expect("a header value"),
        );
    }
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(connect_from(source, addr).await);
    let ws = match tokio_tungstenite::client_async(request, stream).await {
        Ok((ws, _)) => ws,
        Err(Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .map(|body| String::from_utf8_lossy(body).into_owned())
                .unwrap_or_default();
            return Err((response.status().as_u16(), body));
        }
        Err(other) => panic!("the handshake failed: {other}"),
    };
    let mut client = Client {
        ws,
        id: 0,
        name: String::new(),
    };
    assert_eq!(client.next_json().await["type"], "welcome");
    assert_eq!(client.next_of_type("joined").await["room"], "lobby");
    Ok(client)
}

#[tokio::test]
async fn the_per_peer_cap_refuses_the_sixth_connection_and_spares_other_addresses() {
    let config = ServerConfig {
        max_connections_per_peer: Some(5),
        ..ServerConfig::ephemeral()
    };
    let server = start_server_with(config).await;
    let addr = server.local_addr();

    let mut five = Vec::new();
    for _ in 0..5 {
        five.push(Client::connect(addr).await);
    }
    // The sixth connection from 127.0.0.1 is refused.
    assert_refused_from(LOCALHOST, addr).await;

    // Another address is not affected.
    let mut other = websocket_from(OTHER_SOURCE, addr).await;
    chat_works(&mut other, &mut five[0], "from 127.0.0.3").await;
    assert_eq!(http_closes(addr, "per_peer_cap", OTHER_SOURCE).await, 1);

    // A slot comes back when a connection closes.
    five.pop().expect("a client").close().await;
    eventually("a freed slot lets 127.0.0.1 in again", || async {
        health_status_from(LOCALHOST, addr).await == Some(200)
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn x_forwarded_for_counts_the_client_only_behind_a_trusted_proxy() {
    let config = ServerConfig {
        max_connections_per_peer: Some(2),
        trusted_proxies: vec![LOCALHOST],
        ..ServerConfig::ephemeral()
    };
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let via_proxy = |client: &'static str| websocket_forwarded_for(LOCALHOST, addr, Some(client));

    // Behind the trusted proxy (127.0.0.1) each forwarded client has its own two slots, and the
    // proxy's own connections are not capped.
    let mut held = Vec::new();
    for client in ["203.0.113.7", "203.0.113.7", "203.0.113.8", "203.0.113.8"] {
        held.push(via_proxy(client).await.expect("under the cap"));
    }
    let (status, body) = match via_proxy("203.0.113.7").await {
        Ok(_) => panic!("a third WebSocket for 203.0.113.7 must be refused"),
        Err(refusal) => refusal,
    };
    assert_eq!(status, 503);
    assert!(body.contains("too_many_connections_from_peer"), "{body}");
    // Only the right end of the list is vouched for by the proxy.
    assert!(via_proxy("203.0.113.7, 203.0.113.9").await.is_ok());

    // From an untrusted peer (127.0.0.3) the header means nothing: it is counted as itself.
    let untrusted =
        |client: &'static str| websocket_forwarded_for(OTHER_SOURCE, addr, Some(client));
    held.push(untrusted("198.51.100.1").await.expect("first"));
    held.push(untrusted("198.51.100.2").await.expect("second"));
    // A third connection from 127.0.0.3 is refused, whatever it claims.
    assert_refused_from(OTHER_SOURCE, addr).await;

    // A forwarded client's slot comes back when its WebSocket closes.
    held.remove(0).close().await;
    eventually("203.0.113.7 gets a slot back", || async {
        via_proxy("203.0.113.7").await.is_ok()
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_beyond_127_0_0_1_the_default_per_peer_cap_of_256_applies() {
    let mut config = ServerConfig {
        host: IpAddr::from([127, 0, 0, 2]),
        http_header_timeout: Duration::from_secs(60),
        ..ServerConfig::ephemeral()
    };
    // Beyond 127.0.0.1 token auth is on by default; this test is about the cap, and reads
    // /metrics without a token.
    config.access.auth = Some(tauri_ractor_websocket::config::AuthMode::None);
    let server = start_server_with(config).await;
    let addr = server.local_addr();

    let mut held = Vec::new();
    for _ in 0..256 {
        let mut stream = connect_from(LOCALHOST, addr).await;
        stream
            .write_all(incomplete_head(addr).as_bytes())
            .await
            .expect("half a head");
        held.push(stream);
    }
    assert_eq!(http_closes(addr, "per_peer_cap", OTHER_SOURCE).await, 0);
    // The 257th connection from 127.0.0.1 is refused.
    assert_refused_from(LOCALHOST, addr).await;
    assert_eq!(http_closes(addr, "per_peer_cap", OTHER_SOURCE).await, 1);

    // The 256 were all kept: each still gets its answer.
    for (index, stream) in held.iter_mut().enumerate() {
        stream.write_all(b"\r\n").await.expect("finish the head");
        let answer = read_response(stream).await;
        assert_eq!(
            answer.map(|(status, _)| status),
            Some(200),
            "connection {index} was kept"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_one_mib_request_head_gets_431() {
    let server = start_server_with(ServerConfig::ephemeral()).await;
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let (mut reader, mut writer) = stream.split();
    // The server answers before it has read everything; the rest of the write may fail.
    let write = async {
        let _ = writer.write_all(head.as_bytes()).await;
    };
    let read = async {
        let mut received = Vec::new();
        let _ = tokio::time::timeout(
            PATIENCE,
            tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut received),
        )
        .await;
        received
    };
    let ((), received) = tokio::join!(write, read);
    assert_eq!(
        status_of(&received),
        Some(431),
        "{}",
        String::from_utf8_lossy(&received)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_50_mb_body_is_cut_off_early() {
    const DECLARED: usize = 50 * 1000 * 1000;
    let server = start_server_with(ServerConfig::ephemeral()).await;
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /broadcast HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {DECLARED}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("the head");
    let (mut reader, mut writer) = stream.split();
    let write = async {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < DECLARED {
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    };
    let read = async {
        let mut received = Vec::new();
        let _ = tokio::time::timeout(
            PATIENCE,
            tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut received),
        )
        .await;
        received
    };
    let (sent, received) = tokio::time::timeout(PATIENCE * 2, async { tokio::join!(write, read) })
        .await
        .expect("the server cuts the upload off");
    assert_eq!(
        status_of(&received),
        Some(413),
        "{}",
        String::from_utf8_lossy(&received)
    );
    assert!(
        sent < DECLARED,
        "the server stopped reading long before 50 MB (sent {sent} bytes)"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn path_traversal_on_the_static_ui_gets_404() {
    let server = start_server_with(ServerConfig::ephemeral()).await;
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let (status, _) = get(&mut stream, addr, "/index.html")
        .await
        .expect("an answer");
    assert_eq!(status, 200, "the page itself is served");
    for path in [
        "/../../../../etc/passwd",
        // One level up from ui/ is the source tree, which debug builds read files from.
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/ui/../Cargo.toml",
        "/..\\..\\Cargo.toml",
        "//etc/passwd",
    ] {
        let (status, body) = get(&mut stream, addr, path).await.expect("an answer");
        assert_eq!(status, 404, "{path}");
        assert!(
            !body.contains("root:") && !body.contains("[package]"),
            "{path}"
        );
    }
    server.shutdown().await;
}
