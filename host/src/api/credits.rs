//! `GET /api/credits` (the caller's balance and recent usage) and `POST /api/admin/credits`
//! (an operator grants or takes credits).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::spec::{Always, ErrorBody, Operator, Signed};
use super::{Admin, ApiError, AppState, Query};
use crate::auth::User;
use crate::credits::LedgerEntry;

/// Recent ledger lines returned with a balance.
const RECENT: i64 = 50;

/// The most micro-credits an account holds (a billion credits): far above any real balance, and
/// far enough below 2^63 that no balance or ledger sum in the database overflows (a fuzzer's
/// grant of 2^63 - 2 made the database refuse the write, answered as "unavailable").
const MAX_BALANCE: i64 = 1_000_000_000_000_000;

/// A balance in micro-credits, with the latest movements first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Balance {
    user_id: String,
    balance: i64,
    recent: Vec<LedgerEntry>,
}

#[utoipa::path(get, path = "/api/credits", tag = "credits", security(("bearer" = [])),
    responses((status = 200, description = "The caller's balance and its 50 latest movements", body = Balance), Signed, Always))]
pub(crate) async fn mine(State(state): State<AppState>, user: User) -> Result<Json<Balance>, ApiError> {
    let balance = state.credits.balance(&user.id).await?;
    let recent = state.credits.recent(&user.id, RECENT).await?;
    Ok(Json(Balance { user_id: user.id, balance, recent }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Grant {
    /// 1 to 200 characters; a Supabase user's uuid when the frontend's tables keep the credits.
    user_id: String,
    /// Micro-credits to add, or (negative) to take; never zero.
    amount: i64,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Granted {
    user_id: String,
    /// The balance after the grant.
    balance: i64,
}

#[utoipa::path(post, path = "/api/admin/credits", tag = "credits", security(("bearer" = [])), request_body = Grant,
    responses(
        (status = 200, body = Granted),
        (status = 400, description = "`invalid_json`, `invalid_user`, `invalid_amount` (zero, or a balance past 10^15)", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn grant(State(state): State<AppState>, admin: Admin, body: Bytes) -> Result<Json<Granted>, ApiError> {
    let grant: Grant = super::parse_json(&body, r#"{"userId", "amount", "reason"}"#)?;
    admin.note(format!("{} micro-credits to {:?}: {:?}", grant.amount, grant.user_id, grant.reason));
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
    if grant.amount.unsigned_abs() > MAX_BALANCE.unsigned_abs() {
        return Err(ApiError::bad_request(
            "invalid_amount",
            format!("amount must be at most {MAX_BALANCE} either way"),
        ));
    }
    let reason = grant.reason.unwrap_or_else(|| "admin grant".into());
    // A user granted credits before their first visit starts where that visit would have.
    let starting = if grant.user_id == crate::auth::ANONYMOUS { 0 } else { state.starting_credits };
    state.credits.ensure_account(&grant.user_id, None, starting).await?;
    // Both are at most MAX_BALANCE: the sum cannot overflow.
    if state.credits.balance(&grant.user_id).await? + grant.amount > MAX_BALANCE {
        return Err(ApiError::bad_request(
            "invalid_amount",
            format!("the balance would pass {MAX_BALANCE} micro-credits, the most an account holds"),
        ));
    }
    let balance = state.credits.grant(&grant.user_id, grant.amount, &reason).await?;
    Ok(Json(Granted { user_id: grant.user_id, balance }))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageQuery {
    user_id: String,
    /// Ledger lines, 1 to 1000 (200 by default).
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Usage {
    user_id: String,
    balance: i64,
    /// Micro-credits the listed lines spent (grants left out).
    spent_in_listed: i64,
    ledger: Vec<LedgerEntry>,
}

/// `GET /api/admin/usage?userId=…`: a user's balance and ledger, for an operator.
#[utoipa::path(get, path = "/api/admin/usage", tag = "credits", security(("bearer" = [])), params(UsageQuery),
    responses(
        (status = 200, body = Usage),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        Operator, Always,
    ))]
pub(crate) async fn usage(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<UsageQuery>,
) -> Result<Json<Usage>, ApiError> {
    let limit = query.limit.unwrap_or(200).clamp(1, 1000);
    let balance = state.credits.balance(&query.user_id).await?;
    let ledger = state.credits.recent(&query.user_id, limit).await?;
    let spent: i64 = ledger.iter().filter(|e| e.kind != "grant").map(|e| e.amount).sum();
    Ok(Json(Usage { user_id: query.user_id, balance, spent_in_listed: -spent, ledger }))
}
