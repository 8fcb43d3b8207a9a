//! The frontend's own credit tables, in its Supabase PostgreSQL: `users_credits` (one row per
//! user: `credits`, `lifetime_used`, in whole credits, `NUMERIC`) and `credit_transactions` (one
//! row per movement: `type`, a signed `amount`, `balance_after`, `description`, `metadata`).
//!
//! The host counts in micro-credits (1 credit = 1,000,000); amounts are converted in SQL, so no
//! decimal type crosses into Rust. Every balance change holds the user's row lock (`FOR UPDATE`,
//! as the frontend's `deduct_credits` does) and writes its transaction row in the same
//! transaction, with `balance_after` read from the row it changed: the balance always equals what
//! the user was given plus the sum of the transactions. A reservation is a `deduction` (the call's
//! worst case), its settlement a `refund` of what the call did not use (or a further
//! `deduction` when it cost more); `lifetime_used` counts what calls really cost. Run id, model
//! and tokens go in `metadata`.

use serde_json::json;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::store::LedgerEntry;
use crate::db::DbError;
use crate::instances::DeadHost;

/// A reservation a dead host held.
#[derive(sqlx::FromRow)]
struct Orphan {
    user_id: String,
    reservation: String,
    run: Option<String>,
    model: String,
    amount: i64,
}

/// The frontend's tables on the database at a URL.
#[derive(Clone)]
pub(crate) struct SupabaseCredits {
    pool: PgPool,
    /// Micro-credits of the row the host creates for a user who has none.
    new_user: i64,
}

/// The user's row id: Supabase user ids are uuids; anything else has no row, ever.
fn user_id(user: &str) -> Option<String> {
    uuid::Uuid::parse_str(user).ok().map(|u| u.to_string())
}

