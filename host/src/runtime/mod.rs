//! The component runtime: runs the four agent roles as WebAssembly components under limits.
//!
//! One engine for the process; each role's active component sits behind an atomic pointer (the
//! seam hot swap plugs into), and every call gets a fresh store with a memory cap, a CPU deadline
//! counted in epoch ticks, a wall-clock timeout and an output-size cap. A component that traps,
//! loops or grabs memory fails its own call with an [`AgentCallError`]; the host and other calls go
//! on.

pub(crate) mod bindings;
mod cache;
mod call;
mod config;
mod convert;
mod engine;
pub mod llm;
mod log;
mod state;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use blink_agent_sdk as sdk;
use tokio_util::sync::CancellationToken;
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use self::bindings::{fixer, generator, planner, validator};
pub(crate) use self::cache::content_hash;
use self::llm::LlmCapability;
use self::state::{AgentState, MemoryExceeded};

/// The built-in agents, compiled from `agents/` by the build script.
pub(crate) mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_agents.rs"));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Planner,
    Generator,
    Validator,
    Fixer,
}

impl Role {
    pub(crate) const ALL: [Role; 4] = [Role::Planner, Role::Generator, Role::Validator, Role::Fixer];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Planner => "planner",
            Role::Generator => "generator",
            Role::Validator => "validator",
            Role::Fixer => "fixer",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// The component bytes of the built-in agent of `role`.
pub(crate) fn builtin_bytes(role: Role) -> &'static [u8] {
    match role {
        Role::Planner => builtin::PLANNER,
        Role::Generator => builtin::GENERATOR,
        Role::Validator => builtin::VALIDATOR,
        Role::Fixer => builtin::FIXER,
    }
}

/// Limits every agent call runs under.
#[derive(Debug, Clone)]
pub struct CallLimits {
    pub memory_bytes: u64,
    pub cpu: Duration,
    pub wall: Duration,
    pub output_bytes: usize,
}

/// A loaded component, type-checked against its role's world.
pub struct Agent {
    pub(crate) role: Role,
    /// Content hash of the component.
    pub(crate) version: Arc<str>,
    pre: RolePre,
}

enum RolePre {
    Planner(planner::PlannerPre<AgentState>),
    Generator(generator::GeneratorPre<AgentState>),
    Validator(validator::ValidatorPre<AgentState>),
    Fixer(fixer::FixerPre<AgentState>),
}

/// Why an agent call failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentCallError {
    #[error("the {role} agent returned an error: {error}")]
    Agent { role: Role, error: sdk::AgentError },
    #[error("the {role} agent crashed: {message}")]
    Trap { role: Role, message: String },
    #[error("the {role} agent used more than its {}ms of CPU time", .limit.as_millis())]
    CpuLimit { role: Role, limit: Duration },
    #[error("the {role} agent did not finish within {}s", .limit.as_secs())]
    Timeout { role: Role, limit: Duration },
    #[error("the {role} agent exceeded its memory limit: {source}")]
    MemoryLimit { role: Role, source: MemoryExceeded },
    #[error("the {role} agent returned {size} bytes, over its limit of {limit} bytes")]
    OutputLimit { role: Role, size: usize, limit: usize },
    #[error("a {actual} component was given where a {expected} was expected")]
    WrongRole { expected: Role, actual: Role },
    #[error("the run was cancelled")]
    Cancelled,
    #[error("the {role} agent could not start: {message}")]
    Instantiate { role: Role, message: String },
}

impl AgentCallError {
    /// The model error behind this failure, if a model call is what failed.
    pub(crate) fn llm_error(&self) -> Option<&sdk::LlmError> {
        match self {
            Self::Agent { error: sdk::AgentError::Llm(e), .. } => Some(e),
            _ => None,
        }
    }
}

/// What a call needs from the run it belongs to.
#[derive(Clone)]
pub struct CallContext {
    pub llm: LlmCapability,
    pub cancel: CancellationToken,
    /// The operator's settings for each role.
    pub config: Arc<BTreeMap<Role, Arc<BTreeMap<String, String>>>>,
}

impl CallContext {
    fn config_for(&self, role: Role) -> Arc<BTreeMap<String, String>> {
        self.config.get(&role).cloned().unwrap_or_default()
    }
}

pub struct AgentRuntime {
    engine: Engine,
    linker: Linker<AgentState>,
    cache: cache::ComponentCache,
    limits: CallLimits,
    active: [ArcSwap<Agent>; 4],
    /// One permit per pooled instance: a call waits for a free slot instead of failing when the
    /// host is busy.
    slots: Arc<tokio::sync::Semaphore>,
    /// Content hashes of the built-in agents, by role.
    builtin: [String; 4],
    /// A candidate per role that serves a share of new runs.
    canary: [ArcSwap<Option<Canary>>; 4],
}

/// A version trying out on a share of the runs.
#[derive(Clone)]
pub(crate) struct Canary {
    pub(crate) agent: Arc<Agent>,
    /// From 0 to 1.
    pub(crate) share: f64,
}

/// The contract version this host serves: `build.rs` reads it from the WIT package line.
pub(crate) const CONTRACT_VERSION: &str = env!("BLINK_CONTRACT_VERSION");

/// Why a component cannot serve a role.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly component this host can compile: {0}")]
    NotAComponent(String),
    #[error("{0}")]
    WrongContract(String),
    #[error("{0}")]
    WrongWorld(String),
}

