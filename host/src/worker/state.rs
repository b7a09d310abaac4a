//! The store data of one task: its WASI and `wasi:http` contexts and resource table, its
//! memory cap, and what its host functions need (its index, its deadline,
//! the link to the hub).

use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use super::http::Http;
use super::link::HostLink;
use super::pipeline::Pipeline;
use crate::protocol::lock;

/// The store data of one task.
pub(crate) struct TaskState {
    pub(super) wasi: WasiCtx,
    pub(super) http: Http,
    pub(crate) table: ResourceTable,
    pub(super) memory: MemoryCap,
    pub(crate) task_index: u64,
    pub(crate) worker_id: u32,
    /// Where the task's requests to the hub go.
    pub(crate) link: HostLink,
    /// When the task's time is up: no wait on a shared object lasts longer.
    pub(crate) deadline: Instant,
    /// Its queue puts answered at once, whose answers are still to come.
    pub(crate) pipeline: Pipeline,
    /// The locks it took in the job's shared memory (their cells and
    /// handles), to let go of when it ends.
    pub(crate) held: Vec<(u32, lock::Handle)>,
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for TaskState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.http.view(&mut self.table)
    }
}

/// Refuses linear-memory growth past the cap, and remembers that it did, so a
/// trap that follows (an allocator giving up) is reported as the cap.
pub(super) struct MemoryCap {
    pub(super) max: usize,
    pub(super) refused: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        let allowed = desired <= self.max;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
