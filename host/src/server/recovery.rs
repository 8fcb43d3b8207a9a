//! What a host that died left behind, taken over: at start, the repairs of the project folders
//! on this host's disk; while serving, the credits, runs and uploads of dead hosts that share
//! the database.

use crate::credits::Credits;
use crate::db::Database;
use crate::instances::Instance;
use crate::workspace::Workspaces;

/// Takes over what hosts that stopped beating since `cutoff` held: their reservations are
/// returned, their runs marked interrupted, their uploads failed. A dead host is forgotten only
/// once all of it is done: a sweep that fails (or a sweeper that dies) leaves it for the next.
pub(super) async fn take_over_dead_hosts(
    instance: &Instance,
    credits: &Credits,
    deployer: &crate::deploy::Deployer,
    db: &Database,
    cutoff: i64,
) {
    let Ok(dead) = instance.dead().await else { return };
    let mut swept = true;
    match credits.return_orphans(cutoff, &dead).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(returned = n, "credits a stopped host held were returned"),
        Err(e) => {
            swept = false;
            tracing::warn!("orphaned reservations not swept: {e}");
        }
    }
    match crate::pipeline::store::interrupt_orphans(db, cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(runs = n, "runs of a stopped host were marked interrupted"),
        Err(e) => {
            swept = false;
            tracing::warn!("orphaned runs not swept: {e}");
        }
    }
    match deployer.fail_orphaned_uploads(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(uploads = n, "uploads of a stopped host were marked failed"),
        Err(e) => {
            swept = false;
            tracing::warn!("orphaned uploads not swept: {e}");
        }
    }
    if swept {
        for host in &dead {
            let _ = instance.forget(&host.id).await;
        }
    }
}

/// Repairs what a killed host left in project folders before any request can meet it: writes cut
/// short, repository locks never released, builds swapped halfway. Each project is repaired in its
/// turn: where hosts share the projects, another one may be working on it right now, and what it
/// is writing is not debris.
pub(super) async fn repair_projects(
    workspaces: &Workspaces,
    git: &crate::git::ProjectGit,
    builds: &std::path::Path,
    started: std::time::SystemTime,
) {
    let mut projects: std::collections::BTreeSet<String> = workspaces.projects().into_iter().collect();
    let built = std::fs::read_dir(builds).into_iter().flatten().flatten();
    projects.extend(built.filter_map(|e| e.file_name().to_str().map(str::to_string)));
    let (mut mended, mut temporaries, mut locks) = (0, 0, 0);
    for project in projects {
        // A project another host is working on is not debris, and its turn may be long (a build):
        // it is left for the next start rather than holding this one up.
        let _turn = match tokio::time::timeout(std::time::Duration::from_secs(5), workspaces.lock(&project)).await {
            Ok(Ok(turn)) => turn,
            Ok(Err(e)) => {
                tracing::warn!(project, "not repaired now (it will be at the next start): {e}");
                continue;
            }
            Err(_) => {
                tracing::info!(project, "busy on another host: not repaired now (it will be at the next start)");
                continue;
            }
        };
        let (workspaces, git, builds) = (workspaces.clone(), git.clone(), builds.to_path_buf());
        let repaired = tokio::task::spawn_blocking(move || {
            let mended = crate::preview::repair_build(&builds, &project);
            let temporaries = match workspaces.remove_temporaries(&project, started) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(project, "a cut-short write could not be removed: {e}");
                    0
                }
            };
            (mended, temporaries, git.remove_stale_locks(&project, started))
        })
        .await;
        if let Ok((m, t, l)) = repaired {
            (mended, temporaries, locks) = (mended + usize::from(m), temporaries + t, locks + l);
        }
    }
    if mended > 0 {
        tracing::warn!(builds = mended, "builds a stopped host left halfway were mended");
    }
    if temporaries + locks > 0 {
        tracing::warn!(temporaries, locks, "what a stopped host left in project folders was removed");
    }
}
