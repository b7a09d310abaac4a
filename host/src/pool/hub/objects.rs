//! A job's table of objects; [`Object`], which hands each operation to the
//! object it names and lets go of what departed tasks held; and the
//! [`Shape`] an `open` of an existing name must agree on.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::budget::Budget;
use super::caller::{Caller, Gone};
use super::limits::HubLimits;
use super::list::ListObject;
use super::pipe::PipeObject;
use super::queue::QueueObject;
use super::shared::{ArrayObject, CellRef, DictObject, LockObject, ValueObject};
use super::sync::{BarrierObject, EventObject, SemaphoreObject};
use super::waiters::{Flow, Outbox, Waiter, WaiterId};
use crate::protocol::shared_memory::{Arena, ScalarKind};
use crate::protocol::{ObjectError, Op, Open, Scalar, array, dict, list, pipe, queue, value};

/// A shared object of any kind.
pub(super) enum Object {
    Queue(QueueObject),
    Pipe(PipeObject),
    Value(ValueObject),
    Array(ArrayObject),
    Lock(LockObject),
    /// A condition: the handle of the lock whose object keeps its waiters
    /// and serves its operations.
    Condition(u64),
    Dict(DictObject),
    List(ListObject),
    Event(EventObject),
    Semaphore(SemaphoreObject),
    Barrier(BarrierObject),
}

impl Object {
    /// A new object of shape `shape`, which [`shape`] gave for `open`,
    /// keeping its state in `cell` if it is a lock or a number value;
    /// `denied` if it would be larger than the limits allow.
    pub(super) fn create(
        open: Open,
        shape: Shape,
        limits: &HubLimits,
        cell: CellRef,
    ) -> Result<Object, ObjectError> {
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
        Ok(match open {
            Open::Queue(open) => {
                too_many(open.capacity)?;
                let capacity = match open.capacity {
                    0 => limits.max_queued_items,
                    n => n as usize,
                };
                Object::Queue(QueueObject::new(capacity))
            }
            Open::Pipe(_) => Object::Pipe(PipeObject::new(limits.max_queued_items.max(1))),
            Open::Value(open) => Object::Value(ValueObject::new(open.initial, cell)),
            Open::Array(array::Open { len, initial, .. }) => {
                too_many(len)?;
                if let Scalar::Bytes(bytes) = &initial
                    && bytes.len().saturating_mul(len as usize) > limits.max_message
                {
                    return Err(ObjectError::TooLarge(limits.max_message as u64));
                }
                Object::Array(ArrayObject::new(len, initial))
            }
            Open::Lock(open) => Object::Lock(LockObject::new(open.reentrant, cell)),
            Open::Condition(_) => {
                let Shape::Condition { lock } = shape else {
                    unreachable!("a condition's shape names its lock");
                };
                Object::Condition(lock)
            }
            Open::Dict(_) => {
                Object::Dict(DictObject::new(limits.max_queued_items, limits.max_message))
            }
            Open::List(_) => {
                Object::List(ListObject::new(limits.max_queued_items, limits.max_message))
            }
            Open::Event(_) => Object::Event(EventObject::default()),
            Open::Semaphore(open) => Object::Semaphore(SemaphoreObject::new(open.initial)),
            Open::Barrier(open) if open.parties == 0 => {
                return Err(ObjectError::Denied("a barrier needs parties".into()));
            }
            Open::Barrier(open) => Object::Barrier(BarrierObject::new(open.parties)),
        })
    }

