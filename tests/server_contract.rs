//! The Python original's contract, checked over real sockets against an in-process server on an
//! ephemeral port: counts, delivery, bad input and graceful shutdown.

mod support {
    pub mod ws_client;
}

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use support::ws_client::{
    health, start_server, start_server_with, wait_for_counts, Client, PATIENCE,
};
use tauri_ractor_websocket::config::ServerConfig;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn health_counts_follow_clients_whether_they_close_or_drop() {
    let server = start_server().await;
    let addr = server.local_addr();
    wait_for_counts(addr, 0).await;

    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(Client::connect(addr).await);
    }
    wait_for_counts(addr, 10).await;

    // Half say goodbye properly, half just vanish (TCP dropped, no close frame).
    let dropped = clients.split_off(5);
    for client in clients {
        client.close().await;
    }
    drop(dropped);
    wait_for_counts(addr, 0).await;

    server.shutdown().await;
}

#[tokio::test]
async fn broadcasts_over_get_and_post_reach_every_client_once_and_in_order() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(addr).await);
    }
    wait_for_counts(addr, 3).await;

    let http = reqwest::Client::new();
    let mut expected = Vec::new();
    for i in 0..20 {
        let via_get = format!("get #{i} & ünïcode ✓");
        let receipt: Value = http
            .get(format!("http://{addr}/broadcast"))
            .query(&[("message", &via_get)])
            .send()
            .await
            .expect("GET /broadcast")
            .json()
            .await
            .expect("receipt is JSON");
        assert_eq!(receipt["delivered_to"], 3, "{receipt}");
        expected.push(via_get);

        let via_post = format!("post #{i}");
        let response = http
            .post(format!("http://{addr}/broadcast"))
            .json(&json!({ "message": via_post }))
            .send()
            .await
            .expect("POST /broadcast");
        assert_eq!(response.status(), 200);
        expected.push(via_post);
    }

    for client in &mut clients {
        let mut last_seq = 0;
        for want in &expected {
            let frame = client.next_of_type("notification").await;
            assert_eq!(frame["source"], "broadcast");
            assert_eq!(&frame["text"], want, "messages arrive in order");
            let seq = frame["seq"].as_u64().expect("seq is a number");
            assert!(seq > last_seq, "seq grows: {seq} after {last_seq}");
            last_seq = seq;
        }
    }
    // Exactly once: after a final marker, nothing else is pending.
    http.get(format!("http://{addr}/broadcast?message=end"))
        .send()
        .await
        .expect("GET /broadcast");
    for client in &mut clients {
        assert_eq!(
            client.next_of_type("notification").await["text"],
            "end",
            "no duplicates before the marker"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn broadcast_without_a_message_is_a_clear_400() {
    let server = start_server().await;
    let addr = server.local_addr();
    let response = reqwest::get(format!("http://{addr}/broadcast"))
        .await
        .expect("GET");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], "missing_message");

    let response = reqwest::Client::new()
        .post(format!("http://{addr}/broadcast"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], "invalid_body");
    server.shutdown().await;
}

