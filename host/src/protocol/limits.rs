//! The limits every task runs under: chosen on the host, applied by the
//! worker, and part of the engine settings the compile cache is keyed by.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest timeout a pool keeps, for a task or for a compile: one year
/// (365.25 days, as `humantime` counts a year). A pool clamps a longer one
/// to it, so that deadlines computed from it stay far from the clock's
/// limits; `wpool` refuses a longer one.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(31_557_600);

/// The largest [`Limits::max_memory`]: 4 GiB, all a 32-bit linear memory
/// can address.
pub const MAX_MEMORY: u64 = 4 << 30;

/// Hard limits on every task of a run. A task that exceeds one fails alone
/// with the matching `TaskError`; the others go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time a task may run, enforced by epoch interruption: a task
    /// is stopped at most one tick (10 ms) after it. At most [`MAX_TIMEOUT`]:
    /// [`PoolBuilder::limits`](crate::PoolBuilder::limits) clamps a longer one.
    pub timeout: Duration,
    /// Fuel a task may burn (about one unit per wasm instruction); `None`
    /// for no fuel accounting, which runs faster.
    pub fuel: Option<u64>,
    /// Bytes of linear memory a task may hold: at most [`MAX_MEMORY`], all
    /// a 32-bit memory can address (a larger limit is that one).
    pub max_memory: u64,
    /// Bytes of stdout, and of stderr, kept per task; the rest is dropped
    /// and counted.
    pub max_output: usize,
    /// Bytes of an input, and of a result, in the binary value encoding
    /// that carries them between the host and the workers (a `list<u8>` or
    /// a `string` of n bytes takes n bytes and a length; WAVE text takes up
    /// to four times more): a task whose input or result is larger fails
    /// with `TaskError::TooLarge`.
    pub max_value: usize,
}

impl Default for Limits {
    /// 30 s, no fuel accounting, 512 MiB of memory, 64 KiB of each output,
    /// 16 MiB per input and per result.
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(30),
            fuel: None,
            max_memory: 512 << 20,
            max_output: 64 << 10,
            max_value: 16 << 20,
        }
    }
}