/// The versions of the `blink:agents` package a component imports.
fn contracts_of(engine: &Engine, component: &Component) -> Vec<String> {
    let mut versions: Vec<String> = component
        .component_type()
        .imports(engine)
        .filter_map(|(name, _)| {
            name.strip_prefix("blink:agents/").and_then(|rest| rest.split_once('@')).map(|(_, v)| v.to_string())
        })
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

impl AgentRuntime {
    /// Starts the engine and loads the built-in agents.
    pub fn new(cache_dir: &Path, limits: CallLimits, instances: u32) -> anyhow::Result<Self> {
        let engine = engine::build(&engine::EngineLimits { memory_bytes: limits.memory_bytes, instances })?;
        let mut linker = Linker::<AgentState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        // Each import's host side is its own state in the store.
        bindings::types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(anyhow::Error::from)?;
        bindings::llm::add_to_linker::<_, HasSelf<llm::LlmImport>>(&mut linker, |s: &mut AgentState| &mut s.llm)
            .map_err(anyhow::Error::from)?;
        bindings::log::add_to_linker::<_, HasSelf<log::LogImport>>(&mut linker, |s: &mut AgentState| &mut s.log)
            .map_err(anyhow::Error::from)?;
        bindings::config::add_to_linker::<_, HasSelf<config::ConfigImport>>(&mut linker, |s: &mut AgentState| {
            &mut s.config
        })
        .map_err(anyhow::Error::from)?;
        let cache = cache::ComponentCache::new(&engine, cache_dir)?;
        let load = |role: Role, bytes: &[u8]| -> anyhow::Result<ArcSwap<Agent>> {
            let agent = Self::compile(&engine, &linker, &cache, role, bytes)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("loading the built-in {role}"))?;
            Ok(ArcSwap::from_pointee(agent))
        };
        let active = [
            load(Role::Planner, builtin::PLANNER)?,
            load(Role::Generator, builtin::GENERATOR)?,
            load(Role::Validator, builtin::VALIDATOR)?,
            load(Role::Fixer, builtin::FIXER)?,
        ];
        let slots = Arc::new(tokio::sync::Semaphore::new(instances.max(1) as usize));
        let builtin = [builtin::PLANNER, builtin::GENERATOR, builtin::VALIDATOR, builtin::FIXER].map(content_hash);
        let canary = Default::default();
        Ok(Self { engine, linker, cache, limits, active, slots, builtin, canary })
    }

    fn compile(
        engine: &Engine,
        linker: &Linker<AgentState>,
        cache: &cache::ComponentCache,
        role: Role,
        bytes: &[u8],
    ) -> Result<Agent, LoadError> {
        let version = content_hash(bytes);
        let component: Component =
            cache.load(engine, &version, bytes).map_err(|e| LoadError::NotAComponent(format!("{e:#}")))?;
        let contracts = contracts_of(engine, &component);
        if let Some(other) = contracts.iter().find(|v| v.as_str() != CONTRACT_VERSION) {
            return Err(LoadError::WrongContract(format!(
                "the component was built against blink:agents@{other}; this host serves blink:agents@{CONTRACT_VERSION}"
            )));
        }
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            LoadError::WrongWorld(format!("the component's imports do not match the {role} world: {e:#}"))
        })?;
        let typed = match role {
            Role::Planner => planner::PlannerPre::new(pre).map(RolePre::Planner),
            Role::Generator => generator::GeneratorPre::new(pre).map(RolePre::Generator),
            Role::Validator => validator::ValidatorPre::new(pre).map(RolePre::Validator),
            Role::Fixer => fixer::FixerPre::new(pre).map(RolePre::Fixer),
        }
        .map_err(|e| LoadError::WrongWorld(format!("the component's exports do not match the {role} world: {e:#}")))?;
        Ok(Agent { role, version: version.into(), pre: typed })
    }

    /// Compiles `bytes` (or takes them from the cache) and checks them against `role`'s world.
    pub fn load(&self, role: Role, bytes: &[u8]) -> Result<Arc<Agent>, LoadError> {
        Ok(Arc::new(Self::compile(&self.engine, &self.linker, &self.cache, role, bytes)?))
    }

    /// The content hash of the built-in agent of `role`.
    pub(crate) fn builtin_version(&self, role: Role) -> &str {
        &self.builtin[role.index()]
    }

    /// The built-in agent of `role`, loaded (from the compile cache).
    pub(crate) fn builtin(&self, role: Role) -> Result<Arc<Agent>, LoadError> {
        self.load(role, builtin_bytes(role))
    }

    /// Makes the built-in agent its role's active component again.
    pub(crate) fn activate_builtin(&self, role: Role) -> Result<(), LoadError> {
        self.activate(self.builtin(role)?);
        Ok(())
    }

    /// Makes `agent` its role's active component. Calls already running keep the component they
    /// started with.
    pub(crate) fn activate(&self, agent: Arc<Agent>) {
        self.active[agent.role.index()].store(agent);
    }

    /// The role's active component.
    pub fn active(&self, role: Role) -> Arc<Agent> {
        self.active[role.index()].load_full()
    }

    /// The component to serve a new run: the canary for its share of runs, else the active one.
    pub(crate) fn pick(&self, role: Role) -> Arc<Agent> {
        if let Some(canary) = self.canary[role.index()].load().as_ref()
            && rand::random::<f64>() < canary.share
        {
            return canary.agent.clone();
        }
        self.active(role)
    }

    /// Sends `share` of new runs to a candidate; `None` ends the canary.
    pub(crate) fn set_canary(&self, role: Role, canary: Option<Canary>) {
        self.canary[role.index()].store(Arc::new(canary));
    }

    pub(crate) fn canary(&self, role: Role) -> Option<Canary> {
        self.canary[role.index()].load().as_ref().clone()
    }
}
