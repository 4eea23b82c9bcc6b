//! `/metrics` under real traffic: a real server on a real socket, WebSocket clients chatting,
//! HTTP broadcasts and a direct message; the exposition is read by a strict line-by-line checker
//! (`support/exposition.rs`) and by a parser that is not ours (prometheus-parse), in both formats
//! the endpoint speaks. Every series the hand-written exporter had keeps its name and labels, the
//! histograms are well formed (cumulative buckets, `+Inf` = `_count`), and their counts move
//! with the traffic by exactly what it caused.

mod support {
    pub mod exposition;
    pub mod ws_client;
}

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use support::exposition::{self, Exposition, Format};
use support::ws_client::{start_server, Client, PATIENCE};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every series of the hand-written exporter (the 0.0.4 text format), with its type.
const OLD_SERIES: &[(&str, &str)] = &[
    ("trw_websockets", "gauge"),
    ("trw_connection_actors", "gauge"),
    ("trw_rooms", "gauge"),
    ("trw_connections_opened_total", "counter"),
    ("trw_connections_refused_total", "counter"),
    ("trw_messages_in_total", "counter"),
    ("trw_messages_out_total", "counter"),
    ("trw_chat_messages_total", "counter"),
    ("trw_direct_messages_total", "counter"),
    ("trw_broadcasts_total", "counter"),
    ("trw_notifications_total", "counter"),
    ("trw_queue_overflows_total", "counter"),
    ("trw_rate_limited_total", "counter"),
    ("trw_room_restarts_total", "counter"),
    ("trw_posts_refused_total", "counter"),
    ("trw_disconnects_total", "counter"),
    ("trw_http_connections", "gauge"),
    ("trw_http_pending_connections", "gauge"),
    ("trw_http_closes_total", "counter"),
];

const DISCONNECT_REASONS: &[&str] = &[
    "client_closed",
    "client_dropped",
    "idle_timeout",
    "slow_consumer",
    "flooding",
    "message_too_big",
    "actor_failed",
    "server_shutdown",
    "replaced",
    "unauthorized",
];

const HTTP_CLOSE_REASONS: &[&str] = &[
    "header_timeout",
    "idle_timeout",
    "request_timeout",
    "pending_cap",
    "per_peer_cap",
    "shutdown",
];

const CALLS: &[&str] = &[
    "http_to_room",
    "http_to_supervisor",
    "connection_to_directory",
];

/// `GET /metrics` with `accept`; returns the content type and the body.
async fn scrape_raw(addr: SocketAddr, accept: Option<&str>) -> (String, String) {
    let mut request = reqwest::Client::new().get(format!("http://{addr}/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (content_type, response.text().await.expect("a text body"))
}

/// Scrapes the 0.0.4 text format and reads it with both parsers.
async fn scrape(addr: SocketAddr) -> Exposition {
    let (content_type, body) = scrape_raw(addr, None).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let strict = exposition::parse(&body, Format::PrometheusText)
        .unwrap_or_else(|error| panic!("{error}\n{body}"));
    cross_check_with_prometheus_parse(&body, &strict);
    strict
}

/// prometheus-parse skips lines it cannot read: it must have read every sample line, and agree
/// on every value (buckets included).
fn cross_check_with_prometheus_parse(body: &str, strict: &Exposition) {
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_owned())))
        .expect("prometheus-parse reads it");
    let mut read = 0;
    for sample in &scrape.samples {
        let labels: Vec<(&str, &str)> = sample
            .labels
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        match &sample.value {
            prometheus_parse::Value::Histogram(buckets) => {
                for bucket in buckets {
                    read += 1;
                    let le = if bucket.less_than == f64::INFINITY {
                        "+Inf".to_owned()
                    } else {
                        strict_le(
                            strict,
                            &format!("{}_bucket", sample.metric),
                            &labels,
                            bucket.less_than,
                        )
                    };
                    let mut with_le = labels.clone();
                    with_le.push(("le", &le));
                    assert_eq!(
                        strict.value(&format!("{}_bucket", sample.metric), &with_le),
                        bucket.count,
                        "{} {labels:?} le={le}",
                        sample.metric
                    );
                }
            }
            prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Untyped(value) => {
                read += 1;
                assert_eq!(
                    strict.value(&sample.metric, &labels),
                    *value,
                    "{} {labels:?}",
                    sample.metric
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        read,
        strict.sample_count(),
        "prometheus-parse read every sample line"
    );
}

/// The `le` text the exposition used for the bound prometheus-parse read as `bound`.
fn strict_le(strict: &Exposition, name: &str, labels: &[(&str, &str)], bound: f64) -> String {
    strict
        .families
        .iter()
        .flat_map(|family| &family.samples)
        .filter(|sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(value))
        })
        .filter_map(|sample| sample.labels.get("le"))
        .find(|le| le.parse::<f64>().ok() == Some(bound))
        .cloned()
        .unwrap_or_else(|| panic!("no bucket le={bound} for {name}"))
}

