//! The hub: the host-process side of the `wpool:task` WIT's shared objects.
//! It owns every queue, pipe, value, array, lock, condition, dict, list,
//! event, semaphore and barrier of every job, and serves the operations that tasks (through their
//! worker's connection) and the host itself send it. A request never
//! blocks the hub: an operation that must wait parks its reply, which is
//! called when the operation completes or its timeout passes.
//!
//! One mutex guards every object: an operation touches one object under it
//! (`task_ended` and `worker_died` every object of the job), and the replies
//! it settles are called after it is released. A timer thread answers
//! `timeout` to waiters whose deadline passes.
//!
//! Adding an operation: declare it in `protocol/ops.rs` (its request fields
//! and answer type), apply it in its object's file here, and call it from
//! the worker's binding (`worker/bindings.rs`) and the host's handle
//! (`handles.rs`); the compiler checks that each answers the declared type.
//!
//! # Layout
//! - `server`: [`Hub`], its lock and timer thread, and the typed client
//!   calls the host's handles and the tests use; or the [`Remote`] hub in
//!   another process that it forwards to.
//! - `state`: every job's objects behind the lock, and how an operation is
//!   served: an open by name, or an operation on the object a handle names.
//! - `objects`: a job's table of objects; [`Object`](objects::Object) hands
//!   each operation to the object it names, and lets go of what departed
//!   tasks held.
//! - `queue`, `pipe`, `shared` (value, array, lock and its conditions, dict),
//!   `sync` (event, semaphore, barrier): one file per WIT interface, and
//!   `list` for `shared`'s list; each object's rules and how it applies its
//!   operations (declared in `protocol`).
//! - `stream`: what queues and pipes share: the room a put or send answers,
//!   and a get or receive that takes the items ahead.
//! - `waiters`: parked requests, the replies an operation settles, deadlines.
//! - `caller`: who sends an operation, and which tasks are gone.
//! - `budget`: the bytes a job's queues, pipes, dicts and lists hold; `limits`:
//!   what a job may hold.
//! - `handles`: the host participant's blocking handles, [`Queue`] and the
//!   others.

mod budget;
mod caller;
mod handles;
mod limits;
mod list;
mod objects;
mod pipe;
mod queue;
mod server;
mod shared;
mod state;
mod stream;
mod sync;
mod waiters;

#[cfg(test)]
mod tests;

pub(crate) use self::caller::{Caller, JobId};
pub use self::handles::{
    Barrier, Condition, Connection, Dict, Event, Lock, Queue, Semaphore, SharedArray, SharedList,
    SharedValue,
};
pub(crate) use self::limits::HubLimits;
pub(crate) use self::server::{Hub, Remote};
pub(crate) use self::waiters::Reply;
