//! The credit tables: each user's balance (`users`) and every movement of it (`credit_ledger`).

use crate::db::{Database, DbError, now_ms};

/// One line of a user's recent usage.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LedgerEntry {
    /// `grant`, `deduction`, `refund`, …
    pub(crate) kind: String,
    /// Micro-credits; negative when spent.
    pub(crate) amount: i64,
    pub(crate) run_id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) prompt_tokens: Option<i64>,
    pub(crate) completion_tokens: Option<i64>,
    pub(crate) reason: Option<String>,
    pub(crate) created_at: i64,
}

/// Creates the user on first sight; later calls change nothing.
pub(super) async fn ensure_user(
    db: &Database,
    id: &str,
    email: Option<&str>,
    starting_balance: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO users (id, email, balance, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(email)
    .bind(starting_balance)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

pub(super) async fn balance(db: &Database, user: &str) -> Result<i64, DbError> {
    let balance: Option<i64> =
        sqlx::query_scalar("SELECT balance FROM users WHERE id = $1").bind(user).fetch_optional(db.pool()).await?;
    Ok(balance.unwrap_or(0))
}

/// Takes `amount` from the balance only if the balance covers it, and records the reservation as
/// held by `instance`; returns the reservation's id.
pub(super) async fn debit_if_covered(
    db: &Database,
    user: &str,
    run: &str,
    model: &str,
    amount: i64,
    instance: &str,
) -> Result<Option<String>, DbError> {
    let mut tx = db.pool().begin().await?;
    let taken = sqlx::query("UPDATE users SET balance = balance - $1 WHERE id = $2 AND balance >= $1")
        .bind(amount)
        .bind(user)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !taken {
        return Ok(None);
    }
    ledger_insert(&mut tx, user, Some(run), "reserve", -amount, Some(model), None, None, None).await?;
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO credit_reservations (id, user_id, run_id, model, amount, instance_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(user)
    .bind(run)
    .bind(model)
    .bind(amount)
    .bind(instance)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Credits held for a model call, as `credit_reservations` keeps them.
#[derive(sqlx::FromRow)]
struct HeldReservation {
    id: String,
    user_id: String,
    run_id: Option<String>,
    model: Option<String>,
    amount: i64,
}

/// Returns every reservation held by a host that is no longer alive (no heartbeat since
/// `cutoff`, or no row at all): each back on its user's balance with a `return` line. A
/// reservation is taken out of the table first, in the same transaction: if its host settled it
/// meanwhile, there is nothing to return.
pub(super) async fn return_orphans(db: &Database, cutoff: i64) -> Result<usize, DbError> {
    let sql = format!(
        "SELECT id, user_id, run_id, model, amount FROM credit_reservations WHERE {}",
        crate::instances::not_live("instance_id", 1)
    );
    let orphans: Vec<HeldReservation> = sqlx::query_as(&sql).bind(cutoff).fetch_all(db.pool()).await?;
    let mut returned = 0;
    for HeldReservation { id, user_id: user, run_id: run, model, amount } in orphans {
        let mut tx = db.pool().begin().await?;
        let gone = sqlx::query("DELETE FROM credit_reservations WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 1 {
            sqlx::query("UPDATE users SET balance = balance + $1 WHERE id = $2")
                .bind(amount)
                .bind(&user)
                .execute(&mut *tx)
                .await?;
            let reason = "returned: the host holding this reservation stopped before the call ended";
            ledger_insert(&mut tx, &user, run.as_deref(), "return", amount, model.as_deref(), None, None, Some(reason))
                .await?;
            returned += 1;
        }
        tx.commit().await?;
    }
    Ok(returned)
}

/// Settles a reservation of `reserved` against the real `cost`: the difference goes back to
/// the balance, or, when the call cost more, is taken from it down to zero at most.
#[allow(clippy::too_many_arguments)]
pub(super) async fn settle(
    db: &Database,
    user: &str,
    run: &str,
    model: &str,
    reservation: (&str, i64),
    cost: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
) -> Result<(), DbError> {
    let (id, reserved) = reservation;
    let mut tx = db.pool().begin().await?;
    // Out of the table first: if another host took this one for dead and returned the
    // reservation, the call's cost is taken from the balance instead.
    let held =
        sqlx::query("DELETE FROM credit_reservations WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
    let reserved = if held == 1 { reserved } else { 0 };
    let back = reserved - cost;
    let moved = if back >= 0 {
        sqlx::query("UPDATE users SET balance = balance + $1 WHERE id = $2")
            .bind(back)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        back
    } else {
        // The overage is taken as far as the balance goes; the ledger records what was taken.
        // Writing first takes SQLite's write lock, so the read below cannot go stale.
        sqlx::query("UPDATE users SET balance = balance WHERE id = $1").bind(user).execute(&mut *tx).await?;
        let balance: i64 =
            sqlx::query_scalar("SELECT balance FROM users WHERE id = $1").bind(user).fetch_one(&mut *tx).await?;
        let taken = (-back).min(balance);
        sqlx::query("UPDATE users SET balance = balance - $1 WHERE id = $2 AND balance >= $1")
            .bind(taken)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        -taken
    };
    let kind = if cost == 0 && prompt_tokens == 0 { "release" } else { "settle" };
    ledger_insert(
        &mut tx,
        user,
        Some(run),
        kind,
        moved,
        Some(model),
        Some(prompt_tokens),
        Some(completion_tokens),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds `amount` (negative to take) to a user's balance, creating the user if needed; returns
/// the new balance.
pub(super) async fn grant(db: &Database, user: &str, amount: i64, reason: &str) -> Result<i64, DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO users (id, email, balance, created_at) VALUES ($1, NULL, 0, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(user)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    // A withdrawal takes what is there, down to zero, and the ledger says what it took. Writing
    // first takes the row (SQLite's write lock), so the read below cannot go stale.
    sqlx::query("UPDATE users SET balance = balance WHERE id = $1").bind(user).execute(&mut *tx).await?;
    let balance: i64 =
        sqlx::query_scalar("SELECT balance FROM users WHERE id = $1").bind(user).fetch_one(&mut *tx).await?;
    let moved = if amount >= 0 { amount } else { -amount.saturating_neg().min(balance) };
    sqlx::query("UPDATE users SET balance = balance + $1 WHERE id = $2")
        .bind(moved)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    ledger_insert(&mut tx, user, None, "grant", moved, None, None, None, Some(reason)).await?;
    let balance: i64 =
        sqlx::query_scalar("SELECT balance FROM users WHERE id = $1").bind(user).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(balance)
}

pub(super) async fn ledger(db: &Database, user: &str, limit: i64) -> Result<Vec<LedgerEntry>, DbError> {
    Ok(sqlx::query_as(
        "SELECT kind, amount, run_id, model, prompt_tokens, completion_tokens, reason, created_at \
         FROM credit_ledger WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2",
    )
    .bind(user)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

#[allow(clippy::too_many_arguments)]
async fn ledger_insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: &str,
    run: Option<&str>,
    kind: &str,
    amount: i64,
    model: Option<&str>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    reason: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO credit_ledger (id, user_id, run_id, kind, amount, model, prompt_tokens, completion_tokens, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(user)
    .bind(run)
    .bind(kind)
    .bind(amount)
    .bind(model)
    .bind(prompt_tokens)
    .bind(completion_tokens)
    .bind(reason)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Micro-credits a run cost: what its ledger lines took, less what they gave back.
pub(super) async fn spent_on_run(db: &Database, user: &str, run: &str) -> Result<i64, DbError> {
    let sum: Option<i64> =
        sqlx::query_scalar("SELECT CAST(SUM(amount) AS BIGINT) FROM credit_ledger WHERE user_id = $1 AND run_id = $2")
            .bind(user)
            .bind(run)
            .fetch_one(db.pool())
            .await?;
    Ok(-sum.unwrap_or(0))
}

/// Accounts by most recent first, with the balances this host keeps.
pub(super) async fn accounts(db: &Database, limit: i64) -> Result<Vec<Account>, DbError> {
    Ok(sqlx::query_as("SELECT id, email, balance, created_at FROM users ORDER BY created_at DESC, id LIMIT $1")
        .bind(limit)
        .fetch_all(db.pool())
        .await?)
}

/// A user the host has seen.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) email: Option<String>,
    /// Micro-credits.
    pub(crate) balance: i64,
    pub(crate) created_at: i64,
}
