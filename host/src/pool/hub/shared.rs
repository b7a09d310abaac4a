//! `wpool:task/shared`: values and arrays of scalars, locks and the
//! conditions on them, and dicts.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use super::budget::{Budget, Held, key_cost};
use super::caller::{Caller, Gone};
use super::queue::count;
use super::waiters::{Flow, Outbox, WaitList, Waiter, WaiterId};
use crate::protocol::shared_memory::{self, Arena, Cell, Release, ScalarKind, Take};
use crate::protocol::{ObjectError, Scalar, array, condition, dict, lock, value};

/// A cell of a job's shared memory, which a lock or a number value keeps
/// its state in (see `protocol::shared_memory`).
pub(super) struct CellRef {
    arena: Arc<Arena>,
    index: u32,
}

impl CellRef {
    /// Cell `index` of `arena`, which must have it.
    pub fn new(arena: &Arc<Arena>, index: u32) -> CellRef {
        assert!(index < arena.cells(), "a job has a cell per object");
        CellRef {
            arena: arena.clone(),
            index,
        }
    }

    fn get(&self) -> &Cell {
        self.arena.cell(self.index).expect("checked in `new`")
    }
}

impl Scalar {
    /// Bytes the scalar holds in the host, as the job's budget counts them.
    pub(super) fn held_bytes(&self) -> usize {
        let bytes = match self {
            Scalar::Bytes(bytes) => bytes.len(),
            Scalar::Int(_) | Scalar::Float(_) => 0,
        };
        std::mem::size_of::<Scalar>() + bytes
    }

    /// Stores `new`, of the same kind, if the job's `budget` has room for it.
    fn store(&mut self, new: Scalar, budget: &Budget) -> Result<(), ObjectError> {
        self.kind().check(&new)?;
        budget.resize(self.held_bytes(), new.held_bytes())?;
        *self = new;
        Ok(())
    }

    /// Adds `delta`, of the same numeric kind (ints wrap around, like a C
    /// `long`); returns the sum.
    fn add(&mut self, delta: &Scalar) -> Result<Scalar, ObjectError> {
        self.kind().check(delta)?;
        match (&mut *self, delta) {
            (Scalar::Int(x), Scalar::Int(d)) => *x = x.wrapping_add(*d),
            (Scalar::Float(x), Scalar::Float(d)) => *x += d,
            _ => return Err(ObjectError::Denied("bytes cannot be added".into())),
        }
        Ok(self.clone())
    }
}

/// A `value`: one scalar. A number lives in its cell of the job's shared
/// memory, where tasks change it without asking the hub; bytes live here.
pub(super) enum ValueObject {
    InCell(CellRef, ScalarKind),
    Bytes(Scalar),
}

impl ValueObject {
    /// A value of `initial`, in `cell` if it is a number.
    pub fn new(initial: Scalar, cell: CellRef) -> ValueObject {
        let kind = initial.kind();
        if !kind.in_cell() {
            return ValueObject::Bytes(initial);
        }
        cell.get().set(kind, &initial).expect("of its own kind");
        ValueObject::InCell(cell, kind)
    }

    /// What the value holds, for the job's budget.
    pub fn held_bytes(&self) -> usize {
        match self {
            ValueObject::InCell(..) => std::mem::size_of::<Scalar>(),
            ValueObject::Bytes(bytes) => bytes.held_bytes(),
        }
    }

    /// Serves `op`; a value that grows counts against `budget`.
    pub fn apply(
        &mut self,
        op: value::Op,
        waiter: Waiter,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
        let (place, kind) = match self {
            ValueObject::InCell(cell, kind) => (&*cell, *kind),
            ValueObject::Bytes(bytes) => return Self::apply_bytes(bytes, op, waiter, budget, out),
        };
        let cell = place.get();
        match op {
            value::Op::Get(_) => out.answer::<value::Get>(waiter, Ok(cell.get(kind))),
            value::Op::Set(set) => out.answer::<value::Set>(waiter, cell.set(kind, &set.new)),
            value::Op::Add(add) => out.answer::<value::Add>(waiter, cell.add(kind, &add.delta)),
            value::Op::CompareAndSwap(cas) => {
                let swapped = cell.compare_and_swap(kind, &cas.expected, &cas.new);
                out.answer::<value::CompareAndSwap>(waiter, swapped)
            }
            value::Op::Locate(_) => out.answer::<value::Locate>(waiter, Ok(place.index)),
        }
    }

