//! What HTTP is spoken over, once a TCP connection is accepted.
//!
//! Today that is the TCP stream itself ([`PlainTcp`]). A TLS listener plugs in here: its
//! [`Transport::handshake`] runs the TLS handshake over the tracked stream and returns the
//! encrypted stream. The handshake then runs inside the connection's task, under the header
//! timeout and the pending cap like any slow request head, and the accept loop stays as it is.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

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
