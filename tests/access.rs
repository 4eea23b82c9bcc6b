//! Access tokens, TLS and sharing, over real sockets against in-process servers (issue 12).
//!
//! 127.0.0.2 stands in for "another network": on Linux the whole of 127.0.0.0/8 is loopback, so
//! a server can listen there and a client can connect there without leaving the machine.

mod support {
    pub mod ws_client;
}

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::ws_client::{start_server_with, Client, PATIENCE};
use tauri_ractor_websocket::config::{AuthMode, ServerConfig, TlsMode};
use tauri_ractor_websocket::server::RunningServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const OTHER_NETWORK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "trw-access-{name}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A server with `--auth token` and its data directory; answers it and the token.
async fn token_server(name: &str) -> (RunningServer, String, PathBuf) {
    let dir = temp_dir(name);
    let mut config = ServerConfig::ephemeral();
    config.access.auth = Some(AuthMode::Token);
    config.data_dir = Some(dir.clone());
    let server = start_server_with(config).await;
    let token = read_token(&dir);
    (server, token, dir)
}

fn read_token(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("auth-token"))
        .expect("the token file exists once token auth is on")
        .trim()
        .to_owned()
}

fn ws_request(addr: SocketAddr, header: Option<(&str, String)>) -> Request {
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    if let Some((name, value)) = header {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .expect("name"),
            HeaderValue::from_str(&value).expect("value"),
        );
    }
    request
}

/// The HTTP status of a refused handshake, or 101.
async fn ws_status(request: Request) -> u16 {
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected handshake failure: {other}"),
    }
}

