//! OTP's restart intensity: at most `max` restarts within `window`. A child that keeps failing
//! (a poison message replayed from the log after every restart, a broken store) must not
//! crash-loop for ever: beyond the limit, the supervisor gives up and the server shuts down
//! cleanly, which is something an operator notices, unlike a loop.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RestartIntensity {
    max: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartIntensity {
    pub fn new(max: u32, window: Duration) -> RestartIntensity {
        RestartIntensity {
            max,
            window,
            recent: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; false if it would be one too many within the window.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= self.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.max as usize {
            return false;
        }
        self.recent.push_back(now);
        true
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock is passed in, so the test needs no timer at all.
    #[test]
    fn at_most_max_restarts_within_the_window() {
        let mut intensity = RestartIntensity::new(3, Duration::from_secs(10));
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert!(intensity.allow(at(0)));
        assert!(intensity.allow(at(1)));
        assert!(intensity.allow(at(2)));
        assert!(!intensity.allow(at(3)));
        assert!(!intensity.allow(at(9)));
        // Once the first one is older than the window, there is room for one more.
        assert!(intensity.allow(at(10)));
        assert!(!intensity.allow(at(10)));
        // Long after, the slate is clean.
        assert!(intensity.allow(at(100)));
    }

    #[test]
    fn zero_means_never() {
        let mut intensity = RestartIntensity::new(0, Duration::from_secs(10));
        assert!(!intensity.allow(Instant::now()));
    }
}
