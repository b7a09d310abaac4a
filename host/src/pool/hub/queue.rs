//! `wpool:task/queue`: a bounded FIFO of byte strings with waiting putters and
//! getters, and `JoinableQueue`'s count of items not yet marked done. A put
//! answers the room left, so that a worker may send the task's next puts
//! without waiting; a `get-many` takes the items ahead for a task that gets
//! in a tight loop, and a `put-back` returns those it did not use.

use std::collections::VecDeque;

use super::budget::{Budget, Held};
use super::caller::{Caller, Gone};
use super::stream::{MAX_MANY_BYTES, Want, streamable};
use super::waiters::{Flow, Outbox, WaitList, Waiter};
use crate::protocol::{MAX_GET_MANY, ObjectError, queue};

/// Invariants: getters wait only while `items` is empty, putters only while
/// it is full; once `closed`, getters wait only while a task holds items it
/// took ahead, and putters never; joiners wait only while `unfinished` is
/// not 0.
pub(super) struct QueueObject {
    capacity: usize,
    items: VecDeque<Held>,
    closed: bool,
    /// Each waiting get with how many items it takes at most (1: a `get`,
    /// which answers one item, not a list).
    getters: WaitList<Want>,
    /// Each waiting put holds its item, which is not in the queue until the
    /// put succeeds.
    putters: WaitList<Held>,
    /// The tasks that hold items they took ahead (with `get-many`), which
    /// come back unless the task uses them: until they do, a closed queue's
    /// getters wait rather than see it drained. A task's next get means it
    /// used them.
    ahead: Vec<Caller>,
    /// The items put (queued, or handed to a getter) and not yet marked
    /// done by a `task-done`.
    unfinished: u64,
    /// `join`s, waiting until `unfinished` is 0.
    joiners: WaitList,
}

impl QueueObject {
    pub fn new(capacity: usize) -> QueueObject {
        QueueObject {
            capacity,
            items: VecDeque::new(),
            closed: false,
            ahead: Vec::new(),
            getters: WaitList::default(),
            putters: WaitList::default(),
            unfinished: 0,
            joiners: WaitList::default(),
        }
    }

    /// Serves `op` for `waiter`; a put's item counts against `budget`.
    pub fn apply(
        &mut self,
        op: queue::Op,
        waiter: Waiter,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
        match op {
            queue::Op::Put(put) => match budget.hold(put.item, 0) {
                Ok(item) => self.put(item, waiter, budget, out),
                Err(error) => out.fail(waiter, error),
            },
            queue::Op::Get(_) => self.get(waiter, Want::One, budget, out),
            queue::Op::GetMany(many) => self.get(waiter, Want::many(many.most), budget, out),
            // Only what a `get-many` of the task's took may come back: the
            // items are held again whatever the budget says.
            queue::Op::PutBack(back)
                if !self.ahead.contains(&waiter.caller)
                    || back.items.len() >= MAX_GET_MANY as usize
                    || back.items.iter().map(Vec::len).sum::<usize>() > MAX_MANY_BYTES =>
            {
                let why = "put back more than the task took ahead".to_string();
                out.fail(waiter, ObjectError::Denied(why))
            }
            queue::Op::PutBack(back) => {
                self.put_back(waiter.caller, back.items, budget, out);
                out.answer::<queue::PutBack>(waiter, Ok(()))
            }
            queue::Op::Len(_) => out.answer::<queue::Len>(waiter, Ok(count(self.items.len()))),
            queue::Op::Empty(_) => out.answer::<queue::Empty>(waiter, Ok(self.items.is_empty())),
            queue::Op::Full(_) => {
                let full = self.items.len() >= self.capacity;
                out.answer::<queue::Full>(waiter, Ok(full))
            }
            queue::Op::Close(_) => {
                self.close(out);
                out.answer::<queue::Close>(waiter, Ok(()))
            }
            queue::Op::TaskDone(_) => {
                let done = self.task_done(out);
                out.answer::<queue::TaskDone>(waiter, done)
            }
            queue::Op::Join(_) if self.unfinished == 0 => out.answer::<queue::Join>(waiter, Ok(())),
            queue::Op::Join(_) => self.joiners.park(waiter),
        }
    }

    /// Marks one item done; the last one wakes every `join`. `denied` when
    /// more are marked than were put, as Python's `ValueError`.
    fn task_done(&mut self, out: &mut Outbox) -> Result<(), ObjectError> {
        self.unfinished = self.unfinished.checked_sub(1).ok_or_else(|| {
            ObjectError::Denied("task-done called more times than items were put".into())
        })?;
        if self.unfinished == 0 {
            self.joiners.answer_all::<queue::Join>(out, |_| Ok(()));
        }
        Ok(())
    }

