//! Assembles the host from its settings and serves until a shutdown signal.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::credits::{CreditStore, Credits, Pricing, SupabaseCredits};
use crate::db::Database;
use crate::instances::Instance;
use crate::llm::LlmProvider;
use crate::pipeline::{Pipeline, PipelineLimits};
use crate::plugins::PluginStore;
use crate::runtime::{AgentRuntime, CallLimits, Role};

mod changes;
mod previews;
mod recovery;

/// Per-role agent settings from the operator's JSON file.
pub(crate) fn load_agent_config(settings: &Settings) -> anyhow::Result<crate::pipeline::AgentConfig> {
    let Some(path) = &settings.agents.agent_config else {
        return Ok(BTreeMap::new());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let raw: BTreeMap<String, BTreeMap<String, serde_json::Value>> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a JSON object of roles", path.display()))?;
    let mut out = BTreeMap::new();
    for (role, values) in raw {
        let role: Role = role.parse().map_err(|e: String| anyhow::anyhow!("{}: {e}", path.display()))?;
        let values = values
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect();
        out.insert(role, Arc::new(values));
    }
    Ok(out)
}

pub(crate) fn build_runtime(settings: &Settings) -> anyhow::Result<AgentRuntime> {
    let a = &settings.agents;
    let limits = CallLimits {
        memory_bytes: a.agent_memory_mib.saturating_mul(1 << 20),
        cpu: Duration::from_millis(a.agent_cpu_ms),
        wall: Duration::from_secs(a.agent_wall_secs),
        output_bytes: a.agent_output_bytes,
    };
    AgentRuntime::new(&settings.cache_dir(), limits, a.agent_instances)
}

/// Creates the data directory for the host's user only: it holds every user's projects, tokens
/// and the database. A directory that already exists is the operator's to set.
fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))
}

/// Creates `path` readable by the host's user only, or takes group and others' access away from
/// an existing one (SQLite gives its journal files the database file's mode).
fn owner_only_file(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "the database was readable by others; now 0600");
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

