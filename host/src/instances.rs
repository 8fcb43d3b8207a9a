//! Host processes as the database knows them: each registers a row and beats a heartbeat into
//! it, so any host sharing the database can tell one that died and take over what it left
//! (credits it held, above all) without touching the work of one that lives.

use std::time::Duration;

use clap::Args;

use crate::db::{Database, DbError, now_ms};

#[derive(Debug, Clone, Args)]
pub(crate) struct InstanceSettings {
    /// Seconds between a host's heartbeats, and between its sweeps for the work of dead hosts.
    #[arg(long, env = "BLINK_INSTANCE_HEARTBEAT_SECS", default_value_t = 5)]
    pub(crate) heartbeat_secs: u64,

    /// Seconds without a heartbeat after which a host counts as dead and any other returns what
    /// it held. Longer than any pause a live host may take (a long GC-free stall, a slow disk).
    #[arg(long, env = "BLINK_INSTANCE_EXPIRY_SECS", default_value_t = 30)]
    pub(crate) expiry_secs: u64,

    /// The URL the other hosts sharing the database reach this one by (`http://10.0.0.7:8080`),
    /// to pass on a preview's requests to the host running its sandbox. Default: the address this
    /// host listens on, with `127.0.0.1` for an unspecified one (hosts on one machine).
    #[arg(long, env = "BLINK_PEER_URL")]
    pub(crate) peer_url: Option<String>,
}

/// The holder of work taken before a host registers (tools and benches): no live host has this
/// id, so a sweep takes over whatever such a process left.
pub(crate) const UNREGISTERED: &str = "unregistered";

/// SQL: `column` names no live host (no heartbeat since the cutoff bound as `$cutoff_param`, or
/// no row at all). Every sweep of dead hosts' work uses this one definition of "dead".
pub(crate) fn not_live(column: &str, cutoff_param: u8) -> String {
    format!("{column} NOT IN (SELECT id FROM host_instances WHERE heartbeat_at >= ${cutoff_param})")
}

/// A host whose heartbeat stopped, until what it held is taken over and it is forgotten.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DeadHost {
    pub(crate) id: String,
    pub(crate) started_at: i64,
}

/// This host process, registered.
#[derive(Clone)]
pub(crate) struct Instance {
    id: String,
    /// When it registered: what it held is no older (in the frontend's credit tables, where the
    /// holder is found by this id and time, not by a join).
    started_at: i64,
    db: Database,
    expiry: Duration,
}

impl Instance {
    pub(crate) async fn register(db: Database, expiry: Duration) -> Result<Self, DbError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        sqlx::query("INSERT INTO host_instances (id, started_at, heartbeat_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(now)
            .bind(now)
            .execute(db.pool())
            .await?;
        Ok(Self { id, started_at: now, db, expiry })
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Says this host is alive. A row another host removed (it took this one for dead after a
    /// long stall) is written again.
    pub(crate) async fn beat(&self) -> Result<(), DbError> {
        let now = now_ms();
        let updated = sqlx::query("UPDATE host_instances SET heartbeat_at = $2 WHERE id = $1")
            .bind(&self.id)
            .bind(now)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if updated == 0 {
            sqlx::query(
                "INSERT INTO host_instances (id, started_at, heartbeat_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&self.id)
            .bind(self.started_at)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        }
        Ok(())
    }

    /// The oldest heartbeat of a host that still counts as alive.
    pub(crate) fn live_since(&self) -> i64 {
        now_ms() - i64::try_from(self.expiry.as_millis()).unwrap_or(i64::MAX)
    }

    /// The other hosts whose heartbeat is older than the expiry: dead.
    pub(crate) async fn dead(&self) -> Result<Vec<DeadHost>, DbError> {
        let cutoff = self.live_since();
        Ok(sqlx::query_as("SELECT id, started_at FROM host_instances WHERE heartbeat_at < $1 AND id <> $2")
            .bind(cutoff)
            .bind(&self.id)
            .fetch_all(self.db.pool())
            .await?)
    }

    /// Forgets a dead host once nothing it held is left.
    pub(crate) async fn forget(&self, dead: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM host_instances WHERE id = $1").bind(dead).execute(self.db.pool()).await?;
        Ok(())
    }

    /// Leaves cleanly: a host that stops on a signal has settled what it held.
    pub(crate) async fn leave(&self) {
        let _ = self.forget(&self.id).await;
    }
}
