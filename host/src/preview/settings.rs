//! The sandboxes' settings: image, runtime, limits, pool, idle time, preview addresses, the
//! registry proxy.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub(crate) struct SandboxSettings {
    /// Run project sandboxes (Docker) for `/api/preview` and `/api/build`.
    #[arg(long, env = "BLINK_SANDBOXES", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) sandboxes: bool,

    /// Where sandboxes run: `docker` (the local engine) or `kubernetes` (pods of a cluster, found
    /// as `kubectl` finds it: in a pod its service account, else `KUBECONFIG`).
    #[arg(long, env = "BLINK_SANDBOX_BACKEND", value_enum, default_value_t = SandboxEngine::Docker)]
    pub(crate) sandbox_backend: SandboxEngine,

    /// Kubernetes: the namespace of the sandbox pods; default, the client configuration's.
    #[arg(long, env = "BLINK_K8S_NAMESPACE")]
    pub(crate) k8s_namespace: Option<String>,

    /// Kubernetes: the claim of the projects volume (`BLINK_PROJECTS_DIR` is where hosts mount
    /// it); each pod mounts its project's directory as a sub-path. Unset: a `hostPath` (one node).
    #[arg(long, env = "BLINK_K8S_PROJECTS_CLAIM")]
    pub(crate) k8s_projects_claim: Option<String>,

    /// Kubernetes: the address sandboxes reach this host at (its pod IP, from the downward API):
    /// the registry proxy listens there, and the sandboxes' NetworkPolicy lets them reach it.
    #[arg(long, env = "BLINK_K8S_HOST_ADDRESS")]
    pub(crate) k8s_host_address: Option<std::net::IpAddr>,

    /// Kubernetes: the labels of the host pods (`key=value,…`), the only pods the sandboxes'
    /// NetworkPolicy lets reach a dev server.
    #[arg(long, env = "BLINK_K8S_HOST_LABELS", default_value = "app=blink-host")]
    pub(crate) k8s_host_labels: String,

    /// The sandbox image (`sandbox/build-image.sh` builds it).
    #[arg(long, env = "BLINK_SANDBOX_IMAGE", default_value = "blink-sandbox:latest")]
    pub(crate) sandbox_image: String,

    /// The internal Docker network sandboxes join: no route out; created if missing.
    #[arg(long, env = "BLINK_SANDBOX_NETWORK", default_value = "blink-sandboxes")]
    pub(crate) sandbox_network: String,

    /// The container runtime sandboxes run under, as the engine names it: `runsc` (gVisor, a
    /// user-space kernel between the project's code and the host's) or `runc`. Unset: the
    /// engine's default. A runtime the engine lacks is refused, never silently replaced. On
    /// Kubernetes, the pods' `RuntimeClass` (`gvisor`, say).
    #[arg(long, env = "BLINK_SANDBOX_RUNTIME")]
    pub(crate) sandbox_runtime: Option<String>,

    /// Memory per sandbox, in MiB (no swap on top).
    #[arg(long, env = "BLINK_SANDBOX_MEMORY_MIB", default_value_t = 512)]
    pub(crate) sandbox_memory_mib: i64,

    /// CPUs per sandbox.
    #[arg(long, env = "BLINK_SANDBOX_CPUS", default_value_t = 1.0)]
    pub(crate) sandbox_cpus: f64,

    /// Processes per sandbox.
    #[arg(long, env = "BLINK_SANDBOX_PIDS", default_value_t = 100)]
    pub(crate) sandbox_pids: i64,

    /// Size of the sandbox's writable /tmp, in MiB.
    #[arg(long, env = "BLINK_SANDBOX_TMPFS_MIB", default_value_t = 64)]
    pub(crate) sandbox_tmpfs_mib: u64,

    /// Sandboxes running at once; past it, a new preview gets 503 `sandbox_limit`.
    #[arg(long, env = "BLINK_SANDBOX_MAX", default_value_t = 16)]
    pub(crate) sandbox_max: usize,

    /// Sandboxes kept started ahead of time, so a project's first preview skips creating one
    /// (they do not count toward `BLINK_SANDBOX_MAX`); 0 turns the pool off.
    #[arg(long, env = "BLINK_SANDBOX_WARM", default_value_t = 1)]
    pub(crate) sandbox_warm: usize,

    /// Seconds without requests after which a sandbox is removed (its files stay).
    #[arg(long, env = "BLINK_SANDBOX_IDLE_SECS", default_value_t = 900)]
    pub(crate) sandbox_idle_secs: u64,

    /// Seconds a new dev server may take to answer.
    #[arg(long, env = "BLINK_SANDBOX_READY_SECS", default_value_t = 60)]
    pub(crate) sandbox_ready_secs: u64,

    /// Seconds `vite build` may take.
    #[arg(long, env = "BLINK_SANDBOX_BUILD_SECS", default_value_t = 300)]
    pub(crate) sandbox_build_secs: u64,

    /// Seconds installing a project's extra npm packages may take.
    #[arg(long, env = "BLINK_SANDBOX_INSTALL_SECS", default_value_t = 300)]
    pub(crate) sandbox_install_secs: u64,

    /// Where projects' files and git repositories live; default `<data dir>/projects`. Hosts
    /// that share a database share this too (a volume every host mounts), so any host can serve
    /// any project; their turns on a project are taken in the database.
    #[arg(long, env = "BLINK_PROJECTS_DIR")]
    pub(crate) projects_dir: Option<std::path::PathBuf>,

    /// Where production builds are kept until deployed; default `<data dir>/builds`. Shared as
    /// the projects are.
    #[arg(long, env = "BLINK_BUILDS_DIR")]
    pub(crate) builds_dir: Option<std::path::PathBuf>,

    /// Files a project may post to `/api/preview`.
    #[arg(long, env = "BLINK_PROJECT_MAX_FILES", default_value_t = 500)]
    pub(crate) project_max_files: usize,

    /// Bytes of names and contents a project may post to `/api/preview`.
    #[arg(long, env = "BLINK_PROJECT_MAX_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub(crate) project_max_bytes: usize,

    /// Sandboxes one user may have running at once; past it, their next preview gets 503
    /// `sandbox_user_limit`.
    #[arg(long, env = "BLINK_SANDBOX_MAX_PER_USER", default_value_t = 3)]
    pub(crate) sandbox_max_per_user: usize,

    /// Sandbox log streams (`/api/projects/{id}/logs`) one user may hold open at once; past it,
    /// 429 `too_many_log_streams`.
    #[arg(long, env = "BLINK_LOG_STREAMS_PER_USER", default_value_t = 4)]
    pub(crate) log_streams_per_user: usize,

    /// Files a build may leave in `dist/`; past it, 413 `build_too_large`.
    #[arg(long, env = "BLINK_BUILD_MAX_FILES", default_value_t = 10_000)]
    pub(crate) build_max_files: usize,

    /// Bytes a build may leave in `dist/`; past it, 413 `build_too_large`.
    #[arg(long, env = "BLINK_BUILD_MAX_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub(crate) build_max_bytes: u64,

    /// Previews answer at `{projectId}.{domain}`, each project on its own origin; `*.localhost`
    /// reaches this machine in browsers.
    #[arg(long, env = "BLINK_PREVIEW_DOMAIN", default_value = "preview.localhost")]
    pub(crate) preview_domain: String,

    /// Overrides the preview URL given to the frontend: `{origin}` is how the caller reached the
    /// host, `{projectId}` the project. Unset: `{projectId}.{BLINK_PREVIEW_DOMAIN}`, with the
    /// caller's scheme and port.
    #[arg(long, env = "BLINK_PREVIEW_URL")]
    pub(crate) preview_url: Option<String>,

    /// Also serve previews by path on the API's own origin (`/preview/{projectId}/…`), for
    /// development setups without wildcard names. Every preview then shares one origin (storage,
    /// service workers); off, those paths answer 404 `preview_paths_disabled`.
    #[arg(long, env = "BLINK_PREVIEW_PATHS", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) preview_paths: bool,

    /// Package metadata documents the registry proxy keeps in memory.
    #[arg(long, env = "BLINK_REGISTRY_CACHE_ENTRIES", default_value_t = 1000)]
    pub(crate) registry_cache_entries: usize,

    /// Bytes of package metadata the registry proxy keeps in memory.
    #[arg(long, env = "BLINK_REGISTRY_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub(crate) registry_cache_bytes: usize,

    /// Largest package metadata document the registry proxy fetches; past it, 502.
    #[arg(long, env = "BLINK_REGISTRY_MAX_METADATA_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub(crate) registry_max_metadata_bytes: usize,

    /// Largest package tarball the registry proxy fetches; past it, 502.
    #[arg(long, env = "BLINK_REGISTRY_MAX_TARBALL_BYTES", default_value_t = 128 * 1024 * 1024)]
    pub(crate) registry_max_tarball_bytes: u64,

    /// The npm registry the host's registry proxy fetches from for sandboxes.
    #[arg(long, env = "BLINK_NPM_REGISTRY", default_value = "https://registry.npmjs.org")]
    pub(crate) npm_registry: String,
}

/// Where sandboxes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SandboxEngine {
    Docker,
    Kubernetes,
}

/// `key=value,…` as labels; a pair without `=` is refused.
pub(crate) fn parse_labels(text: &str) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| anyhow::anyhow!("label {pair:?} is not key=value"))?;
            Ok((key.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}
