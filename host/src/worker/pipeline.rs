//! Requests answered at once: queue puts, pipe sends, value sets and lock
//! releases that the task sends without waiting for their answers.
//!
//! The hub answers each put with how many more may follow without waiting
//! (the room its queue, or the pipe's other end, has left, within the job's
//! budget); while the task knows of room, its next puts on that channel are
//! sent without waiting for their answers, as Python's `Queue.put` returns
//! once there is room and leaves the sending to a feeder thread.
//!
//! Where the job's objects live in another process (an agent's workers),
//! locks and number values are requests too (elsewhere they live in the
//! job's shared memory, see `cells`). There, a `set` of a value whose kind
//! the task has seen (in an answer), to an integer or float of that kind,
//! cannot fail but for the job ending, and goes at once; so does the
//! `release` of a lock the task acquired (as far as this handle's own
//! acquires and releases tell). A counter under a lock then waits only for
//! its `acquire` and its `get`.
//!
//! The answers come later, in order. A request that failed meanwhile (the
//! queue or the other end was closed, the job's byte budget ran out, other
//! producers took the room and the put timed out, the job ended) is
//! reported by the task's next put on that channel, or next operation on
//! that value or lock, once, for every request sent before that report; a
//! task waits for every answer before it ends, and a failure it was never
//! told of fails it.

use std::collections::VecDeque;

use tokio::sync::oneshot::error::TryRecvError;

use super::channel::Key;
use super::link::Reply;
use crate::protocol::{AnswerType, ObjectError, Scalar, lock, value};

/// Requests a task sends ahead of their answers at most, whatever the
/// room: it bounds the answers it keeps.
const MAX_AHEAD: u32 = 256;

/// A task's requests answered at once, and what it knows that lets more go
/// so.
#[derive(Default)]
pub(crate) struct Pipeline {
    /// Per channel: how many more puts may be answered at once.
    room: Vec<(Key, u32)>,
    /// The answers to come, oldest first, with the object each request
    /// went to.
    sent: VecDeque<(Key, Reply)>,
    /// Failures that came and were not reported yet, by object.
    failed: Vec<(Key, ObjectError)>,
    /// The values whose kind an answer showed, and that kind: a value
    /// keeps the kind it was made with.
    kinds: Vec<(value::Handle, Kind)>,
    /// How many times the task holds each lock through that handle.
    held: Vec<(lock::Handle, u32)>,
}

/// A scalar's kind, as far as a `set` answered at once needs it: a number
/// of fixed size, or bytes, whose size counts against the job's budget.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Kind {
    Int,
    Float,
    Bytes,
}

impl Kind {
    pub(crate) fn of(scalar: &Scalar) -> Kind {
        match scalar {
            Scalar::Int(_) => Kind::Int,
            Scalar::Float(_) => Kind::Float,
            Scalar::Bytes(_) => Kind::Bytes,
        }
    }
}

impl Pipeline {
    /// Takes one put's worth of the room known on `channel`; false when
    /// none is known, and the put must wait for its answer.
    pub(crate) fn take_room(&mut self, channel: Key) -> bool {
        match self.room.iter_mut().find(|(c, _)| *c == channel) {
            Some((_, room)) if *room > 0 => {
                *room -= 1;
                true
            }
            _ => false,
        }
    }

    /// The hub said `channel` has `room` left, as of a put that waited.
    pub(crate) fn set_room(&mut self, channel: Key, room: u32) {
        let room = room.min(MAX_AHEAD);
        match self.room.iter_mut().find(|(c, _)| *c == channel) {
            Some((_, known)) => *known = room,
            None => self.room.push((channel, room)),
        }
    }

    /// A request to `object` was sent without waiting; its answer comes on
    /// `reply`.
    pub(crate) fn sent(&mut self, object: Key, reply: Reply) {
        self.sent.push_back((object, reply));
    }

    /// Whether one more request may go without waiting, as far as the
    /// answers the task keeps go.
    fn below_max_ahead(&self) -> bool {
        self.sent.len() < MAX_AHEAD as usize
    }

    /// An answer showed that `handle`'s value is of kind `kind`.
    pub(crate) fn seen(&mut self, handle: value::Handle, kind: Kind) {
        match self.kinds.iter_mut().find(|(h, _)| *h == handle) {
            Some((_, known)) => *known = kind,
            None => self.kinds.push((handle, kind)),
        }
    }

