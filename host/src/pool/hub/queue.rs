//! `wpool:task/queue`: a bounded FIFO of byte strings with waiting putters and
//! getters, and `JoinableQueue`'s count of items not yet marked done.

use std::collections::VecDeque;

use super::budget::{Budget, Held};
use super::waiters::{Flow, Outbox, WaitList, Waiter};
use crate::protocol::{ObjectError, queue};

/// Invariants: getters wait only while `items` is empty, putters only while
/// it is full; once `closed`, only joiners wait; joiners wait only while
/// `unfinished` is not 0.
pub(super) struct QueueObject {
    capacity: usize,
    items: VecDeque<Held>,
    closed: bool,
    getters: WaitList,
    /// Each waiting put holds its item, which is not in the queue until the
    /// put succeeds.
    putters: WaitList<Held>,
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
                Ok(item) => self.put(item, waiter, out),
                Err(error) => out.fail(waiter, error),
            },
            queue::Op::Get(_) => self.get(waiter, out),
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
    fn put(&mut self, item: Held, waiter: Waiter, out: &mut Outbox) -> Flow {
        if self.closed {
            return out.fail(waiter, ObjectError::Closed);
        }
        if let Some(getter) = self.getters.pop_waiter() {
            out.answer::<queue::Get>(getter, Ok(item.take()));
        } else if self.items.len() < self.capacity {
            self.items.push_back(item);
        } else {
            self.putters.push(waiter, item);
            return Flow::Parked;
        }
        self.unfinished += 1;
        out.answer::<queue::Put>(waiter, Ok(()))
    }

    /// Takes the oldest item; the first waiting putter then gets its room.
    fn get(&mut self, waiter: Waiter, out: &mut Outbox) -> Flow {
        if let Some(item) = self.items.pop_front() {
            if let Some((putter, waiting_item)) = self.putters.pop() {
                self.items.push_back(waiting_item);
                self.unfinished += 1;
                out.answer::<queue::Put>(putter, Ok(()));
            }
            out.answer::<queue::Get>(waiter, Ok(item.take()))
        } else if self.closed {
            out.fail(waiter, ObjectError::Closed)
        } else {
            self.getters.park(waiter)
        }
    }

    /// Refuses further puts: waiting putters get `closed` (their items were
    /// never queued), and so do waiting getters, as the queue is empty.
    fn close(&mut self, out: &mut Outbox) {
        self.closed = true;
        self.putters.fail_all(out, ObjectError::Closed);
        self.getters.fail_all(out, ObjectError::Closed);
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        let mut taken = self.getters.take_where(pick);
        taken.extend(self.putters.take_where(pick));
        taken.extend(self.joiners.take_where(pick));
        taken
    }
}

/// A length, as the WIT's `u32`.
pub(super) fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
