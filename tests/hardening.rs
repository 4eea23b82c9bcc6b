//! The defenses of SECURITY.md, one test each, over real sockets. Each test fails if its
//! defense is removed.

mod support {
    pub mod ws_client;
}

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::ws_client::{
    handshake_status, health, start_server, start_server_with, wait_for_counts, Client, PATIENCE,
};
use tauri_ractor_websocket::config::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_foreign_origin_gets_403_before_the_upgrade() {
    let server = start_server().await;
    let addr = server.local_addr();
    let own = format!("http://127.0.0.1:{}", addr.port());

    assert_eq!(
        handshake_status(addr, &[("origin", "https://evil.example")]).await,
        403
    );
    assert_eq!(handshake_status(addr, &[("origin", "null")]).await, 403);
    // Same host, other port: another local web app is still another origin.
    let neighbour = format!("http://127.0.0.1:{}", addr.port() + 1);
    assert_eq!(handshake_status(addr, &[("origin", &neighbour)]).await, 403);

    assert_eq!(handshake_status(addr, &[("origin", &own)]).await, 101);
    assert_eq!(
        handshake_status(addr, &[("origin", "tauri://localhost")]).await,
        101
    );
    assert_eq!(
        handshake_status(addr, &[]).await,
        101,
        "non-browser clients send no Origin"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn allow_origin_widens_the_list() {
    let mut config = ServerConfig::ephemeral();
    config.extra_allowed_origins = vec!["http://192.168.1.20:8000".to_owned()];
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    assert_eq!(
        handshake_status(addr, &[("origin", "http://192.168.1.20:8000")]).await,
        101
    );
    assert_eq!(
        handshake_status(addr, &[("origin", "http://192.168.1.21:8000")]).await,
        403
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_rebinding_host_gets_403() {
    let server = start_server().await;
    let addr = server.local_addr();
    let rebound = format!("evil.example:{}", addr.port());
    assert_eq!(handshake_status(addr, &[("host", &rebound)]).await, 403);

    let http = reqwest::Client::new();
    let response = http
        .get(format!("http://{addr}/health"))
        .header("host", &rebound)
        .send()
        .await
        .expect("GET /health");
    assert_eq!(response.status(), 403);
    let localhost = http
        .get(format!("http://{addr}/health"))
        .header("host", format!("localhost:{}", addr.port()))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(localhost.status(), 200);
    server.shutdown().await;
}

/// Sends `request` as raw bytes and returns the status code of the answer.
async fn raw_status(addr: SocketAddr, request: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.windows(2).any(|pair| pair == b"\r\n") {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("an answer in time")
            .expect("read the answer");
        assert!(read > 0, "the server closed without answering: {answer:?}");
        answer.extend_from_slice(&buffer[..read]);
    }
    let status_line = String::from_utf8_lossy(&answer);
    status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {status_line}"))
}

#[tokio::test]
async fn two_host_headers_get_400() {
    let server = start_server().await;
    let addr = server.local_addr();
    let one = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(addr, &one).await, 200, "one Host header is fine");

    // Both loopback, so each alone would pass: the duplicate is what gets refused.
    let two = format!(
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n",
        port = addr.port()
    );
    assert_eq!(raw_status(addr, &two).await, 400);
    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    assert_eq!(raw_status(addr, &upgrade).await, 400, "no upgrade either");
    assert_eq!(health(addr).await["active_websockets"], 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_cross_site_get_broadcast_is_refused_while_curl_style_works() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut client = Client::connect(addr).await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/broadcast?message=from-img-tag");

    let cross_site = http
        .get(&url)
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-dest", "image")
        .send()
        .await
        .expect("GET");
    assert_eq!(cross_site.status(), 403);

    let curl_style = http
        .get(format!("http://{addr}/broadcast?message=from-curl"))
        .send()
        .await
        .expect("GET");
    assert_eq!(curl_style.status(), 200);
    // Only the curl-style broadcast went out.
    assert_eq!(
        client.next_of_type("notification").await["text"],
        "from-curl"
    );

    let form_post = http
        .post(format!("http://{addr}/broadcast"))
        .header("content-type", "text/plain")
        .body(json!({"message": "x"}).to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(form_post.status(), 415, "POST needs a JSON content type");
    server.shutdown().await;
}

/// Real time, with margins for a busy machine: the live client only fails if its pong goes
/// unread for 1.9 s (twenty heartbeats), and nothing waits on a fixed sleep. (A paused tokio
/// clock does not work here: with real sockets in the same runtime, every wait for I/O moves
/// the clock to the next timer, so a live client's pong can come "late" by whole seconds.)
#[tokio::test]
async fn a_silent_peer_is_reaped_while_a_live_one_stays() {
    let mut config = ServerConfig::ephemeral();
    config.heartbeat_interval = Duration::from_millis(100);
    config.idle_timeout = Duration::from_secs(2);
    let server = start_server_with(config).await;
    let addr = server.local_addr();

    // Never polled: it neither reads the pings nor answers them.
    let (_silent, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("connect");
    // Polled from the start: tungstenite answers each ping with a pong.
    let mut live = Client::connect(addr).await;
    let live_reader = tokio::spawn(async move {
        let mut pings = 0;
        while pings < 40 {
            match live.ws.next().await {
                Some(Ok(Message::Ping(_))) => pings += 1,
                Some(Ok(_)) => {}
                other => panic!("the live client was dropped: {other:?}"),
            }
        }
        live
    });
    wait_for_counts(addr, 2).await;
    wait_for_counts(addr, 1).await;
    // Forty pings at 100 ms is two idle timeouts: the answering client is still there.
    let live = tokio::time::timeout(PATIENCE, live_reader)
        .await
        .expect("pings keep coming")
        .expect("live reader");
    assert_eq!(health(addr).await["active_actors"], 1);
    live.close().await;
    server.shutdown().await;
}

/// A peer that stops reading while the server is writing a heartbeat ping: the ping cannot be
/// sent (every buffer between us is full), and when the idle timeout asks to close, the ping
/// must give way, or the connection (and its `/health` count) would stay forever.
#[tokio::test]
async fn a_ping_stuck_on_a_peer_that_stopped_reading_does_not_keep_the_connection() {
    let mut config = ServerConfig::ephemeral();
    config.heartbeat_interval = Duration::from_millis(50);
    config.idle_timeout = Duration::from_secs(1);
    let server = start_server_with(config).await;
    let addr = server.local_addr();

    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket.connect(addr).await.expect("connect");
    let (mut peer, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .expect("handshake");
    wait_for_counts(addr, 1).await;

    // The server answers each ping with a pong of the same size, written by its reader, not by
    // the writer. 10 MB of pongs that this peer never reads fill its receive buffer and the
    // server's send buffer (which Linux grows to at most 4 MiB, tcp_wmem), while the writer's
    // queue stays empty. From then on, the writer's next heartbeat ping blocks.
    let payload = vec![0u8; 125];
    for sent in 1..=80_000 {
        // (Should a starved server time this peer out already, sending fails: stop.)
        if peer
            .feed(Message::Ping(payload.clone().into()))
            .await
            .is_err()
        {
            break;
        }
        if sent % 100 == 0 && peer.flush().await.is_err() {
            break;
        }
    }
    // Now silent in both directions: the idle timeout closes it while a ping is stuck.
    wait_for_counts(addr, 0).await;
    drop(peer);
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversize_message_is_closed_with_1009() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut client = Client::connect(addr).await;
    let big = "x".repeat(64 * 1024 + 1);
    let _ = client.ws.send(Message::Text(big.into())).await;
    assert_eq!(client.expect_close().await, CloseCode::Size);
    wait_for_counts(addr, 0).await;
    server.shutdown().await;
}

/// Sends `first`, then `next()` frames without pause (at most `MAX_AFTER` of them, until a send
/// fails), while reading: returns the close code the server sent, or how the connection died
/// without one (a reset, an end of stream) as the error.
async fn close_seen_while_sending(
    client: Client,
    first: Message,
    next: fn(usize) -> Message,
) -> Result<CloseCode, String> {
    const MAX_AFTER: usize = 20_000;
    let (mut sink, mut stream) = client.ws.split();
    let sender = tokio::spawn(async move {
        if sink.send(first).await.is_err() {
            return;
        }
        for i in 0..MAX_AFTER {
            if sink.send(next(i)).await.is_err() {
                return;
            }
        }
    });
    let seen = loop {
        let frame = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("the server closes in time");
        match frame {
            Some(Ok(Message::Close(Some(close)))) => break Ok(close.code),
            Some(Ok(Message::Close(None))) => break Err("a close frame without a code".into()),
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                break Err(format!("no close frame, the connection failed: {error}"))
            }
            None => break Err("no close frame, the stream ended".into()),
        }
    };
    sender.abort();
    seen
}

/// After 1009 the client is still sending (the rest of its big message, then more) and has
/// not read yet: the close frame waits in the server's send queue behind frames the client has
/// no room for. Closing the socket with the client's input unread would reset the connection
/// and throw that queue away; the server reads and discards the input for a moment instead,
/// so the client gets every frame, then the close frame.
#[tokio::test]
async fn a_client_still_sending_after_1009_gets_the_close_frame() {
    let server = start_server().await;
    let addr = server.local_addr();
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket.connect(addr).await.expect("connect");
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .expect("handshake");
    let mut client = Client {
        ws,
        id: 0,
        name: String::new(),
    };
    client.next_of_type("joined").await;

    // 12 KiB the client does not read yet: more than its receive window (a few KiB), less
    // than the server's send buffer (16 KiB or more), so the writer hands it all to the kernel
    // and some of it waits there, untransmitted.
    const BROADCASTS: usize = 12;
    let http = reqwest::Client::new();
    for i in 0..BROADCASTS {
        http.post(format!("http://{addr}/broadcast"))
            .json(&json!({ "message": format!("{i:02}:{}", "b".repeat(1021)) }))
            .send()
            .await
            .expect("POST /broadcast");
    }
    wait_until_written(addr, BROADCASTS).await;

    let big = "x".repeat(64 * 1024 + 1);
    let _ = client.ws.send(Message::Text(big.into())).await;
    for i in 0..200 {
        let more = format!("{i} {}", "y".repeat(1024));
        if client.ws.send(Message::Text(more.into())).await.is_err() {
            break;
        }
    }
    let mut broadcasts = 0;
    let code = loop {
        let frame = tokio::time::timeout(PATIENCE, client.ws.next())
            .await
            .expect("the server closes in time");
        match frame {
            Some(Ok(Message::Text(text))) if text.contains("\"notification\"") => broadcasts += 1,
            Some(Ok(Message::Close(Some(close)))) => break close.code,
            Some(Ok(_)) => continue,
            other => panic!("after {broadcasts} broadcasts, no close frame: {other:?}"),
        }
    };
    assert_eq!(code, CloseCode::Size);
    assert_eq!(
        broadcasts, BROADCASTS,
        "nothing queued before the close was lost"
    );
    wait_for_counts(addr, 0).await;
    server.shutdown().await;
}

/// Waits until the writer of the only connection has taken `frames` notifications from its
/// queue (they are in the socket, or about to be: the write follows at once).
async fn wait_until_written(addr: SocketAddr, frames: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let tree: serde_json::Value = reqwest::get(format!("http://{addr}/api/actors"))
            .await
            .expect("GET /api/actors")
            .json()
            .await
            .expect("JSON");
        let connection = &tree["connections"][0];
        let written = connection["messages_out"].as_u64().unwrap_or(0);
        if connection["queue_depth"] == 0 && written >= frames as u64 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writer never caught up: {connection}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The same for a flood closed with 1008: the flooder never stops, yet sees the close frame.
#[tokio::test]
async fn a_client_still_flooding_after_1008_gets_the_close_frame() {
    let server = start_server().await;
    let addr = server.local_addr();
    for _ in 0..3 {
        let client = Client::connect(addr).await;
        let first = Message::Text("flood".into());
        let seen = close_seen_while_sending(client, first, |i| {
            Message::Text(format!("flood {i} {}", "z".repeat(512)).into())
        })
        .await;
        assert_eq!(seen, Ok(CloseCode::Policy));
    }
    wait_for_counts(addr, 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_flood_gets_error_frames_then_1008() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut flooder = Client::connect(addr).await;
    let mut bystander = Client::connect(addr).await;

    for i in 0..200 {
        if flooder
            .ws
            .send(Message::Text(format!("spam {i}").into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut delivered = 0;
    let mut rate_limited = 0;
    let code = loop {
        let frame = tokio::time::timeout(PATIENCE, flooder.ws.next())
            .await
            .expect("the server answers the flood");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let frame: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                match frame["type"].as_str() {
                    Some("message") => delivered += 1,
                    Some("error") if frame["code"] == "rate_limited" => rate_limited += 1,
                    _ => {}
                }
            }
            Some(Ok(Message::Close(Some(close)))) => break close.code,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, CloseCode::Policy);
    assert!(delivered >= 40, "the burst went through: {delivered}");
    assert!(delivered < 100, "the limit held: {delivered} delivered");
    assert!(rate_limited >= 1, "the client was warned first");

    // The room itself is fine.
    let mut seen_by_bystander = 0;
    while seen_by_bystander < delivered {
        assert_eq!(bystander.next_message().await["kind"], "chat");
        seen_by_bystander += 1;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_cap_get_503() {
    let mut config = ServerConfig::ephemeral();
    config.max_connections = Some(3);
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(addr).await);
    }
    assert_eq!(handshake_status(addr, &[]).await, 503);

    // A slot frees up when a client leaves.
    clients.pop().expect("a client").close().await;
    wait_for_counts(addr, 2).await;
    assert_eq!(handshake_status(addr, &[]).await, 101);
    server.shutdown().await;
}

/// A WebSocket client whose socket has a tiny receive buffer and that never reads.
async fn connect_never_reading(addr: SocketAddr) -> impl Sized {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket.connect(addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .expect("handshake");
    ws
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_and_nobody_else_loses_anything() {
    let server = start_server().await;
    let addr = server.local_addr();
    let _stuck = connect_never_reading(addr).await;
    let mut healthy = Client::connect(addr).await;
    wait_for_counts(addr, 2).await;
    let rss_before = rss_kib();

    const BROADCASTS: usize = 3000;
    let reader = tokio::spawn(async move {
        for i in 0..BROADCASTS {
            let frame = healthy.next_of_type("notification").await;
            let text = frame["text"].as_str().expect("text");
            assert!(
                text.starts_with(&format!("{i:04}:")),
                "message {i} in order"
            );
        }
        healthy
    });
    let http = reqwest::Client::new();
    let padding = "p".repeat(2048 - 5);
    for i in 0..BROADCASTS {
        http.post(format!("http://{addr}/broadcast"))
            .json(&json!({ "message": format!("{i:04}:{padding}") }))
            .send()
            .await
            .expect("POST /broadcast");
    }
    let healthy = tokio::time::timeout(PATIENCE, reader)
        .await
        .expect("the healthy client got everything")
        .expect("reader task");

    // The stuck client was closed as a slow consumer; only the healthy one is left.
    wait_for_counts(addr, 1).await;
    let growth_mib = rss_kib().saturating_sub(rss_before) / 1024;
    assert!(
        growth_mib < 64,
        "memory stays bounded while a client never reads: grew {growth_mib} MiB"
    );
    healthy.close().await;
    server.shutdown().await;
}
