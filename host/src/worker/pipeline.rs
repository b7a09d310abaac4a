//! Queue puts and pipe sends answered at once. The hub answers each put
//! with how many more may follow without waiting (the room its queue, or
//! the pipe's other end, has left, within the job's budget); while the
//! task knows of room, its next puts on that channel are sent without
//! waiting for their answers, as Python's `Queue.put` returns once there is
//! room and leaves the sending to a feeder thread. The answers come later,
//! in order. A put that failed meanwhile (the queue or the other end was
//! closed, the job's byte budget ran out, other producers took the room
//! and the put timed out) is reported by the task's next put on that
//! channel, once, for every put sent before that report; a task waits for
//! every answer before it ends, and a failure it was never told of fails
//! it.

use std::collections::VecDeque;

use tokio::sync::oneshot::error::TryRecvError;

use super::channel::Key;
use super::link::Reply;
use crate::protocol::{AnswerType, ObjectError};

/// Puts a task sends ahead of their answers at most, whatever the room: it
/// bounds the answers it keeps.
const MAX_AHEAD: u32 = 256;

/// A task's puts answered at once, and the room it may still use.
#[derive(Default)]
pub(crate) struct Pipeline {
    /// Per channel: how many more puts may be answered at once.
    room: Vec<(Key, u32)>,
    /// The answers to come, oldest first, with the channel each put went to.
    sent: VecDeque<(Key, Reply)>,
    /// Failures that came and were not reported yet, by channel.
    failed: Vec<(Key, ObjectError)>,
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

    /// A put on `channel` was sent; its answer comes on `reply`.
    pub(crate) fn sent(&mut self, channel: Key, reply: Reply) {
        self.sent.push_back((channel, reply));
    }

    /// The failure of a put answered at once on `channel` (on any channel
    /// for `None`), with its channel, among the answers that came, or, when `wait`, among all
    /// of them. Before one is reported, every answer still to come is
    /// waited for: the puts sent before the report are part of it, and
    /// their failures on that channel are reported with it, once. The
    /// channel's room is unknown again after a failure. The outer error is
    /// a broken protocol: an answer of the wrong kind.
    pub(crate) async fn failure(
        &mut self,
        channel: Option<Key>,
        wait: bool,
    ) -> wasmtime::Result<Option<(Key, ObjectError)>> {
        self.collect(wait).await?;
        let matching = |(c, _): &(Key, ObjectError)| channel.is_none_or(|channel| channel == *c);
        if !self.failed.iter().any(matching) {
            return Ok(None);
        }
        self.collect(true).await?;
        let at = self.failed.iter().position(matching).expect("found above");
        let (c, error) = self.failed.remove(at);
        self.failed.retain(|(other, _)| *other != c);
        Ok(Some((c, error)))
    }

    /// Takes in the answers that came, or, when `wait`, all of them, in the
    /// order the puts were sent, keeping their failures.
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
            // A put's and a send's answer alike: the room left.
            match answer.map(u32::from_answer) {
                Ok(Ok(_room)) => {}
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

    /// Forgets everything, for a new task.
    pub(crate) fn reset(&mut self) {
        *self = Pipeline::default();
    }
}
