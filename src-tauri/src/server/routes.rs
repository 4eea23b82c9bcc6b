//! The HTTP surface, in one table.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{middleware, Router};

use super::state::AppState;
use super::{
    about, access, broadcast, health, history, inspector, metrics_endpoint, notify, request_guard,
    static_ui, websocket,
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
        .route("/api/rooms/{room}/history", get(history::history))
        .route("/metrics", get(metrics_endpoint::metrics))
        .route(
            "/api/share",
            get(access::routes::share_state).post(access::routes::share_start),
        )
        .route("/api/share/stop", post(access::routes::share_stop))
        .route("/api/share/qr.svg", get(access::routes::share_qr))
        .route("/api/auth/rotate", post(access::routes::rotate))
        .fallback(static_ui::serve_ui)
        // Layers run outside in: CORS, then Host/Origin, then the access token.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            access::middleware::require,
        ))
        .layer(middleware::from_fn_with_state(
            app.policy.clone(),
            request_guard::guard,
        ))
        .layer(cors)
        .with_state(app)
}
