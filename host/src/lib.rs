//! wpool runs WebAssembly components as tasks on a pool of isolated worker
//! processes: Python's `multiprocessing.Pool`, for wasm.
//!
//! A task is a function exported by a component, typed by its WIT
//! signature. A [`Pool`] starts worker processes (each the `wpool` binary
//! with its own wasmtime engine), sends them inputs in batches, and gives
//! back one [`TaskOutput`] per input: the result, or a [`TaskError`] saying
//! why that task alone failed (a trap, a timeout, a memory cap, a worker
//! that died).
//!
//! ```
//! # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
//! # // Doctests run outside cargo's target directory: point at the binary.
//! # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
//! use wpool::{Component, Pool};
//!
//! // square.wasm exports `square: func(x: s64) -> s64`.
//! let task = Component::from_file(square)?.task(None)?;
//! let pool = Pool::builder().workers(2).worker_program(worker).build();
//!
//! let inputs = (0..10).map(|x| task.parse_input(&x.to_string()));
//! let inputs: Vec<_> = inputs.collect::<Result<_, _>>()?;
//! let squares: Vec<String> = pool
//!     .map(&task, inputs)?
//!     .into_iter()
//!     .map(|out| out.result.unwrap().to_string())
//!     .collect();
//! assert_eq!(squares, ["0", "1", "4", "9", "16", "25", "36", "49", "64", "81"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Values are given and shown as WAVE, the WebAssembly value encoding:
//! `42`, `"text"`, `[1, 2]`, `{name: "x", size: 3}`, `some(1)`, `ok(2)`. A
//! function with several parameters takes a tuple, `(1, "a")`. They are
//! also given and shown as typed JSON ([`Task::parse_input_json`],
//! [`Value::to_json`]: records as objects, `list<u8>` as base64, ...), and
//! a function of one `list<u8>` or `string` takes a file's contents
//! ([`Task::file_input`]), read only when its task is dispatched. Between the
//! host and its workers they cross in a compact binary encoding (a
//! `list<u8>` as a length and its bytes), which
//! [`Limits::max_value`](crate::Limits::max_value) measures.
//!
//! # Layout
//!
//! Two programs live in this crate, the host and the worker, each in a folder
//! of its own, and they meet only through the protocol between them:
//!
//! - `protocol`: what crosses between the host and a worker process: frames,
//!   messages, the binary encoding of values, [`Limits`], the shared-object operations with their answers
//!   and [`ObjectError`], [`Captured`] output and the [`Stream`]s a process's
//!   output streams on, the engine settings, the
//!   worker's command-line marker, the lockdown probe's report to
//!   `wpool doctor`. Nothing in it runs a process.
//! - `pool` (the host side): the public API ([`Pool`], [`PoolBuilder`],
//!   [`Component`], [`Task`], [`AsyncResult`], [`Process`] and its
//!   [`ProcessOptions`], [`Error`]), the
//!   dispatcher that runs worker processes, the compile cache, guest builds,
//!   the hub (`pool::hub`): every job's shared objects, one file per WIT
//!   interface, and the host's blocking handles on them ([`Queue`] and its
//!   siblings), and runs on many machines through NATS JetStream
//!   (`pool::cluster`: a [`Cluster`] submits, [`Agent`]s serve).
//! - `worker` (the worker side): the worker loop, the wasmtime runtime, the
//!   `wpool:task` host bindings, output capture (or streaming), the sandbox lockdown.
//!
//! `unsafe` is denied but in four places, each with its reason: loading a
//! compiled artifact whose keyed tag the host verified (`worker::load`),
//! `unshare` in the lockdown and the allocator's tunables in the worker,
//! and mapping a job's shared memory (`protocol::shared_memory`).
//!
//! `pool` and `worker` each use `protocol`, never each other, and no
//! modules import each other in a cycle, between the parts or inside them. The command-line interface lives in the binary,
//! on top of this crate's public API. The test suite checks these rules.

mod pool;
mod protocol;
mod worker;

pub use pool::{
    Agent, AgentStop, AsyncError, AsyncResult, Barrier, Callbacks, Cluster, Component, Condition,
    Connection, Dict, Error, Event, GUEST_TARGET, Imap, Input, InputStream, InputStreamCloser,
    IntoInputs, Lock, MAX_COMPONENT_SIZE, Pool, PoolBuilder, Process, ProcessOptions, Queue, Retry,
    Semaphore, SharedArray, SharedList, SharedValue, Task, TaskError, TaskOutput, Value,
    build_guest, shorten,
};
pub use protocol::{Captured, End, Limits, MAX_MEMORY, MAX_TIMEOUT, ObjectError, Scalar, Stream};

/// The hidden modes of the `wpool` binary: a worker process, and the
/// lockdown probe of `wpool doctor`. Not part of the API: only the binary
/// calls them.
#[doc(hidden)]
pub mod entry {
    pub use crate::protocol::{Layer, PROBE_ARG, WORKER_ARG};
    pub use crate::worker::{main as worker, probe};
}
