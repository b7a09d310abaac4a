//! Host bindings of the `wpool:task` WIT package (`wit/` at the repository
//! root), and the implementation of each interface it imports.

use crate::runtime::TaskState;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "wpool:task/host",
});

pub(crate) use self::wpool::task::context;

impl context::Host for TaskState {
    fn task_index(&mut self) -> u64 {
        self.task_index
    }

    fn worker_id(&mut self) -> u32 {
        self.worker_id
    }
}