    fn apply_bytes(
        bytes: &mut Scalar,
        op: value::Op,
        waiter: Waiter,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
        match op {
            value::Op::Get(_) => out.answer::<value::Get>(waiter, Ok(bytes.clone())),
            value::Op::Set(set) => out.answer::<value::Set>(waiter, bytes.store(set.new, budget)),
            value::Op::Add(add) => out.answer::<value::Add>(waiter, bytes.add(&add.delta)),
            value::Op::CompareAndSwap(cas) => {
                let kind = bytes.kind();
                let checked = kind
                    .check(&cas.expected)
                    .and_then(|()| kind.check(&cas.new));
                let swapped = checked.and_then(|()| {
                    let swap = *bytes == cas.expected;
                    if swap {
                        bytes.store(cas.new, budget)?;
                    }
                    Ok(swap)
                });
                out.answer::<value::CompareAndSwap>(waiter, swapped)
            }
            value::Op::Locate(_) => {
                let error = ObjectError::Denied("a bytes value is not in shared memory".into());
                out.fail(waiter, error)
            }
        }
    }
}

/// An `array`: a fixed number of scalars of one kind.
pub(super) struct ArrayObject(Vec<Scalar>);

impl ArrayObject {
    pub fn new(len: u32, initial: Scalar) -> ArrayObject {
        ArrayObject(vec![initial; len as usize])
    }

    fn slot(&mut self, index: u32) -> Result<&mut Scalar, ObjectError> {
        let len = self.0.len();
        self.0.get_mut(index as usize).ok_or_else(|| {
            ObjectError::Denied(format!("index {index} is out of range for length {len}"))
        })
    }

    /// What the array holds, for the job's budget.
    pub fn held_bytes(&self) -> usize {
        self.0.iter().map(Scalar::held_bytes).sum()
    }

    /// Serves `op`; an element that grows counts against `budget`.
    pub fn apply(
        &mut self,
        op: array::Op,
        waiter: Waiter,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
        match op {
            array::Op::Get(get) => {
                let got = self.slot(get.index).map(|slot| slot.clone());
                out.answer::<array::Get>(waiter, got)
            }
            array::Op::Set(set) => {
                let stored = self
                    .slot(set.index)
                    .and_then(|slot| slot.store(set.new, budget));
                out.answer::<array::Set>(waiter, stored)
            }
            array::Op::Add(add) => {
                let sum = self.slot(add.index).and_then(|slot| slot.add(&add.delta));
                out.answer::<array::Add>(waiter, sum)
            }
            array::Op::Len(_) => out.answer::<array::Len>(waiter, Ok(count(self.0.len()))),
        }
    }
}

/// A `lock`, held by a task, its state in its cell of the job's shared
/// memory (see `protocol::shared_memory`): tasks take it while it is free,
/// and release it while nobody waits, without asking the hub. The hub
/// keeps the tasks that wait for it, handed it in arrival order, and the
/// waiters of the conditions on it, which live here because a condition's
/// `wait` and `notify` move tasks between its list and the lock's.
///
/// Invariants: `waiters` is empty while the lock is free, and the cell's
/// `WAITING` flag is set while it is not; a condition's waiters do not
/// hold the lock, and each keeps the count it held, given back when it
/// re-acquires the lock.
pub(super) struct LockObject {
    reentrant: bool,
    cell: CellRef,
    /// Waiting for the lock, first come first served.
    waiters: WaitList<Turn>,
    /// Each condition's `wait`s, by the condition's handle, waiting for a
    /// notify, with the count they held.
    conditions: HashMap<u64, WaitList<u32>>,
}

