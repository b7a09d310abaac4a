//! The hub: the host-process side of the `wpool:task` WIT's shared objects.
//! It owns every queue, pipe, value, array, lock, dict, event, semaphore and
//! barrier of every job, and serves the operations that tasks (through their
//! worker's connection) and the host itself send it. [`Hub::request`] never
//! blocks: an operation that must wait parks its reply, which is called when
//! the operation completes or its timeout passes.
//!
//! One mutex guards every object: an operation touches one object under it
//! (`task_ended` and `worker_died` every object of the job), and the replies
//! it settles are called after it is released. A timer thread
//! answers `timeout` to waiters whose deadline passes.
//!
//! # Layout
//! - `waiters`: parked requests, the replies an operation settles, deadlines.
//! - `budget`: the bytes a job's queues, pipes and dicts hold.
//! - `queue`, `pipe`, `shared` (value, array, lock, dict), `sync` (event,
//!   semaphore, barrier): one file per WIT interface, each object's rules.
//! - `handles`: the host participant's blocking handles, [`Queue`] and the
//!   others.

mod budget;
mod handles;
mod pipe;
mod queue;
mod shared;
mod sync;
mod waiters;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use handles::{
    Barrier, Connection, Dict, Event, Lock, Queue, Semaphore, SharedArray, SharedValue,
};

use budget::Budget;
use pipe::PipeObject;
use queue::QueueObject;
use shared::{ArrayObject, DictObject, LockObject, ScalarKind, ValueObject};
use sync::{BarrierObject, EventObject, SemaphoreObject};
use waiters::{Deadlines, Flow, Outbox, Waiter, WaiterId};

/// Names one run of a task over its inputs; every object belongs to one job.
pub(crate) type JobId = u64;

/// Who sends an operation: a task of a job, run by a worker.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Caller {
    pub job: JobId,
    /// [`Caller::HOST`] for the host process itself.
    pub worker: u32,
    /// The task's index in its job; for the host, one number per thread.
    pub task: u64,
}

impl Caller {
    /// The worker id of the host process.
    pub(crate) const HOST: u32 = u32::MAX;
}

/// Where an operation's answer goes. Called exactly once, with none of the
/// hub's locks held, on the thread of the request or of whatever completed
/// it (another request, the timer thread, a drop): it should only hand the
/// answer on, say to a channel, and may call the hub again.
pub(crate) type Reply = Box<dyn FnOnce(Result<Answer, ObjectError>) + Send>;

/// Why an operation on a shared object failed: the WIT's `types.error`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, thiserror::Error)]
pub enum ObjectError {
    /// The object was closed, or the other end of a pipe is gone.
    #[error("closed")]
    Closed,
    /// The timeout, or the task's deadline, came first.
    #[error("timed out")]
    Timeout,
    /// The object exists with another kind or shape, a limit on names or on
    /// the number of objects was reached, or the operation is not allowed.
    #[error("denied: {0}")]
    Denied(String),
    /// The message is larger than the job allows; the payload is the limit.
    #[error("message larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// A task holding the lock, or waiting at the barrier, died.
    #[error("abandoned by a task that died")]
    Abandoned,
}

/// A shared scalar, as held by a value or an array: the WIT's `types.scalar`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A byte string.
    Bytes(Vec<u8>),
}

/// One end of a pipe: the WIT's `pipe.end`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The first end.
    A,
    /// The second end.
    B,
}

/// What the hub lets one job hold.
#[derive(Clone, Debug)]
pub(crate) struct HubLimits {
    /// The largest queue item, pipe message, dict entry (key and value) or
    /// bytes scalar; a larger one gets `too-large`.
    pub max_message: usize,
    /// How many objects (of any kind) a job may open.
    pub max_objects_per_job: usize,
    /// The longest name, in bytes.
    pub max_name: usize,
    /// The most items one queue of capacity 0, one pipe inbox or one dict
    /// holds, and the longest array.
    pub max_queued_items: usize,
    /// The most bytes a job's queues, pipes and dicts hold together
    /// (waiting puts and sends included); beyond, a store gets `denied`.
    pub max_job_bytes: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        HubLimits {
            max_message: 1 << 20,
            max_objects_per_job: 1024,
            max_name: 256,
            max_queued_items: 65536,
            max_job_bytes: 256 << 20,
        }
    }
}

