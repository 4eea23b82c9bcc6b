//! The saturation sweep's part of the report: the targets of issue 15, every step, and one
//! chart per N (deliveries/s and p99 against the offered load).

use std::fmt::Write;

use plotters::style::RGBColor;

use crate::chart::{self, Panel, Series};
use crate::driver::{RunResult, ServerKind};
use crate::saturation::{self, Settings, Sweep};

/// Issue 15: our ceiling at least this many times the plain server's, at 1k and 10k.
pub const MIN_CEILING_RATIO: f64 = 1.3;
/// Issue 15: our p99 at most this many times the plain server's, at the highest rate both keep
/// up with.
pub const MAX_P99_RATIO: f64 = 1.5;

fn colour(server: ServerKind) -> RGBColor {
    match server {
        ServerKind::Ours => RGBColor(0x1f, 0x77, 0xb4),
        ServerKind::OursSqlite => RGBColor(0x2c, 0xa0, 0x2c),
        ServerKind::OursRedis => RGBColor(0x94, 0x67, 0xbd),
        ServerKind::Baseline => RGBColor(0xff, 0x7f, 0x0e),
        ServerKind::BaselineDefaults => RGBColor(0xd6, 0x27, 0x28),
    }
}

pub fn chart_file(conns: usize) -> String {
    format!("bench-saturation-{conns}.svg")
}