fn count(exposition: &Exposition, histogram: &str, labels: &[(&str, &str)]) -> f64 {
    exposition.value(&format!("{histogram}_count"), labels)
}

/// Polls `/metrics` until `ready` holds (writes are counted after the flush, which may come a
/// moment after the client read the frame).
async fn scrape_until(addr: SocketAddr, ready: impl Fn(&Exposition) -> bool) -> Exposition {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let exposition = scrape(addr).await;
        if ready(&exposition) || tokio::time::Instant::now() > deadline {
            return exposition;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_series_keeps_its_name_and_the_histograms_follow_the_traffic() {
    let server = start_server().await;
    let addr = server.local_addr();
    let before = scrape(addr).await;

    for (name, kind) in OLD_SERIES {
        assert_eq!(&before.family(name).kind, kind, "{name}");
    }
    for reason in DISCONNECT_REASONS {
        assert_eq!(
            before.value("trw_disconnects_total", &[("reason", reason)]),
            0.0
        );
    }
    for reason in HTTP_CLOSE_REASONS {
        assert_eq!(
            before.value("trw_http_closes_total", &[("reason", reason)]),
            0.0
        );
    }
    for (histogram, unit) in [
        ("trw_post_fanout_seconds", "seconds"),
        ("trw_post_delivery_seconds", "seconds"),
        ("trw_outbox_depth_frames", "frames"),
        ("trw_actor_call_seconds", "seconds"),
    ] {
        assert_eq!(before.family(histogram).kind, "histogram", "{unit}");
    }
    for call in CALLS {
        assert_eq!(
            count(&before, "trw_actor_call_seconds", &[("call", call)]),
            0.0
        );
    }

    // The traffic: three clients, five chats each, four broadcasts, one direct message.
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(addr).await);
    }
    for round in 0..5 {
        for client in &mut clients {
            client.send_chat(&format!("chat {round}")).await;
        }
    }
    for index in 0..4 {
        let status = reqwest::get(format!("http://{addr}/broadcast?message=b{index}"))
            .await
            .expect("GET /broadcast")
            .status();
        assert_eq!(status, 200);
    }
    const POSTS: f64 = 3.0 * 5.0 + 4.0;
    for client in &mut clients {
        for _ in 0..19 {
            client.next_numbered().await;
        }
    }
    let to = clients[1].id;
    clients[0]
        .send_json(json!({"type": "direct", "to": to, "text": "psst"}))
        .await;
    clients[1].next_of_type("direct").await;

    let posts_before = count(&before, "trw_post_delivery_seconds", &[]);
    let after = scrape_until(addr, |now| {
        count(now, "trw_post_delivery_seconds", &[]) >= posts_before + POSTS
            && now.value("trw_direct_messages_total", &[]) >= 1.0
    })
    .await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };

    assert_eq!(after.value("trw_websockets", &[]), 3.0);
    assert_eq!(after.value("trw_connection_actors", &[]), 3.0);
    assert_eq!(delta("trw_connections_opened_total", &[]), 3.0);
    assert_eq!(delta("trw_chat_messages_total", &[]), 15.0);
    assert_eq!(delta("trw_broadcasts_total", &[]), 4.0);
    assert_eq!(delta("trw_direct_messages_total", &[]), 1.0);
    assert!(delta("trw_messages_in_total", &[]) >= 16.0);
    assert!(delta("trw_messages_out_total", &[]) >= 3.0 * POSTS);

    // Each stored post was fanned out once, and reached its last recipient once.
    assert_eq!(delta("trw_post_fanout_seconds_count", &[]), POSTS);
    assert_eq!(delta("trw_post_delivery_seconds_count", &[]), POSTS);
    assert!(delta("trw_post_fanout_seconds_sum", &[]) > 0.0);
    assert!(
        after.value("trw_post_delivery_seconds_sum", &[])
            >= after.value("trw_post_fanout_seconds_sum", &[]),
        "a post's way to its last write includes its fan-out"
    );
    // Every frame queued for a client was measured: at least the 19 posts × 3 members, and the
    // depth of a queue holding a frame is at least 1.
    let depths = delta("trw_outbox_depth_frames_count", &[]);
    assert!(depths >= 3.0 * POSTS, "{depths}");
    assert!(delta("trw_outbox_depth_frames_sum", &[]) >= depths);
    assert_eq!(
        delta("trw_outbox_depth_frames_bucket", &[("le", "+Inf")]),
        depths
    );
    // One timed call per broadcast, per upgrade, and at least the direct message's lookup.
    let calls = |call: &str| {
        count(&after, "trw_actor_call_seconds", &[("call", call)])
            - count(&before, "trw_actor_call_seconds", &[("call", call)])
    };
    assert_eq!(calls("http_to_room"), 4.0);
    assert_eq!(calls("http_to_supervisor"), 3.0);
    assert!(calls("connection_to_directory") >= 1.0);

    // A disconnect moves its reason's counter.
    let leaving = clients.pop().expect("three clients");
    leaving.close().await;
    let closed = scrape_until(addr, |now| {
        now.value("trw_disconnects_total", &[("reason", "client_closed")]) >= 1.0
    })
    .await;
    assert_eq!(
        closed.value("trw_disconnects_total", &[("reason", "client_closed")]),
        1.0
    );

    // OpenMetrics, when asked for, is strict OpenMetrics with the same numbers.
    let (content_type, body) = scrape_raw(
        addr,
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert_eq!(content_type, OPENMETRICS);
    let open = exposition::parse(&body, Format::OpenMetrics)
        .unwrap_or_else(|error| panic!("{error}\n{body}"));
    assert_eq!(open.family("trw_chat_messages").kind, "counter");
    assert_eq!(open.value("trw_chat_messages_total", &[]), 15.0);
    assert_eq!(
        open.value("trw_broadcasts_total", &[]),
        after.value("trw_broadcasts_total", &[])
    );
    assert!(body.contains("# UNIT trw_post_delivery_seconds seconds\n"));

    server.shutdown().await;
}

