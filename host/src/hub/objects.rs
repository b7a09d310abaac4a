//! A job's table of objects, and [`Object`], which hands each operation to
//! the object family that serves it and lets go of what departed tasks held.

use std::collections::HashMap;

use super::budget::Budget;
use super::pipe::PipeObject;
use super::queue::QueueObject;
use super::route::{Shape, Spec};
use super::shared::{ArrayObject, DictObject, LockObject, ValueObject};
use super::sync::{BarrierObject, EventObject, SemaphoreObject};
use super::waiters::{Flow, Outbox, Waiter};
use super::{Caller, HubLimits, JobId, ObjectError, Scalar};
use crate::protocol::{Answer, Op};

/// A shared object of any kind.
pub(super) enum Object {
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
    /// A new object; `denied` if it would be larger than the limits allow.
    pub(super) fn create(spec: Spec, limits: &HubLimits) -> Result<Object, ObjectError> {
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
        Ok(match spec {
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

    /// Serves `op` for `waiter`, whose handle names this object; what it
    /// stores counts against `budget`.
    pub(super) fn apply(
        &mut self,
        op: Op,
        waiter: Waiter,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
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
    pub(super) fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
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
    pub(super) fn forget(&mut self, gone: Gone, out: &mut Outbox) {
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
pub(super) enum Gone {
    /// One task ended normally.
    Task(Caller),
    /// A worker process died, with every task it ran for a job.
    Worker(JobId, u32),
}

impl Gone {
    pub(super) fn covers(self, caller: &Caller) -> bool {
        match self {
            Gone::Task(task) => task == *caller,
            Gone::Worker(job, worker) => caller.job == job && caller.worker == worker,
        }
    }

    pub(super) fn died(self) -> bool {
        matches!(self, Gone::Worker(..))
    }
}

/// The objects of one job. Object handles and connection handles come from
/// one counter for the whole hub, so a handle of another job names nothing
/// here.
pub(super) struct JobObjects {
    pub names: HashMap<String, (u64, Shape)>,
    pub objects: HashMap<u64, Object>,
    /// Pipe connection handle → the pipe's handle.
    pub connections: HashMap<u64, u64>,
    budget: Budget,
}

impl JobObjects {
    pub(super) fn new(limits: &HubLimits) -> JobObjects {
        JobObjects {
            names: HashMap::new(),
            objects: HashMap::new(),
            connections: HashMap::new(),
            budget: Budget::new(limits.max_job_bytes),
        }
    }

    /// The object `handle` names, its own handle, and the job's budget.
    pub(super) fn resolve(&mut self, handle: u64) -> Option<(u64, &mut Object, &Budget)> {
        let id = self.connections.get(&handle).copied().unwrap_or(handle);
        let budget = &self.budget;
        self.objects.get_mut(&id).map(|object| (id, object, budget))
    }

    /// Answers `closed` to every waiter: the job is forgotten.
    pub(super) fn abort(self, out: &mut Outbox) {
        for mut object in self.objects.into_values() {
            for waiter in object.take_waiters(&mut |_| true) {
                out.answer(waiter, Err(ObjectError::Closed));
            }
        }
    }
}