    /// Appends `item`, or hands it straight to the first waiting getter.
    fn put(&mut self, item: Held, waiter: Waiter, budget: &Budget, out: &mut Outbox) -> Flow {
        if self.closed {
            return out.fail(waiter, ObjectError::Closed);
        }
        if let Some((getter, want)) = self.getters.pop() {
            answer(want, getter, vec![item.take()], out);
        } else if self.items.len() < self.capacity {
            self.items.push_back(item);
        } else {
            self.putters.push(waiter, item);
            return Flow::Parked;
        }
        self.unfinished += 1;
        out.answer::<queue::Put>(waiter, Ok(self.room(budget)))
    }

    /// How many more puts the putter may send without waiting for their
    /// answers.
    fn room(&self, budget: &Budget) -> u32 {
        streamable(self.capacity.saturating_sub(self.items.len()), budget)
    }

    /// Takes the oldest item, and for a `get-many` the items after it up to
    /// its count and byte bound; waiting putters then get the room.
    fn get(&mut self, waiter: Waiter, want: Want, budget: &Budget, out: &mut Outbox) -> Flow {
        self.used_ahead(waiter.caller, out);
        let Some(first) = self.items.pop_front() else {
            if self.closed && self.ahead.is_empty() {
                return out.fail(waiter, ObjectError::Closed);
            }
            self.getters.push(waiter, want);
            return Flow::Parked;
        };
        let taken = want.take(first, &mut self.items);
        if taken.len() > 1 {
            self.ahead.push(waiter.caller);
        }
        for _ in 0..taken.len() {
            let Some((putter, waiting_item)) = self.putters.pop() else {
                break;
            };
            self.items.push_back(waiting_item);
            self.unfinished += 1;
            out.answer::<queue::Put>(putter, Ok(self.room(budget)));
        }
        answer(want, waiter, taken, out)
    }

    /// Puts `items`, which `caller` took ahead, back at the front, in their
    /// order, and hands them to the getters waiting.
    fn put_back(&mut self, caller: Caller, items: Vec<Vec<u8>>, budget: &Budget, out: &mut Outbox) {
        for item in items.into_iter().rev() {
            self.items.push_front(budget.hold_again(item));
        }
        self.used_ahead(caller, out);
        while !self.items.is_empty() {
            let Some((getter, want)) = self.getters.pop() else {
                break;
            };
            self.get(getter, want, budget, out);
        }
    }

    /// `caller` holds no item taken ahead any more (it used them, put them
    /// back, or ended): once no task holds any, a closed and drained
    /// queue's getters get `closed`.
    fn used_ahead(&mut self, caller: Caller, out: &mut Outbox) {
        self.forget_ahead(|held| *held == caller, out);
    }

    /// The tasks that are `gone` hold no items taken ahead any more: those
    /// of a task that ended were put back before its end; a dead worker's
    /// are lost with it, as the item a task was handed when it died.
    pub fn forget(&mut self, gone: Gone, out: &mut Outbox) {
        self.forget_ahead(|held| gone.covers(held), out);
    }

    fn forget_ahead(&mut self, pick: impl Fn(&Caller) -> bool, out: &mut Outbox) {
        let before = self.ahead.len();
        self.ahead.retain(|held| !pick(held));
        if self.ahead.len() < before
            && self.ahead.is_empty()
            && self.closed
            && self.items.is_empty()
        {
            self.getters.fail_all(out, ObjectError::Closed);
        }
    }

    /// Refuses further puts: waiting putters get `closed` (their items were
    /// never queued), and so do waiting getters, as the queue is empty,
    /// unless a task holds items it took ahead, which may come back.
    fn close(&mut self, out: &mut Outbox) {
        self.closed = true;
        self.putters.fail_all(out, ObjectError::Closed);
        if self.ahead.is_empty() {
            self.getters.fail_all(out, ObjectError::Closed);
        }
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        let mut taken = self.getters.take_where(pick);
        taken.extend(self.putters.take_where(pick));
        taken.extend(self.joiners.take_where(pick));
        taken
    }
}

/// Answers `getter` the items it took, as its request's type.
fn answer(want: Want, getter: Waiter, taken: Vec<Vec<u8>>, out: &mut Outbox) -> Flow {
    want.answer::<queue::Get, queue::GetMany>(getter, taken, out)
}

/// A length, as the WIT's `u32`.
pub(super) fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