/// The checker is only worth something if it rejects what it should.
#[test]
fn the_checker_rejects_malformed_expositions() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n\
                # TYPE h histogram\nh_sum 3\nh_count 2\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n";
    exposition::parse(good, Format::PrometheusText).expect("well formed");
    for (bad, why) in [
        ("a_total 1\n", "sample before TYPE"),
        ("# TYPE a counter\na{x=\"1} 1\n", "unterminated label"),
        ("# TYPE a counter\na{x=\"\\t\"} 1\n", "bad escape"),
        ("# TYPE a counter\na{1x=\"y\"} 1\n", "bad label name"),
        ("# TYPE a counter\na one\n", "bad value"),
        ("# TYPE a counter\na 1\na 2\n", "duplicate series"),
        ("# TYPE a counter\n# TYPE a counter\n", "second TYPE"),
        ("# TYPE a counter\nb 1\n", "sample of another family"),
        ("# TYPE a counter\na 1\n\n", "empty line"),
        ("# a comment\n", "stray comment"),
        ("# TYPE h histogram\nh_sum 1\nh_count 2\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n", "not cumulative"),
        ("# TYPE h histogram\nh_sum 1\nh_count 3\nh_bucket{le=\"+Inf\"} 2\n", "+Inf is not the count"),
        ("# TYPE h histogram\nh_sum 1\nh_count 1\nh_bucket{le=\"1\"} 1\n", "no +Inf"),
        ("# TYPE h histogram\nh_sum 1\nh_count 1\nh_bucket 1\n", "bucket without le"),
    ] {
        assert!(
            exposition::parse(bad, Format::PrometheusText).is_err(),
            "accepted ({why}): {bad:?}"
        );
    }
    let open = "# TYPE a counter\na_total 1\n# EOF\n";
    exposition::parse(open, Format::OpenMetrics).expect("well formed OpenMetrics");
    assert!(
        exposition::parse("# TYPE a counter\na_total 1\n", Format::OpenMetrics).is_err(),
        "no EOF"
    );
    assert!(
        exposition::parse("# TYPE a counter\na 1\n# EOF\n", Format::OpenMetrics).is_err(),
        "no _total"
    );
    assert!(
        exposition::parse("# EOF\na 1\n", Format::OpenMetrics).is_err(),
        "after EOF"
    );
}