/// One operation of the WIT, on an object named by the handle `open` gave.
/// `QueuePut`, `QueueGet`, `PipeSend`, `PipeRecv`, `LockAcquire`,
/// `EventWait`, `SemaphoreAcquire` and `BarrierWait` may wait, up to the
/// request's timeout; the others answer at once and ignore it.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Op {
    QueueOpen {
        name: String,
        capacity: u32,
    },
    QueuePut {
        queue: u64,
        item: Vec<u8>,
    },
    QueueGet {
        queue: u64,
    },
    QueueLen {
        queue: u64,
    },
    QueueClose {
        queue: u64,
    },
    /// The handle it answers names this connection, not the pipe.
    PipeOpen {
        name: String,
        end: End,
    },
    PipeSend {
        conn: u64,
        message: Vec<u8>,
    },
    PipeRecv {
        conn: u64,
    },
    /// Also what dropping a connection resource means.
    PipeClose {
        conn: u64,
    },
    ValueOpen {
        name: String,
        initial: Scalar,
    },
    ValueGet {
        value: u64,
    },
    ValueSet {
        value: u64,
        new: Scalar,
    },
    ValueAdd {
        value: u64,
        delta: Scalar,
    },
    ValueCompareAndSwap {
        value: u64,
        expected: Scalar,
        new: Scalar,
    },
    ArrayOpen {
        name: String,
        len: u32,
        initial: Scalar,
    },
    ArrayGet {
        array: u64,
        index: u32,
    },
    ArraySet {
        array: u64,
        index: u32,
        new: Scalar,
    },
    ArrayAdd {
        array: u64,
        index: u32,
        delta: Scalar,
    },
    ArrayLen {
        array: u64,
    },
    LockOpen {
        name: String,
        reentrant: bool,
    },
    LockAcquire {
        lock: u64,
    },
    LockRelease {
        lock: u64,
    },
    DictOpen {
        name: String,
    },
    DictGet {
        dict: u64,
        key: String,
    },
    DictSet {
        dict: u64,
        key: String,
        value: Vec<u8>,
    },
    DictRemove {
        dict: u64,
        key: String,
    },
    DictKeys {
        dict: u64,
    },
    DictLen {
        dict: u64,
    },
    EventOpen {
        name: String,
    },
    EventSet {
        event: u64,
    },
    EventClear {
        event: u64,
    },
    EventIsSet {
        event: u64,
    },
    EventWait {
        event: u64,
    },
    SemaphoreOpen {
        name: String,
        initial: u32,
    },
    SemaphoreAcquire {
        semaphore: u64,
    },
    SemaphoreRelease {
        semaphore: u64,
    },
    BarrierOpen {
        name: String,
        parties: u32,
    },
    BarrierWait {
        barrier: u64,
    },
}

/// A successful operation's result.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(crate) enum Answer {
    Unit,
    /// From `open`: the handle naming the object (or pipe connection).
    Handle(u64),
    Bytes(Vec<u8>),
    MaybeBytes(Option<Vec<u8>>),
    Scalar(Scalar),
    Bool(bool),
    /// A length, or a barrier's arrival index.
    Count(u32),
    Keys(Vec<String>),
}

impl Answer {
    /// A length, as the WIT's `u32`.
    fn count(len: usize) -> Answer {
        Answer::Count(u32::try_from(len).unwrap_or(u32::MAX))
    }
}

/// The object an `open` creates if its name is new.
enum Spec {
    Queue { capacity: u32 },
    Pipe(End),
    Value(Scalar),
    Array { len: u32, initial: Scalar },
    Lock { reentrant: bool },
    Dict,
    Event,
    Semaphore { initial: u32 },
    Barrier { parties: u32 },
}

