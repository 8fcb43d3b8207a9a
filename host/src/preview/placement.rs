//! Where each project's sandbox runs, in the database every host shares. The host that starts a
//! sandbox records itself and the URL the other hosts reach it by; a host that receives a
//! preview's request for a sandbox another live host runs passes the request on to that host,
//! which alone starts, feeds, builds in and stops it.

use std::net::SocketAddr;

use crate::db::{Database, DbError, now_ms};
use crate::instances::Instance;
use crate::preview::{PreviewError, Previews};

/// Another live host running a project's sandbox.
pub(crate) struct Elsewhere {
    /// Where that host answers.
    pub(crate) url: String,
    /// Where the sandbox's dev server answers, as that host reaches it.
    pub(crate) address: Option<SocketAddr>,
}

/// This host's entries in `sandbox_placements`, and its reading of the others'.
#[derive(Clone)]
pub(crate) struct Placements {
    db: Database,
    instance: Instance,
    /// The URL the other hosts reach this one by (`BLINK_PEER_URL`).
    url: String,
}

impl Placements {
    pub(crate) fn new(db: Database, instance: Instance, url: String) -> Self {
        Self { db, instance, url }
    }

    /// Says the project's sandbox runs here, at `address`.
    pub(crate) async fn record(&self, project: &str, address: SocketAddr) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO sandbox_placements (project, instance, host_url, address, placed_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (project) DO UPDATE SET instance = excluded.instance, host_url = excluded.host_url, \
             address = excluded.address, placed_at = excluded.placed_at",
        )
        .bind(project)
        .bind(self.instance.id())
        .bind(&self.url)
        .bind(address.to_string())
        .bind(now_ms())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Says the project's sandbox no longer runs here (a row another host wrote stays).
    pub(crate) async fn clear(&self, project: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM sandbox_placements WHERE project = $1 AND instance = $2")
            .bind(project)
            .bind(self.instance.id())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The URL of the live host other than this one that runs the project's sandbox, if any. A
    /// host past its heartbeat's expiry runs nothing any more: its row is ignored, and replaced
    /// by whichever host starts the sandbox next.
    pub(crate) async fn elsewhere(&self, project: &str) -> Result<Option<Elsewhere>, DbError> {
        let url: Option<(String, String)> = sqlx::query_as(
            "SELECT host_url, address FROM sandbox_placements WHERE project = $1 AND instance <> $2 \
             AND host_url <> $3 AND instance IN (SELECT id FROM host_instances WHERE heartbeat_at >= $4)",
        )
        .bind(project)
        .bind(self.instance.id())
        // A row of this host's previous run, before its heartbeat expired, is not another host's.
        .bind(&self.url)
        .bind(self.instance.live_since())
        .fetch_optional(self.db.pool())
        .await?;
        Ok(url.map(|(url, address): (String, String)| Elsewhere { address: address.parse().ok(), url }))
    }
}

impl Previews {
    /// Another live host running the project's sandbox, when this one does not run it.
    async fn elsewhere(&self, project: &str) -> Result<Option<Elsewhere>, DbError> {
        let Some(placements) = &self.placements else { return Ok(None) };
        if self.existing(project).is_some_and(|e| e.address().is_some()) {
            return Ok(None);
        }
        placements.elsewhere(project).await
    }

    /// As [`Self::elsewhere`], a database that cannot tell taken as "here": the caller serves the
    /// request itself, as a host alone would.
    async fn elsewhere_or_here(&self, project: &str) -> Option<Elsewhere> {
        self.elsewhere(project).await.unwrap_or_else(|e| {
            tracing::warn!(project, "cannot tell where the project's sandbox runs: {e}");
            None
        })
    }

    /// Refuses, with the host to ask, when another live host runs the project's sandbox; called
    /// in the project's turn, so no host starts one while another is starting it.
    pub(super) async fn here_or_nowhere(&self, project: &str) -> Result<(), PreviewError> {
        match self.elsewhere(project).await? {
            Some(there) => Err(PreviewError::Elsewhere(there.url)),
            None => Ok(()),
        }
    }

    /// The host to pass a request for the project's preview on to, when another live host runs
    /// its sandbox and this one does not.
    pub(crate) async fn runs_on(&self, project: &str) -> Option<String> {
        self.elsewhere_or_here(project).await.map(|there| there.url)
    }

    /// Where another live host's sandbox of the project answers, for telling its dev server what
    /// changed: every host derives the same sync token from the shared secret key.
    pub(super) async fn address_elsewhere(&self, project: &str) -> Option<SocketAddr> {
        self.elsewhere_or_here(project).await.and_then(|there| there.address)
    }

    /// Records that the project's sandbox runs here.
    pub(super) async fn place(&self, project: &str, address: SocketAddr) -> Result<(), PreviewError> {
        if let Some(placements) = &self.placements {
            placements.record(project, address).await?;
        }
        Ok(())
    }
}
