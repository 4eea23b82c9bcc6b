use std::sync::Arc;

use super::*;

fn gauges() -> ScrapeGauges {
    ScrapeGauges {
        websockets: 3,
        connection_actors: 3,
        rooms: 1,
        http_connections: 7,
        http_pending_connections: 2,
    }
}

#[test]
fn renders_every_series_with_its_old_name_in_the_text_format() {
    let metrics = Metrics::new();
    Metrics::count(&metrics.broadcasts);
    metrics.count_disconnect(DisconnectReason::SlowConsumer);
    metrics.count_http_close(HttpCloseReason::HeaderTimeout);
    metrics.count_http_close(HttpCloseReason::HeaderTimeout);
    let text = metrics.render(gauges(), Exposition::PrometheusText);
    for line in [
        "# TYPE trw_websockets gauge",
        "trw_websockets 3",
        "trw_connection_actors 3",
        "trw_rooms 1",
        "# TYPE trw_broadcasts_total counter",
        "trw_broadcasts_total 1",
        "trw_disconnects_total{reason=\"slow_consumer\"} 1",
        "trw_disconnects_total{reason=\"client_closed\"} 0",
        "trw_http_connections 7",
        "trw_http_pending_connections 2",
        "trw_http_closes_total{reason=\"header_timeout\"} 2",
        "trw_http_closes_total{reason=\"per_peer_cap\"} 0",
        "# TYPE trw_post_fanout_seconds histogram",
        "trw_outbox_depth_frames_bucket{le=\"+Inf\"} 0",
        "trw_actor_call_seconds_count{call=\"http_to_room\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(!text.contains("# EOF"), "OpenMetrics only");
}

#[test]
fn openmetrics_ends_with_eof_and_names_counters_without_total() {
    let metrics = Metrics::new();
    Metrics::count(&metrics.chat_messages);
    let text = metrics.render(gauges(), Exposition::OpenMetrics);
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE trw_chat_messages counter\n"));
    assert!(text.contains("\ntrw_chat_messages_total 1\n"));
    assert!(text.contains("# UNIT trw_post_delivery_seconds seconds\n"));
}

#[test]
fn the_format_follows_the_accept_header() {
    assert_eq!(Exposition::negotiate(None), Exposition::PrometheusText);
    assert_eq!(
        Exposition::negotiate(Some("*/*")),
        Exposition::PrometheusText
    );
    let prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    assert_eq!(
        Exposition::negotiate(Some(prometheus)),
        Exposition::OpenMetrics
    );
}

#[tokio::test]
async fn timed_calls_land_in_their_own_series() {
    let metrics = Metrics::new();
    let timer = metrics.call_timer(ActorCall::ConnectionToDirectory);
    let answer = async { 42 }.await;
    drop(timer);
    assert_eq!(answer, 42);
    let text = metrics.render(gauges(), Exposition::PrometheusText);
    assert!(text.contains("trw_actor_call_seconds_count{call=\"connection_to_directory\"} 1\n"));
    assert!(text.contains("trw_actor_call_seconds_count{call=\"http_to_room\"} 0\n"));
}

#[test]
fn a_post_is_timed_when_its_last_copy_goes() {
    let metrics = Metrics::new();
    let post = PostInFlight::start(Instant::now(), &metrics.post_delivery);
    let copies = [Arc::clone(&post), Arc::clone(&post)];
    drop(post);
    let count = || {
        let text = metrics.render(gauges(), Exposition::PrometheusText);
        text.lines()
            .find_map(|line| line.strip_prefix("trw_post_delivery_seconds_count "))
            .map(str::to_owned)
    };
    let [first, second] = copies;
    drop(first);
    assert_eq!(count().as_deref(), Some("0"), "one copy still queued");
    drop(second);
    assert_eq!(count().as_deref(), Some("1"));
}