impl SupabaseCredits {
    /// Connects, and checks that the frontend's tables are there.
    pub(crate) async fn connect(url: &str, new_user: i64) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach the credits database (BLINK_CREDITS_DATABASE_URL): {e}"))?;
        for table in ["users_credits", "credit_transactions"] {
            sqlx::query(&format!("SELECT 1 FROM {table} LIMIT 0")).execute(&pool).await.map_err(|e| {
                anyhow::anyhow!(
                    "the credits database has no `{table}` table (BLINK_CREDITS=supabase needs the frontend's schema): {e}"
                )
            })?;
        }
        Ok(Self { pool, new_user })
    }

    /// Gives a user who has no row the one the frontend would create on their first visit;
    /// a row that exists is left alone.
    pub(crate) async fn ensure_user(&self, user: &str) -> Result<(), DbError> {
        let Some(id) = user_id(user) else { return Ok(()) };
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users_credits WHERE user_id = $1::uuid")
            .bind(&id)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            sqlx::query(
                "INSERT INTO users_credits (user_id, credits, lifetime_used) VALUES ($1::uuid, ($2::numeric / 1000000)::numeric(20, 6), 0) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(&id)
            .bind(self.new_user)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    pub(crate) async fn balance(&self, user: &str) -> Result<i64, DbError> {
        let Some(id) = user_id(user) else { return Ok(0) };
        let balance: Option<i64> =
            sqlx::query_scalar("SELECT floor(credits * 1000000)::bigint FROM users_credits WHERE user_id = $1::uuid")
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(balance.unwrap_or(0))
    }

    /// Locks the user's row and reads its balance, in micro-credits.
    async fn lock(tx: &mut Transaction<'_, Postgres>, id: &str) -> Result<Option<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT floor(credits * 1000000)::bigint FROM users_credits WHERE user_id = $1::uuid FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?)
    }

    /// Moves `amount` micro-credits (signed) on the locked row, adds `used` to `lifetime_used`,
    /// and writes the transaction row with the balance the change left.
    async fn movement(
        tx: &mut Transaction<'_, Postgres>,
        id: &str,
        kind: &str,
        amount: i64,
        used: i64,
        description: &str,
        metadata: serde_json::Value,
    ) -> Result<i64, DbError> {
        let after: i64 = sqlx::query_scalar(
            "UPDATE users_credits SET credits = credits + ($2::numeric / 1000000)::numeric(20, 6), \
             lifetime_used = lifetime_used + ($3::numeric / 1000000)::numeric(20, 6), updated_at = now() \
             WHERE user_id = $1::uuid RETURNING floor(credits * 1000000)::bigint",
        )
        .bind(id)
        .bind(amount)
        .bind(used)
        .fetch_one(&mut **tx)
        .await?;
        if amount != 0 {
            sqlx::query(
                "INSERT INTO credit_transactions (user_id, type, amount, balance_after, description, metadata) \
                 SELECT $1::uuid, $2, ($3::numeric / 1000000)::numeric(20, 6), credits, $4, $5::jsonb FROM users_credits WHERE user_id = $1::uuid",
            )
            .bind(id)
            .bind(kind)
            .bind(amount)
            .bind(description)
            .bind(metadata.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Ok(after)
    }

    /// Takes `amount` if the balance covers it: the call's worst case, as a `deduction` whose
    /// metadata names the reservation and the host process holding it; returns the reservation.
    pub(crate) async fn debit_if_covered(
        &self,
        user: &str,
        run: &str,
        model: &str,
        amount: i64,
        instance: &str,
    ) -> Result<Option<String>, DbError> {
        let Some(id) = user_id(user) else { return Ok(None) };
        let mut tx = self.pool.begin().await?;
        match Self::lock(&mut tx, &id).await? {
            Some(balance) if balance >= amount => {}
            _ => return Ok(None),
        }
        let reservation = uuid::Uuid::new_v4().to_string();
        let metadata = json!({
            "run": run, "model": model, "phase": "reserved", "reservation": reservation, "instance": instance,
        });
        Self::movement(&mut tx, &id, "deduction", -amount, 0, &format!("Model call ({model}), reserved"), metadata)
            .await?;
        tx.commit().await?;
        Ok(Some(reservation))
    }

    /// Whether a transaction already closes `reservation`. Asked under the user's row lock, so
    /// of a settlement and a return racing for one reservation, exactly one writes.
    async fn closed(tx: &mut Transaction<'_, Postgres>, id: &str, reservation: &str) -> Result<bool, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM credit_transactions WHERE user_id = $1::uuid AND metadata->>'settles' = $2)",
        )
        .bind(id)
        .bind(reservation)
        .fetch_one(&mut **tx)
        .await?)
    }

    /// Settles a reservation against what the call cost: the rest back as a `refund`, or an
    /// overage taken as a `deduction`, down to a zero balance at most.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn settle(
        &self,
        user: &str,
        run: &str,
        model: &str,
        reservation: (&str, i64),
        cost: i64,
        prompt_tokens: i64,
        completion_tokens: i64,
    ) -> Result<(), DbError> {
        let Some(id) = user_id(user) else { return Ok(()) };
        let (reservation, reserved) = reservation;
        let mut tx = self.pool.begin().await?;
        let balance = Self::lock(&mut tx, &id).await?.unwrap_or(0);
        // Another host took this one for dead and returned the reservation: the call's cost is
        // then taken from the balance instead.
        let reserved = if Self::closed(&mut tx, &id, reservation).await? { 0 } else { reserved };
        let metadata = json!({
            "run": run, "model": model, "promptTokens": prompt_tokens, "completionTokens": completion_tokens,
            "cost": cost as f64 / 1e6, "phase": "settled", "settles": reservation,
        });
        let back = reserved - cost;
        if back >= 0 {
            let description = if cost == 0 {
                format!("Model call ({model}) failed: reservation returned")
            } else {
                format!("Model call ({model}): unused reservation returned")
            };
            Self::movement(&mut tx, &id, "refund", back, cost, &description, metadata).await?;
        } else {
            let taken = (-back).min(balance);
            let description = format!("Model call ({model}): cost beyond its reservation");
            Self::movement(&mut tx, &id, "deduction", -taken, reserved + taken, &description, metadata).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Returns what a dead host process held: its reservations (found by the host id in their
    /// metadata, from a little before it started) that no transaction closes yet. Each is a
    /// `refund` saying why; the count returned.
    pub(crate) async fn return_orphans(&self, dead: &DeadHost) -> Result<usize, DbError> {
        let held: Vec<Orphan> = sqlx::query_as(
            "SELECT r.user_id::text AS user_id, r.metadata->>'reservation' AS reservation, r.metadata->>'run' AS run, \
             r.metadata->>'model' AS model, round(-r.amount * 1000000)::bigint AS amount FROM credit_transactions r \
             WHERE r.type = 'deduction' AND r.metadata->>'phase' = 'reserved' AND r.metadata->>'instance' = $1 \
             AND r.created_at >= to_timestamp($2::double precision / 1000) - interval '1 hour' \
             AND NOT EXISTS (SELECT 1 FROM credit_transactions s WHERE s.user_id = r.user_id \
             AND s.metadata->>'settles' = r.metadata->>'reservation')",
        )
        .bind(&dead.id)
        .bind(dead.started_at)
        .fetch_all(&self.pool)
        .await?;
        let mut returned = 0;
        for Orphan { user_id: id, reservation, run, model, amount } in held {
            let mut tx = self.pool.begin().await?;
            Self::lock(&mut tx, &id).await?;
            if !Self::closed(&mut tx, &id, &reservation).await? {
                let metadata = json!({ "run": run, "model": model, "phase": "returned", "settles": reservation });
                let description =
                    format!("Model call ({model}): reservation returned, its host stopped before the call ended");
                Self::movement(&mut tx, &id, "refund", amount, 0, &description, metadata).await?;
                returned += 1;
            }
            tx.commit().await?;
        }
        Ok(returned)
    }

    /// An operator's grant (`topup`) or withdrawal (`deduction`, down to zero at most); creates
    /// the row with nothing in it first if the user has none. Returns the new balance.
    pub(crate) async fn grant(&self, user: &str, amount: i64, reason: &str) -> Result<i64, DbError> {
        let Some(id) = user_id(user) else {
            return Err(DbError::Unavailable(format!("{user:?} is not a Supabase user id (a uuid)")));
        };
        sqlx::query(
            "INSERT INTO users_credits (user_id, credits, lifetime_used) VALUES ($1::uuid, 0, 0) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(&id)
        .execute(&self.pool)
        .await?;
        let mut tx = self.pool.begin().await?;
        let balance = Self::lock(&mut tx, &id).await?.unwrap_or(0);
        let (kind, moved) = if amount >= 0 { ("topup", amount) } else { ("deduction", -(-amount).min(balance)) };
        let after =
            Self::movement(&mut tx, &id, kind, moved, 0, reason, json!({ "by": "operator", "reason": reason })).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// The user's most recent transactions, newest first, as the host's ledger shows them.
    pub(crate) async fn recent(&self, user: &str, limit: i64) -> Result<Vec<LedgerEntry>, DbError> {
        let Some(id) = user_id(user) else { return Ok(Vec::new()) };
        Ok(sqlx::query_as(
            "SELECT type AS kind, round(amount * 1000000)::bigint AS amount, metadata->>'run' AS run_id, \
             metadata->>'model' AS model, (metadata->>'promptTokens')::bigint AS prompt_tokens, \
             (metadata->>'completionTokens')::bigint AS completion_tokens, description AS reason, \
             (extract(epoch FROM created_at) * 1000)::bigint AS created_at \
             FROM credit_transactions WHERE user_id = $1::uuid ORDER BY created_at DESC, id LIMIT $2",
        )
        .bind(&id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
