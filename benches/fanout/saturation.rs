//! The saturation sweep: for each N, every server gets the same ladder of offered broadcast
//! rates, one phase per step over the same N connections, until the step where it stops keeping
//! up, its p99 passes the limit, or a message is lost. The fixed-load sweep (`driver::run`) only
//! shows that every server keeps up with 300k deliveries/s asked; this one finds each ceiling.
//!
//! ```text
//!   rate_0 = 300,000 / N broadcasts/s, rate_k = rate_0 × 1.5^k, at most `steps` steps
//!   a step is *sustained*  if p99 ≤ limit, nothing lost, no client closed, all N held
//!   a step is *kept up*    if sustained and ≥ 95 % of the asked broadcasts/s were done
//!   a step that is not kept up is run once more at the same rate (one bad moment of the
//!   2 shared cores should not end the ramp); the ladder stops when the repeat is not kept up
//!   either. Then, between the highest rate kept up and the lowest missed, the geometric
//!   midpoint is run once, and again between whichever two now bound the ceiling
//!   (`REFINEMENTS` times), so that a ceiling is known to ×1.11, not to the ladder's ×1.5.
//!   Every phase is reported.
//! ```
//!
//! Without the refinement two servers that both keep up with one step and both miss the next
//! come out at the same ceiling (the rate of that step), however far apart they are between.
//!
//! Reported per N: each server's highest sustained deliveries/s (its ceiling), the ratios to
//! the baseline's ceilings, CPU µs per delivery at that step, and the p99 of every server at the
//! highest step that ours and the baseline both kept up with.

use std::time::Duration;

use crate::driver::{self, RunPlan, RunResult, ServerKind, Then};
use crate::redis_server::RedisServer;

/// Each step asks this much more than the one before.
pub const STEP_FACTOR: f64 = 1.5;
/// A step is kept up when at least this share of the asked broadcasts/s was done.
pub const KEPT_UP_SHARE: f64 = 0.95;
/// Phases run between the last rate kept up and the first missed, after the ladder stops: each
/// halves the gap (geometrically), so two leave ×1.5^(1/4) ≈ 1.11 between the bounds.
pub const REFINEMENTS: usize = 2;

/// The servers of the sweep, in the order they run.
pub const SERVERS: [ServerKind; 5] = [
    ServerKind::Ours,
    ServerKind::OursSqlite,
    ServerKind::OursRedis,
    ServerKind::Baseline,
    ServerKind::BaselineDefaults,
];

/// How the sweep runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub conns: Vec<usize>,
    pub steps: usize,
    pub first_deliveries_per_sec: f64,
    pub phase: Duration,
    pub p99_limit_ms: f64,
    /// `/broadcast` requests the generator keeps open at most (`--max-in-flight`).
    pub max_in_flight: usize,
}

/// One N: each server's steps.
pub struct Sweep {
    pub conns: usize,
    pub runs: Vec<(ServerKind, Vec<RunResult>)>,
}

/// The offered broadcasts/s of each step at N.
pub fn ladder(settings: &Settings, conns: usize) -> Vec<f64> {
    let first = settings.first_deliveries_per_sec / conns.max(1) as f64;
    (0..settings.steps)
        .map(|step| first * STEP_FACTOR.powi(step as i32))
        .collect()
}

/// p99 within the limit, nothing lost, nobody closed, everyone held.
pub fn sustained(result: &RunResult, p99_limit_ms: f64) -> bool {
    result.p99_ms <= p99_limit_ms
        && result.lost == 0
        && result.closed_clients == 0
        && result.conns_ok == result.conns_asked
        && result.broadcast_error.is_none()
}

/// Sustained, and the asked rate was (nearly) all done.
pub fn kept_up(result: &RunResult, p99_limit_ms: f64) -> bool {
    sustained(result, p99_limit_ms)
        && result.broadcasts_per_sec_done >= KEPT_UP_SHARE * result.rate_asked
}

/// The highest sustained deliveries/s among `steps`, with its step.
pub fn ceiling(steps: &[RunResult], p99_limit_ms: f64) -> Option<&RunResult> {
    steps
        .iter()
        .filter(|result| sustained(result, p99_limit_ms))
        .max_by(|a, b| a.deliveries_per_sec.total_cmp(&b.deliveries_per_sec))
}