/// What an `open` of an existing name must agree on.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Queue { capacity: u32 },
    Pipe,
    Value(ScalarKind),
    Array { len: u32, kind: ScalarKind },
    Lock { reentrant: bool },
    Dict,
    Event,
    Semaphore { initial: u32 },
    Barrier { parties: u32 },
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Queue { capacity } => write!(f, "queue of capacity {capacity}"),
            Shape::Pipe => f.write_str("pipe"),
            Shape::Value(kind) => write!(f, "{kind} value"),
            Shape::Array { len, kind } => write!(f, "array of {len} {kind}"),
            Shape::Lock { reentrant: true } => f.write_str("re-entrant lock"),
            Shape::Lock { reentrant: false } => f.write_str("lock"),
            Shape::Dict => f.write_str("dict"),
            Shape::Event => f.write_str("event"),
            Shape::Semaphore { initial } => write!(f, "semaphore of {initial} permits"),
            Shape::Barrier { parties } => write!(f, "barrier for {parties} parties"),
        }
    }
}

impl Spec {
    fn shape(&self) -> Shape {
        match self {
            Spec::Queue { capacity } => Shape::Queue {
                capacity: *capacity,
            },
            Spec::Pipe(_) => Shape::Pipe,
            Spec::Value(initial) => Shape::Value(initial.kind()),
            Spec::Array { len, initial } => Shape::Array {
                len: *len,
                kind: initial.kind(),
            },
            Spec::Lock { reentrant } => Shape::Lock {
                reentrant: *reentrant,
            },
            Spec::Dict => Shape::Dict,
            Spec::Event => Shape::Event,
            Spec::Semaphore { initial } => Shape::Semaphore { initial: *initial },
            Spec::Barrier { parties } => Shape::Barrier { parties: *parties },
        }
    }

    /// A new object; `denied` if it would be larger than the limits allow.
    fn create(self, limits: &HubLimits) -> Result<Object, ObjectError> {
        let too_many = |n: u32| {
            if n as usize > limits.max_queued_items {
                Err(ObjectError::Denied(format!(
                    "{n} items exceed the limit of {}",
                    limits.max_queued_items
                )))
            } else {
                Ok(())
            }
        };
        Ok(match self {
            Spec::Queue { capacity } => {
                too_many(capacity)?;
                let capacity = match capacity {
                    0 => limits.max_queued_items,
                    n => n as usize,
                };
                Object::Queue(QueueObject::new(capacity))
            }
            Spec::Pipe(_) => Object::Pipe(PipeObject::new(limits.max_queued_items.max(1))),
            Spec::Value(initial) => Object::Value(ValueObject::new(initial)),
            Spec::Array { len, initial } => {
                too_many(len)?;
                if let Scalar::Bytes(bytes) = &initial
                    && bytes.len().saturating_mul(len as usize) > limits.max_message
                {
                    return Err(ObjectError::TooLarge(limits.max_message as u64));
                }
                Object::Array(ArrayObject::new(len, initial))
            }
            Spec::Lock { reentrant } => Object::Lock(LockObject::new(reentrant)),
            Spec::Dict => Object::Dict(DictObject::new(limits.max_queued_items)),
            Spec::Event => Object::Event(EventObject::default()),
            Spec::Semaphore { initial } => Object::Semaphore(SemaphoreObject::new(initial)),
            Spec::Barrier { parties: 0 } => {
                return Err(ObjectError::Denied("a barrier needs parties".into()));
            }
            Spec::Barrier { parties } => Object::Barrier(BarrierObject::new(parties)),
        })
    }
}

/// An [`Op`] sorted by what it needs.
enum Route {
    Open(String, Spec),
    On(u64, Op),
}

