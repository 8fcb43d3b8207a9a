//! What one agent call's store holds: WASI, the memory cap, the CPU time spent, and each import's
//! state (`llm`, `log`, `config`, whose host sides live in their own modules).
//!
//! Each call gets a fresh store: an empty WASI context (no preopened directory, no environment, no
//! sockets), its memory cap, the time it has spent waiting on the host (so the CPU deadline counts
//! only the agent's own work), and the capabilities its role may use.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::Role;
use super::bindings::types;
use super::config::ConfigImport;
use super::llm::{LlmCapability, LlmImport};
use super::log::LogImport;

/// The error a call fails with when its memory cap is hit.
#[derive(Debug, thiserror::Error)]
#[error("the agent tried to grow its memory to {desired} bytes in all, over its limit of {limit} bytes")]
pub struct MemoryExceeded {
    pub desired: usize,
    pub limit: usize,
}

/// The call's memory cap, over all of the component's linear memories together: a component
/// with several memories does not get the cap once for each.
pub(crate) struct MemoryCap {
    pub(crate) limit: usize,
    used: usize,
}

impl MemoryCap {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, used: 0 }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            return Err(MemoryExceeded { desired: total, limit: self.limit }.into());
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

pub(crate) struct AgentState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) llm: LlmImport,
    pub(crate) log: LogImport,
    pub(crate) config: ConfigImport,
    /// Epoch ticks the agent has run its own code for: the epoch callback fires only while guest
    /// code runs, so neither model calls nor waiting for a thread count against the CPU limit.
    pub(crate) cpu_ticks: u32,
    /// When the call began, for its duration.
    pub(crate) started: std::time::Instant,
}

impl AgentState {
    pub(crate) fn new(
        role: Role,
        version: Arc<str>,
        llm: LlmCapability,
        config: Arc<BTreeMap<String, String>>,
        memory_limit: usize,
        output_limit: usize,
    ) -> Self {
        let wasi = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap::new(memory_limit),
            llm: LlmImport { capability: llm, role, version: version.clone() },
            log: LogImport::new(role, version, output_limit),
            config: ConfigImport(config),
            cpu_ticks: 0,
            started: std::time::Instant::now(),
        }
    }
}

impl WasiView for AgentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for AgentState {}
