//! The process's one wasmtime `Engine`: pooling allocator, epoch interruption, and the ticker that
//! drives the epochs.

use std::time::Duration;

use anyhow::Context;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of CPU deadlines and of cooperative yields.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

pub(crate) struct EngineLimits {
    /// Linear memory of one instance, in bytes.
    pub(crate) memory_bytes: u64,
    /// Instances alive at once.
    pub(crate) instances: u32,
}

pub(crate) fn build(limits: &EngineLimits) -> anyhow::Result<Engine> {
    let pooled = engine(Some(limits));
    let engine = match pooled {
        Ok(engine) => engine,
        // The pool reserves virtual address space up front; where that is short (a tight
        // `ulimit -v`, a 32-bit host) instantiation on demand still works, only slower.
        Err(e) => {
            tracing::warn!("pooling allocator unavailable ({e:#}); instantiating on demand");
            engine(None)?
        }
    };
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            // Holds only a weak handle, so the ticker ends with the engine.
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("starting the epoch ticker")?;
    Ok(engine)
}

fn engine(pool: Option<&EngineLimits>) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.max_wasm_stack(2 << 20);
    config.async_stack_size(4 << 20);
    if let Some(limits) = pool {
        let mut pooling = PoolingAllocationConfig::new();
        let instances = limits.instances.max(1);
        // A Rust wasip2 component holds a few core instances (its module plus lowering shims);
        // the pool sizes below leave room for components from other toolchains too.
        pooling
            .total_component_instances(instances)
            .total_core_instances(instances * 8)
            .max_core_instances_per_component(16)
            .total_memories(instances * 2)
            .max_memories_per_component(4)
            .total_tables(instances * 4)
            .max_tables_per_component(8)
            .total_stacks(instances)
            .max_memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX));
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    Engine::new(&config).map_err(anyhow::Error::from)
}