    /// Whether setting `handle`'s value to `new` may go without waiting:
    /// `new` is a number of the kind the value is known to be, so the set
    /// cannot fail while the job lasts.
    pub(crate) fn set_at_once(&self, handle: value::Handle, new: &Scalar) -> bool {
        let kind = Kind::of(new);
        kind != Kind::Bytes
            && self.below_max_ahead()
            && self.kinds.iter().any(|&(h, k)| h == handle && k == kind)
    }

    /// The task acquired `handle`'s lock once more.
    pub(crate) fn acquired(&mut self, handle: lock::Handle) {
        match self.held.iter_mut().find(|(h, _)| *h == handle) {
            Some((_, count)) => *count += 1,
            None => self.held.push((handle, 1)),
        }
    }

    /// Takes one of the times the task holds `handle`'s lock, for a release
    /// that may go without waiting: false when it holds none known, and
    /// the release must wait for the hub's word.
    pub(crate) fn release_at_once(&mut self, handle: lock::Handle) -> bool {
        if !self.below_max_ahead() {
            return false;
        }
        match self.held.iter_mut().find(|(h, _)| *h == handle) {
            Some((_, count)) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => false,
        }
    }

    /// Forgets which locks the task holds: a condition's wait failed, and
    /// may have left one released.
    pub(crate) fn forget_held(&mut self) {
        self.held.clear();
    }

    /// The failure of a request answered at once to `object` (to any
    /// object for `None`), with its object, among the answers that came,
    /// or, when `wait`, among all of them. Before one is reported, every answer still to come is
    /// waited for: the puts sent before the report are part of it, and
    /// their failures on that object are reported with it, once. A
    /// channel's room is unknown again after a failure. The outer error is
    /// a broken protocol: an answer of the wrong kind.
    pub(crate) async fn failure(
        &mut self,
        object: Option<Key>,
        wait: bool,
    ) -> wasmtime::Result<Option<(Key, ObjectError)>> {
        self.collect(wait).await?;
        let matching = |(c, _): &(Key, ObjectError)| object.is_none_or(|object| object == *c);
        if !self.failed.iter().any(matching) {
            return Ok(None);
        }
        self.collect(true).await?;
        let at = self.failed.iter().position(matching).expect("found above");
        let (c, error) = self.failed.remove(at);
        self.failed.retain(|(other, _)| *other != c);
        Ok(Some((c, error)))
    }

    /// Waits until every request sent at once is answered: the hub has
    /// applied them. Their failures are kept for the task's next operation
    /// on each object.
    pub(crate) async fn settle(&mut self) -> wasmtime::Result<()> {
        self.collect(true).await
    }

    /// Takes in the answers that came, or, when `wait`, all of them, in the
    /// order the requests were sent, keeping their failures.
    async fn collect(&mut self, wait: bool) -> wasmtime::Result<()> {
        while let Some((c, reply)) = self.sent.front_mut() {
            let answer = match wait {
                true => reply.await.unwrap_or(Err(ObjectError::Closed)),
                false => match reply.try_recv() {
                    Ok(answer) => answer,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => Err(ObjectError::Closed),
                },
            };
            let c = *c;
            self.sent.pop_front();
            // A put's and a send's answer alike is the room left; a set's
            // and a release's, nothing.
            let answered = answer.map(|answer| match c {
                Key::Queue(_) | Key::Pipe(_) => u32::from_answer(answer).map(drop),
                Key::Value(_) | Key::Lock(_) => <()>::from_answer(answer),
            });
            match answered {
                Ok(Ok(())) => {}
                Err(error) => {
                    self.room.retain(|(known, _)| *known != c);
                    self.failed.push((c, error));
                }
                Ok(Err(answer)) => {
                    return Err(wasmtime::format_err!(
                        "the hub answered out of turn: {answer:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Forgets everything, for a new task, keeping what it allocated.
    pub(crate) fn reset(&mut self) {
        let Pipeline {
            room,
            sent,
            failed,
            kinds,
            held,
        } = self;
        room.clear();
        sent.clear();
        failed.clear();
        kinds.clear();
        held.clear();
    }
}
