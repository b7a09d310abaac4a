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
//! Values cross into and out of tasks as WAVE, the WebAssembly value
//! encoding: `42`, `"text"`, `[1, 2]`, `{name: "x", size: 3}`, `some(1)`,
//! `ok(2)`. A function with several parameters takes a tuple, `(1, "a")`.
//!
//! # Layout
//! - `task`: [`Component`] (a validated component and its WIT), [`Task`] (one
//!   exported function), [`Input`] and [`Value`].
//! - `pool`: [`Pool`] (a pool and its job of shared objects), [`PoolBuilder`],
//!   [`Limits`], [`Imap`], [`TaskOutput`].
//! - `lane`: runs fed one input at a time: [`Pool::apply_async`]'s
//!   [`AsyncResult`] and [`Callbacks`], [`Pool::spawn`]'s [`Process`].
//! - `dispatch`: one run: batching, ordering, retries, worker replacement.
//! - `transport`: the frames between the host and a worker.
//! - `worker`: the worker process's loop; `runtime`: its wasmtime engine and
//!   the per-task store, limits and WASI context.
//! - `sandbox`: the worker's process lockdown (namespaces, Landlock, rlimits,
//!   seccomp); `test_hook`: faults only the test suite provokes in a worker.
//! - `cache`: the compile cache on disk, its keyed tags, and (in
//!   `cache::load`, the one module allowed `unsafe`) loading an artifact.
//! - `bindings`: the host side of the `wpool:task` WIT package.
//! - `hub`: the job's shared objects (queues, pipes, values, locks, ...),
//!   served to tasks and to the host through [`Queue`] and its siblings.
//! - `capture`: bounded capture of guest stdout and stderr.
//! - `guest_build`: building a guest crate into a component.
//! - `error`: [`Error`] and [`TaskError`].

mod bindings;
mod cache;
mod capture;
mod dispatch;
mod error;
mod guest_build;
mod hub;
mod lane;
mod pool;
mod runtime;
mod sandbox;
mod task;
mod test_hook;
mod transport;
pub mod worker;

pub use capture::Captured;
pub use error::{Error, TaskError};
pub use guest_build::{GUEST_TARGET, build_guest};
pub use hub::{
    Barrier, Connection, Dict, End, Event, Lock, ObjectError, Queue, Scalar, Semaphore,
    SharedArray, SharedValue,
};
pub use lane::{AsyncError, AsyncResult, Callbacks, Process};
pub use pool::{Imap, Limits, Pool, PoolBuilder, TaskOutput};
pub use task::{Component, Input, MAX_COMPONENT_SIZE, Task, Value};
