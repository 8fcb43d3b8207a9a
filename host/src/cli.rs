//! `blink plugin …`: what a plugin author runs to start, try and ship an agent; `blink sandbox …`:
//! what an operator runs to clean up after hosts that are gone.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::runtime::{AgentRuntime, CONTRACT_VERSION, CallLimits, Role, content_hash};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a new agent project into the directory NAME (anywhere): the contract's WIT as this
    /// binary serves it, a minimal working agent for the role, a README and a `build.sh` that
    /// prints the component's path last.
    New {
        name: PathBuf,
        #[arg(long)]
        role: Role,
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::kit::Lang,
    },
    /// Run a component in the host's runtime, offline and with the host's limits, and print what
    /// it returned as JSON: a validator on files (--files), the other roles on a request (--ask)
    /// with the model answered by the built-in test model or a cassette. Fails when the agent does.
    Test(Box<TrialArgs>),
    /// Check that a component can serve a role: it compiles, imports only what the contract
    /// offers, in this host's contract version, and exports the role's functions.
    Check {
        file: PathBuf,
        #[arg(long)]
        role: Role,
    },
    /// Upload a component to a running host and make it active for its role (or only store it).
    Push {
        file: PathBuf,
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        host: HostArgs,
        /// Who made this version.
        #[arg(long)]
        author: Option<String>,
        /// What changed.
        #[arg(long)]
        notes: Option<String>,
        /// Store the version without making it active: for canaries and validators that
        /// projects chain.
        #[arg(long)]
        no_activate: bool,
    },
    /// List the versions a running host knows, and which are active.
    List {
        #[command(flatten)]
        host: HostArgs,
    },
}

#[derive(Debug, Args)]
pub struct TrialArgs {
    file: PathBuf,
    #[arg(long)]
    role: Role,
    /// A validator's files: a directory, or a JSON file of path → content.
    #[arg(long)]
    files: Option<PathBuf>,
    /// The user's request (default: a todo list; for a fixer, a counter with a mistake).
    #[arg(long)]
    ask: Option<String>,
    /// `browser` or `vite`.
    #[arg(long, default_value = "browser", value_parser = parse_target)]
    target: blink_agent_sdk::RuntimeTarget,
    /// Answer model calls from this cassette (see `BLINK_LLM_RECORD`) instead of the test model.
    #[arg(long)]
    cassette: Option<PathBuf>,
    /// A setting the agent reads with `config::get`, as KEY=VALUE; repeatable.
    #[arg(long = "set", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    #[command(flatten)]
    agents: crate::plugins::AgentLimits,
    #[command(flatten)]
    run: crate::pipeline::Limits,
}

fn parse_target(raw: &str) -> Result<blink_agent_sdk::RuntimeTarget, String> {
    blink_agent_sdk::RuntimeTarget::parse(raw).ok_or_else(|| format!("{raw:?} is neither `browser` nor `vite`"))
}

fn parse_setting(raw: &str) -> Result<(String, String), String> {
    let (key, value) = raw.split_once('=').ok_or_else(|| format!("{raw:?} is not KEY=VALUE"))?;
    Ok((key.trim().to_string(), value.to_string()))
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// The host's base URL.
    #[arg(long, env = "BLINK_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// The operator token (`BLINK_ADMIN_TOKEN` of the host) or an admin's JWT.
    #[arg(long, env = "BLINK_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
}

