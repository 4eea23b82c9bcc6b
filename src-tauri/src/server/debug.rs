//! `POST /debug/panic`: fault injection for tests and outside tools. Compiled only with the
//! `test-hooks` feature, so no release build has it (`docs/TESTING.md`).
//!
//! `{"room": "lobby"}` makes that room's actor panic (the supervisor restarts it from its log);
//! `{"connection": 7}` makes connection 7's actor panic (that client gets 1011). Answers **202**
//! once the panic is on its way, **404** if there is no such actor.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use ractor::rpc::CallResult;
use serde::Deserialize;

use super::api_error::ApiError;
use super::state::AppState;
use crate::actors::supervisor::{PanicTarget, SupervisorMsg};
use crate::protocol::names::validate_room_name;

#[derive(Deserialize)]
#[serde(untagged)]
pub enum PanicRequest {
    Room { room: String },
    Connection { connection: u64 },
}

pub async fn panic(
    State(app): State<Arc<AppState>>,
    body: Result<Json<PanicRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "invalid_body",
            format!(r#"expected {{"room": "NAME"}} or {{"connection": ID}}: {rejection}"#),
        )
    })?;
    let target = match request {
        PanicRequest::Room { room } => PanicTarget::Room(
            validate_room_name(&room)
                .map_err(|reason| ApiError::new(StatusCode::BAD_REQUEST, "invalid_room", reason))?,
        ),
        PanicRequest::Connection { connection } => PanicTarget::Connection(connection),
    };
    if inject(&app, target).await {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no running actor matches",
        ))
    }
}

/// Asks the supervisor to make `target` panic; true if it exists.
pub async fn inject(app: &AppState, target: PanicTarget) -> bool {
    let answer = app
        .supervisor
        .call(
            |reply| SupervisorMsg::InjectPanic { target, reply },
            Some(app.config.actor_call_timeout),
        )
        .await;
    matches!(answer, Ok(CallResult::Success(true)))
}