/// The highest asked rate that both `a` and `b` kept up with: their two steps at that rate.
pub fn highest_common<'a>(
    a: &'a [RunResult],
    b: &'a [RunResult],
    p99_limit_ms: f64,
) -> Option<(&'a RunResult, &'a RunResult)> {
    a.iter()
        .filter(|x| kept_up(x, p99_limit_ms))
        .filter_map(|x| {
            b.iter()
                .find(|y| y.rate_asked == x.rate_asked && kept_up(y, p99_limit_ms))
                .map(|y| (x, y))
        })
        .max_by(|(x, _), (y, _)| x.rate_asked.total_cmp(&y.rate_asked))
}

/// Runs the sweep; `next_run` numbers each server start (distinct source addresses).
pub async fn run(
    settings: &Settings,
    base: &RunPlan,
    next_run: &mut usize,
) -> Result<Vec<Sweep>, String> {
    let mut sweeps = Vec::new();
    for &conns in &settings.conns {
        let rates = ladder(settings, conns);
        let mut runs = Vec::new();
        for server in SERVERS {
            *next_run += 1;
            // The Redis row gets a redis-server of its own, empty, for its whole ramp.
            let redis = match server {
                ServerKind::OursRedis => Some(RedisServer::start()),
                _ => None,
            };
            let plan = RunPlan {
                server,
                conns,
                rate: rates[0],
                duration: settings.phase,
                run_index: *next_run,
                redis_url: redis.as_ref().map(RedisServer::url),
                ..base.clone()
            };
            eprintln!(
                "==> saturation N={conns} {}: up to {} steps from {:.1} broadcasts/s",
                server.label(),
                rates.len(),
                rates[0]
            );
            let mut course = Course::new(settings.p99_limit_ms);
            let steps = driver::ramp(&plan, &rates, |result| {
                eprintln!(
                    "    {:.1}/s asked: {}",
                    result.rate_asked,
                    crate::report::one_line(result)
                );
                course.after(result)
            })
            .await?;
            drop(redis);
            runs.push((server, steps));
        }
        sweeps.push(Sweep { conns, runs });
    }
    Ok(sweeps)
}

/// Where one server's ramp goes next: up the ladder, a repeat after a miss, then the refinements
/// (see the module docs).
struct Course {
    p99_limit_ms: f64,
    /// The step before was a miss, run once more.
    repeated: bool,
    /// The highest rate kept up so far.
    kept: Option<f64>,
    /// Once the ladder stopped: refinements still to run, and the lowest rate missed.
    refining: Option<(usize, f64)>,
}

impl Course {
    fn new(p99_limit_ms: f64) -> Course {
        Course {
            p99_limit_ms,
            repeated: false,
            kept: None,
            refining: None,
        }
    }

    fn after(&mut self, result: &RunResult) -> Then {
        let rate = result.rate_asked;
        let kept = kept_up(result, self.p99_limit_ms);
        if kept {
            self.kept = Some(self.kept.map_or(rate, |highest| highest.max(rate)));
        }
        if let Some((left, missed)) = self.refining {
            let missed = if kept { missed } else { missed.min(rate) };
            return self.refine(left, missed);
        }
        // Once more at the same rate after a miss; a second miss (or any loss) ends the ladder.
        if kept {
            self.repeated = false;
            Then::Next
        } else if !self.repeated && result.lost == 0 {
            self.repeated = true;
            Then::Repeat
        } else {
            self.refine(REFINEMENTS, rate)
        }
    }

    /// The midpoint between the highest rate kept up and the lowest missed, while refinements
    /// are left (and a rate below the miss was kept up).
    fn refine(&mut self, left: usize, missed: f64) -> Then {
        match self.kept {
            Some(kept) if left > 0 && kept < missed => {
                self.refining = Some((left - 1, missed));
                Then::At((kept * missed).sqrt())
            }
            _ => Then::Stop,
        }
    }
}

impl Sweep {
    pub fn steps(&self, server: ServerKind) -> &[RunResult] {
        self.runs
            .iter()
            .find(|(kind, _)| *kind == server)
            .map_or(&[], |(_, steps)| steps.as_slice())
    }
}
