//! `GET /api/rooms/{room}/history?after=SEQ&limit=N`: a room's stored frames as JSON, for tools.
//!
//! The answer is the same object as the WebSocket `history` frame (see
//! [`crate::protocol::history`]), read forward: the oldest kept frames with `seq > after`
//! (`after` defaults to 0), at most `limit` (default 50, at most 200) and 256 KiB of them. Follow
//! `has_more` by asking again with `after` = the last seq received. A room with no stored log
//! answers 404; a log that cannot be read right now, 503.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::api_error::ApiError;
use super::state::AppState;
use crate::protocol::history::{HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT};
use crate::protocol::names::validate_room_name;
use crate::room_log::history::{read_page, HistoryQuery};

#[derive(Deserialize)]
pub struct HistoryParams {
    after: Option<u64>,
    limit: Option<u64>,
}

pub async fn history(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("expected ?after=SEQ&limit=N with whole numbers: {rejection}"),
        )
    })?;
    let room = validate_room_name(&room)
        .map_err(|reason| ApiError::new(StatusCode::BAD_REQUEST, "invalid_room", reason))?;
    let limit = match params.limit {
        None => HISTORY_DEFAULT_LIMIT,
        Some(limit) if (1..=HISTORY_MAX_LIMIT as u64).contains(&limit) => {
            usize::try_from(limit).unwrap_or(HISTORY_MAX_LIMIT)
        }
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_limit",
                format!("limit must be 1 to {HISTORY_MAX_LIMIT}"),
            ))
        }
    };
    let query = HistoryQuery::After(params.after.unwrap_or(0));
    match read_page(app.store.as_ref(), &room, query, limit).await {
        Ok(Some(page)) => Ok(([(header::CONTENT_TYPE, "application/json")], page).into_response()),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_room",
            format!("#{room} has no stored history"),
        )),
        Err(error) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the history of #{room} cannot be read right now: {error}"),
        )),
    }
}
