//! Other hosts' changes, applied here: on a database several hosts share, a swap, a rollback, a
//! canary or a settings change made on any of them reaches this one by notice at once, and a
//! periodic reconcile heals a notice lost with a connection.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db::{CHANGES, Database};
use crate::plugins::PluginStore;
use crate::plugins::settings::AgentSettings;

/// Follows the changes until shutdown; returns at once on a database no other host shares.
pub(super) async fn follow(
    db: Database,
    plugins: PluginStore,
    settings: Arc<AgentSettings>,
    every: Duration,
    shutdown: CancellationToken,
) {
    if !db.is_shared() {
        return;
    }
    let mut listener = match db.listen(CHANGES).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("cannot listen for other hosts' changes; reading them every {every:?} instead: {e:#}");
            None
        }
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let what = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => None,
            notice = async { listener.as_mut().expect("guarded").recv().await }, if listener.is_some() => match notice {
                Ok(notice) => Some(notice.payload().to_string()),
                Err(e) => {
                    // The listener reconnects on its next call; what was sent meanwhile is read now.
                    tracing::warn!("lost the notices of other hosts' changes for a moment: {e}");
                    None
                }
            },
        };
        let (plugins_changed, settings_changed) = match what.as_deref() {
            Some("plugins") => (true, false),
            Some("settings") => (false, true),
            _ => (true, true),
        };
        if plugins_changed && let Err(e) = plugins.reconcile().await {
            tracing::warn!("cannot read the active versions: {e}");
        }
        if settings_changed && let Err(e) = settings.reload().await {
            tracing::warn!("cannot read the agent settings: {e}");
        }
    }
}
