//! Restoring input order: finished outputs wait here until every output
//! before them has been yielded (an ordered run), or go out as they come
//! (an unordered one). The window bounds how far an ordered run reads ahead
//! of its oldest unfinished input.

use std::collections::BTreeMap;

use crate::pool::output::TaskOutput;

/// How far ahead of the oldest unfinished input an ordered run may read:
/// bounds the memory held for outputs waiting on a slow task.
const WINDOW: u64 = 1 << 16;

pub(super) struct Reorder {
    /// Whether outputs go out in index order.
    ordered: bool,
    /// Finished outputs not yet yielded, by index.
    done: BTreeMap<u64, TaskOutput>,
    /// In an ordered run, the index of the next output to yield: each yield
    /// moves it one past the output yielded.
    next_out: u64,
}

impl Reorder {
    pub(super) fn new(ordered: bool) -> Reorder {
        Reorder {
            ordered,
            done: BTreeMap::new(),
            next_out: 0,
        }
    }

    pub(super) fn insert(&mut self, output: TaskOutput) {
        self.done.insert(output.index, output);
    }

    /// Whether an output may be yielded now.
    pub(super) fn has_ready(&self) -> bool {
        match self.ordered {
            true => self.done.contains_key(&self.next_out),
            false => !self.done.is_empty(),
        }
    }

    /// The next output to yield, if it is there.
    pub(super) fn pop(&mut self) -> Option<TaskOutput> {
        if !self.has_ready() {
            return None;
        }
        let (_, output) = self.done.pop_first()?;
        self.next_out = output.index + 1;
        Some(output)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// In an ordered run, the first index the run may not read yet.
    pub(super) fn window_end(&self) -> Option<u64> {
        self.ordered.then_some(self.next_out + WINDOW)
    }
}