/// Why a task waits for a lock.
enum Turn {
    /// An `acquire`.
    Acquire,
    /// A condition's `wait`, to re-acquire the lock with the count it held
    /// before answering whether it was notified (or timed out).
    Rewait { count: u32, notified: bool },
}

impl Turn {
    /// How many times the waiter holds the lock once it has it.
    fn count(&self) -> u32 {
        match self {
            Turn::Acquire => 1,
            Turn::Rewait { count, .. } => *count,
        }
    }

    /// Answers the waiter, which now holds the lock.
    fn answer(self, waiter: Waiter, out: &mut Outbox) {
        match self {
            Turn::Acquire => out.answer::<lock::Acquire>(waiter, Ok(())),
            Turn::Rewait { notified, .. } => out.answer::<condition::Wait>(waiter, Ok(notified)),
        };
    }
}

/// The tag of `caller` in a lock's cell.
fn tag(caller: &Caller) -> u64 {
    shared_memory::holder(caller.worker, caller.task)
}

impl LockObject {
    pub fn new(reentrant: bool, cell: CellRef) -> LockObject {
        LockObject {
            reentrant,
            cell,
            waiters: WaitList::default(),
            conditions: HashMap::new(),
        }
    }

    pub fn apply(&mut self, op: lock::Op, waiter: Waiter, out: &mut Outbox) -> Flow {
        match op {
            lock::Op::Acquire(_) => match self.take(waiter.caller) {
                Some(taken) => out.answer::<lock::Acquire>(waiter, taken),
                None => self.queue(waiter, Turn::Acquire, out),
            },
            lock::Op::TryAcquire(_) => {
                let taken = match self.take(waiter.caller) {
                    Some(taken) => taken.map(|()| true),
                    None => Ok(false),
                };
                out.answer::<lock::TryAcquire>(waiter, taken)
            }
            lock::Op::Release(_) => {
                let released = self.release(waiter.caller, out);
                out.answer::<lock::Release>(waiter, released)
            }
            lock::Op::Locked(_) => {
                let locked = self.cell.get().holder().is_some();
                out.answer::<lock::Locked>(waiter, Ok(locked))
            }
            lock::Op::Locate(_) => out.answer::<lock::Locate>(waiter, Ok(self.cell.index)),
        }
    }

    /// Serves `op` on the condition it names, which is on this lock. Each
    /// needs the caller to hold the lock (else `denied`, as Python's
    /// `RuntimeError`).
    pub fn apply_condition(&mut self, op: condition::Op, waiter: Waiter, out: &mut Outbox) -> Flow {
        let cond = op.handle();
        let cell = self.cell.get();
        if cell.holder() != Some(tag(&waiter.caller)) {
            let error = "this task does not hold the condition's lock".into();
            return out.fail(waiter, ObjectError::Denied(error));
        }
        let held = cell.count();
        match op {
            condition::Op::Wait(_) => {
                self.conditions.entry(cond).or_default().push(waiter, held);
                self.hand_over(out);
                Flow::Parked
            }
            condition::Op::Notify(notify) => {
                self.notify(cond, notify.n as usize);
                out.answer::<condition::Notify>(waiter, Ok(()))
            }
            condition::Op::NotifyAll(_) => {
                self.notify(cond, usize::MAX);
                out.answer::<condition::NotifyAll>(waiter, Ok(()))
            }
        }
    }

    /// Moves up to `n` of the condition's waiters, first come first, to the
    /// lock's queue; the notifier holds the lock, so they wait their turn.
    fn notify(&mut self, cond: u64, n: usize) {
        let Some(list) = self.conditions.get_mut(&cond) else {
            return;
        };
        let mut moved = false;
        for _ in 0..n {
            let Some((waiter, count)) = list.pop() else {
                break;
            };
            let turn = Turn::Rewait {
                count,
                notified: true,
            };
            self.waiters.push(waiter, turn);
            moved = true;
        }
        if moved {
            // Held by the notifier: it cannot be free.
            self.cell.get().mark_waiting();
        }
    }