    /// The bytes the object holds in place, charged to the job's budget
    /// when it is created: a value's or an array's scalars. What queues,
    /// pipes, dicts and lists hold is charged item by item as it comes.
    pub(super) fn held_bytes(&self) -> usize {
        match self {
            Object::Value(v) => v.held_bytes(),
            Object::Array(a) => a.held_bytes(),
            _ => 0,
        }
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
        match (self, op) {
            (Object::Queue(q), Op::Queue(op)) => q.apply(op, waiter, budget, out),
            (Object::Pipe(p), Op::Pipe(op)) => p.apply(op, waiter, budget, out),
            (Object::Value(v), Op::Value(op)) => v.apply(op, waiter, budget, out),
            (Object::Array(a), Op::Array(op)) => a.apply(op, waiter, budget, out),
            (Object::Lock(l), Op::Lock(op)) => l.apply(op, waiter, out),
            (Object::Lock(l), Op::Condition(op)) => l.apply_condition(op, waiter, out),
            (Object::Dict(d), Op::Dict(op)) => d.apply(op, waiter, budget, out),
            (Object::List(l), Op::List(op)) => l.apply(op, waiter, budget, out),
            (Object::Event(e), Op::Event(op)) => e.apply(op, waiter, out),
            (Object::Semaphore(s), Op::Semaphore(op)) => s.apply(op, waiter, out),
            (Object::Barrier(b), Op::Barrier(op)) => b.apply(op, waiter, out),
            (_, _) => out.fail(
                waiter,
                ObjectError::Denied("the handle names another kind of object".into()),
            ),
        }
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
            Object::Value(_)
            | Object::Array(_)
            | Object::Dict(_)
            | Object::List(_)
            | Object::Condition(_) => Vec::new(),
        }
    }

    /// Answers the waiter `id`, whose deadline passed: `timeout`, except
    /// a pipe's `poll`, which answers that nothing came, and a condition's
    /// `wait`, which re-acquires its lock first.
    pub(super) fn expire(&mut self, id: WaiterId, out: &mut Outbox) {
        match self {
            Object::Pipe(p) => p.expire(id, out),
            Object::Lock(l) => l.expire(id, out),
            object => {
                for waiter in object.take_waiters(&mut |w| w.id == id) {
                    out.fail(waiter, ObjectError::Timeout);
                }
            }
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
            out.fail(waiter, error);
        }
        match self {
            Object::Lock(l) => l.release_held_by(gone, out),
            Object::Pipe(p) => p.close_ends_of(gone, out),
            Object::Queue(q) => q.forget(gone, out),
            Object::Barrier(b) if had_orphans && gone.died() => b.break_round(out),
            _ => {}
        }
    }
}

/// The size of the largest message `op` would store: what the hub's
/// `max_message` bounds.
pub(super) fn message_len(op: &Op) -> usize {
    let scalar = |s: &Scalar| match s {
        Scalar::Bytes(bytes) => bytes.len(),
        Scalar::Int(_) | Scalar::Float(_) => 0,
    };
    match op {
        Op::Queue(queue::Op::Put(put)) => put.item.len(),
        Op::Queue(queue::Op::PutBack(back)) => back.items.iter().map(Vec::len).max().unwrap_or(0),
        Op::Pipe(pipe::Op::Send(send)) => send.message.len(),
        Op::Dict(dict::Op::Set(set)) => set.key.len() + set.value.len(),
        Op::Dict(dict::Op::SetDefault(op)) => op.key.len() + op.value.len(),
        Op::Dict(dict::Op::CompareAndSet(op)) => {
            let len = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::len);
            op.key.len() + len(&op.expected).max(len(&op.new))
        }
        Op::List(list::Op::Append(op)) => op.item.len(),
        Op::List(list::Op::Extend(op)) => op.items.iter().map(Vec::len).sum(),
        Op::List(list::Op::Set(op)) => op.item.len(),
        Op::Open(Open::Value(open)) => scalar(&open.initial),
        Op::Open(Open::Array(open)) => scalar(&open.initial),
        Op::Value(value::Op::Set(set)) => scalar(&set.new),
        Op::Value(value::Op::Add(add)) => scalar(&add.delta),
        Op::Value(value::Op::CompareAndSwap(cas)) => scalar(&cas.expected).max(scalar(&cas.new)),
        Op::Array(array::Op::Set(set)) => scalar(&set.new),
        Op::Array(array::Op::Add(add)) => scalar(&add.delta),
        _ => 0,
    }
}

/// What an `open` asks for, which an existing object of that name must have;
/// `names` are the job's, where a condition's lock must be.
pub(super) fn shape(
    open: &Open,
    names: &HashMap<String, (u64, Shape)>,
) -> Result<Shape, ObjectError> {
    Ok(match open {
        Open::Queue(open) => Shape::Queue {
            capacity: open.capacity,
        },
        Open::Pipe(_) => Shape::Pipe,
        Open::Value(open) => Shape::Value(open.initial.kind()),
        Open::Array(open) => Shape::Array {
            len: open.len,
            kind: open.initial.kind(),
        },
        Open::Lock(open) => Shape::Lock {
            reentrant: open.reentrant,
        },
        Open::Condition(open) => match names.get(&open.lock) {
            Some(&(lock, Shape::Lock { .. })) => Shape::Condition { lock },
            _ => {
                return Err(ObjectError::Denied(format!(
                    "{:?} names no lock of this job",
                    open.lock
                )));
            }
        },
        Open::Dict(_) => Shape::Dict,
        Open::List(_) => Shape::List,
        Open::Event(_) => Shape::Event,
        Open::Semaphore(open) => Shape::Semaphore {
            initial: open.initial,
        },
        Open::Barrier(open) => Shape::Barrier {
            parties: open.parties,
        },
    })
}

