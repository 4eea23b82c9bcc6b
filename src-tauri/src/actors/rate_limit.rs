//! A token bucket: `rate` messages per second on average, bursts of up to `burst`.
//!
//! Each connection actor owns one, so the check is a few arithmetic operations on data nobody
//! else touches: no lock, no timer, no task. Tokens are refilled lazily from the elapsed time
//! whenever a message arrives.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_sec: f64,
    burst: f64,
    tokens: f64,
    last_refill: Instant,
}

impl TokenBucket {
    /// A full bucket. A rate of 0 disables limiting.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self {
            rate_per_sec: f64::from(rate_per_sec),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last_refill: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        if self.rate_per_sec <= 0.0 {
            return true;
        }
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_sec).min(self.burst);
        self.last_refill = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(20, 40);
        let burst = (0..100).filter(|_| bucket.try_take_at(start)).count();
        assert_eq!(burst, 40);
        // Half a second later, 10 more tokens have accumulated.
        let later = start + Duration::from_millis(500);
        let refilled = (0..100).filter(|_| bucket.try_take_at(later)).count();
        assert_eq!(refilled, 10);
    }

    #[test]
    fn zero_rate_means_unlimited() {
        let mut bucket = TokenBucket::new(0, 1);
        assert!((0..1000).all(|_| bucket.try_take()));
    }
}
