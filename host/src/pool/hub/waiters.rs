//! Parked requests. A [`Waiter`] holds the reply of an operation that cannot
//! complete yet, in a [`WaitList`] of its object; an [`Outbox`] collects the
//! replies an operation settles, to be called once the hub's lock is
//! released; [`Deadlines`] orders the waiters' deadlines for the timer thread.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use super::caller::Caller;
use crate::protocol::{Answer, AnswerType, ObjectError, Request};

/// Where an operation's answer goes. Called exactly once, with none of the
/// hub's locks held, on the thread of the request or of whatever completed
/// it (another request, the timer thread, a drop): it should only hand the
/// answer on, say to a channel, and may call the hub again.
pub(crate) type Reply = Box<dyn FnOnce(Result<Answer, ObjectError>) + Send>;

/// Names a request, parked or not; unique within a hub.
pub(super) type WaiterId = u64;

/// A request that is being served: who asked, and where the answer goes.
pub(super) struct Waiter {
    pub id: WaiterId,
    pub caller: Caller,
    reply: Reply,
}

impl Waiter {
    pub fn new(id: WaiterId, caller: Caller, reply: Reply) -> Waiter {
        Waiter { id, caller, reply }
    }
}

/// What a blocking operation did with its waiter.
pub(super) enum Flow {
    /// The waiter was answered.
    Done,
    /// The waiter waits in one of its object's lists.
    Parked,
}

/// The replies settled while the hub's lock is held. [`Outbox::deliver`]
/// calls them after the lock is released, so that a reply may take its time
/// or call the hub again.
#[derive(Default)]
pub(super) struct Outbox {
    replies: Vec<(Reply, Result<Answer, ObjectError>)>,
    /// The waiters answered since the hub last forgot them.
    settled: Vec<WaiterId>,
}

impl Outbox {
    /// Answers `waiter`, whose request is an `R`: its reply is called with
    /// `result` on delivery.
    pub fn answer<R: Request>(
        &mut self,
        waiter: Waiter,
        result: Result<R::Answer, ObjectError>,
    ) -> Flow {
        self.settle(waiter, result.map(AnswerType::into_answer))
    }

    /// Answers `waiter`, whatever its request, with `error`.
    pub fn fail(&mut self, waiter: Waiter, error: ObjectError) -> Flow {
        self.settle(waiter, Err(error))
    }

    /// Answers `waiter`, whose request is an open of any kind, with the
    /// handle of the object (or pipe connection) it opened: every kind's
    /// `open` answers a handle.
    pub fn opened(&mut self, waiter: Waiter, result: Result<u64, ObjectError>) -> Flow {
        self.settle(waiter, result.map(Answer::Handle))
    }

    fn settle(&mut self, waiter: Waiter, result: Result<Answer, ObjectError>) -> Flow {
        self.settled.push(waiter.id);
        self.replies.push((waiter.reply, result));
        Flow::Done
    }

    /// The waiters answered since the last call.
    pub fn take_settled(&mut self) -> Vec<WaiterId> {
        std::mem::take(&mut self.settled)
    }

    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// Calls every reply, in the order the answers were given.
    pub fn deliver(self) {
        for (reply, result) in self.replies {
            reply(result);
        }
    }
}

/// Waiters of one kind on one object, first come first served; each may carry
/// a payload (the item a waiting `put` will append).
pub(super) struct WaitList<T = ()>(VecDeque<(Waiter, T)>);

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        WaitList(VecDeque::new())
    }
}

impl<T> WaitList<T> {
    pub fn push(&mut self, waiter: Waiter, payload: T) {
        self.0.push_back((waiter, payload));
    }

    /// The waiter that came first.
    pub fn pop(&mut self) -> Option<(Waiter, T)> {
        self.0.pop_front()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes the first waiter that `pick` chooses, with its payload.
    pub fn remove_where(&mut self, pick: impl Fn(&Waiter, &T) -> bool) -> Option<(Waiter, T)> {
        let at = self
            .0
            .iter()
            .position(|(waiter, payload)| pick(waiter, payload))?;
        self.0.remove(at)
    }

    /// Removes the waiters `pick` chooses; their payloads are dropped.
    pub fn take_where(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        let (taken, kept) = std::mem::take(&mut self.0)
            .into_iter()
            .partition::<VecDeque<_>, _>(|(waiter, _)| pick(waiter));
        self.0 = kept;
        taken.into_iter().map(|(waiter, _)| waiter).collect()
    }

    /// Answers every waiter, each of whose requests is an `R`, in arrival
    /// order; `result` is given the index.
    pub fn answer_all<R: Request>(
        &mut self,
        out: &mut Outbox,
        mut result: impl FnMut(usize) -> Result<R::Answer, ObjectError>,
    ) {
        for (index, (waiter, _)) in std::mem::take(&mut self.0).into_iter().enumerate() {
            out.answer::<R>(waiter, result(index));
        }
    }

    /// Answers every waiter with `error`.
    pub fn fail_all(&mut self, out: &mut Outbox, error: ObjectError) {
        for (waiter, _) in std::mem::take(&mut self.0) {
            out.fail(waiter, error.clone());
        }
    }
}

impl WaitList {
    pub fn park(&mut self, waiter: Waiter) -> Flow {
        self.push(waiter, ());
        Flow::Parked
    }

    pub fn pop_waiter(&mut self) -> Option<Waiter> {
        self.pop().map(|(waiter, ())| waiter)
    }
}

/// The deadlines of parked waiters, earliest first. A waiter answered before
/// its deadline leaves a stale entry, skipped when it comes due and swept out
/// by [`Deadlines::push`] when stale entries outnumber live ones.
#[derive(Default)]
pub(super) struct Deadlines(BinaryHeap<Reverse<(Instant, WaiterId)>>);

impl Deadlines {
    /// Adds a deadline; `live` tells which waiters still wait, `live_count`
    /// how many they are. Returns whether it is now the earliest, so the
    /// timer must wake up sooner.
    pub fn push(
        &mut self,
        at: Instant,
        id: WaiterId,
        live_count: usize,
        live: impl Fn(WaiterId) -> bool,
    ) -> bool {
        if self.0.len() >= 64 && self.0.len() > 2 * live_count {
            self.0.retain(|e| live(e.0.1));
        }
        self.0.push(Reverse((at, id)));
        self.0.peek() == Some(&Reverse((at, id)))
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.0.peek().map(|e| e.0.0)
    }

    /// Removes and returns a waiter whose deadline is not after `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<WaiterId> {
        if self.next()? <= now {
            self.0.pop().map(|e| e.0.1)
        } else {
            None
        }
    }
}
