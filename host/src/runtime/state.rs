//! What one agent call's store holds, and the host side of the agent's imports.
//!
//! Each call gets a fresh store: an empty WASI context (no preopened directory, no environment, no
//! sockets), its memory cap, the time it has spent waiting on the host (so the CPU deadline counts
//! only the agent's own work), and the capabilities its role may use.

use std::collections::BTreeMap;
use std::sync::Arc;

use blink_agent_sdk as sdk;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::Role;
use super::bindings::{config, llm, log, types};
use super::convert;
use super::llm::LlmCapability;

/// The error a call fails with when its memory cap is hit.
#[derive(Debug, thiserror::Error)]
#[error("the agent tried to grow its memory to {desired} bytes in all, over its limit of {limit} bytes")]
pub struct MemoryExceeded {
    pub desired: usize,
    pub limit: usize,
}

/// The call's memory cap, over all of the component's linear memories together: a component
/// with several memories does not get the cap once for each.
pub struct MemoryCap {
    pub limit: usize,
    used: usize,
}

impl MemoryCap {
    pub fn new(limit: usize) -> Self {
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

pub struct AgentState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub memory: MemoryCap,
    pub role: Role,
    pub version: Arc<str>,
    llm: LlmCapability,
    config: Arc<BTreeMap<String, String>>,
    /// Epoch ticks the agent has run its own code for: the epoch callback fires only while guest
    /// code runs, so neither model calls nor waiting for a thread count against the CPU limit.
    pub cpu_ticks: u32,
    /// Bytes logged so far; logging stops counting against nothing once the output cap is reached.
    pub logged_bytes: usize,
    pub output_limit: usize,
}

impl AgentState {
    pub fn new(
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
            role,
            version,
            llm,
            config,
            cpu_ticks: 0,
            logged_bytes: 0,
            output_limit,
        }
    }
}

impl WasiView for AgentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for AgentState {}

impl llm::Host for AgentState {
    async fn complete(&mut self, request: llm::CompletionRequest) -> Result<llm::Completion, types::LlmError> {
        let request = sdk::CompletionRequest {
            messages: request.messages.into_iter().map(convert::message_from).collect(),
            temperature: request.temperature,
            max_tokens: request.max_tokens,
            json_mode: request.json_mode,
            model: request.model,
            stream_to: request.stream_to.map(|c| match c {
                llm::StreamChannel::Thinking => sdk::StreamChannel::Thinking,
                llm::StreamChannel::Conversation => sdk::StreamChannel::Conversation,
            }),
        };
        let result = self.llm.complete(request).await;
        match result {
            Ok(c) => Ok(llm::Completion {
                content: c.content,
                model: c.model,
                usage: llm::Usage {
                    prompt_tokens: c.usage.prompt_tokens,
                    completion_tokens: c.usage.completion_tokens,
                },
                truncated: c.truncated,
            }),
            Err(e) => {
                tracing::debug!(role = %self.role, version = %self.version, error = %e, "model call failed");
                Err(convert::llm_error(e))
            }
        }
    }
}

/// Longest log line kept; the rest is cut so a chatty agent cannot flood the host's log.
const MAX_LOG_LINE: usize = 4096;

impl log::Host for AgentState {
    async fn log(&mut self, level: log::Level, message: String) {
        if self.logged_bytes >= self.output_limit {
            return;
        }
        self.logged_bytes += message.len();
        let message = sdk::planner::truncate(&message, MAX_LOG_LINE);
        let (role, version) = (self.role, &*self.version);
        match level {
            log::Level::Debug => tracing::debug!(%role, version, "{message}"),
            log::Level::Info => tracing::info!(%role, version, "{message}"),
            log::Level::Warn => tracing::warn!(%role, version, "{message}"),
            log::Level::Error => tracing::error!(%role, version, "{message}"),
        }
    }
}

impl config::Host for AgentState {
    async fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}