/// Connects to the configured database and brings its schema up to date.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    prepare_data_dir(&settings.data_dir)?;
    if settings.database.url.is_none() {
        owner_only_file(&settings.data_dir.join("blink.db"))?;
    }
    let database = Database::connect(&settings.database.resolved_url(&settings.data_dir)).await?;
    database.migrate().await?;
    Ok(database)
}

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::install();
    let database = open_database(&settings).await?;
    let _data_dir = crate::host_lock::acquire(&settings.data_dir)?;
    // Anything in the data directory older than this was left by a process that is gone.
    let booted = std::time::SystemTime::now();
    // This process, as every host sharing the database sees it: what it holds is returned by
    // any of them if its heartbeat stops.
    let instance = Instance::register(database.clone(), Duration::from_secs(settings.instances.expiry_secs.max(1)))
        .await
        .context("registering this host in the database")?;
    // Bound before the sandboxes start: they are placed under the URL the other hosts reach
    // this one by, and it names the port.
    let listener =
        tokio::net::TcpListener::bind(settings.addr).await.with_context(|| format!("binding {}", settings.addr))?;
    let started = std::time::Instant::now();
    let runtime = Arc::new(build_runtime(&settings)?);
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "agents loaded");
    for role in Role::ALL {
        tracing::info!(%role, version = %runtime.active(role).version, contract = %format!("blink:agents@{}", crate::runtime::CONTRACT_VERSION), "agent active");
    }
    let mut plugins = PluginStore::new(
        database.clone(),
        runtime.clone(),
        settings.data_dir.join("plugins"),
        settings.agents.plugin_max_bytes,
        settings.agents.max_extra_validators,
    );
    plugins.eval_max_runs = settings.agents.eval_max_runs;
    plugins.restore().await?;
    let agent_settings = Arc::new(crate::plugins::settings::AgentSettings::new(
        database.clone(),
        load_agent_config(&settings)?,
        settings.agents.agent_settings_max_bytes,
    ));
    agent_settings.reload().await?;
    let watch_dir =
        settings.agents.plugins_watch_dir.clone().unwrap_or_else(|| settings.data_dir.join("plugins-watch"));
    let _watcher = crate::plugins::watch::watch(plugins.clone(), &watch_dir)?;
    let provider = LlmProvider::from_settings(&settings.llm)?;
    let llm_configured = provider.default_model().is_some();
    if !llm_configured {
        tracing::warn!("{}", crate::llm::UNCONFIGURED);
    }
    let l = &settings.limits;
    let credits = Credits::new(
        database.clone(),
        Pricing { default: settings.credits.pricing.default, models: settings.credits.pricing.models.clone() },
    )
    .with_min_answer_tokens(settings.credits.min_answer_tokens)
    .with_run_price(settings.credits.run_price)
    .held_by(instance.id());
    let credits = match settings.credits.store {
        CreditStore::Builtin => credits,
        CreditStore::Supabase => {
            let url = settings
                .credits
                .database_url
                .clone()
                .or_else(|| settings.database.url.clone())
                .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
            let url = url.context(
                "BLINK_CREDITS=supabase needs the frontend's PostgreSQL: set BLINK_CREDITS_DATABASE_URL (or DATABASE_URL)",
            )?;
            let store = SupabaseCredits::connect(&url, settings.credits.supabase_new_user).await?;
            tracing::info!("credits: the frontend's users_credits and credit_transactions");
            credits.in_supabase(store)
        }
    };
    let pipeline = Pipeline {
        runtime,
        provider,
        limits: PipelineLimits {
            max_fix_rounds: l.max_fix_rounds,
            max_model_calls: l.run_max_model_calls,
            max_tokens: l.run_max_tokens,
            generation_concurrency: l.generation_concurrency,
            generation_mode: l.generation_mode,
        },
        agent_config: agent_settings.handle(),
        credits: Some(credits.clone()),
    };
    let shutdown = CancellationToken::new();
    let mut workspaces = previews::workspaces(&settings);
    if let Some(url) = database.shared_url() {
        // Hosts on one database take turns on a project there, as threads of one host do here.
        let turns = crate::turns::DbTurns::new(url, settings.database.turn_connections)?;
        workspaces = workspaces.shared_with(Arc::new(turns));
    }
    if database.is_shared() && settings.git.secret_key.is_none() {
        // Each host would seal with a key of its own: tokens sealed on one could not be opened on
        // another, nor would a sandbox started on one take news of changed files from another.
        tracing::warn!(
            "the database is PostgreSQL, which other hosts may share: give every host the same BLINK_SECRET_KEY"
        );
    }
    let secrets = crate::git::secrets::Secrets::load(settings.git.secret_key.as_deref(), &settings.data_dir)?;
    let hop: Arc<str> = Arc::from(hex::encode(secrets.derive("blink host hop")));
    let previews = if settings.sandbox.sandboxes {
        let sync_key = secrets.derive("blink sandbox sync");
        // Hosts on one database pass a preview's requests to the host running its sandbox.
        let placements = database.is_shared().then(|| {
            crate::preview::Placements::new(
                database.clone(),
                instance.clone(),
                previews::peer_url(&settings, &listener),
            )
        });
        Some(previews::start_previews(&settings, workspaces.clone(), sync_key, placements, shutdown.clone()).await?)
    } else {
        None
    };
    let git = crate::git::ProjectGit::new(
        workspaces.clone(),
        database.clone(),
        secrets,
        crate::git::Author {
            name: settings.git.git_committer_name.clone(),
            email: settings.git.git_committer_email.clone(),
        },
        settings.git.github_api.clone(),
        crate::git::transport::Remotes::new(
            settings.git.git_remote_schemes.clone(),
            settings.git.git_allow_private_networks,
            settings.git.git_max_fetch_bytes,
            Duration::from_secs(settings.git.git_remote_timeout_secs.max(1)),
            Duration::from_secs(settings.git.git_operation_timeout_secs.max(1)),
        )
        .map_err(anyhow::Error::msg)?,
    );
    recovery::repair_projects(&workspaces, &git, &settings.builds_dir(), booted).await;
    let deployer = crate::deploy::Deployer::new(
        database.clone(),
        &settings.data_dir,
        &settings.builds_dir(),
        &settings.deploy,
        &settings.sandbox.preview_domain,
    )
    .await?
    .held_by(instance.id());
    tokio::spawn(
        deployer
            .clone()
            .poll_certificates(Duration::from_secs(settings.deploy.cloudflare_poll_secs.max(1)), shutdown.clone()),
    );
    let projects =
        crate::projects::Projects::new(database.clone(), workspaces.clone(), previews.clone(), deployer.clone());
    let legacy = Arc::new(crate::api::LegacyLimits::new(&settings.legacy));
    let rates = Arc::new(crate::api::limits::RateLimits::new(&settings.rates, settings.legacy.trust_forwarded_for));
    if settings.legacy.legacy_routes {
        tracing::warn!(
            "the legacy routes are on (BLINK_LEGACY_ROUTES): calls without a token act on projects no signed-in user owns"
        );
    }
    {
        // Callers whose limits are full again are forgotten, so memory follows the callers.
        let (legacy, rates, shutdown) = (legacy.clone(), rates.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        legacy.sweep();
                        rates.sweep();
                    }
                    _ = shutdown.cancelled() => break,
                }
            }
        });
    }
    {
        let (instance, credits, deployer, shutdown, db) =
            (instance.clone(), credits.clone(), deployer.clone(), shutdown.clone(), database.clone());
        let every = Duration::from_secs(settings.instances.heartbeat_secs.max(1));
        let expiry_ms = i64::try_from(settings.instances.expiry_secs.max(1) * 1000).unwrap_or(i64::MAX);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = shutdown.cancelled() => break,
                }
                if let Err(e) = instance.beat().await {
                    tracing::warn!("heartbeat not written: {e}");
                    continue;
                }
                recovery::take_over_dead_hosts(&instance, &credits, &deployer, &db, crate::db::now_ms() - expiry_ms)
                    .await;
            }
        });
    }
    tokio::spawn(changes::follow(
        database.clone(),
        plugins.clone(),
        agent_settings.clone(),
        Duration::from_secs(settings.database.reconcile_secs),
        shutdown.clone(),
    ));
    // A first run on a loopback address, with no auth configured, gets a token that works.
    let dev_access = crate::auth::dev::access(&settings.auth, settings.addr, &settings.data_dir)?;
    let mut auth = settings.auth.clone();
    if let Some(dev) = &dev_access {
        auth.jwt_secret = Some(dev.secret.clone());
    }
    let state = AppState {
        deployer,
        projects,
        credits,
        previews: previews.clone(),
        workspaces,
        git,
        proxy: api::proxy::client(),
        pipeline: Arc::new(pipeline),
        auth: Arc::new(Authenticator::new(&auth)?),
        db: database,
        plugins,
        agent_settings,
        admin_token: settings.auth.admin_token.clone().filter(|t| !t.is_empty()).map(Arc::from),
        starting_credits: settings.credits.starting_credits,
        limits: Arc::new(settings.limits.clone()),
        default_target: settings.target,
        keepalive: Duration::from_secs(settings.sse_keepalive_secs.max(1)),
        instance: Arc::from(instance.id()),
        legacy: legacy.clone(),
        rates,
        metrics_token: settings.metrics_token.clone().filter(|t| !t.is_empty()).map(Arc::from),
        pull_max_files: settings.legacy.legacy_pull_max_files,
        shutdown: shutdown.clone(),
        hop,
    };
    let app = api::router(state, &settings);
    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    // Tests and scripts read this line to find the port when BLINK_ADDR ends in :0.
    tracing::info!("listening on http://{}", listener.local_addr()?);
    println!("blink listening on http://{}", listener.local_addr()?);
    if let Some(dev) = &dev_access {
        println!("{}", crate::auth::dev::instructions(dev, &format!("http://{}", listener.local_addr()?)));
    }
    if !llm_configured {
        println!("{}", crate::llm::UNCONFIGURED);
    }
    // SSE writes many small frames: without TCP_NODELAY, Nagle holds each one for an ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
    });
    // The legacy routes limit calls per client address.
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // New connections stop now; runs in flight get a grace period to finish, then are
            // cancelled (their streams still end with the failure shape and `[DONE]`).
            tracing::info!(grace_secs = grace.as_secs(), "shutting down: finishing runs in flight");
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                tracing::warn!("grace period over: cancelling the runs still going");
                shutdown.cancel();
            });
        })
        .await?;
    if let Some(previews) = previews {
        previews.drain_pool().await;
    }
    instance.leave().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
