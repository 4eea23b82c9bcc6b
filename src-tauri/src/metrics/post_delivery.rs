//! `trw_post_delivery_seconds`: the time from a post to the write of its frame to the **last**
//! of its recipients.
//!
//! Knowing which write is the last one would need a count per post and a check per write. Rust's
//! reference counting already keeps that count: the room wraps the post in one
//! [`PostInFlight`] and hands a clone of the `Arc` along with the frame to every live member's
//! outbox; each writer drops its clone once the frame is flushed to the socket. When the last
//! clone goes, `Drop` records the time since the post. A recipient costs one atomic increment and
//! one decrement, and no lock.
//!
//! A copy can also go without being written: its connection closed with the frame still queued
//! (a slow consumer's 1013, a disconnect). It then ends that recipient's wait all the same, so
//! the figure is "until every recipient was written to or gone". Members still catching up
//! (their backlog not yet sent) get the frame later from their buffer and are not waited for.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::histogram::Histogram;

/// Upper bounds, in seconds: 0.5 ms to 10 s. Most of a post's way is the room log's append (from
/// microseconds in memory to milliseconds for a synced disk write) and the writers' turns; the
/// fan-out benchmark sees p99 of 30 ms to 265 ms between 1,000 and 19,000 clients, and anything
/// above seconds is a client that stopped reading.
pub const POST_DELIVERY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One post on its way; see the module docs. Shared as an `Arc` by the frames that carry it.
#[derive(Debug)]
pub struct PostInFlight {
    posted: Instant,
    histogram: Histogram,
}

impl PostInFlight {
    /// Starts waiting for the recipients of a post made at `posted`.
    pub fn start(posted: Instant, histogram: &Histogram) -> Arc<PostInFlight> {
        Arc::new(PostInFlight {
            posted,
            histogram: histogram.clone(),
        })
    }
}

impl Drop for PostInFlight {
    fn drop(&mut self) {
        self.histogram.observe(self.posted.elapsed().as_secs_f64());
    }
}
