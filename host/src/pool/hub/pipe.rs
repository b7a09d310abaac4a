//! `wpool:task/pipe`: two ends, each with a bounded inbox of the messages the
//! other end sent. Each end is open through one connection at a time; a
//! connection is named by its own handle, so a closed connection stays closed
//! even after its end is opened again. As for queues (see `stream`), a send
//! answers the room left in the other end's inbox, and a `recv-many` takes
//! the messages ahead; those come back to no one: an end that closes drops
//! what it did not read.

use std::collections::VecDeque;

use super::budget::{Budget, Held};
use super::caller::{Caller, Gone};
use super::stream::{Want, streamable};
use super::waiters::{Flow, Outbox, WaitList, Waiter, WaiterId};
use crate::protocol::{End, ObjectError, pipe};

pub(super) struct PipeObject {
    /// The most messages an inbox holds before senders wait.
    capacity: usize,
    ends: [EndState; 2],
}

#[derive(Default)]
struct EndState {
    status: Status,
    /// The messages sent to this end, oldest first.
    inbox: VecDeque<Held>,
    /// This end's `recv`s and `recv-many`s, waiting while the inbox is
    /// empty.
    receivers: WaitList<Want>,
    /// This end's `poll`s, waiting while the inbox is empty and the other
    /// end not closed.
    pollers: WaitList,
    /// The other end's `send`s, waiting while the inbox is full.
    senders: WaitList<Held>,
}

#[derive(Default, Clone, Copy, PartialEq)]
enum Status {
    #[default]
    Unopened,
    Open {
        connection: u64,
        opener: Caller,
    },
    Closed {
        connection: u64,
    },
}

impl EndState {
    /// How many more sends to this end its sender may send without waiting
    /// for their answers.
    fn room(&self, capacity: usize, budget: &Budget) -> u32 {
        streamable(capacity.saturating_sub(self.inbox.len()), budget)
    }
}

/// Answers `receiver` the messages it took, as its request's type.
fn answer(want: Want, receiver: Waiter, taken: Vec<Vec<u8>>, out: &mut Outbox) -> Flow {
    want.answer::<pipe::Recv, pipe::RecvMany>(receiver, taken, out)
}

fn index(end: End) -> usize {
    match end {
        End::A => 0,
        End::B => 1,
    }
}

impl PipeObject {
    pub fn new(capacity: usize) -> PipeObject {
        PipeObject {
            capacity,
            ends: Default::default(),
        }
    }

    /// Opens `end` as `connection` for `opener`. Returns the connection it
    /// replaces, closed earlier, whose handle can now be forgotten.
    pub fn open(
        &mut self,
        end: End,
        connection: u64,
        opener: Caller,
    ) -> Result<Option<u64>, ObjectError> {
        let state = &mut self.ends[index(end)];
        let replaced = match state.status {
            Status::Open { .. } => {
                return Err(ObjectError::Denied(format!("end {end:?} is already open")));
            }
            Status::Unopened => None,
            Status::Closed { connection } => Some(connection),
        };
        state.status = Status::Open { connection, opener };
        Ok(replaced)
    }

    /// The end `connection` holds open; `closed` for a connection closed since.
    fn end_of(&self, connection: u64) -> Result<usize, ObjectError> {
        self.ends
            .iter()
            .position(|e| matches!(e.status, Status::Open { connection: c, .. } if c == connection))
            .ok_or(ObjectError::Closed)
    }

    /// Serves `op` for `waiter`; a sent message counts against `budget`.
    pub fn apply(
        &mut self,
        op: pipe::Op,
        waiter: Waiter,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
        match op {
            pipe::Op::Send(send) => match budget.hold(send.message, 0) {
                Ok(message) => self.send(send.handle.0, message, waiter, budget, out),
                Err(error) => out.fail(waiter, error),
            },
            pipe::Op::Recv(recv) => self.recv(recv.handle.0, waiter, Want::One, budget, out),
            pipe::Op::RecvMany(many) => {
                self.recv(many.handle.0, waiter, Want::many(many.most), budget, out)
            }
            pipe::Op::Poll(poll) => self.poll(poll.handle.0, waiter, out),
            pipe::Op::Close(close) => {
                self.close(close.handle.0, out);
                out.answer::<pipe::Close>(waiter, Ok(()))
            }
        }
    }