impl Op {
    fn route(self) -> Route {
        use Op::*;
        match self {
            QueueOpen { name, capacity } => Route::Open(name, Spec::Queue { capacity }),
            PipeOpen { name, end } => Route::Open(name, Spec::Pipe(end)),
            ValueOpen { name, initial } => Route::Open(name, Spec::Value(initial)),
            ArrayOpen { name, len, initial } => Route::Open(name, Spec::Array { len, initial }),
            LockOpen { name, reentrant } => Route::Open(name, Spec::Lock { reentrant }),
            DictOpen { name } => Route::Open(name, Spec::Dict),
            EventOpen { name } => Route::Open(name, Spec::Event),
            SemaphoreOpen { name, initial } => Route::Open(name, Spec::Semaphore { initial }),
            BarrierOpen { name, parties } => Route::Open(name, Spec::Barrier { parties }),
            QueuePut { queue: h, .. }
            | QueueGet { queue: h }
            | QueueLen { queue: h }
            | QueueClose { queue: h }
            | PipeSend { conn: h, .. }
            | PipeRecv { conn: h }
            | PipeClose { conn: h }
            | ValueGet { value: h }
            | ValueSet { value: h, .. }
            | ValueAdd { value: h, .. }
            | ValueCompareAndSwap { value: h, .. }
            | ArrayGet { array: h, .. }
            | ArraySet { array: h, .. }
            | ArrayAdd { array: h, .. }
            | ArrayLen { array: h }
            | LockAcquire { lock: h }
            | LockRelease { lock: h }
            | DictGet { dict: h, .. }
            | DictSet { dict: h, .. }
            | DictRemove { dict: h, .. }
            | DictKeys { dict: h }
            | DictLen { dict: h }
            | EventSet { event: h }
            | EventClear { event: h }
            | EventIsSet { event: h }
            | EventWait { event: h }
            | SemaphoreAcquire { semaphore: h }
            | SemaphoreRelease { semaphore: h }
            | BarrierWait { barrier: h } => Route::On(h, self),
        }
    }

    /// The size of the largest message the operation would store.
    fn message_len(&self) -> usize {
        let scalar = |s: &Scalar| match s {
            Scalar::Bytes(bytes) => bytes.len(),
            Scalar::Int(_) | Scalar::Float(_) => 0,
        };
        match self {
            Op::QueuePut { item: bytes, .. } | Op::PipeSend { message: bytes, .. } => bytes.len(),
            Op::DictSet { key, value, .. } => key.len() + value.len(),
            Op::ValueOpen { initial: s, .. }
            | Op::ArrayOpen { initial: s, .. }
            | Op::ValueSet { new: s, .. }
            | Op::ValueAdd { delta: s, .. }
            | Op::ArraySet { new: s, .. }
            | Op::ArrayAdd { delta: s, .. } => scalar(s),
            Op::ValueCompareAndSwap { expected, new, .. } => scalar(expected).max(scalar(new)),
            _ => 0,
        }
    }
}

enum Object {
    Queue(QueueObject),
    Pipe(PipeObject),
    Value(ValueObject),
    Array(ArrayObject),
    Lock(LockObject),
    Dict(DictObject),
    Event(EventObject),
    Semaphore(SemaphoreObject),
    Barrier(BarrierObject),
}

