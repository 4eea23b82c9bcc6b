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
//!   2 shared cores should not end the ramp); the ramp stops when the repeat is not kept up
//!   either. Every phase is reported.
//! ```
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
            let limit = settings.p99_limit_ms;
            let mut repeated = false;
            let steps = driver::ramp(&plan, &rates, |result| {
                eprintln!(
                    "    {:.1}/s asked: {}",
                    result.rate_asked,
                    crate::report::one_line(result)
                );
                let kept = kept_up(result, limit);
                // Once more at the same rate after a miss; a second miss ends the ramp. A loss
                // is never retried.
                let then = if kept {
                    Then::Next
                } else if repeated || result.lost > 0 {
                    Then::Stop
                } else {
                    Then::Repeat
                };
                repeated = then == Then::Repeat;
                then
            })
            .await?;
            drop(redis);
            runs.push((server, steps));
        }
        sweeps.push(Sweep { conns, runs });
    }
    Ok(sweeps)
}

impl Sweep {
    pub fn steps(&self, server: ServerKind) -> &[RunResult] {
        self.runs
            .iter()
            .find(|(kind, _)| *kind == server)
            .map_or(&[], |(_, steps)| steps.as_slice())
    }
}