/// What an `open` of an existing name must agree on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Shape {
    Queue {
        capacity: u32,
    },
    Pipe,
    Value(ScalarKind),
    Array {
        len: u32,
        kind: ScalarKind,
    },
    Lock {
        reentrant: bool,
    },
    /// On the lock of this handle.
    Condition {
        lock: u64,
    },
    Dict,
    List,
    Event,
    Semaphore {
        initial: u32,
    },
    Barrier {
        parties: u32,
    },
}

impl Shape {
    /// The shape in words, with its article; `names` are the job's, where
    /// a condition's lock is found by its name.
    pub(super) fn describe(&self, names: &HashMap<String, (u64, Shape)>) -> String {
        match self {
            Shape::Queue { capacity } => format!("a queue of capacity {capacity}"),
            Shape::Pipe => "a pipe".into(),
            Shape::Value(ScalarKind::Int) => "an int value".into(),
            Shape::Value(kind) => format!("a {kind} value"),
            Shape::Array { len, kind } => format!("an array of {len} {kind}"),
            Shape::Lock { reentrant: true } => "a re-entrant lock".into(),
            Shape::Lock { reentrant: false } => "a lock".into(),
            Shape::Condition { lock } => match names.iter().find(|(_, (id, _))| id == lock) {
                Some((name, _)) => format!("a condition on the lock {name:?}"),
                None => "a condition on a lock".into(),
            },
            Shape::Dict => "a dict".into(),
            Shape::List => "a list".into(),
            Shape::Event => "an event".into(),
            Shape::Semaphore { initial } => format!("a semaphore of {initial} permits"),
            Shape::Barrier { parties } => format!("a barrier for {parties} parties"),
        }
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
    /// The tasks that sent the job an operation and have not ended: only
    /// they can hold something (a lock, a pipe end, a wait) to let go when
    /// they end, so a task that used no object ends at no cost.
    pub active: HashSet<Caller>,
    budget: Budget,
    /// The job's shared memory: a cell for each object it may open.
    pub arena: Arc<Arena>,
}

impl JobObjects {
    pub(super) fn new(limits: &HubLimits) -> Result<JobObjects, ObjectError> {
        let cells = u32::try_from(limits.max_objects_per_job).unwrap_or(u32::MAX);
        let arena = Arena::create(cells).map_err(|e| {
            ObjectError::Denied(format!("cannot make the job's shared memory: {e}"))
        })?;
        Ok(JobObjects {
            names: HashMap::new(),
            objects: HashMap::new(),
            connections: HashMap::new(),
            active: HashSet::new(),
            budget: Budget::new(limits.max_job_bytes),
            arena: Arc::new(arena),
        })
    }

    /// The cell of the next object the job opens: each object has one,
    /// and objects go only with their job.
    pub(super) fn next_cell(&self) -> CellRef {
        let index = u32::try_from(self.objects.len()).expect("objects are bounded");
        CellRef::new(&self.arena, index)
    }

    /// Whether the job has objects, or tasks that used one.
    pub(super) fn tracks_tasks(&self) -> bool {
        !self.objects.is_empty() || !self.active.is_empty()
    }

    /// The job's budget.
    pub(super) fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The object `handle` names, its own handle, and the job's budget. A
    /// pipe connection's handle names its pipe, a condition's its lock.
    pub(super) fn resolve(&mut self, handle: u64) -> Option<(u64, &mut Object, &Budget)> {
        let mut id = self.connections.get(&handle).copied().unwrap_or(handle);
        if let Some(&Object::Condition(lock)) = self.objects.get(&id) {
            id = lock;
        }
        let budget = &self.budget;
        self.objects.get_mut(&id).map(|object| (id, object, budget))
    }

    /// Answers `closed` to every waiter: the job is forgotten.
    pub(super) fn abort(self, out: &mut Outbox) {
        for mut object in self.objects.into_values() {
            for waiter in object.take_waiters(&mut |_| true) {
                out.fail(waiter, ObjectError::Closed);
            }
        }
    }
}