impl Object {
    /// Serves `op` for `waiter`, whose handle names this object; what it
    /// stores counts against `budget`.
    fn apply(&mut self, op: Op, waiter: Waiter, budget: &Budget, out: &mut Outbox) -> Flow {
        let caller = waiter.caller;
        let result = match (self, op) {
            (Object::Queue(q), Op::QueuePut { item, .. }) => match budget.hold(item, 0) {
                Ok(item) => return q.put(item, waiter, out),
                Err(error) => Err(error),
            },
            (Object::Queue(q), Op::QueueGet { .. }) => return q.get(waiter, out),
            (Object::Queue(q), Op::QueueLen { .. }) => Ok(q.len()),
            (Object::Queue(q), Op::QueueClose { .. }) => {
                q.close(out);
                Ok(Answer::Unit)
            }
            (Object::Pipe(p), Op::PipeSend { conn, message }) => match budget.hold(message, 0) {
                Ok(message) => return p.send(conn, message, waiter, out),
                Err(error) => Err(error),
            },
            (Object::Pipe(p), Op::PipeRecv { conn }) => return p.recv(conn, waiter, out),
            (Object::Pipe(p), Op::PipeClose { conn }) => {
                p.close(conn, out);
                Ok(Answer::Unit)
            }
            (Object::Value(v), Op::ValueGet { .. }) => Ok(v.get()),
            (Object::Value(v), Op::ValueSet { new, .. }) => v.set(new),
            (Object::Value(v), Op::ValueAdd { delta, .. }) => v.add(&delta),
            (Object::Value(v), Op::ValueCompareAndSwap { expected, new, .. }) => {
                v.compare_and_swap(&expected, new)
            }
            (Object::Array(a), Op::ArrayGet { index, .. }) => a.get(index),
            (Object::Array(a), Op::ArraySet { index, new, .. }) => a.set(index, new),
            (Object::Array(a), Op::ArrayAdd { index, delta, .. }) => a.add(index, &delta),
            (Object::Array(a), Op::ArrayLen { .. }) => Ok(a.len()),
            (Object::Lock(l), Op::LockAcquire { .. }) => return l.acquire(waiter, out),
            (Object::Lock(l), Op::LockRelease { .. }) => l.release(caller, out),
            (Object::Dict(d), Op::DictGet { key, .. }) => Ok(d.get(&key)),
            (Object::Dict(d), Op::DictSet { key, value, .. }) => budget
                .hold(value, key.len())
                .and_then(|value| d.set(key, value)),
            (Object::Dict(d), Op::DictRemove { key, .. }) => Ok(d.remove(&key)),
            (Object::Dict(d), Op::DictKeys { .. }) => Ok(d.keys()),
            (Object::Dict(d), Op::DictLen { .. }) => Ok(d.len()),
            (Object::Event(e), Op::EventSet { .. }) => Ok(e.set(out)),
            (Object::Event(e), Op::EventClear { .. }) => Ok(e.clear()),
            (Object::Event(e), Op::EventIsSet { .. }) => Ok(e.is_set()),
            (Object::Event(e), Op::EventWait { .. }) => return e.wait(waiter, out),
            (Object::Semaphore(s), Op::SemaphoreAcquire { .. }) => return s.acquire(waiter, out),
            (Object::Semaphore(s), Op::SemaphoreRelease { .. }) => s.release(out),
            (Object::Barrier(b), Op::BarrierWait { .. }) => return b.wait(waiter, out),
            (_, _) => Err(ObjectError::Denied(
                "the handle names another kind of object".into(),
            )),
        };
        out.answer(waiter, result);
        Flow::Done
    }

    /// Removes the waiters `pick` chooses.
    fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        match self {
            Object::Queue(q) => q.take_waiters(pick),
            Object::Pipe(p) => p.take_waiters(pick),
            Object::Lock(l) => l.take_waiters(pick),
            Object::Event(e) => e.take_waiters(pick),
            Object::Semaphore(s) => s.take_waiters(pick),
            Object::Barrier(b) => b.take_waiters(pick),
            Object::Value(_) | Object::Array(_) | Object::Dict(_) => Vec::new(),
        }
    }

    /// Lets go of what the tasks that are `gone` held, and of their waiters
    /// (answered `timeout` if the task ended, `abandoned` if it died).
    fn forget(&mut self, gone: Gone, out: &mut Outbox) {
        let orphans = self.take_waiters(&mut |w| gone.covers(&w.caller));
        let had_orphans = !orphans.is_empty();
        for waiter in orphans {
            let error = match gone.died() {
                true => ObjectError::Abandoned,
                false => ObjectError::Timeout,
            };
            out.answer(waiter, Err(error));
        }
        match self {
            Object::Lock(l) => l.release_held_by(gone, out),
            Object::Pipe(p) => p.close_ends_of(gone, out),
            Object::Barrier(b) if had_orphans && gone.died() => b.break_round(out),
            _ => {}
        }
    }
}

