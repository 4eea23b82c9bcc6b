//! `trw_outbox_depth_frames`: a histogram that is observed once per recipient of every frame,
//! so it takes no lock.
//!
//! prometheus-client's own `Histogram` keeps its buckets behind a mutex, which is right for
//! once-per-request observations (the other histograms of `/metrics` use it) but not for the
//! fan-out loop, where a room queues one frame for each of thousands of members. This one is a
//! fixed array of relaxed atomic counters, one per bucket, plus the sum. The fan-out goes one step
//! further: it counts into a [`DepthTally`] on its own stack and merges it once per frame, so a
//! recipient costs a few plain additions.
//!
//! It is exported through prometheus-client's encoder ([`EncodeMetric`]), exactly like the
//! crate's histogram: same `_bucket`/`_sum`/`_count` series, cumulative buckets, `+Inf` equal to
//! the count.
//!
//! A scrape reads the buckets one after the other while observations go on, so `_sum` may be a
//! few observations ahead of or behind the buckets; `_count` is computed from the very buckets
//! it exports, so it always equals the `+Inf` bucket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// Upper bounds, in frames: powers of two from 1 to 1,024 (the default `--outbound-queue`). A
/// healthy client sits in the first buckets; one drifting towards its limit (and a 1013) shows in
/// the upper ones. Depths above 1,024 (a larger `--outbound-queue`) land in `+Inf`.
pub const OUTBOX_DEPTH_BUCKETS: [u64; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/// One slot per bound, and the last for `+Inf`.
const SLOTS: usize = OUTBOX_DEPTH_BUCKETS.len() + 1;

/// The slot of `depth`: the first bound that is at least `depth` (powers of two: the bit length
/// of `depth - 1`), or `+Inf`.
fn slot_of(depth: u64) -> usize {
    if depth <= 1 {
        return 0;
    }
    let bits = (u64::BITS - (depth - 1).leading_zeros()) as usize;
    bits.min(SLOTS - 1)
}

/// A lock-free histogram of small integers. Cheap to clone: the clones share their counters.
#[derive(Debug, Clone, Default)]
pub struct DepthHistogram {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Observations per slot (not cumulative: the encoder accumulates).
    slots: [AtomicU64; SLOTS],
    /// The sum of the observed depths (wraps only after ~10¹⁶ full queues).
    sum: AtomicU64,
}

impl DepthHistogram {
    /// Records one depth.
    pub fn observe(&self, depth: u64) {
        self.inner.slots[slot_of(depth)].fetch_add(1, Ordering::Relaxed);
        self.inner.sum.fetch_add(depth, Ordering::Relaxed);
    }

    /// Adds what a fan-out counted locally: one atomic add per bucket it touched.
    pub fn merge(&self, tally: &DepthTally) {
        for (slot, count) in self.inner.slots.iter().zip(tally.slots) {
            if count > 0 {
                slot.fetch_add(count, Ordering::Relaxed);
            }
        }
        if tally.sum > 0 {
            self.inner.sum.fetch_add(tally.sum, Ordering::Relaxed);
        }
    }

    /// (sum, count, per-bucket counts with their upper bound), as the encoder wants them.
    fn snapshot(&self) -> (u64, u64, [(f64, u64); SLOTS]) {
        let mut buckets = [(f64::INFINITY, 0); SLOTS];
        let mut count = 0u64;
        for (index, slot) in self.inner.slots.iter().enumerate() {
            let observed = slot.load(Ordering::Relaxed);
            count = count.saturating_add(observed);
            let bound = OUTBOX_DEPTH_BUCKETS
                .get(index)
                .map_or(f64::INFINITY, |bound| *bound as f64);
            buckets[index] = (bound, observed);
        }
        (self.inner.sum.load(Ordering::Relaxed), count, buckets)
    }
}

impl EncodeMetric for DepthHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum as f64, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Depths counted on the stack during one fan-out, merged into the shared histogram once.
#[derive(Debug, Default, Clone, Copy)]
pub struct DepthTally {
    slots: [u64; SLOTS],
    sum: u64,
}

impl DepthTally {
    pub fn observe(&mut self, depth: u64) {
        let slot = &mut self.slots[slot_of(depth)];
        *slot = slot.saturating_add(1);
        self.sum = self.sum.saturating_add(depth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_depth_lands_in_the_first_bucket_that_holds_it() {
        for (depth, slot) in [
            (0, 0),
            (1, 0),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 3),
            (1023, 10),
            (1024, 10),
            (1025, 11),
            (u64::MAX, 11),
        ] {
            assert_eq!(slot_of(depth), slot, "depth {depth}");
            if slot < OUTBOX_DEPTH_BUCKETS.len() {
                assert!(depth <= OUTBOX_DEPTH_BUCKETS[slot], "depth {depth}");
            }
            if slot > 0 {
                assert!(depth > OUTBOX_DEPTH_BUCKETS[slot - 1], "depth {depth}");
            }
        }
    }

    #[test]
    fn a_merged_tally_counts_like_single_observations() {
        let direct = DepthHistogram::default();
        let merged = DepthHistogram::default();
        let mut tally = DepthTally::default();
        for depth in [1, 1, 3, 700, 5000] {
            direct.observe(depth);
            tally.observe(depth);
        }
        merged.merge(&tally);
        assert_eq!(direct.snapshot(), merged.snapshot());
        let (sum, count, buckets) = merged.snapshot();
        assert_eq!((sum, count), (5705, 5));
        assert_eq!(buckets[0], (1.0, 2));
        assert_eq!(buckets[2], (4.0, 1));
        assert_eq!(buckets[10], (1024.0, 1));
        assert_eq!(buckets[11], (f64::INFINITY, 1));
    }
}
