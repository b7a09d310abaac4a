//! `wpool:task/shared.shared-list`: a list of byte strings, indexed as in
//! Python (an index below 0 counts from the end).

use super::budget::{Budget, Held};
use super::queue::count;
use super::waiters::{Flow, Outbox, Waiter};
use crate::protocol::{ObjectError, list};

/// A shared list. Every item counts against its job's budget; a slice
/// answered is at most one message long.
pub(super) struct ListObject {
    /// The most items it holds.
    capacity: usize,
    /// The most bytes a slice answers.
    max_message: usize,
    items: Vec<Held>,
}

impl ListObject {
    pub fn new(capacity: usize, max_message: usize) -> ListObject {
        ListObject {
            capacity,
            max_message,
            items: Vec::new(),
        }
    }

    /// Serves `op` for `waiter`; what it stores counts against `budget`.
    pub fn apply(
        &mut self,
        op: list::Op,
        waiter: Waiter,
        budget: &Budget,
        out: &mut Outbox,
    ) -> Flow {
        match op {
            list::Op::Append(op) => {
                let appended = self.extend(vec![op.item], budget);
                out.answer::<list::Append>(waiter, appended)
            }
            list::Op::Extend(op) => {
                let extended = self.extend(op.items, budget);
                out.answer::<list::Extend>(waiter, extended)
            }
            list::Op::Get(op) => {
                let item = self.at(op.index).map(|at| self.items[at].bytes().to_vec());
                out.answer::<list::Get>(waiter, item)
            }
            list::Op::Set(op) => {
                let stored = self.at(op.index).and_then(|at| {
                    self.items[at] = budget.hold(op.item, 0)?;
                    Ok(())
                });
                out.answer::<list::Set>(waiter, stored)
            }
            list::Op::Len(_) => out.answer::<list::Len>(waiter, Ok(count(self.items.len()))),
            list::Op::Pop(op) => {
                let index = op.index.unwrap_or(-1);
                let item = self.at(index).map(|at| self.items.remove(at).take());
                out.answer::<list::Pop>(waiter, item)
            }
            list::Op::Slice(op) => {
                let items = self.slice(op.start, op.stop);
                out.answer::<list::Slice>(waiter, items)
            }
        }
    }

    /// Appends every item, or none: `denied` if the list would hold more
    /// than its capacity or the job more than its budget.
    fn extend(&mut self, items: Vec<Vec<u8>>, budget: &Budget) -> Result<(), ObjectError> {
        if self.items.len().saturating_add(items.len()) > self.capacity {
            return Err(ObjectError::Denied(format!(
                "the list would hold more than {} items",
                self.capacity
            )));
        }
        // Held items dropped on an error give their bytes back.
        let held = items
            .into_iter()
            .map(|item| budget.hold(item, 0))
            .collect::<Result<Vec<_>, _>>()?;
        self.items.extend(held);
        Ok(())
    }

    /// The position of `index` (below 0: from the end); `denied` if out of
    /// range.
    fn at(&self, index: i64) -> Result<usize, ObjectError> {
        let len = self.items.len();
        let at = match usize::try_from(index) {
            Ok(at) => Some(at),
            Err(_) => usize::try_from(index.unsigned_abs())
                .ok()
                .and_then(|back| len.checked_sub(back)),
        };
        at.filter(|&at| at < len).ok_or_else(|| {
            ObjectError::Denied(format!("index {index} is out of range for length {len}"))
        })
    }

    /// `items[start:stop]` as Python clamps it; `too-large` if it is longer
    /// than a message.
    fn slice(&self, start: Option<i64>, stop: Option<i64>) -> Result<Vec<Vec<u8>>, ObjectError> {
        let len = self.items.len();
        let clamp = |bound: Option<i64>, default: usize| match bound {
            None => default,
            Some(i) if i >= 0 => usize::try_from(i).unwrap_or(usize::MAX).min(len),
            Some(i) => len.saturating_sub(usize::try_from(i.unsigned_abs()).unwrap_or(usize::MAX)),
        };
        let (start, stop) = (clamp(start, 0), clamp(stop, len));
        let chosen = self.items.get(start..stop.max(start)).unwrap_or_default();
        let bytes: usize = chosen.iter().map(|item| item.bytes().len()).sum();
        if bytes > self.max_message {
            return Err(ObjectError::TooLarge(self.max_message as u64));
        }
        Ok(chosen.iter().map(|item| item.bytes().to_vec()).collect())
    }
}