/// The tasks whose objects' holds are let go.
#[derive(Clone, Copy, Debug)]
enum Gone {
    /// One task ended normally.
    Task(Caller),
    /// A worker process died, with every task it ran for a job.
    Worker(JobId, u32),
}

impl Gone {
    fn covers(self, caller: &Caller) -> bool {
        match self {
            Gone::Task(task) => task == *caller,
            Gone::Worker(job, worker) => caller.job == job && caller.worker == worker,
        }
    }

    fn died(self) -> bool {
        matches!(self, Gone::Worker(..))
    }
}

/// The objects of one job. Object handles and connection handles come from
/// one counter for the whole hub, so a handle of another job names nothing
/// here.
struct JobObjects {
    names: HashMap<String, (u64, Shape)>,
    objects: HashMap<u64, Object>,
    /// Pipe connection handle → the pipe's handle.
    connections: HashMap<u64, u64>,
    budget: Budget,
}

impl JobObjects {
    fn new(limits: &HubLimits) -> JobObjects {
        JobObjects {
            names: HashMap::new(),
            objects: HashMap::new(),
            connections: HashMap::new(),
            budget: Budget::new(limits.max_job_bytes),
        }
    }

    /// The object `handle` names, its own handle, and the job's budget.
    fn resolve(&mut self, handle: u64) -> Option<(u64, &mut Object, &Budget)> {
        let id = self.connections.get(&handle).copied().unwrap_or(handle);
        let budget = &self.budget;
        self.objects.get_mut(&id).map(|object| (id, object, budget))
    }

    /// Answers `closed` to every waiter: the job is forgotten.
    fn abort(self, out: &mut Outbox) {
        for mut object in self.objects.into_values() {
            for waiter in object.take_waiters(&mut |_| true) {
                out.answer(waiter, Err(ObjectError::Closed));
            }
        }
    }
}

/// Everything behind the hub's lock.
#[derive(Default)]
struct State {
    jobs: HashMap<JobId, JobObjects>,
    /// Handles and waiter ids both come from here.
    next_id: u64,
    /// Each parked waiter, with the job and object it waits on.
    parked: HashMap<WaiterId, (JobId, u64)>,
    deadlines: Deadlines,
    /// Set when the last [`Hub`] drops: the timer thread ends.
    shutdown: bool,
}

impl State {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Serves `op`; returns the object the waiter parked on, if it did.
    fn serve(
        &mut self,
        limits: &HubLimits,
        op: Op,
        waiter: Waiter,
        out: &mut Outbox,
    ) -> Option<u64> {
        if op.message_len() > limits.max_message {
            out.answer(
                waiter,
                Err(ObjectError::TooLarge(limits.max_message as u64)),
            );
            return None;
        }
        let job = waiter.caller.job;
        match op.route() {
            Route::Open(name, spec) => {
                let result = self.open(limits, waiter.caller, name, spec);
                out.answer(waiter, result.map(Answer::Handle));
                None
            }
            Route::On(handle, op) => {
                let Some((id, object, budget)) =
                    self.jobs.get_mut(&job).and_then(|j| j.resolve(handle))
                else {
                    let error = format!("handle {handle} names no object of this job");
                    out.answer(waiter, Err(ObjectError::Denied(error)));
                    return None;
                };
                match object.apply(op, waiter, budget, out) {
                    Flow::Parked => Some(id),
                    Flow::Done => None,
                }
            }
        }
    }

