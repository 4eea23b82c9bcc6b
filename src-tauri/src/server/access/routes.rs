//! The access endpoints, for the page's "Share" panel and for tools. All of them are API paths,
//! so they want the token where the listener does, and they answer only on the main listener:
//! a device that joined through the share cannot move or stop it (**403** `not_here`).
//!
//! | endpoint | does |
//! |---|---|
//! | `GET /api/share` | `{addresses: [{address, interface}], sharing: null or {address, port, tls, url, join_url, fingerprint}}` |
//! | `POST /api/share` `{"address": "192.168.1.20", "tls": true}` | starts (or moves) the share; answers its status |
//! | `POST /api/share/stop` | stops it: `{"stopped": true}` (false when there was none) |
//! | `GET /api/share/qr.svg` | the join URL as an SVG QR code; 404 when not sharing |
//! | `POST /api/auth/rotate` | a new token: `{"token": "…"}`; connections that used the old one get 4003 |

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::share::{self, ShareError, ShareRequest};
use super::ListenerInfo;
use crate::server::api_error::ApiError;
use crate::server::state::AppState;

fn not_here() -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_here",
        "sharing is controlled from the machine that shares, not through the share",
    )
    .into_response()
}

fn is_shared(listener: &Option<Extension<Arc<ListenerInfo>>>) -> bool {
    listener.as_ref().is_some_and(|Extension(info)| info.shared)
}

pub async fn share_state(
    State(app): State<Arc<AppState>>,
    listener: Option<Extension<Arc<ListenerInfo>>>,
) -> Response {
    if is_shared(&listener) {
        return not_here();
    }
    let addresses = share::candidates(&app.config.access.share_addresses);
    let sharing = share::status(&app).await;
    Json(json!({ "addresses": addresses, "sharing": sharing })).into_response()
}

pub async fn share_start(
    State(app): State<Arc<AppState>>,
    listener: Option<Extension<Arc<ListenerInfo>>>,
    request: Result<Json<ShareRequest>, JsonRejection>,
) -> Response {
    if is_shared(&listener) {
        return not_here();
    }
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => return rejection.into_response(),
    };
    match share::start(&app, request).await {
        Ok(status) => Json(status).into_response(),
        Err(error) => {
            let (status, code) = match &error {
                ShareError::NotOffered(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_offered"),
                ShareError::Bind(..) => (StatusCode::CONFLICT, "cannot_listen"),
                ShareError::Tls(_) | ShareError::Token(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "cannot_share")
                }
            };
            tracing::warn!(%error, "could not start sharing");
            ApiError::new(status, code, error.to_string()).into_response()
        }
    }
}

pub async fn share_stop(
    State(app): State<Arc<AppState>>,
    listener: Option<Extension<Arc<ListenerInfo>>>,
) -> Response {
    if is_shared(&listener) {
        return not_here();
    }
    Json(json!({ "stopped": share::stop(&app).await })).into_response()
}

pub async fn share_qr(
    State(app): State<Arc<AppState>>,
    listener: Option<Extension<Arc<ListenerInfo>>>,
) -> Response {
    if is_shared(&listener) {
        return not_here();
    }
    let svg = share::status(&app)
        .await
        .and_then(|status| share::qr_svg(&status.join_url));
    match svg {
        Some(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            svg,
        )
            .into_response(),
        None => {
            ApiError::new(StatusCode::NOT_FOUND, "not_sharing", "nothing is shared").into_response()
        }
    }
}

pub async fn rotate(
    State(app): State<Arc<AppState>>,
    listener: Option<Extension<Arc<ListenerInfo>>>,
) -> Response {
    if is_shared(&listener) {
        return not_here();
    }
    match app.access.tokens.rotate() {
        Ok(token) => Json(json!({ "token": token })).into_response(),
        Err(error) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot_rotate",
            format!("the new token could not be saved: {error}; the old one stays valid"),
        )
        .into_response(),
    }
}
