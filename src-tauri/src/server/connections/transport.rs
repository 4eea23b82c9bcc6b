//! What HTTP is spoken over, once a TCP connection is accepted.
//!
//! The TCP stream itself ([`PlainTcp`]), or TLS over it ([`Tls`]): its [`Transport::handshake`]
//! runs the TLS handshake (tokio-rustls) over the tracked stream and returns the encrypted
//! stream. The handshake runs inside the connection's task, under the header timeout and the
//! pending cap like any slow request head. A client that speaks plain HTTP to a TLS listener
//! fails the handshake and is closed without an answer.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::lingering_close::LingeringStream;
use super::tracked_io::TrackedIo;

/// See the module docs.
pub trait Transport: Send + Sync + 'static {
    /// The stream hyper reads and writes (and a WebSocket keeps after the upgrade).
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Turns an accepted, tracked TCP stream into [`Transport::Io`].
    fn handshake(
        &self,
        tcp: TrackedIo<LingeringStream>,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

/// Plain HTTP over TCP: no handshake.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTcp;

impl Transport for PlainTcp {
    type Io = TrackedIo<LingeringStream>;

    fn handshake(
        &self,
        tcp: TrackedIo<LingeringStream>,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send {
        std::future::ready(Ok(tcp))
    }
}

/// HTTPS and WSS: TLS over the tracked TCP stream.
#[derive(Clone)]
pub struct Tls(pub TlsAcceptor);

impl Transport for Tls {
    type Io = TlsStream<TrackedIo<LingeringStream>>;

    fn handshake(
        &self,
        tcp: TrackedIo<LingeringStream>,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send {
        self.0.accept(tcp)
    }
}
