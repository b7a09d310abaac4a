//! The wasmtime engine settings. The worker builds its engine from them;
//! the host's compile cache keys each artifact by the compatibility hash of
//! the same settings, so they live here, on neither side.

use std::time::Duration;

use wasmparser::WasmFeatures;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::{Limits, MAX_MEMORY};

/// How often the epoch advances: a task overruns its deadline by at most one
/// tick.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Bytes of each linear memory and table kept mapped between tasks and reset
/// in place rather than decommitted.
const KEEP_RESIDENT: usize = 8 << 20;

/// The component-model features that wasmtime accepts only in an engine
/// with concurrency support. A component that uses one (a jco QuickJS
/// build's exports are async-lifted) gets such an engine, which enables
/// component-model async (async lifts and lowers, `task.return`, streams,
/// futures; the other features stay off, as wasmtime has them); every
/// other component gets an engine without it, because with it every call
/// goes through wasmtime's task scheduler: about 2 µs more a fresh
/// instance's call and 1 µs more a reused one's (B1's `square`).
pub(crate) const NEEDS_CONCURRENCY: WasmFeatures = WasmFeatures::CM_ASYNC
    .union(WasmFeatures::CM_MORE_ASYNC_BUILTINS)
    .union(WasmFeatures::CM_ASYNC_STACKFUL)
    .union(WasmFeatures::CM_THREADING)
    .union(WasmFeatures::CM_ERROR_CONTEXT);

/// The engine settings: epoch interruption for deadlines, fuel only when
/// asked (it costs), concurrency support (component-model async) only for
/// a component that needs it (see [`NEEDS_CONCURRENCY`]), and the pooling
/// allocator with copy-on-write memory images so that a fresh instance per
/// task is cheap. Engines that differ in `concurrency` make artifacts that
/// do not load into each other.
pub(crate) fn config(limits: &Limits, concurrency: bool) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(limits.fuel.is_some());
    config.concurrency_support(concurrency);
    config.wasm_backtrace_max_frames(None);
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(4)
        .total_core_instances(64)
        .max_core_instances_per_component(32)
        .total_memories(16)
        .max_memories_per_component(8)
        .total_tables(64)
        .total_stacks(4)
        .max_tables_per_component(16)
        .max_memory_size(usize::try_from(limits.max_memory.min(MAX_MEMORY)).unwrap_or(usize::MAX))
        // Reset a used memory or table by copying back only the pages the
        // task dirtied (found with the PAGEMAP_SCAN ioctl where the kernel
        // has it), and keep them mapped: `madvise` and the page faults that
        // follow it cost more than the task itself for small tasks.
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    config
}