    /// Takes the lock for `caller` if it is free, or again if `caller`
    /// holds this re-entrant lock; `None` if another task holds it. A task
    /// taking a plain lock it holds gets `denied`, where Python would
    /// deadlock.
    fn take(&mut self, caller: Caller) -> Option<Result<(), ObjectError>> {
        match self.cell.get().take(tag(&caller), self.reentrant) {
            Take::Taken => Some(Ok(())),
            Take::Busy => None,
            Take::Refused(error) => Some(Err(error)),
        }
    }

    /// Queues `waiter` for the lock, and flags the cell so that the
    /// holder's release comes here. If the holder released it meanwhile
    /// (in its cell), nobody waits here (else the release would have come
    /// here), and the waiter takes it at once: `Done`; unless a task took
    /// it again first, which the waiter then waits for.
    fn queue(&mut self, waiter: Waiter, turn: Turn, out: &mut Outbox) -> Flow {
        let cell = self.cell.get();
        let count = turn.count();
        loop {
            if cell.mark_waiting() {
                self.waiters.push(waiter, turn);
                return Flow::Parked;
            }
            if cell.claim(tag(&waiter.caller), count) {
                turn.answer(waiter, out);
                return Flow::Done;
            }
        }
    }

    /// Releases once; `denied` if the caller does not hold the lock.
    fn release(&mut self, caller: Caller, out: &mut Outbox) -> Result<(), ObjectError> {
        match self.cell.get().release(tag(&caller)) {
            Release::Released => Ok(()),
            Release::ToHub => {
                self.hand_over(out);
                Ok(())
            }
            Release::NotHeld => Err(ObjectError::Denied(
                "this task does not hold the lock".into(),
            )),
        }
    }

    /// Gives the lock to the first waiter, or leaves it free. A condition's
    /// waiter gets back the count it held, and its `wait` is answered.
    fn hand_over(&mut self, out: &mut Outbox) {
        let Some((next, turn)) = self.waiters.pop() else {
            self.cell.get().free(false);
            return;
        };
        let (owner, count) = (tag(&next.caller), turn.count());
        turn.answer(next, out);
        self.cell.get().give(owner, count, !self.waiters.is_empty());
    }

    /// Answers the waiter `id`, whose deadline passed. An `acquire` gets
    /// `timeout`; a condition's `wait` stops waiting for a notify and
    /// re-acquires the lock (at once if it is free) to answer `false`, as
    /// Python's; one already re-acquiring goes on waiting its turn.
    pub fn expire(&mut self, id: WaiterId, out: &mut Outbox) {
        let is_it = |waiter: &Waiter| waiter.id == id;
        if let Some((waiter, _)) = self
            .waiters
            .remove_where(|w, turn| is_it(w) && matches!(turn, Turn::Acquire))
        {
            out.fail(waiter, ObjectError::Timeout);
            self.unflag_if_unwaited();
            return;
        }
        let Some((waiter, count)) = self
            .conditions
            .values_mut()
            .find_map(|list| list.remove_where(|w, _| is_it(w)))
        else {
            return;
        };
        let turn = Turn::Rewait {
            count,
            notified: false,
        };
        // Parked still, or answered: either way its deadline is done.
        let _ = self.queue(waiter, turn, out);
    }

    /// Clears the cell's `WAITING` flag once nobody waits: the holder's
    /// release no longer needs the hub.
    fn unflag_if_unwaited(&self) {
        if self.waiters.is_empty() {
            self.cell.get().clear_waiting();
        }
    }

    /// Frees the lock if a task that is `gone` holds it. If the task died,
    /// every waiter for the lock (a condition's re-acquiring ones too) gets
    /// `abandoned`, tasks spinning for it see it abandoned, and the lock is
    /// left free; otherwise the first waiter gets it. Waiters for a notify
    /// go on waiting.
    pub fn release_held_by(&mut self, gone: Gone, out: &mut Outbox) {
        let Some(holder) = self.cell.get().holder() else {
            return;
        };
        let held = match gone {
            Gone::Task(caller) => holder == tag(&caller),
            Gone::Worker(_, worker) => shared_memory::held_by_worker(holder, worker),
        };
        if !held {
            return;
        }
        if gone.died() {
            self.waiters.fail_all(out, ObjectError::Abandoned);
            self.cell.get().free(true);
        } else {
            self.hand_over(out);
        }
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        let mut taken = self.waiters.take_where(pick);
        self.unflag_if_unwaited();
        for list in self.conditions.values_mut() {
            taken.extend(list.take_where(pick));
        }
        taken
    }
}

