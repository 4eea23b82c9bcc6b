//! `GET /broadcast?message=TEXT` and `POST /broadcast {"message": TEXT}`: send TEXT to everyone,
//! as a `notification` frame numbered and kept by the lobby.
//!
//! This is the bridge from the request/response world into the actor world. The handler does
//! not touch any socket: it *calls* the room actor (a message with a reply port) and awaits the
//! answer with a timeout, so a stuck actor turns into a 503, never into a hung request.
//!
//! **200 means stored.** The lobby answers only after its log stored the notification (and it
//! was fanned out); a post the log could not store gets 503 and reached nobody. If the lobby was
//! restarted since the last request, the send fails and the handler asks the directory for the
//! lobby's new address, once.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use ractor::rpc::CallResult;
use serde::{Deserialize, Serialize};

use super::api_error::ApiError;
use super::state::AppState;
use crate::actors::room::{PendingPost, Post, RoomMsg, LOBBY};
use crate::metrics::{ActorCall, Metrics};
use crate::protocol::{Level, NotificationSource, MAX_TEXT_BYTES};

#[derive(Deserialize)]
pub struct BroadcastRequest {
    message: String,
}

#[derive(Serialize)]
pub struct BroadcastReceipt {
    delivered_to: usize,
    seq: u64,
}

pub async fn broadcast_get(
    State(app): State<Arc<AppState>>,
    query: Result<Query<BroadcastRequest>, QueryRejection>,
) -> Result<Json<BroadcastReceipt>, ApiError> {
    let Query(request) = query.map_err(|_| missing_message())?;
    broadcast(&app, request.message).await
}

pub async fn broadcast_post(
    State(app): State<Arc<AppState>>,
    body: Result<Json<BroadcastRequest>, JsonRejection>,
) -> Result<Json<BroadcastReceipt>, ApiError> {
    let Json(request) = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "invalid_body",
            format!("expected a JSON body {{\"message\": \"...\"}}: {rejection}"),
        )
    })?;
    broadcast(&app, request.message).await
}

fn missing_message() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "missing_message",
        "add the text to send: /broadcast?message=TEXT",
    )
}

async fn broadcast(app: &AppState, message: String) -> Result<Json<BroadcastReceipt>, ApiError> {
    let text = checked_body(&message)?;
    let post = Post::Notification {
        source: NotificationSource::Broadcast,
        title: "Broadcast".to_owned(),
        text,
        level: Level::Info,
    };
    let receipt = publish_to_everyone(app, post).await?;
    Metrics::count(&app.metrics.broadcasts);
    Ok(receipt)
}

/// A notification text: not empty, not longer than a chat message may be.
pub(super) fn checked_body(text: &str) -> Result<String, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_message",
            "the message is empty",
        ));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_long",
            format!(
                "the message is {} bytes; the limit is {MAX_TEXT_BYTES}",
                text.len()
            ),
        ));
    }
    Ok(text.to_owned())
}

/// Posts to the lobby, which every connection is in and none can leave, and waits for the
/// receipt: the request/response side calls into the actor side, with a timeout.
pub(super) async fn publish_to_everyone(
    app: &AppState,
    post: Post,
) -> Result<Json<BroadcastReceipt>, ApiError> {
    for _attempt in 0..2 {
        let Some(lobby) = app.lobby().await else {
            return Err(unavailable("the lobby is not running"));
        };
        let timer = app.metrics.call_timer(ActorCall::HttpToRoom);
        let answer = lobby
            .call(
                |reply| RoomMsg::Post(PendingPost::http(LOBBY.to_owned(), post.clone(), reply)),
                Some(app.config.actor_call_timeout),
            )
            .await;
        drop(timer);
        match answer {
            Ok(CallResult::Success(Ok(receipt))) => {
                return Ok(Json(BroadcastReceipt {
                    delivered_to: receipt.delivered_to,
                    seq: receipt.seq,
                }))
            }
            Ok(CallResult::Success(Err(refused))) => {
                return Err(unavailable(&format!(
                    "the broadcast was not stored and reached nobody: {}",
                    refused.reason
                )))
            }
            Ok(CallResult::Timeout) => {
                return Err(unavailable("the lobby did not answer in time"))
            }
            Ok(CallResult::SenderError) => {
                return Err(unavailable(
                    "the lobby restarted while handling the broadcast; it may or may not have been stored",
                ))
            }
            // The lobby is gone (restarting): ask for its new address and try once more.
            Err(_) => app.forget_lobby(&lobby),
        }
    }
    Err(unavailable("the lobby is restarting; try again"))
}

fn unavailable(message: &str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
}
