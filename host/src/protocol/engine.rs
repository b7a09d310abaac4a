//! The wasmtime engine settings. The worker builds its engine from them;
//! the host's compile cache keys each artifact by the compatibility hash of
//! the same settings, so they live here, on neither side.

use std::time::Duration;

use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::Limits;

/// How often the epoch advances: a task overruns its deadline by at most one
/// tick.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Bytes of each linear memory and table kept mapped between tasks and reset
/// in place rather than decommitted.
const KEEP_RESIDENT: usize = 8 << 20;

/// The engine settings: epoch interruption for deadlines, fuel only when
/// asked (it costs), and the pooling allocator with copy-on-write memory
/// images so that a fresh instance per task is cheap.
pub(crate) fn config(limits: &Limits) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(limits.fuel.is_some());
    config.concurrency_support(false);
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
        .max_memory_size(usize::try_from(limits.max_memory).unwrap_or(usize::MAX))
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