/// Runs a plugin command; `Ok(false)` when the check or the request failed (reported already).
pub async fn run(command: PluginCommand) -> anyhow::Result<bool> {
    match command {
        PluginCommand::New { name, role, lang } => {
            let written = crate::kit::new::create(&name, role, lang)?;
            println!("wrote {} files into {}:", written.len(), name.display());
            for path in written.iter().filter(|p| !p.starts_with("wit")) {
                println!("  {}", path.display());
            }
            println!("  wit/ (blink:agents@{CONTRACT_VERSION}, as this host serves it)");
            println!("next: cd {} && ./build.sh   (see its README)", name.display());
            Ok(true)
        }
        PluginCommand::Test(args) => {
            let args = *args;
            let trial = crate::kit::trial::Trial {
                file: args.file,
                role: args.role,
                files: args.files,
                ask: args.ask,
                target: args.target,
                cassette: args.cassette,
                settings: args.settings.into_iter().collect(),
            };
            match crate::kit::trial::run(trial, &args.agents, &args.run).await {
                Ok(result) => {
                    println!("{}", serde_json::to_string_pretty(&result)?);
                    Ok(true)
                }
                Err(e) => {
                    eprintln!("{e:#}");
                    Ok(false)
                }
            }
        }
        PluginCommand::Check { file, role } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let cache = std::env::temp_dir().join(format!("blink-plugin-check-{}", std::process::id()));
            let limits = CallLimits {
                memory_bytes: 64 << 20,
                cpu: Duration::from_secs(1),
                wall: Duration::from_secs(10),
                output_bytes: 1 << 20,
            };
            let runtime = AgentRuntime::new(&cache, limits, 2)?;
            let result = runtime.load(role, &bytes);
            let _ = std::fs::remove_dir_all(&cache);
            match result {
                Ok(agent) => {
                    println!(
                        "ok: {} serves the {role} role of blink:agents@{CONTRACT_VERSION} (version {}, {} bytes)",
                        file.display(),
                        agent.version,
                        bytes.len()
                    );
                    Ok(true)
                }
                Err(e) => {
                    eprintln!("{}: cannot serve the {role} role: {e}", file.display());
                    Ok(false)
                }
            }
        }
        PluginCommand::Push { file, role, host, author, notes, no_activate } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut url = reqwest::Url::parse(&format!("{}/api/admin/plugins/{role}", host.url.trim_end_matches('/')))?;
            if let Some(author) = author {
                url.query_pairs_mut().append_pair("author", &author);
            }
            if let Some(notes) = notes {
                url.query_pairs_mut().append_pair("notes", &notes);
            }
            if no_activate {
                url.query_pairs_mut().append_pair("activate", "false");
            }
            let version = content_hash(&bytes);
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(&host.token)
                .header("content-type", "application/wasm")
                .body(bytes)
                .send()
                .await
                .with_context(|| format!("reaching {}", host.url))?;
            let done = if no_activate { "stored" } else { "active" };
            report(response, &format!("{role} version {version} is {done}")).await
        }
        PluginCommand::List { host } => {
            let response = reqwest::Client::new()
                .get(format!("{}/api/admin/plugins", host.url.trim_end_matches('/')))
                .bearer_auth(&host.token)
                .send()
                .await
                .with_context(|| format!("reaching {}", host.url))?;
            if !response.status().is_success() {
                return report(response, "").await;
            }
            let body: serde_json::Value = response.json().await?;
            for role in Role::ALL {
                let r = &body[role.as_str()];
                let active = r["active"].as_str().unwrap_or_default();
                let builtin = r["builtin"].as_str().unwrap_or_default();
                println!("{role}: active {active}{}", if active == builtin { " (built-in)" } else { "" });
                for v in r["versions"].as_array().into_iter().flatten() {
                    println!(
                        "  {} {} bytes by {} {}",
                        v["version"].as_str().unwrap_or_default(),
                        v["size"],
                        v["author"].as_str().unwrap_or_default(),
                        v["notes"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(true)
        }
    }
}

async fn report(response: reqwest::Response, success: &str) -> anyhow::Result<bool> {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        println!("ok: {success}");
        Ok(true)
    } else {
        let code = body["error"].as_str().unwrap_or("error");
        let message = body["message"].as_str().unwrap_or_default();
        eprintln!("refused ({status}, {code}): {message}");
        Ok(false)
    }
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Remove the sandboxes no live host owns: those whose host's data directory is gone or has
    /// no host serving from it (a host holds its data directory while it runs).
    Prune {
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also remove sandboxes that name no owner (made by a host older than the owner label).
        #[arg(long)]
        unowned: bool,
        /// Only the sandboxes of the host that served from this data directory.
        #[arg(long)]
        owner: Option<PathBuf>,
    },
}

/// Runs a sandbox command on the local Docker engine (`DOCKER_HOST` or its default socket).
pub async fn run_sandbox(command: SandboxCommand) -> anyhow::Result<bool> {
    let SandboxCommand::Prune { dry_run, unowned, owner } = command;
    // As hosts label them: the canonical path (a data directory that is gone keeps its name).
    let owner = owner.map(|dir| std::fs::canonicalize(&dir).unwrap_or(dir).to_string_lossy().into_owned());
    let backend = blink_sandbox::DockerBackend::connect(blink_sandbox::DockerConfig::default()).await?;
    let mut ok = true;
    for (sandbox, verdict) in crate::preview::owners(&backend).await? {
        let named = sandbox.labels.get(blink_sandbox::OWNER_LABEL);
        if owner.is_some() && named != owner.as_ref() {
            continue;
        }
        let remove =
            matches!(verdict, crate::preview::Owner::Gone(_)) || (unowned && verdict == crate::preview::Owner::Unknown);
        let action = match (remove, dry_run) {
            (false, _) => "kept",
            (true, true) => "would remove",
            (true, false) => match blink_sandbox::SandboxBackend::remove(&backend, &sandbox.project).await {
                Ok(()) => "removed",
                Err(e) => {
                    eprintln!("cannot remove {}: {e}", sandbox.name);
                    ok = false;
                    continue;
                }
            },
        };
        println!("{action} {} ({verdict})", sandbox.name);
    }
    Ok(ok)
}
