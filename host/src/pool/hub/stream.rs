//! What queues and pipes share. A put or send answers how many more items
//! its sender may send without waiting for their answers; a get or recv
//! takes one item, or, for a task that takes in a tight loop, the items
//! after it too, within a bound.

use std::collections::VecDeque;

use super::budget::{Budget, Held, ITEM_OVERHEAD};
use super::waiters::{Flow, Outbox, Waiter};
use crate::protocol::{MAX_GET_MANY, MAX_STREAMED_ITEM, Request};

/// Bytes of the items a take of several takes beyond its first, at most.
pub(super) const MAX_MANY_BYTES: usize = 64 << 10;

/// How many more items a sender may send without waiting for their
/// answers: the `room` left before a send waits, and no more than would
/// take half the job's budget left if each were as large as such an item
/// may be, so that an item answered at once is rarely denied later.
pub(super) fn streamable(room: usize, budget: &Budget) -> u32 {
    let affordable = budget.left() / (2 * (MAX_STREAMED_ITEM + ITEM_OVERHEAD));
    u32::try_from(room.min(affordable)).unwrap_or(u32::MAX)
}

/// How many items a take answers.
#[derive(Clone, Copy)]
pub(super) enum Want {
    /// A `get` or `recv`: one item, answered as it is.
    One,
    /// A `get-many` or `recv-many`: up to this many, answered as a list.
    Many(u32),
}

impl Want {
    /// A take of up to `most` items, within [`MAX_GET_MANY`].
    pub fn many(most: u32) -> Want {
        Want::Many(most.clamp(1, MAX_GET_MANY))
    }

    /// `first`, and for a take of several the items after it in `items`,
    /// up to its count and while all together stay within
    /// [`MAX_MANY_BYTES`] beyond the first. The first item may be as large
    /// as a message, and the answer is never larger than a message (a
    /// cluster's hub answers through one).
    pub fn take(self, first: Held, items: &mut VecDeque<Held>) -> Vec<Vec<u8>> {
        let mut taken = vec![first.take()];
        let Want::Many(most) = self else {
            return taken;
        };
        let mut bytes = taken[0].len();
        while taken.len() < most as usize {
            match items.front() {
                Some(item) if bytes + item.bytes().len() <= MAX_MANY_BYTES => {
                    bytes += item.bytes().len();
                }
                _ => break,
            }
            taken.extend(items.pop_front().map(Held::take));
        }
        taken
    }

    /// Answers `taker` the items it took (at least one), as the request
    /// `One` answers a take of one, and `Many` a take of several.
    pub fn answer<One, Many>(self, taker: Waiter, mut taken: Vec<Vec<u8>>, out: &mut Outbox) -> Flow
    where
        One: Request<Answer = Vec<u8>>,
        Many: Request<Answer = Vec<Vec<u8>>>,
    {
        match self {
            Want::One => out.answer::<One>(taker, Ok(taken.swap_remove(0))),
            Want::Many(_) => out.answer::<Many>(taker, Ok(taken)),
        }
    }
}
