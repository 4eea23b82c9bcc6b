//! `GET /metrics`: Prometheus text (0.0.4), or OpenMetrics when the scraper asks for it in
//! `Accept` (as Prometheus does). The series live in [`crate::metrics::Metrics`] (encoded by
//! prometheus-client); the gauges are read here, from their sources of truth, at scrape time.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;

use super::state::AppState;
use crate::metrics::{Exposition, ScrapeGauges};

pub async fn metrics(State(app): State<Arc<AppState>>, headers: HeaderMap) -> impl IntoResponse {
    let format = Exposition::negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok()),
    );
    let gauges = ScrapeGauges {
        websockets: app.sockets.get(),
        connection_actors: app.active_actors(),
        rooms: super::inspector::room_count(&app).await,
        http_connections: app.http.open(),
        http_pending_connections: app.http.pending(),
    };
    let body = app.metrics.render(gauges, format);
    ([(header::CONTENT_TYPE, format.content_type())], body)
}