    /// Finds or creates the object `name` of the caller's job.
    fn open(
        &mut self,
        limits: &HubLimits,
        caller: Caller,
        name: String,
        spec: Spec,
    ) -> Result<u64, ObjectError> {
        if name.len() > limits.max_name {
            return Err(ObjectError::Denied(format!(
                "a name is at most {} bytes long",
                limits.max_name
            )));
        }
        let wanted = spec.shape();
        let pipe_end = match spec {
            Spec::Pipe(end) => Some(end),
            _ => None,
        };
        let id = match self.jobs.get(&caller.job).and_then(|j| j.names.get(&name)) {
            Some(&(id, shape)) if shape == wanted => id,
            Some((_, shape)) => {
                return Err(ObjectError::Denied(format!(
                    "{name:?} is a {shape}, not a {wanted}"
                )));
            }
            None => {
                let count = self.jobs.get(&caller.job).map_or(0, |j| j.objects.len());
                if count >= limits.max_objects_per_job {
                    return Err(ObjectError::Denied(format!(
                        "a job may open at most {} objects",
                        limits.max_objects_per_job
                    )));
                }
                let object = spec.create(limits)?;
                let id = self.new_id();
                let job = self
                    .jobs
                    .entry(caller.job)
                    .or_insert_with(|| JobObjects::new(limits));
                job.names.insert(name, (id, wanted));
                job.objects.insert(id, object);
                id
            }
        };
        let Some(end) = pipe_end else {
            return Ok(id);
        };
        let connection = self.new_id();
        let job = self
            .jobs
            .get_mut(&caller.job)
            .expect("the pipe's job exists");
        let Some(Object::Pipe(pipe)) = job.objects.get_mut(&id) else {
            unreachable!("a pipe's shape names a pipe");
        };
        if let Some(replaced) = pipe.open(end, connection, caller)? {
            job.connections.remove(&replaced);
        }
        job.connections.insert(connection, id);
        Ok(connection)
    }

    /// Forgets the waiters `out` answered, then records `waiter` as parked
    /// on `object`, answering `timeout` at once if `deadline` has passed.
    /// Returns whether the timer must wake up sooner.
    fn settle(
        &mut self,
        parked: Option<(WaiterId, JobId, u64)>,
        deadline: Option<Instant>,
        out: &mut Outbox,
    ) -> bool {
        for id in out.take_settled() {
            self.parked.remove(&id);
        }
        let Some((id, job, object)) = parked else {
            return false;
        };
        self.parked.insert(id, (job, object));
        let Some(at) = deadline else {
            return false;
        };
        if at <= Instant::now() {
            self.expire(id, out);
            return false;
        }
        let parked = &self.parked;
        self.deadlines
            .push(at, id, parked.len(), |id| parked.contains_key(&id))
    }

    /// Answers `timeout` to waiter `id` if it still waits.
    fn expire(&mut self, id: WaiterId, out: &mut Outbox) {
        let Some((job, object)) = self.parked.remove(&id) else {
            return;
        };
        let object = self
            .jobs
            .get_mut(&job)
            .and_then(|j| j.objects.get_mut(&object));
        for waiter in object
            .into_iter()
            .flat_map(|o| o.take_waiters(&mut |w| w.id == id))
        {
            out.answer(waiter, Err(ObjectError::Timeout));
        }
        out.take_settled();
    }

    /// Lets every object of `job` forget the tasks that are `gone`.
    fn forget(&mut self, job: JobId, gone: Gone, out: &mut Outbox) {
        if let Some(objects) = self.jobs.get_mut(&job) {
            for object in objects.objects.values_mut() {
                object.forget(gone, out);
            }
        }
        self.settle(None, None, out);
    }
}

/// What the hub's clones and its timer thread share.
struct Core {
    state: Mutex<State>,
    /// Wakes the timer thread when a nearer deadline comes, or at shutdown.
    timer: Condvar,
    limits: HubLimits,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock is a broken invariant of the hub itself:
        // replies are only called with the lock released.
        self.state.lock().expect("the hub's state is poisoned")
    }

    /// Answers `timeout` to waiters as their deadlines pass, until shutdown.
    fn run_timer(&self) {
        let mut state = self.lock();
        while !state.shutdown {
            let now = Instant::now();
            let mut out = Outbox::default();
            while let Some(id) = state.deadlines.pop_due(now) {
                state.expire(id, &mut out);
            }
            if !out.is_empty() {
                drop(state);
                out.deliver();
                state = self.lock();
                continue;
            }
            state = match state.deadlines.next() {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    self.timer
                        .wait_timeout(state, wait)
                        .expect("the hub's state is poisoned")
                        .0
                }
                None => self.timer.wait(state).expect("the hub's state is poisoned"),
            };
        }
    }
}

