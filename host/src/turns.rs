//! A project's turn across hosts: on a PostgreSQL several hosts share, the in-process turn of
//! `workspace` is also a session advisory lock, so two hosts never commit, build or preview one
//! project at once. The lock lives with its connection: if the host dies, PostgreSQL ends the
//! session and the turn is free.

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::workspace::{SharedTurn, SharedTurns};

/// The advisory lock space of project turns (ASCII `blk\0`), beside any other user of the server.
const SPACE: i32 = 0x626c_6b00;

/// Turns held on their own connections, apart from the pool queries use: a long build holding a
/// turn never starves the queries.
pub(crate) struct DbTurns {
    pool: PgPool,
}

impl DbTurns {
    /// At most `connections` turns are held at once on this host; more wait for one.
    pub(crate) fn new(url: &str, connections: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(connections.max(1))
            // Waiting for a connection is waiting for a turn: as long as the longest operation.
            .acquire_timeout(std::time::Duration::from_secs(3600))
            // Whatever way a connection comes back, it holds no turn.
            .after_release(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut *conn).await?;
                    Ok(true)
                })
            })
            .connect_lazy(url)?;
        Ok(Self { pool })
    }
}

struct Held(Option<PoolConnection<sqlx::Postgres>>);

impl Drop for Held {
    fn drop(&mut self) {
        let Some(mut conn) = self.0.take() else { return };
        // Unlocked before the connection goes back; one that cannot be unlocked is closed, which
        // ends its session and every lock of it (as it is when no runtime is left to unlock it).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            conn.close_on_drop();
            return;
        };
        runtime.spawn(async move {
            if sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut *conn).await.is_err() {
                conn.close_on_drop();
            }
        });
    }
}

impl SharedTurns for DbTurns {
    fn take<'a>(&'a self, project: &'a str) -> futures::future::BoxFuture<'a, Result<SharedTurn, String>> {
        let (pool, project) = (self.pool.clone(), project.to_string());
        // Taken by a task of its own: a caller that gives up waiting leaves a turn that, once
        // granted, is dropped and so released, never a connection holding it in the pool.
        let taken = tokio::spawn(async move {
            let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
            sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
                .bind(SPACE)
                .bind(&project)
                .execute(&mut *conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(Held(Some(conn)))
        });
        Box::pin(async move {
            let held = taken.await.map_err(|e| e.to_string())??;
            Ok(SharedTurn::new(held))
        })
    }
}
