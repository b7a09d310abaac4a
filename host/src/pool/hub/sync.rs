//! `wpool:task/sync`: events, semaphores and cyclic barriers.

use super::queue::count;
use super::waiters::{Flow, Outbox, WaitList, Waiter};
use crate::protocol::{ObjectError, barrier, event, semaphore};

/// An `event`: a flag that wakes every waiter when set.
#[derive(Default)]
pub(super) struct EventObject {
    set: bool,
    /// Waiting while the flag is clear.
    waiters: WaitList,
}

impl EventObject {
    pub fn apply(&mut self, op: event::Op, waiter: Waiter, out: &mut Outbox) -> Flow {
        match op {
            event::Op::Set(_) => {
                self.set = true;
                self.waiters.answer_all::<event::Wait>(out, |_| Ok(()));
                out.answer::<event::Set>(waiter, Ok(()))
            }
            event::Op::Clear(_) => {
                self.set = false;
                out.answer::<event::Clear>(waiter, Ok(()))
            }
            event::Op::IsSet(_) => out.answer::<event::IsSet>(waiter, Ok(self.set)),
            event::Op::Wait(_) if self.set => out.answer::<event::Wait>(waiter, Ok(())),
            event::Op::Wait(_) => self.waiters.park(waiter),
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

    pub fn apply(&mut self, op: semaphore::Op, waiter: Waiter, out: &mut Outbox) -> Flow {
        match op {
            semaphore::Op::Acquire(_) if self.permits == 0 => self.waiters.park(waiter),
            semaphore::Op::Acquire(_) => {
                self.permits -= 1;
                out.answer::<semaphore::Acquire>(waiter, Ok(()))
            }
            semaphore::Op::Release(_) => {
                let released = self.release(out);
                out.answer::<semaphore::Release>(waiter, released)
            }
        }
    }

    /// Gives a permit to the first waiter, or back to the semaphore.
    fn release(&mut self, out: &mut Outbox) -> Result<(), ObjectError> {
        if let Some(next) = self.waiters.pop_waiter() {
            out.answer::<semaphore::Acquire>(next, Ok(()));
        } else {
            self.permits = self.permits.checked_add(1).ok_or_else(|| {
                ObjectError::Denied("the semaphore cannot hold more permits".into())
            })?;
        }
        Ok(())
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        self.waiters.take_where(pick)
    }
}

/// A `barrier` for `parties` tasks. When the last one arrives, every waiter
/// gets its arrival index and the next round starts empty, as with Python's
/// cyclic barrier. A waiter that times out or whose task ends leaves the
/// round; the ones after it move up. An `abort` breaks it until a `reset`.
pub(super) struct BarrierObject {
    parties: u32,
    /// This round's arrivals, in order; nobody waits while `broken`.
    waiters: WaitList,
    /// Aborted and not reset since: every `wait` gets `abandoned`.
    broken: bool,
}

impl BarrierObject {
    pub fn new(parties: u32) -> BarrierObject {
        BarrierObject {
            parties,
            waiters: WaitList::default(),
            broken: false,
        }
    }

    pub fn apply(&mut self, op: barrier::Op, waiter: Waiter, out: &mut Outbox) -> Flow {
        match op {
            barrier::Op::Wait(_) if self.broken => out.fail(waiter, ObjectError::Abandoned),
            barrier::Op::Wait(_) => self.wait(waiter, out),
            barrier::Op::Abort(_) => {
                self.broken = true;
                self.break_round(out);
                out.answer::<barrier::Abort>(waiter, Ok(()))
            }
            barrier::Op::Reset(_) => {
                self.broken = false;
                self.break_round(out);
                out.answer::<barrier::Reset>(waiter, Ok(()))
            }
            barrier::Op::Broken(_) => out.answer::<barrier::Broken>(waiter, Ok(self.broken)),
            barrier::Op::NWaiting(_) => {
                let waiting = count(self.waiters.len());
                out.answer::<barrier::NWaiting>(waiter, Ok(waiting))
            }
        }
    }

    /// Waits for the round to fill, or fills it: then everyone is answered.
    fn wait(&mut self, waiter: Waiter, out: &mut Outbox) -> Flow {
        let arrived = self.waiters.len() as u32;
        if arrived + 1 < self.parties {
            return self.waiters.park(waiter);
        }
        self.waiters
            .answer_all::<barrier::Wait>(out, |index| Ok(index as u32));
        out.answer::<barrier::Wait>(waiter, Ok(arrived))
    }

    /// Breaks this round (a waiting task died, or an `abort` or `reset`):
    /// the waiters get `abandoned`, and the next round starts empty.
    pub fn break_round(&mut self, out: &mut Outbox) {
        self.waiters.fail_all(out, ObjectError::Abandoned);
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        self.waiters.take_where(pick)
    }
}
