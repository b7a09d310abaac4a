//! `wpool:task/sync`: events, semaphores and cyclic barriers.

use super::waiters::{Flow, Outbox, WaitList, Waiter};
use super::{Answer, ObjectError};

/// An `event`: a flag that wakes every waiter when set.
#[derive(Default)]
pub(super) struct EventObject {
    set: bool,
    /// Waiting while the flag is clear.
    waiters: WaitList,
}

impl EventObject {
    pub fn set(&mut self, out: &mut Outbox) -> Answer {
        self.set = true;
        self.waiters.answer_all(out, |_| Ok(Answer::Unit));
        Answer::Unit
    }

    pub fn clear(&mut self) -> Answer {
        self.set = false;
        Answer::Unit
    }

    pub fn is_set(&self) -> Answer {
        Answer::Bool(self.set)
    }

    pub fn wait(&mut self, waiter: Waiter, out: &mut Outbox) -> Flow {
        if self.set {
            out.answer(waiter, Ok(Answer::Unit));
            Flow::Done
        } else {
            self.waiters.park(waiter)
        }
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        self.waiters.take_where(pick)
    }
}

/// A `semaphore`: permits that any task may release, as in Python, handed
/// to waiters in arrival order.
pub(super) struct SemaphoreObject {
    permits: u32,
    /// Waiting while no permit is left.
    waiters: WaitList,
}

impl SemaphoreObject {
    pub fn new(permits: u32) -> SemaphoreObject {
        SemaphoreObject {
            permits,
            waiters: WaitList::default(),
        }
    }

    pub fn acquire(&mut self, waiter: Waiter, out: &mut Outbox) -> Flow {
        if self.permits == 0 {
            return self.waiters.park(waiter);
        }
        self.permits -= 1;
        out.answer(waiter, Ok(Answer::Unit));
        Flow::Done
    }

    /// Gives a permit to the first waiter, or back to the semaphore.
    pub fn release(&mut self, out: &mut Outbox) -> Result<Answer, ObjectError> {
        if let Some(next) = self.waiters.pop_waiter() {
            out.answer(next, Ok(Answer::Unit));
        } else {
            self.permits = self.permits.checked_add(1).ok_or_else(|| {
                ObjectError::Denied("the semaphore cannot hold more permits".into())
            })?;
        }
        Ok(Answer::Unit)
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        self.waiters.take_where(pick)
    }
}

/// A `barrier` for `parties` tasks. When the last one arrives, every waiter
/// gets its arrival index and the next round starts empty, as with Python's
/// cyclic barrier. A waiter that times out or whose task ends leaves the
/// round; the ones after it move up.
pub(super) struct BarrierObject {
    parties: u32,
    /// This round's arrivals, in order.
    waiters: WaitList,
}

impl BarrierObject {
    pub fn new(parties: u32) -> BarrierObject {
        BarrierObject {
            parties,
            waiters: WaitList::default(),
        }
    }

    pub fn wait(&mut self, waiter: Waiter, out: &mut Outbox) -> Flow {
        let arrived = self.waiters.len() as u32;
        if arrived + 1 < self.parties {
            return self.waiters.park(waiter);
        }
        self.waiters
            .answer_all(out, |index| Ok(Answer::Count(index as u32)));
        out.answer(waiter, Ok(Answer::Count(arrived)));
        Flow::Done
    }

    /// Breaks this round, because a waiting task died: the others get
    /// `abandoned`, and the next round starts empty.
    pub fn break_round(&mut self, out: &mut Outbox) {
        self.waiters
            .answer_all(out, |_| Err(ObjectError::Abandoned));
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        self.waiters.take_where(pick)
    }
}
