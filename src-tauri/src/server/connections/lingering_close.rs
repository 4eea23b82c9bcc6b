//! A lingering close: when a connection ends, read and discard what the peer still sends for a
//! moment before closing the socket, so that our last words reach it.
//!
//! Closing a TCP socket that still has unread input makes the kernel answer with a reset (RST)
//! instead of an orderly FIN, and a reset can destroy what we sent just before it. That is what
//! happens when the server closes a client that is still sending: a flood (1008), or a message
//! over the size limit (1009), whose remaining bytes are still arriving. The client's stack
//! reports "connection reset" and the close frame that explained why is lost (browsers show
//! 1006).
//!
//! So the accept loop wraps every accepted socket in a [`LingeringStream`], under the
//! [`TrackedIo`](super::tracked_io::TrackedIo) (and under any TLS layer): it travels with the
//! socket into a WebSocket. When hyper, or the WebSocket built on it, drops it, the stream is
//! not closed at once: a small task sends our FIN
//! (`shutdown(Write)`, after everything already written), then reads and discards until the
//! peer closes its side or [`LINGER_FOR`] has passed, and only then closes. A peer that has
//! already closed costs nothing: its end-of-stream is read at once. This is the "lingering
//! close" of HTTP servers (Apache's `lingering_close`, nginx's `lingering_close`).
//!
//! Bounded: at most [`MAX_LINGERING`] sockets linger at once (beyond that, a socket is closed at
//! once, as before), each for at most [`LINGER_FOR`] and [`MAX_DISCARD_BYTES`], reading into one
//! small buffer. The byte bound keeps "cut off early" true: a client that declared a 50 MB
//! body and got 413 may push a few more MiB into the void, not the rest of its upload. A peer
//! still sending past either bound gets the reset after all.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a closing socket keeps reading before it gives up on the peer's close.
pub const LINGER_FOR: Duration = Duration::from_secs(1);

/// Most bytes one closing socket reads and throws away: enough for the rest of a message a
/// little over `--max-message-bytes`, or for what a flooder has in flight.
pub const MAX_DISCARD_BYTES: usize = 4 * 1024 * 1024;

/// Most sockets lingering at once. Each holds a file descriptor for up to [`LINGER_FOR`].
pub const MAX_LINGERING: usize = 1024;

/// Bytes read per call while discarding.
const DISCARD_CHUNK: usize = 4096;

/// The permits shared by every socket of one server: at most [`MAX_LINGERING`] linger at once.
pub fn lingering_permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_LINGERING))
}

impl LingeringStream {
    /// Wraps one accepted stream; it lingers on drop if one of `lingering`'s permits is free.
    pub fn new(inner: TcpStream, lingering: Arc<Semaphore>) -> Self {
        Self {
            inner: Some(inner),
            lingering,
        }
    }
}

/// An accepted connection that lingers when dropped (see the module docs).
pub struct LingeringStream {
    /// Always `Some` until dropped.
    inner: Option<TcpStream>,
    lingering: Arc<Semaphore>,
}

