//! Triggers broadcasts over HTTP at a target rate, as an open-loop load: request *i* is due at
//! `start + i / rate`, whatever happened to the previous ones, with a cap on requests in flight.
//! When the server is slower than the rate, requests wait for a free slot and the achieved
//! rate ("done") falls below the asked one, which is what the Python original showed (10/s
//! asked, 1.2/s done).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::loadgen::now_ns;

/// What the server answers to `/broadcast` (its `seq` is not needed here).
#[derive(Debug, Deserialize)]
pub struct Receipt {
    pub delivered_to: usize,
}

/// What one broadcast phase achieved.
#[derive(Debug, Default)]
pub struct BroadcastOutcome {
    pub asked: u64,
    /// Broadcasts the server accepted (answered 200 with a receipt).
    pub done: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    /// The smallest `delivered_to` among accepted broadcasts: every client should be in it.
    pub min_delivered_to: usize,
    /// When the first request left (nanoseconds since the Unix epoch).
    pub first_sent_ns: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
}

/// Sends one broadcast and returns the server's receipt.
pub async fn broadcast(
    http: &reqwest::Client,
    base_url: &str,
    text: &str,
) -> Result<Receipt, String> {
    let response = http
        .get(format!("{base_url}/broadcast"))
        .query(&[("message", text)])
        .send()
        .await
        .map_err(|error| format!("request: {error}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(format!("HTTP {status}: {body}"));
    }
    response
        .json::<Receipt>()
        .await
        .map_err(|error| format!("receipt: {error}"))
}

/// Broadcasts `t=<now>` at `rate` per second for `duration`, at most `max_in_flight` at a time.
pub async fn run(
    http: &reqwest::Client,
    base_url: &str,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
) -> BroadcastOutcome {
    let asked = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let outcome = Arc::new(Mutex::new(BroadcastOutcome {
        asked,
        min_delivered_to: usize::MAX,
        first_sent_ns: now_ns(),
        ..BroadcastOutcome::default()
    }));
    let start = Instant::now();
    let mut requests = Vec::with_capacity(asked as usize);
    for index in 0..asked {
        tokio::time::sleep_until(start + Duration::from_secs_f64(index as f64 / rate)).await;
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (http, base_url, outcome) = (http.clone(), base_url.to_owned(), Arc::clone(&outcome));
        requests.push(tokio::spawn(async move {
            let answer = broadcast(&http, &base_url, &format!("t={}", now_ns())).await;
            drop(slot);
            let mut outcome = outcome.lock().await;
            match answer {
                Ok(receipt) => {
                    outcome.done += 1;
                    outcome.min_delivered_to = outcome.min_delivered_to.min(receipt.delivered_to);
                }
                Err(error) => {
                    outcome.failed += 1;
                    outcome.first_error.get_or_insert(error);
                }
            }
        }));
    }
    for request in requests {
        let _ = request.await;
    }
    let mut outcome = std::mem::take(&mut *outcome.lock().await);
    outcome.elapsed = start.elapsed();
    if outcome.done == 0 {
        outcome.min_delivered_to = 0;
    }
    outcome
}