/// The chart of one N: deliveries/s and p99 against deliveries/s asked.
pub fn chart(sweep: &Sweep) -> Result<String, String> {
    let series = |pick: fn(&RunResult) -> f64| {
        sweep
            .runs
            .iter()
            .map(|(server, steps)| Series {
                name: server.label(),
                colour: colour(*server),
                points: steps
                    .iter()
                    .map(|step| (step.rate_asked * sweep.conns as f64, pick(step)))
                    .collect(),
            })
            .collect::<Vec<_>>()
    };
    let title_rate = format!("Deliveries/s at N = {}", sweep.conns);
    let title_p99 = format!("p99 at N = {}", sweep.conns);
    chart::render(
        &[
            Panel {
                title: &title_rate,
                y_label: "deliveries/s",
                series: series(|r| r.deliveries_per_sec),
            },
            Panel {
                title: &title_p99,
                y_label: "ms",
                series: series(|r| r.p99_ms),
            },
        ],
        "deliveries/s asked",
    )
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

/// `value` over a baseline's ceiling; "∞" when the baseline sustained no step at all.
fn ratio_text(value: f64, baseline: Option<&RunResult>) -> String {
    match baseline {
        Some(baseline) => format!("{:.2}", ratio(value, baseline.deliveries_per_sec)),
        None if value > 0.0 => "∞ (it sustained no step)".to_owned(),
        None => "–".to_owned(),
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✅"
    } else {
        "❌"
    }
}

/// One line per N and server, for the console.
pub fn summary(sweeps: &[Sweep], settings: &Settings) -> String {
    let mut text = String::from("saturation (highest sustained deliveries/s):\n");
    for sweep in sweeps {
        for (server, steps) in &sweep.runs {
            let best = saturation::ceiling(steps, settings.p99_limit_ms);
            let _ = writeln!(
                text,
                "  N={:>6} {:<26} {:>9.0}/s (p99 {:.1} ms, {:.2} µs CPU/delivery)",
                sweep.conns,
                server.label(),
                best.map_or(0.0, |r| r.deliveries_per_sec),
                best.map_or(f64::NAN, |r| r.p99_ms),
                best.map_or(f64::NAN, |r| r.cpu_us_per_delivery),
            );
        }
    }
    text
}

/// The saturation section of BENCHMARKS.md.
pub fn section(md: &mut String, sweeps: &[Sweep], settings: &Settings, secs: f64) {
    let limit = settings.p99_limit_ms;
    let _ = writeln!(
        md,
        "## Saturation (issue 15)\n\n\
         For each N, every server gets the same ladder of offered rates over the same N \
         connections, one {}-second phase per step: {:.0} / N broadcasts/s first, then ×{} per \
         step, at most {} steps; a step it does not keep up with is run once more at the same rate, \
         and the ladder stops when that repeat is not kept up either. Then the geometric midpoint \
         between the highest rate kept up and the lowest missed is run, {} times in all, each \
         halving the gap (the steps off the ladder in the table below), so a ceiling is known to \
         about ×{:.2}. A step is \
         **sustained** when its p99 is at most {limit:.0} ms, no healthy client lost a message, \
         no client was closed and all N were held; **kept up** when it is sustained and at least \
         {:.0} % of the asked broadcasts/s were done. A server's **ceiling** is its highest \
         sustained deliveries/s. The sweep took {secs:.0} s.\n\n\
         Ours runs three ways: rooms' history in memory (`--in-memory`), in the SQLite log (the \
         default; a fresh data directory) and in the Redis log on one node (`--redis`; a \
         `redis-server` of the run's own, without persistence). Every broadcast is answered \
         after it is stored and fanned out, and the load generator keeps at most \
         `--max-in-flight` ({}) requests open, so a store's answer latency also bounds the rate \
         it can be offered; the baselines answer as soon as the message is handed to \
         `tokio::sync::broadcast`.\n\n\
         Buffers: ours reads in {} B chunks and batches writes up to {} KiB (tungstenite's \
         `read_buffer_size` / `write_buffer_size`); *baseline* uses the same two sizes; \
         *baseline (axum defaults)* sets nothing, so tungstenite's defaults apply (128 KiB \
         read buffer, 128 KiB write batch). Both baselines batch up to 64 frames per flush, \
         like ours.\n",
        settings.phase.as_secs(),
        settings.first_deliveries_per_sec,
        saturation::STEP_FACTOR,
        settings.steps,
        saturation::REFINEMENTS,
        saturation::STEP_FACTOR.powf(0.5f64.powi(saturation::REFINEMENTS as i32)),
        saturation::KEPT_UP_SHARE * 100.0,
        settings.max_in_flight,
        crate::baseline_server::READ_BUFFER_BYTES,
        crate::baseline_server::WRITE_BUFFER_BYTES / 1024,
    );
    targets(md, sweeps, limit);
    for sweep in sweeps {
        let _ = writeln!(
            md,
            "![saturation at N = {0}]({1})\n",
            sweep.conns,
            chart_file(sweep.conns)
        );
    }
    steps_table(md, sweeps, limit);
}

/// The baseline the targets are judged against: the plain axum server as a user would write it,
/// with axum's default buffers (as in the issue). The same-buffers baseline is shown next to it.
const JUDGED_AGAINST: ServerKind = ServerKind::BaselineDefaults;

fn targets(md: &mut String, sweeps: &[Sweep], limit: f64) {
    md.push_str(
        "Targets (issue 15) are judged against the plain server as a user would write it, \
         *baseline (axum defaults)*; the ratios to *baseline* (same buffers as ours) are shown \
         next to them.\n\n\
         | N | server | ceiling deliveries/s | at broadcasts/s asked → done | CPU µs/delivery there | \
         ceiling / baseline (axum defaults) (≥ 1.3) | ceiling / baseline (same buffers) |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for sweep in sweeps {
        let judged = saturation::ceiling(sweep.steps(JUDGED_AGAINST), limit);
        let same = saturation::ceiling(sweep.steps(ServerKind::Baseline), limit);
        for (server, steps) in &sweep.runs {
            let best = saturation::ceiling(steps, limit);
            let value = best.map_or(0.0, |r| r.deliveries_per_sec);
            let vs_judged = ratio_text(value, judged);
            let vs_same = ratio_text(value, same);
            // Every row of ours is judged: the stores must stay inside the same numbers
            // (issue 15, item 4).
            let verdict = match server {
                ServerKind::Ours | ServerKind::OursSqlite | ServerKind::OursRedis => mark(
                    value > 0.0
                        && judged.is_none_or(|j| value >= MIN_CEILING_RATIO * j.deliveries_per_sec),
                ),
                _ => "",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} | {} | {} {} | {} |",
                sweep.conns,
                server.label(),
                value,
                best.map_or("none sustained".to_owned(), |r| format!(
                    "{:.1} → {:.1}",
                    r.rate_asked, r.broadcasts_per_sec_done
                )),
                best.map_or("–".to_owned(), |r| format!(
                    "{:.2}",
                    r.cpu_us_per_delivery
                )),
                vs_judged,
                verdict,
                vs_same,
            );
        }
    }
    md.push_str(
        "\nLatency at the highest rate that ours and the baseline both kept up with (the same \
         asked rate for every server; `–`: that server did not keep up there):\n\n\
         | N | against | broadcasts/s | p99 ours | p99 ours (SQLite log) | p99 ours (Redis log) | p99 that baseline | ours / baseline (≤ 1.5) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for sweep in sweeps {
        let ours = sweep.steps(ServerKind::Ours);
        for against in [JUDGED_AGAINST, ServerKind::Baseline] {
            let baseline = sweep.steps(against);
            let judged = against == JUDGED_AGAINST;
            let Some((a, b)) = saturation::highest_common(ours, baseline, limit) else {
                // Only a failure of ours if the baseline kept up with a step that ours did not.
                let baseline_kept_up = baseline.iter().any(|r| saturation::kept_up(r, limit));
                let _ = writeln!(
                    md,
                    "| {} | {} | no step both kept up with{} | | | | | {} |",
                    sweep.conns,
                    against.label(),
                    if baseline_kept_up {
                        ""
                    } else {
                        " (the baseline kept up with none)"
                    },
                    if judged && baseline_kept_up {
                        "❌"
                    } else {
                        "–"
                    }
                );
                continue;
            };
            // The stores' p99 at the same step, if they kept up with it.
            let store_p99 = |store: ServerKind| {
                sweep
                    .steps(store)
                    .iter()
                    .filter(|r| r.rate_asked == a.rate_asked && saturation::kept_up(r, limit))
                    .map(|r| r.p99_ms)
                    .min_by(f64::total_cmp)
                    .map_or("–".to_owned(), |p99| format!("{p99:.1} ms"))
            };
            let p99_ratio = ratio(a.p99_ms, b.p99_ms);
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} | {:.1} ms | {} | {} | {:.1} ms | {:.2} {} |",
                sweep.conns,
                against.label(),
                a.rate_asked,
                a.p99_ms,
                store_p99(ServerKind::OursSqlite),
                store_p99(ServerKind::OursRedis),
                b.p99_ms,
                p99_ratio,
                if judged {
                    mark(p99_ratio <= MAX_P99_RATIO)
                } else {
                    ""
                }
            );
        }
    }
    md.push('\n');
}

fn steps_table(md: &mut String, sweeps: &[Sweep], limit: f64) {
    md.push_str(
        "Every step:\n\n\
         | N | server | broadcasts/s asked → done | deliveries/s | p50 ms | p99 ms | max ms | lost | closed | server CPU µs/delivery | RSS busy MiB | step |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for sweep in sweeps {
        for (server, steps) in &sweep.runs {
            for r in steps {
                let verdict = if saturation::kept_up(r, limit) {
                    "kept up"
                } else if saturation::sustained(r, limit) {
                    "sustained (saturated)"
                } else {
                    "not sustained"
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.1} → {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {:.2} | {:.1} | {} |",
                    sweep.conns,
                    server.label(),
                    r.rate_asked,
                    r.broadcasts_per_sec_done,
                    r.deliveries_per_sec,
                    r.p50_ms,
                    r.p99_ms,
                    r.max_ms,
                    r.lost,
                    r.closed_clients,
                    r.cpu_us_per_delivery,
                    r.rss_busy_kib as f64 / 1024.0,
                    verdict
                );
            }
        }
    }
    md.push('\n');
}