/// Connects with `request` and reads the welcome.
async fn connect(request: Request) -> (Client, Option<String>) {
    let (ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the handshake succeeds");
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let mut client = Client {
        ws,
        id: 0,
        name: String::new(),
    };
    let welcome = client.next_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (client, protocol)
}

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn without_the_token_the_api_answers_401_and_with_it_everything_works() {
    let (server, token, dir) = token_server("bearer").await;
    let addr = server.local_addr();

    // No token: 401 with a JSON error, before any upgrade.
    assert_eq!(ws_status(ws_request(addr, None)).await, 401);
    let refused = http()
        .post(format!("http://{addr}/broadcast"))
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.expect("JSON error");
    assert_eq!(body["error"], "unauthorized");
    let wrong = "0".repeat(64);
    assert_eq!(ws_status(ws_request(addr, bearer(&wrong))).await, 401);

    // /health and the page stay open, and /health tells no secret.
    let health = http()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 200);
    assert!(!health.text().await.expect("body").contains(&token));
    let page = http()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), 200);

    // Bearer: on HTTP and on the upgrade.
    let (mut listener, _) = connect(ws_request(addr, bearer(&token))).await;
    let sent = http()
        .post(format!("http://{addr}/broadcast"))
        .bearer_auth(&token)
        .json(&json!({"message": "with the token"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(sent.status(), 200);
    let frame = listener.next_of_type("notification").await;
    assert_eq!(frame["text"], "with the token");

    // The subprotocol entry: admitted, and the server answers `trw.v1`, not the token entry.
    let entry = Some((
        "sec-websocket-protocol",
        format!("trw.v1, trw.token.{token}"),
    ));
    let (_window, protocol) = connect(ws_request(addr, entry)).await;
    assert_eq!(protocol.as_deref(), Some("trw.v1"));

    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_token_url_sets_a_strict_http_only_cookie_and_redirects_home() {
    let (server, token, dir) = token_server("cookie").await;
    let addr = server.local_addr();
    let login = http()
        .get(format!("http://{addr}/?token={token}"))
        .send()
        .await
        .expect("GET /?token=");
    assert_eq!(login.status(), 303);
    assert_eq!(login.headers()["location"], "/");
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let actors = http()
        .get(format!("http://{addr}/api/actors"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("GET /api/actors");
    assert_eq!(actors.status(), 200);
    let (_client, _) = connect(ws_request(addr, Some(("cookie", pair)))).await;

    let wrong = http()
        .get(format!("http://{addr}/?token={}", "f".repeat(64)))
        .send()
        .await
        .expect("GET");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_peer_that_keeps_sending_wrong_tokens_is_rate_limited() {
    let (server, token, dir) = token_server("limited").await;
    let addr = server.local_addr();
    let mut statuses = Vec::new();
    for n in 0..15 {
        let response = http()
            .get(format!("http://{addr}/api/actors"))
            .bearer_auth(format!("{n:064}"))
            .send()
            .await
            .expect("GET");
        statuses.push(response.status().as_u16());
    }
    assert!(
        statuses[..10].iter().all(|&status| status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[10..].iter().all(|&status| status == 429),
        "{statuses:?}"
    );
    // While limited, even the right token waits: guessing costs the guesser.
    let right = http()
        .get(format!("http://{addr}/api/actors"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(right.status(), 429);
    assert!(right.headers().get("retry-after").is_some());
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn rotation_closes_the_old_tokens_sockets_with_4003_and_the_new_token_works() {
    let (server, old, dir) = token_server("rotate").await;
    let addr = server.local_addr();
    let (mut first, _) = connect(ws_request(addr, bearer(&old))).await;
    let entry = Some(("sec-websocket-protocol", format!("trw.v1, trw.token.{old}")));
    let (mut second, _) = connect(ws_request(addr, entry)).await;

    let rotated: Value = http()
        .post(format!("http://{addr}/api/auth/rotate"))
        .bearer_auth(&old)
        .send()
        .await
        .expect("POST /api/auth/rotate")
        .json()
        .await
        .expect("JSON");
    let new = rotated["token"].as_str().expect("the new token").to_owned();
    assert_ne!(new, old);
    assert_eq!(read_token(&dir), new, "the new token is saved");

    assert_eq!(first.expect_close().await, CloseCode::from(4003));
    assert_eq!(second.expect_close().await, CloseCode::from(4003));
    assert_eq!(ws_status(ws_request(addr, bearer(&old))).await, 401);
    let (_again, _) = connect(ws_request(addr, bearer(&new))).await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn binding_another_address_turns_token_auth_on_by_itself() {
    let dir = temp_dir("default");
    let mut config = ServerConfig::ephemeral();
    config.host = OTHER_NETWORK;
    config.data_dir = Some(dir.clone());
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    assert_eq!(addr.ip(), OTHER_NETWORK);
    assert_eq!(ws_status(ws_request(addr, None)).await, 401);
    let token = read_token(&dir);
    let (_client, _) = connect(ws_request(addr, bearer(&token))).await;
    server.shutdown().await;

    // And 127.0.0.1 stays open, as before.
    let open = start_server_with(ServerConfig::ephemeral()).await;
    assert_eq!(ws_status(ws_request(open.local_addr(), None)).await, 101);
    open.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A rustls client that trusts exactly `cert_pem`.
fn tls_connector(cert_pem: &str) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.expect("cert")).expect("trusted");
    }
    let provider = tauri_ractor_websocket::server::access::tls::crypto_provider();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Opens a wss connection to `addr` trusting `cert_pem`, and reads the welcome.
async fn wss_welcome(addr: SocketAddr, cert_pem: &str, token: Option<&str>) -> Value {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::from(addr.ip());
    let tls = tls_connector(cert_pem)
        .connect(name, tcp)
        .await
        .expect("the TLS handshake succeeds with the trusted certificate");
    let mut request = format!("wss://{addr}/ws")
        .into_client_request()
        .expect("request");
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("value"),
        );
    }
    let (mut ws, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("the WebSocket handshake succeeds over TLS");
    let frame = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("in time")
        .expect("a frame")
        .expect("no error");
    match frame {
        Message::Text(text) => serde_json::from_str(&text).expect("JSON"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn tls_with_a_certificate_made_by_the_test_serves_wss_and_refuses_plain_ws() {
    let dir = temp_dir("tls");
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a certificate");
    let cert_pem = made.cert.pem();
    std::fs::write(dir.join("cert.pem"), &cert_pem).expect("write cert");
    std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).expect("write key");
    let mut config = ServerConfig::ephemeral();
    config.data_dir = Some(dir.clone());
    config.access.tls = TlsMode::Files {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let server = start_server_with(config).await;
    let addr = server.local_addr();
    assert!(server.base_url().starts_with("https://"));

    let welcome = wss_welcome(addr, &cert_pem, None).await;
    assert_eq!(welcome["type"], "welcome");

    // Plain ws on the same port: no handshake, no WebSocket.
    let plain = tokio::time::timeout(
        PATIENCE,
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")),
    )
    .await
    .expect("refused in time");
    assert!(
        plain.is_err(),
        "a plain ws client must not connect to the TLS port"
    );

    // A client that does not trust the certificate is refused too.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let untrusted = tls_connector(&other.cert.pem())
        .connect(rustls::pki_types::ServerName::from(addr.ip()), tcp)
        .await;
    assert!(untrusted.is_err());
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// `listening` of `/api/about`.
async fn listening(main: SocketAddr) -> Vec<String> {
    let about: Value = http()
        .get(format!("http://{main}/api/about"))
        .send()
        .await
        .expect("GET /api/about")
        .json()
        .await
        .expect("JSON");
    about["listening"]
        .as_array()
        .expect("listening")
        .iter()
        .map(|address| address.as_str().expect("an address").to_owned())
        .collect()
}

#[tokio::test]
async fn sharing_opens_a_second_listener_that_wants_the_token_and_stopping_closes_it() {
    let dir = temp_dir("share");
    let mut config = ServerConfig::ephemeral();
    config.data_dir = Some(dir.clone());
    config.access.share_addresses = vec![OTHER_NETWORK];
    let server = start_server_with(config).await;
    let main = server.local_addr();

    let state: Value = http()
        .get(format!("http://{main}/api/share"))
        .send()
        .await
        .expect("GET /api/share")
        .json()
        .await
        .expect("JSON");
    assert!(state["sharing"].is_null());
    assert!(state["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .any(|a| a["address"] == "127.0.0.2"));
    let refused = http()
        .post(format!("http://{main}/api/share"))
        .json(&json!({"address": "203.0.113.9"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(
        refused.status(),
        422,
        "only offered addresses can be shared on"
    );

    let shared: Value = http()
        .post(format!("http://{main}/api/share"))
        .json(&json!({"address": "127.0.0.2", "tls": true}))
        .send()
        .await
        .expect("POST /api/share")
        .json()
        .await
        .expect("JSON");
    let port = u16::try_from(shared["port"].as_u64().expect("port")).expect("a port");
    let shared_addr = SocketAddr::new(OTHER_NETWORK, port);
    assert_eq!(
        listening(main).await,
        vec![main.to_string(), shared_addr.to_string()],
        "/api/about lists the share listener while it is open"
    );
    let token = read_token(&dir);
    assert_eq!(
        shared["join_url"],
        format!("https://127.0.0.2:{port}/?token={token}")
    );
    assert!(shared["fingerprint"]
        .as_str()
        .is_some_and(|f| f.len() == 95));
    let qr = http()
        .get(format!("http://{main}/api/share/qr.svg"))
        .send()
        .await
        .expect("GET qr");
    assert_eq!(qr.status(), 200);
    assert!(qr.text().await.expect("svg").contains("<svg"));

    // The shared listener speaks TLS with the self-signed certificate kept in the data dir,
    // and wants the token.
    let cert = std::fs::read_to_string(dir.join("tls/self-signed-127.0.0.2.pem"))
        .expect("the kept certificate");
    let welcome = wss_welcome(shared_addr, &cert, Some(&token)).await;
    assert_eq!(welcome["type"], "welcome");
    let tcp = tokio::net::TcpStream::connect(shared_addr)
        .await
        .expect("connect");
    let tls = tls_connector(&cert)
        .connect(rustls::pki_types::ServerName::from(OTHER_NETWORK), tcp)
        .await
        .expect("TLS");
    let request = format!("wss://{shared_addr}/ws")
        .into_client_request()
        .expect("request");
    match tokio_tungstenite::client_async(request, tls).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!(
            "without the token the shared listener must answer 401: {:?}",
            other.map(|_| ())
        ),
    }

    // A socket that came through the share, and one on the main listener.
    let tcp = tokio::net::TcpStream::connect(shared_addr)
        .await
        .expect("connect");
    let tls = tls_connector(&cert)
        .connect(rustls::pki_types::ServerName::from(OTHER_NETWORK), tcp)
        .await
        .expect("TLS");
    let mut request = format!("wss://{shared_addr}/ws")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).expect("value"),
    );
    let (mut through_share, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("ws");
    let (mut local, _) = connect(ws_request(main, None)).await;

    let stopped: Value = http()
        .post(format!("http://{main}/api/share/stop"))
        .send()
        .await
        .expect("POST stop")
        .json()
        .await
        .expect("JSON");
    assert_eq!(stopped["stopped"], true);
    let code = loop {
        let frame = tokio::time::timeout(PATIENCE, through_share.next())
            .await
            .expect("closed in time");
        match frame {
            Some(Ok(Message::Close(Some(close)))) => break close.code,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, CloseCode::Away);
    let gone = tokio::net::TcpStream::connect(shared_addr).await;
    assert!(gone.is_err(), "the shared listener is closed");
    assert_eq!(listening(main).await, vec![main.to_string()]);
    local.send_chat("still here").await;
    let echo = local.next_of_type("message").await;
    assert_eq!(echo["text"], "still here");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The binary, configured from the environment: `TRW_TLS=self-signed` makes a certificate in
/// `TRW_DATA_DIR`, logs its SHA-256 fingerprint (and never the token), and serves wss with it.
#[tokio::test]
async fn self_signed_tls_from_the_environment_keeps_its_certificate_and_logs_its_fingerprint() {
    let dir = temp_dir("binary-tls");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port");
    let log = dir.join("server.log");
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tauri-ractor-websocket"))
        .env("TRW_HEADLESS", "1")
        .env("TRW_PORT", port.to_string())
        .env("TRW_TLS", "self-signed")
        .env("TRW_AUTH", "token")
        .env("TRW_DATA_DIR", &dir)
        .env("RUST_LOG", "info")
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start the binary");
    let cert_file = dir.join("tls/self-signed-127.0.0.1.pem");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + PATIENCE;
    while !(cert_file.exists() && tokio::net::TcpStream::connect(addr).await.is_ok()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cert = std::fs::read_to_string(&cert_file).expect("the kept certificate");
    let token = read_token(&dir);
    let welcome = wss_welcome(addr, &cert, Some(&token)).await;
    assert_eq!(welcome["type"], "welcome");

    // SIGTERM: a graceful stop, so the log is complete.
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let _ = child.wait();
    let output = std::fs::read_to_string(&log).expect("the log");
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).expect("PEM");
    let fingerprint = tauri_ractor_websocket::server::access::tls::fingerprint(der.as_ref());
    assert!(
        output.contains(&fingerprint),
        "the fingerprint {fingerprint} is logged:\n{output}"
    );
    assert!(
        !output.contains(&token),
        "the token is never logged:\n{output}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
