//! `POST /api/notify {"title", "body", "level"}`: a notification for every connection, which
//! the UI shows as a toast. Delivered exactly like a broadcast (through the lobby), so it is
//! numbered, kept in history, and resumed after a reconnect.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::api_error::ApiError;
use super::broadcast::{checked_body, publish_to_everyone, BroadcastReceipt};
use super::state::AppState;
use crate::actors::room::Post;
use crate::metrics::Metrics;
use crate::protocol::names::MAX_NAME_CHARS;
use crate::protocol::{Level, NotificationSource};

/// Longest title, in characters.
const MAX_TITLE_CHARS: usize = 4 * MAX_NAME_CHARS;

#[derive(Deserialize)]
pub struct NotifyRequest {
    title: String,
    body: String,
    #[serde(default)]
    level: Level,
}

pub async fn notify(
    State(app): State<Arc<AppState>>,
    body: Result<Json<NotifyRequest>, JsonRejection>,
) -> Result<Json<BroadcastReceipt>, ApiError> {
    let Json(request) = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "invalid_body",
            format!(
                "expected a JSON body {{\"title\": \"...\", \"body\": \"...\", \"level\": \"info|success|warning|error\"}}: {rejection}"
            ),
        )
    })?;
    let title = request.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_title",
            format!("the title needs 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    let post = Post::Notification {
        source: NotificationSource::Notify,
        title: title.to_owned(),
        text: checked_body(&request.body)?,
        level: request.level,
    };
    let receipt = publish_to_everyone(&app, post).await?;
    Metrics::count(&app.metrics.notifications);
    Ok(receipt)
}