#[tokio::test]
async fn chat_reaches_every_client_including_the_sender() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut alice = Client::connect(addr).await;
    let mut bob = Client::connect(addr).await;
    wait_for_counts(addr, 2).await;

    alice.send_chat("hello, room").await;
    // Plain text (websocat style) is chat too.
    bob.send_text("hi from a plain text frame").await;

    for client in [&mut alice, &mut bob] {
        let first = client.next_message().await;
        assert_eq!(first["kind"], "chat");
        assert_eq!(first["text"], "hello, room");
        assert_eq!(first["sender"], "guest-1");
        assert_eq!(first["sender_id"], 1);
        let second = client.next_message().await;
        assert_eq!(second["text"], "hi from a plain text frame");
        assert_eq!(second["sender_id"], 2);
        assert!(second["ts"]
            .as_u64()
            .is_some_and(|ts| ts > 1_700_000_000_000));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_an_error_frame_and_the_connection_keeps_working() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut client = Client::connect(addr).await;

    let cases = [
        (r#"{"type":"chat","#, "invalid_json"),
        (r#"{"type":"dance"}"#, "unknown_type"),
        (r#"{"text":"no type"}"#, "invalid_json"),
        ("   ", "empty_text"),
    ];
    for (frame, code) in cases {
        client.send_text(frame).await;
        let answer = client.next_of_type("error").await;
        assert_eq!(answer["type"], "error", "{frame:?} → {answer}");
        assert_eq!(answer["code"], code, "{frame:?} → {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    client
        .ws
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("send binary");
    assert_eq!(
        client.next_of_type("error").await["code"],
        "binary_not_supported"
    );

    client.send_chat("still here").await;
    assert_eq!(client.next_message().await["text"], "still here");
    assert_eq!(health(addr).await["active_actors"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_1001_to_every_client_and_stops_every_actor() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(Client::connect(addr).await);
    }
    wait_for_counts(addr, 20).await;

    let report = tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("shutdown finishes");
    assert_eq!(report.clients_notified, 20);
    assert_eq!(report.actors_left, 0);
    assert_eq!(report.sockets_left_open, 0);

    for client in &mut clients {
        assert_eq!(client.expect_close().await, CloseCode::Away);
    }
    // The listener is gone: nothing answers on that port any more.
    let refused = reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "the server task ended");
}

#[tokio::test]
async fn the_page_and_its_assets_are_served() {
    let server = start_server().await;
    let addr = server.local_addr();
    let page = reqwest::get(format!("http://{addr}/"))
        .await
        .expect("GET /");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/html")));
    let html = page.text().await.expect("body");
    assert!(
        html.contains(r#"<script type="module" src="main.js">"#),
        "the page loads its entry module"
    );
    // Modules in nested folders, served as JavaScript (browsers refuse modules of other types).
    for path in ["/main.js", "/views/messages.js", "/store/rooms.js"] {
        let script = reqwest::get(format!("http://{addr}{path}"))
            .await
            .expect("GET a module");
        assert_eq!(script.status(), 200, "{path}");
        assert!(
            script.headers()["content-type"]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/javascript")),
            "{path} is served as JavaScript"
        );
    }
    let missing = reqwest::get(format!("http://{addr}/nope.js"))
        .await
        .expect("GET");
    assert_eq!(missing.status(), 404);
    server.shutdown().await;
}

/// One client never reads, and its socket has a small receive buffer; broadcasts of 8 KB flow,
/// 10 MB in all: far more than fits in every buffer between it and the server (its receive
/// buffer, the server's send buffer, at most 4 MiB on Linux, and its outbox, 1 MiB). Another
/// client must get each broadcast before the next one is sent. A fan-out that waited for the
/// slowest member would stop once the silent client's buffers are full, and this test with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_nothing_does_not_hold_up_the_others() {
    const BROADCASTS: usize = 1200;
    // Nobody is reaped for silence during the test: only the outbox may close the silent client.
    let mut config = ServerConfig::ephemeral();
    config.heartbeat_interval = Duration::from_secs(600);
    config.idle_timeout = Duration::from_secs(1200);
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket.connect(addr).await.expect("connect");
    let (_silent, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .expect("handshake");
    let mut reader = Client::connect(addr).await;
    wait_for_counts(addr, 2).await;

    let http = reqwest::Client::new();
    let padding = "p".repeat(8000);
    for i in 0..BROADCASTS {
        http.post(format!("http://{addr}/broadcast"))
            .json(&json!({ "message": format!("{i:05}:{padding}") }))
            .send()
            .await
            .expect("POST /broadcast");
        let text = reader.next_of_type("notification").await["text"]
            .as_str()
            .expect("text")
            .to_owned();
        assert!(text.starts_with(&format!("{i:05}:")), "broadcast {i} next");
    }
    // The silent client was closed as a slow consumer; the reader is still here.
    wait_for_counts(addr, 1).await;
    server.shutdown().await;
}
