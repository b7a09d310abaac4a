//! `wpool:task/queue`: a bounded FIFO of byte strings with waiting putters and
//! getters.

use std::collections::VecDeque;

use super::budget::Held;
use super::waiters::{Flow, Outbox, WaitList, Waiter};
use super::{Answer, ObjectError};

/// Invariants: getters wait only while `items` is empty, putters only while
/// it is full; once `closed`, nobody waits.
pub(super) struct QueueObject {
    capacity: usize,
    items: VecDeque<Held>,
    closed: bool,
    getters: WaitList,
    /// Each waiting put holds its item, which is not in the queue until the
    /// put succeeds.
    putters: WaitList<Held>,
}

impl QueueObject {
    pub fn new(capacity: usize) -> QueueObject {
        QueueObject {
            capacity,
            items: VecDeque::new(),
            closed: false,
            getters: WaitList::default(),
            putters: WaitList::default(),
        }
    }

    /// Appends `item`, or hands it straight to the first waiting getter.
    pub fn put(&mut self, item: Held, waiter: Waiter, out: &mut Outbox) -> Flow {
        if self.closed {
            out.answer(waiter, Err(ObjectError::Closed));
            return Flow::Done;
        }
        if let Some(getter) = self.getters.pop_waiter() {
            out.answer(getter, Ok(Answer::Bytes(item.take())));
        } else if self.items.len() < self.capacity {
            self.items.push_back(item);
        } else {
            self.putters.push(waiter, item);
            return Flow::Parked;
        }
        out.answer(waiter, Ok(Answer::Unit));
        Flow::Done
    }

    /// Takes the oldest item; the first waiting putter then gets its room.
    pub fn get(&mut self, waiter: Waiter, out: &mut Outbox) -> Flow {
        if let Some(item) = self.items.pop_front() {
            if let Some((putter, waiting_item)) = self.putters.pop() {
                self.items.push_back(waiting_item);
                out.answer(putter, Ok(Answer::Unit));
            }
            out.answer(waiter, Ok(Answer::Bytes(item.take())));
            Flow::Done
        } else if self.closed {
            out.answer(waiter, Err(ObjectError::Closed));
            Flow::Done
        } else {
            self.getters.park(waiter)
        }
    }

    pub fn len(&self) -> Answer {
        Answer::count(self.items.len())
    }

    /// Refuses further puts: waiting putters get `closed` (their items were
    /// never queued), and so do waiting getters, as the queue is empty.
    pub fn close(&mut self, out: &mut Outbox) {
        self.closed = true;
        self.putters.answer_all(out, |_| Err(ObjectError::Closed));
        self.getters.answer_all(out, |_| Err(ObjectError::Closed));
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        let mut taken = self.getters.take_where(pick);
        taken.extend(self.putters.take_where(pick));
        taken
    }
}
