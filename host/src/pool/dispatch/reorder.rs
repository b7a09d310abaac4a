//! Restoring input order: finished outputs wait here until every output
//! before them has been yielded (an ordered run), or go out as they come
//! (an unordered one). The window bounds how far an ordered run reads ahead
//! of its oldest unfinished input, in inputs and in the bytes of the
//! outputs waiting.

use std::collections::BTreeMap;

use crate::pool::output::TaskOutput;

/// How far ahead of the oldest unfinished input an ordered run may read:
/// bounds the memory held for outputs waiting on a slow task.
const WINDOW: u64 = 1 << 16;

pub(crate) struct Reorder {
    /// Whether outputs go out in index order.
    ordered: bool,
    /// How many bytes the outputs waiting may hold before an ordered run
    /// stops reading inputs; it reads on once the oldest unfinished task's
    /// output lets those after it go.
    max_held: usize,
    /// What the outputs in `done` hold, as [`TaskOutput::held_bytes`]
    /// counts it: each insert adds, each pop takes away.
    held: usize,
    /// Finished outputs not yet yielded, by index. Boxed: a B-tree moves
    /// its values within a node on every insert and pop, and an output is
    /// a few hundred bytes.
    done: BTreeMap<u64, Box<TaskOutput>>,
    /// In an ordered run, the index of the next output to yield: each yield
    /// moves it one past the output yielded.
    next_out: u64,
}

impl Reorder {
    pub(crate) fn new(ordered: bool, max_held: usize) -> Reorder {
        Reorder {
            ordered,
            max_held,
            held: 0,
            done: BTreeMap::new(),
            next_out: 0,
        }
    }

    pub(crate) fn insert(&mut self, output: TaskOutput) {
        self.held += output.held_bytes();
        self.done.insert(output.index, Box::new(output));
    }

    /// Whether an output may be yielded now.
    pub(crate) fn has_ready(&self) -> bool {
        match self.ordered {
            true => self.done.contains_key(&self.next_out),
            false => !self.done.is_empty(),
        }
    }

    /// The next output to yield, if it is there.
    pub(crate) fn pop(&mut self) -> Option<TaskOutput> {
        if !self.has_ready() {
            return None;
        }
        let (_, output) = self.done.pop_first()?;
        self.next_out = output.index + 1;
        self.held -= output.held_bytes();
        Some(*output)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// In an ordered run, the first index the run may not read yet: none
    /// past the window, and none at all while the outputs waiting hold
    /// `max_held` bytes or more.
    pub(crate) fn window_end(&self) -> Option<u64> {
        match (self.ordered, self.held >= self.max_held) {
            (false, _) => None,
            (true, false) => Some(self.next_out + WINDOW),
            (true, true) => Some(self.next_out),
        }
    }
}