/// A `dict` from strings to byte strings, its keys listed in order, a page
/// of at most one message at a time.
pub(super) struct DictObject {
    /// The most entries it holds.
    capacity: usize,
    /// The most bytes of keys one page answers.
    max_message: usize,
    entries: BTreeMap<String, Held>,
}

impl DictObject {
    pub fn new(capacity: usize, max_message: usize) -> DictObject {
        DictObject {
            capacity,
            max_message,
            entries: BTreeMap::new(),
        }
    }

    pub fn apply(
        &mut self,
        op: dict::Op,
        waiter: Waiter,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
        match op {
            dict::Op::Get(get) => {
                let value = self.entries.get(&get.key).map(|v| v.bytes().to_vec());
                out.answer::<dict::Get>(waiter, Ok(value))
            }
            dict::Op::Set(set) => {
                let stored = budget
                    .hold(set.value, key_cost(&set.key))
                    .and_then(|value| self.set(set.key, value));
                out.answer::<dict::Set>(waiter, stored)
            }
            dict::Op::Remove(remove) => {
                let value = self.entries.remove(&remove.key).map(Held::take);
                out.answer::<dict::Remove>(waiter, Ok(value))
            }
            dict::Op::SetDefault(op) => {
                let value = match self.entries.get(&op.key) {
                    Some(held) => Ok(held.bytes().to_vec()),
                    None => budget.hold(op.value, key_cost(&op.key)).and_then(|held| {
                        let value = held.bytes().to_vec();
                        self.set(op.key, held).map(|()| value)
                    }),
                };
                out.answer::<dict::SetDefault>(waiter, value)
            }
            dict::Op::CompareAndSet(op) => {
                let swapped = self.compare_and_set(op, budget);
                out.answer::<dict::CompareAndSet>(waiter, swapped)
            }
            dict::Op::Keys(op) => {
                let keys = self.keys_after(op.after.as_deref());
                out.answer::<dict::Keys>(waiter, Ok(keys))
            }
            dict::Op::Len(_) => out.answer::<dict::Len>(waiter, Ok(count(self.entries.len()))),
        }
    }

    /// Sets (or removes) the key if its value is the expected one; answers
    /// whether it did. The new value counts against `budget`.
    fn compare_and_set(
        &mut self,
        op: dict::CompareAndSet,
        budget: &Budget,
    ) -> Result<bool, ObjectError> {
        if self.entries.get(&op.key).map(Held::bytes) != op.expected.as_deref() {
            return Ok(false);
        }
        match op.new {
            Some(new) => {
                let held = budget.hold(new, key_cost(&op.key))?;
                self.set(op.key, held)?;
            }
            None => drop(self.entries.remove(&op.key)),
        }
        Ok(true)
    }

    /// The keys after `after` (`None`: from the first), in order, as many
    /// as fit in one message (each counted with its length's prefix): at
    /// least one if any is left, since an entry fits in a message.
    fn keys_after(&self, after: Option<&str>) -> Vec<String> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut room = self.max_message;
        let mut page = Vec::new();
        for key in self
            .entries
            .range::<str, _>((from, Bound::Unbounded))
            .map(|(key, _)| key)
        {
            let cost = key.len() + 8;
            if cost > room && !page.is_empty() {
                break;
            }
            room = room.saturating_sub(cost);
            page.push(key.clone());
        }
        page
    }

    /// `denied` if `key` is new and the dict is full.
    fn set(&mut self, key: String, value: Held) -> Result<(), ObjectError> {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            return Err(ObjectError::Denied(format!(
                "the dict is full at {} entries",
                self.capacity
            )));
        }
        self.entries.insert(key, value);
        Ok(())
    }
}
