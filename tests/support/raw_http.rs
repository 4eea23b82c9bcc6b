//! Raw HTTP/1.1 over real TCP sockets, for tests that must misbehave on purpose (half-sent
//! request heads, idle keep-alive connections, chosen source addresses) where an HTTP client
//! library would not let them.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use super::ws_client::PATIENCE;

/// A request head without its final blank line: the server waits for the rest.
pub fn incomplete_head(addr: SocketAddr) -> String {
    format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n")
}

/// Connects to `addr` from the local address `source` (any 127.0.0.0/8 address works on
/// loopback).
pub async fn connect_from(source: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind the source address");
    socket.connect(addr).await.expect("connect")
}

/// Connects and sends half a request head.
pub async fn slow_client(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(incomplete_head(addr).as_bytes())
        .await
        .expect("send half a head");
    stream
}

/// How a connection ended when we waited for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The server closed it (EOF or reset) after sending these bytes (maybe none).
    Closed(Vec<u8>),
    /// Still open at the deadline.
    StillOpen,
}

/// Reads until the server closes the connection or `deadline` passes.
pub async fn wait_for_close(stream: &mut TcpStream, deadline: Instant) -> Ending {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return Ending::StillOpen,
            Ok(Ok(0)) | Ok(Err(_)) => return Ending::Closed(received),
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Reads one response (head and a `content-length` body); `None` if the connection closes
/// before a complete head. Panics if nothing complete arrives within [`PATIENCE`].
pub async fn read_response(stream: &mut TcpStream) -> Option<(u16, String)> {
    let deadline = Instant::now() + PATIENCE;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(response) = complete_response(&received) {
            return Some(response);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => panic!(
                "no complete response in time; got {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Sends a complete `GET path` on `stream` and reads the answer.
pub async fn get(stream: &mut TcpStream, addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    read_response(stream).await
}

/// The status code at the start of `bytes`, if it looks like an HTTP response.
pub fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.parse().ok()
}

fn complete_response(received: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(received);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = status_of(received)?;
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    (body.len() >= length).then(|| (status, body[..length].to_owned()))
}

/// Polls `probe` until it returns true or [`PATIENCE`] runs out.
pub async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !probe().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