impl LingeringStream {
    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl AsyncRead for LingeringStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_read(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_write(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|stream| stream.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_flush(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_shutdown(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(stream) = self.inner.take() else {
            return;
        };
        // Outside a runtime (or while it shuts down) there is nobody to linger: close now.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(permit) = Arc::clone(&self.lingering).try_acquire_owned() else {
            return; // too many lingering already: close at once, as a plain socket would
        };
        runtime.spawn(linger(stream, permit));
    }
}

/// Sends our FIN, then discards input until the peer's FIN, an error, [`MAX_DISCARD_BYTES`]
/// or [`LINGER_FOR`].
async fn linger(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let discard = async {
        // Everything written before is sent first; the FIN tells the peer we are done.
        let _ = stream.shutdown().await;
        let mut buffer = [0u8; DISCARD_CHUNK];
        let mut discarded: usize = 0;
        while discarded < MAX_DISCARD_BYTES {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break, // the peer closed (or reset): nothing left to protect
                Ok(read) => discarded = discarded.saturating_add(read),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_FOR, discard).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const PATIENCE: Duration = Duration::from_secs(10);

    /// A connected pair: (the server's end, wrapped; the client's end). The client has sent
    /// 64 KiB that the server never reads.
    async fn pair_with_unread_input(lingering: Arc<Semaphore>) -> (LingeringStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let mut client = client.expect("connect");
        let (server_end, _) = accepted.expect("accept");
        client
            .write_all(&[7u8; 64 * 1024])
            .await
            .expect("the kernel takes 64 KiB");
        (LingeringStream::new(server_end, lingering), client)
    }

    async fn read_once(client: &mut TcpStream) -> io::Result<usize> {
        let mut buffer = [0u8; 1024];
        tokio::time::timeout(PATIENCE, client.read(&mut buffer))
            .await
            .expect("an answer in time")
    }

    #[tokio::test]
    async fn a_dropped_stream_says_goodbye_with_fin_and_keeps_reading() {
        let (mut server_end, mut client) =
            pair_with_unread_input(Arc::new(Semaphore::new(1))).await;
        server_end.write_all(b"bye").await.expect("write");
        drop(server_end);

        let mut buffer = [0u8; 3];
        client
            .read_exact(&mut buffer)
            .await
            .expect("our last words");
        assert_eq!(&buffer, b"bye");
        assert_eq!(read_once(&mut client).await.expect("FIN, not a reset"), 0);
        // Still reading: what the client sends now is taken, not answered with a reset.
        client.write_all(&[8u8; 4096]).await.expect("still read");
    }

    #[tokio::test]
    async fn without_a_permit_the_stream_closes_at_once_as_a_plain_socket_would() {
        // What the linger prevents: unread input turns the close into a reset.
        let (server_end, mut client) = pair_with_unread_input(Arc::new(Semaphore::new(0))).await;
        drop(server_end);
        let error = read_once(&mut client).await.expect_err("a reset");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }

    /// Sends as fast as it can until the server cuts it off; returns the bytes it got out.
    async fn send_until_cut_off(client: &mut TcpStream, chunk: &[u8]) -> usize {
        let mut sent = 0;
        let cut_off = tokio::time::timeout(PATIENCE, async {
            while client.write_all(chunk).await.is_ok() {
                sent += chunk.len();
            }
        })
        .await;
        assert!(
            cut_off.is_ok(),
            "the linger ends even if the peer never stops"
        );
        sent
    }

    #[tokio::test]
    async fn a_peer_that_never_stops_sending_is_cut_off_after_a_few_mib() {
        let lingering = Arc::new(Semaphore::new(1));
        let (server_end, mut client) = pair_with_unread_input(Arc::clone(&lingering)).await;
        drop(server_end);
        let sent = send_until_cut_off(&mut client, &[9u8; 64 * 1024]).await;
        // MAX_DISCARD_BYTES, plus what the two kernels buffer (a few MiB each at most): far
        // below what a second of loopback carries.
        assert!(
            sent < MAX_DISCARD_BYTES + 32 * 1024 * 1024,
            "the discard is bounded in bytes: {sent} bytes went through"
        );
        let permit = tokio::time::timeout(PATIENCE, lingering.acquire())
            .await
            .expect("the permit comes back");
        assert!(permit.is_ok(), "semaphore open");
    }

    #[tokio::test]
    async fn a_slow_peer_that_never_stops_is_cut_off_after_the_linger_time() {
        let (server_end, mut client) = pair_with_unread_input(Arc::new(Semaphore::new(1))).await;
        drop(server_end);
        // 1 KiB every 10 ms: the byte bound is far away, only the time bound can end it.
        let mut sent = 0;
        let cut_off = tokio::time::timeout(PATIENCE, async {
            while client.write_all(&[5u8; 1024]).await.is_ok() {
                sent += 1024;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            cut_off.is_ok(),
            "cut off after LINGER_FOR ({sent} bytes sent)"
        );
        assert!(sent < MAX_DISCARD_BYTES);
    }
}
