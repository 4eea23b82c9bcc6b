//! The socket wrapper: tells the connection's [`ConnectionState`] when bytes arrive, and owns
//! the connection's per-peer slot.
//!
//! It wraps the TCP stream itself, under any TLS layer and under hyper, so it sees the first
//! byte of every request (which starts that request's header timeout) and it travels with the
//! socket into hyper's `Upgraded` when the connection becomes a WebSocket. Dropping it, which
//! happens exactly when the socket closes, gives back the peer slot. Once the connection is a
//! WebSocket, a read costs one extra relaxed atomic load.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::lifecycle::ConnectionState;
use super::peer_limit::PeerSlot;

/// See the module docs.
#[derive(Debug)]
pub struct TrackedIo<T> {
    inner: T,
    state: Arc<ConnectionState>,
    _peer_slot: Option<PeerSlot>,
}

impl<T> TrackedIo<T> {
    pub fn new(inner: T, state: Arc<ConnectionState>, peer_slot: Option<PeerSlot>) -> Self {
        Self {
            inner,
            state,
            _peer_slot: peer_slot,
        }
    }
}

impl<T> Drop for TrackedIo<T> {
    fn drop(&mut self) {
        // A forwarded client's slot, when behind a trusted proxy, also ends with the socket.
        self.state.release_forwarded_slot();
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let filled_before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > filled_before {
            self.state.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
