//! `GET /api/credits` (the caller's balance and recent usage) and `POST /api/admin/credits`
//! (an operator grants or takes credits).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, AppState};
use crate::auth::User;

/// Recent ledger lines returned with a balance.
const RECENT: i64 = 50;

pub(crate) async fn mine(State(state): State<AppState>, user: User) -> Result<Json<Value>, ApiError> {
    let balance = state.credits.balance(&user.id).await?;
    let recent = state.credits.recent(&user.id, RECENT).await?;
    Ok(Json(json!({ "userId": user.id, "balance": balance, "recent": recent })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Grant {
    user_id: String,
    amount: i64,
    #[serde(default)]
    reason: Option<String>,
}

pub(crate) async fn grant(State(state): State<AppState>, _admin: Admin, body: Bytes) -> Result<Json<Value>, ApiError> {
    let grant: Grant = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("expected {{\"userId\", \"amount\", \"reason\"}}: {e}"))
    })?;
    if grant.user_id.trim().is_empty() || grant.user_id.len() > 200 {
        return Err(ApiError::bad_request("invalid_user", "userId must be 1 to 200 characters"));
    }
    if !state.credits.holds_accounts_for(&grant.user_id) {
        return Err(ApiError::bad_request(
            "invalid_user",
            "the frontend's credits are kept for Supabase user ids (uuids)",
        ));
    }
    if grant.amount == 0 {
        return Err(ApiError::bad_request("invalid_amount", "amount must not be zero"));
    }
    let reason = grant.reason.unwrap_or_else(|| "admin grant".into());
    // A user granted credits before their first visit starts where that visit would have.
    let starting = if grant.user_id == crate::auth::ANONYMOUS { 0 } else { state.starting_credits };
    state.credits.ensure_account(&grant.user_id, None, starting).await?;
    let balance = state.credits.grant(&grant.user_id, grant.amount, &reason).await?;
    Ok(Json(json!({ "userId": grant.user_id, "balance": balance })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageQuery {
    user_id: String,
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /api/admin/usage?userId=…`: a user's balance and ledger, for an operator.
pub(crate) async fn usage(
    State(state): State<AppState>,
    _admin: Admin,
    axum::extract::Query(query): axum::extract::Query<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(200).clamp(1, 1000);
    let balance = state.credits.balance(&query.user_id).await?;
    let ledger = state.credits.recent(&query.user_id, limit).await?;
    let spent: i64 = ledger.iter().filter(|e| e.kind != "grant").map(|e| e.amount).sum();
    Ok(Json(json!({ "userId": query.user_id, "balance": balance, "spentInListed": -spent, "ledger": ledger })))
}