    /// Sends `message` to the other end: to a waiting receiver, into its
    /// inbox, or waits for room. `closed` if the other end was closed.
    fn send(
        &mut self,
        connection: u64,
        message: Held,
        waiter: Waiter,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
        let capacity = self.capacity;
        let peer = match self.end_of(connection) {
            Ok(me) => &mut self.ends[1 - me],
            Err(error) => return out.fail(waiter, error),
        };
        if matches!(peer.status, Status::Closed { .. }) {
            return out.fail(waiter, ObjectError::Closed);
        }
        if let Some((receiver, want)) = peer.receivers.pop() {
            answer(want, receiver, vec![message.take()], out);
        } else if peer.inbox.len() < capacity {
            peer.inbox.push_back(message);
            peer.pollers.answer_all::<pipe::Poll>(out, |_| Ok(true));
        } else {
            peer.senders.push(waiter, message);
            return Flow::Parked;
        }
        out.answer::<pipe::Send>(waiter, Ok(peer.room(capacity, budget)))
    }

    /// Takes the oldest message sent to this end, and for a `recv-many`
    /// those after it; `closed` once the other end is closed and the inbox
    /// drained.
    fn recv(
        &mut self,
        connection: u64,
        waiter: Waiter,
        want: Want,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
        let me = match self.end_of(connection) {
            Ok(me) => me,
            Err(error) => return out.fail(waiter, error),
        };
        let peer_closed = matches!(self.ends[1 - me].status, Status::Closed { .. });
        let capacity = self.capacity;
        let state = &mut self.ends[me];
        let Some(first) = state.inbox.pop_front() else {
            return match peer_closed {
                true => out.fail(waiter, ObjectError::Closed),
                false => {
                    state.receivers.push(waiter, want);
                    Flow::Parked
                }
            };
        };
        let taken = want.take(first, &mut state.inbox);
        for _ in 0..taken.len() {
            let Some((sender, waiting)) = state.senders.pop() else {
                break;
            };
            state.inbox.push_back(waiting);
            out.answer::<pipe::Send>(sender, Ok(state.room(capacity, budget)));
        }
        answer(want, waiter, taken, out)
    }

    /// Answers whether a `recv` on this end would answer at once: a message
    /// waits, or the other end is closed. Otherwise waits for one of them;
    /// its timeout answers `false` ([`PipeObject::expire`]).
    fn poll(&mut self, connection: u64, waiter: Waiter, out: &mut Outbox) -> Flow {
        let me = match self.end_of(connection) {
            Ok(me) => me,
            Err(error) => return out.fail(waiter, error),
        };
        let peer_closed = matches!(self.ends[1 - me].status, Status::Closed { .. });
        let state = &mut self.ends[me];
        if peer_closed || !state.inbox.is_empty() {
            out.answer::<pipe::Poll>(waiter, Ok(true))
        } else {
            state.pollers.park(waiter)
        }
    }

    /// Answers the waiter `id`, whose deadline passed: `false` to a `poll`,
    /// `timeout` to the others.
    pub fn expire(&mut self, id: WaiterId, out: &mut Outbox) {
        for state in &mut self.ends {
            for poll in state.pollers.take_where(&mut |w| w.id == id) {
                out.answer::<pipe::Poll>(poll, Ok(false));
            }
        }
        for waiter in self.take_waiters(&mut |w| w.id == id) {
            out.fail(waiter, ObjectError::Timeout);
        }
    }

    /// Closes the end `connection` holds; closing it again does nothing.
    fn close(&mut self, connection: u64, out: &mut Outbox) {
        if let Ok(me) = self.end_of(connection) {
            self.close_end(me, out);
        }
    }

    /// Closes the ends opened by the tasks that are `gone`.
    pub fn close_ends_of(&mut self, gone: Gone, out: &mut Outbox) {
        for me in 0..2 {
            if let Status::Open { opener, .. } = self.ends[me].status
                && gone.covers(&opener)
            {
                self.close_end(me, out);
            }
        }
    }

    /// Unread messages are dropped; everyone waiting to talk through this
    /// end, or to hear from it, gets `closed`; the other end's polls learn
    /// that its `recv` answers at once.
    fn close_end(&mut self, me: usize, out: &mut Outbox) {
        let state = &mut self.ends[me];
        if let Status::Open { connection, .. } = state.status {
            state.status = Status::Closed { connection };
        }
        state.inbox.clear();
        state.receivers.fail_all(out, ObjectError::Closed);
        state.pollers.fail_all(out, ObjectError::Closed);
        state.senders.fail_all(out, ObjectError::Closed);
        let peer = &mut self.ends[1 - me];
        peer.receivers.fail_all(out, ObjectError::Closed);
        peer.pollers.answer_all::<pipe::Poll>(out, |_| Ok(true));
        peer.senders.fail_all(out, ObjectError::Closed);
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        let mut taken = Vec::new();
        for state in &mut self.ends {
            taken.extend(state.receivers.take_where(pick));
            taken.extend(state.pollers.take_where(pick));
            taken.extend(state.senders.take_where(pick));
        }
        taken
    }
}