/// Held by every clone of a [`Hub`]; its drop is the hub's shutdown.
struct Owner(Arc<Core>);

impl Drop for Owner {
    /// Ends the timer thread (without waiting for it) and answers `closed` to
    /// every parked request.
    fn drop(&mut self) {
        let mut out = Outbox::default();
        {
            let mut state = self.0.lock();
            state.shutdown = true;
            for job in std::mem::take(&mut state.jobs).into_values() {
                job.abort(&mut out);
            }
        }
        self.0.timer.notify_all();
        out.deliver();
    }
}

/// The owner of every job's shared objects. Clones share one hub; when the
/// last clone drops, its timer thread ends and every parked request is
/// answered `closed`.
#[derive(Clone)]
pub(crate) struct Hub(Arc<Owner>);

#[cfg_attr(
    not(test),
    expect(dead_code, reason = "the lead wires the hub to workers")
)]
impl Hub {
    /// A hub with no objects, and its timer thread started.
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    pub(crate) fn new(limits: HubLimits) -> Hub {
        let core = Arc::new(Core {
            state: Mutex::new(State::default()),
            timer: Condvar::new(),
            limits,
        });
        let timer = Arc::clone(&core);
        thread::Builder::new()
            .name("wpool-hub-timer".into())
            .spawn(move || timer.run_timer())
            .expect("cannot start the hub's timer thread");
        Hub(Arc::new(Owner(core)))
    }

    fn core(&self) -> &Core {
        &self.0.0
    }

    /// Serves `op` for `caller`. Never blocks: `reply` is called exactly
    /// once, at once or later from another thread (when the operation can
    /// complete, or with `timeout` once `timeout` has passed; `None` waits
    /// as long as needed).
    pub(crate) fn request(&self, caller: Caller, op: Op, timeout: Option<Duration>, reply: Reply) {
        let core = self.core();
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut out = Outbox::default();
        let wake_timer = {
            let mut state = core.lock();
            let id = state.new_id();
            let waiter = Waiter::new(id, caller, reply);
            let parked = state.serve(&core.limits, op, waiter, &mut out);
            state.settle(
                parked.map(|object| (id, caller.job, object)),
                deadline,
                &mut out,
            )
        };
        if wake_timer {
            core.timer.notify_one();
        }
        out.deliver();
    }

    fn forget(&self, job: JobId, gone: Gone) {
        let mut out = Outbox::default();
        self.core().lock().forget(job, gone, &mut out);
        out.deliver();
    }

    /// The task finished normally: the locks it holds pass to their next
    /// waiters, the pipe ends it opened close (their peers' `recv` sees
    /// `closed` once drained), and its own waiters are answered `timeout`.
    pub(crate) fn task_ended(&self, caller: Caller) {
        self.forget(caller.job, Gone::Task(caller));
    }

    /// A worker process died: as [`Hub::task_ended`] for each of its tasks
    /// in `job`, except that the waiters of a lock it held get `abandoned`
    /// (the lock is left free), and so do the others at a barrier where one
    /// of its tasks waited. Its own waiters are answered `abandoned`.
    pub(crate) fn worker_died(&self, job: JobId, worker: u32) {
        self.forget(job, Gone::Worker(job, worker));
    }

    /// Forgets every object of `job`; their waiters are answered `closed`.
    pub(crate) fn drop_job(&self, job: JobId) {
        let mut out = Outbox::default();
        {
            let mut state = self.core().lock();
            if let Some(objects) = state.jobs.remove(&job) {
                objects.abort(&mut out);
            }
            state.settle(None, None, &mut out);
        }
        out.deliver();
    }
}
