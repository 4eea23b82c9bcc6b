//! The HTTP surface, in one table.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{middleware, Router};

use super::state::AppState;
use super::{
    about, broadcast, health, inspector, metrics_endpoint, notify, request_guard, static_ui,
    websocket,
};

pub fn router(app: Arc<AppState>) -> Router {
    let cors = app.policy.cors_layer();
    let router = Router::new();
    // Fault injection exists only in test builds (`--features test-hooks`).
    #[cfg(feature = "test-hooks")]
    let router = router.route("/debug/panic", post(super::debug::panic));
    router
        .route("/ws", get(websocket::upgrade))
        .route("/health", get(health::health))
        .route(
            "/broadcast",
            get(broadcast::broadcast_get).post(broadcast::broadcast_post),
        )
        .route("/api/notify", post(notify::notify))
        .route("/api/actors", get(inspector::actors))
        .route("/api/about", get(about::about))
        .route("/metrics", get(metrics_endpoint::metrics))
        .fallback(static_ui::serve_ui)
        .layer(middleware::from_fn_with_state(
            app.policy.clone(),
            request_guard::guard,
        ))
        .layer(cors)
        .with_state(app)
}
