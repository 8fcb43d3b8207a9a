//! The sandbox layer as the settings ask for it: the backend (Docker or Kubernetes), the registry
//! proxy sandboxes install packages through, the adoption of sandboxes a previous run left, the
//! idle reaper, and where other hosts reach this one.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::preview::{PreviewSettings, Previews};
use crate::workspace::Workspaces;

/// Every project's files, owned by the sandbox user so its dev server and builds can write.
pub(super) fn workspaces(settings: &Settings) -> Workspaces {
    let s = &settings.sandbox;
    let user = blink_sandbox::DockerConfig::default().user;
    let owner = user.split_once(':').and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)));
    Workspaces::new(settings.projects_dir(), owner, s.project_max_files, s.project_max_bytes)
}

/// The sandbox layer: the backend, the registry proxy, re-adoption of the sandboxes a previous
/// run left, and the idle reaper. An engine that is down does not stop the host: previews answer
/// 503 `sandbox_unavailable` until it is back.
pub(super) async fn start_previews(
    settings: &Settings,
    workspaces: Workspaces,
    sync_key: [u8; 32],
    placements: Option<crate::preview::Placements>,
    shutdown: CancellationToken,
) -> anyhow::Result<Arc<Previews>> {
    let s = &settings.sandbox;
    let mut owner = std::fs::canonicalize(&settings.data_dir)?.to_string_lossy().into_owned();
    if s.sandbox_backend == crate::preview::SandboxEngine::Kubernetes
        && let Ok(pod) = std::env::var("HOSTNAME")
    {
        // Replicas share one image and so one data directory path: the pod's name tells them
        // apart (stable under a StatefulSet, so a restarted host adopts its own pods).
        owner = format!("{pod}:{owner}");
    }
    let config = blink_sandbox::DockerConfig {
        image: s.sandbox_image.clone(),
        network: s.sandbox_network.clone(),
        limits: blink_sandbox::Limits {
            memory_bytes: s.sandbox_memory_mib.saturating_mul(1 << 20),
            nano_cpus: (s.sandbox_cpus * 1e9) as i64,
            pids: s.sandbox_pids,
            tmpfs_bytes: s.sandbox_tmpfs_mib.saturating_mul(1 << 20),
        },
        owner: Some(owner.clone()),
        runtime: s.sandbox_runtime.clone().filter(|r| !r.trim().is_empty()),
        ..blink_sandbox::DockerConfig::default()
    };
    tracing::info!(runtime = config.runtime.as_deref().unwrap_or("the engine's default"), "sandboxes");
    let dev_port = config.dev_port;
    let backend: Arc<dyn blink_sandbox::SandboxBackend> = match s.sandbox_backend {
        crate::preview::SandboxEngine::Docker => Arc::new(blink_sandbox::DockerBackend::connect(config).await?),
        crate::preview::SandboxEngine::Kubernetes => {
            let (uid, gid) = config.user.split_once(':').context("the sandbox user is uid:gid")?;
            let kube = blink_sandbox::KubernetesConfig {
                namespace: s.k8s_namespace.clone(),
                image: config.image,
                limits: config.limits,
                dev_port,
                uid: uid.parse()?,
                gid: gid.parse()?,
                runtime_class: config.runtime,
                projects_claim: s.k8s_projects_claim.clone(),
                projects_root: settings.projects_dir(),
                host_address: s.k8s_host_address,
                host_labels: crate::preview::parse_labels(&s.k8s_host_labels)?,
                owner: Some(owner.clone()),
            };
            tracing::info!(
                namespace = kube.namespace.as_deref().unwrap_or("the client's"),
                "sandboxes are Kubernetes pods"
            );
            Arc::new(blink_sandbox::KubernetesBackend::connect(kube).await?)
        }
    };
    let (registry, registry_url) = match backend.host_address().await {
        Ok(ip) => {
            let listener = tokio::net::TcpListener::bind((ip, 0))
                .await
                .with_context(|| format!("binding the registry proxy on the sandbox network's gateway {ip}"))?;
            // Of the host, sandboxes reach the registry proxy only.
            if let Err(e) = backend.allow_host_ports(&[listener.local_addr()?.port()]).await {
                tracing::error!("sandboxes are not fenced off this host's other services: {e}");
            }
            let cache = settings.data_dir.join("npm-cache");
            let limits = crate::preview::registry::RegistryLimits {
                cache_entries: s.registry_cache_entries,
                cache_bytes: s.registry_cache_bytes,
                max_metadata_bytes: s.registry_max_metadata_bytes,
                max_tarball_bytes: s.registry_max_tarball_bytes,
            };
            let proxy =
                crate::preview::registry::RegistryProxy::new(listener.local_addr()?, &s.npm_registry, cache, limits)?;
            crate::api::registry::serve(listener, proxy.clone(), shutdown.clone());
            let url = proxy.url();
            tracing::info!(%url, "npm registry proxy for sandboxes");
            (Some(proxy), Some(url))
        }
        Err(e) => {
            tracing::warn!("sandboxes are unavailable for now, and so is their registry proxy: {e}");
            (None, None)
        }
    };
    let previews = Previews::new(
        backend,
        workspaces,
        PreviewSettings {
            url_template: s.preview_url.clone(),
            domain: s.preview_domain.trim_end_matches('.').to_ascii_lowercase(),
            idle: Duration::from_secs(s.sandbox_idle_secs),
            max_sandboxes: s.sandbox_max,
            max_per_user: s.sandbox_max_per_user,
            log_streams_per_user: s.log_streams_per_user,
            ready_timeout: Duration::from_secs(s.sandbox_ready_secs),
            build_timeout: Duration::from_secs(s.sandbox_build_secs),
            install_timeout: Duration::from_secs(s.sandbox_install_secs),
            dev_port,
            builds_dir: settings.builds_dir(),
            registry_url,
            warm: s.sandbox_warm,
            build_limits: crate::workspace::CopyLimits { max_files: s.build_max_files, max_bytes: s.build_max_bytes },
            sync_key,
            owner,
            memory_mib: s.sandbox_memory_mib,
        },
        registry,
        placements,
    );
    match previews.adopt().await {
        Ok(n) => tracing::info!(adopted = n, "sandboxes"),
        Err(e) => tracing::warn!("cannot list running sandboxes: {e}"),
    }
    previews.refill();
    let every = Duration::from_secs((s.sandbox_idle_secs / 4).clamp(1, 60));
    tokio::spawn(previews.clone().reap_idle(every, shutdown));
    Ok(previews)
}

/// The URL the other hosts sharing the database reach this one by.
pub(super) fn peer_url(settings: &Settings, listener: &tokio::net::TcpListener) -> String {
    if let Some(url) = settings.instances.peer_url.as_deref().filter(|u| !u.trim().is_empty()) {
        return url.trim_end_matches('/').to_string();
    }
    let mut address = listener.local_addr().unwrap_or(settings.addr);
    if address.ip().is_unspecified() {
        // Right for hosts on one machine only: hosts elsewhere would pass requests to themselves.
        tracing::warn!(
            "BLINK_PEER_URL is not set and this host listens on every address: other hosts on the \
             database will reach it at 127.0.0.1, which is right only on this machine"
        );
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{address}")
}
