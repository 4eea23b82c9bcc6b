//! `GET /metrics`: Prometheus text format. Counters come from [`crate::metrics::Metrics`];
//! the gauges are read from their sources of truth at scrape time.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::state::AppState;

pub async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let rooms = super::inspector::room_count(&app).await;
    let mut body = app
        .metrics
        .render(app.sockets.get(), app.active_actors(), rooms);
    body.push_str(
        &app.metrics
            .render_http_connections(app.http.open(), app.http.pending()),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
