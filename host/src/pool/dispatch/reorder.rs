//! Restoring input order: finished outputs wait here until every output
//! before them has been yielded (an ordered run), or go out as they come
//! (an unordered one). The window bounds how far an ordered run reads ahead
//! of its oldest unfinished input, in inputs and in the bytes of the
//! outputs waiting.

use std::collections::VecDeque;

use crate::pool::output::TaskOutput;

/// How far ahead of the oldest unfinished input an ordered run may read:
/// bounds the memory held for outputs waiting on a slow task.
const WINDOW: u64 = 1 << 16;

pub(crate) struct Reorder {
    /// How many bytes the outputs waiting may hold before an ordered run
    /// stops reading inputs; it reads on once the oldest unfinished task's
    /// output lets those after it go.
    max_held: usize,
    /// What the outputs waiting hold, as [`TaskOutput::held_bytes`] counts
    /// it: each insert adds, each pop takes away.
    held: usize,
    done: Done,
}

/// Finished outputs not yet yielded.
enum Done {
    /// An ordered run's, by index: slot `i` holds output `next_out + i`
    /// once it is done. The window bounds the slots. They hold outputs in
    /// place, with no allocation of their own: the slots empty among full
    /// ones are the tasks still running, a few batches' worth.
    Ordered {
        next_out: u64,
        slots: VecDeque<Option<TaskOutput>>,
        /// How many slots hold an output.
        count: usize,
    },
    /// An unordered run's, in the order they finished.
    Unordered(VecDeque<TaskOutput>),
}

impl Reorder {
    pub(crate) fn new(ordered: bool, max_held: usize) -> Reorder {
        let done = match ordered {
            true => Done::Ordered {
                next_out: 0,
                slots: VecDeque::new(),
                count: 0,
            },
            false => Done::Unordered(VecDeque::new()),
        };
        Reorder {
            max_held,
            held: 0,
            done,
        }
    }

    pub(crate) fn insert(&mut self, output: TaskOutput) {
        let held = output.held_bytes();
        match &mut self.done {
            Done::Ordered {
                next_out,
                slots,
                count,
            } => {
                // Every index comes once (the feed finishes each task
                // once), at or past `next_out`, within the window of it.
                let at = output.index.checked_sub(*next_out).map(usize::try_from);
                let Some(Ok(at)) = at else {
                    debug_assert!(false, "output {} came after its turn", output.index);
                    return;
                };
                if slots.len() <= at {
                    slots.resize_with(at + 1, || None);
                }
                *count += usize::from(slots[at].is_none());
                slots[at] = Some(output);
            }
            Done::Unordered(queue) => queue.push_back(output),
        }
        self.held += held;
    }

    /// Whether an output may be yielded now.
    pub(crate) fn has_ready(&self) -> bool {
        match &self.done {
            Done::Ordered { slots, .. } => slots.front().is_some_and(Option::is_some),
            Done::Unordered(queue) => !queue.is_empty(),
        }
    }

    /// Whether the output of task `index` may be yielded as soon as it
    /// is finished, without waiting here: in an ordered run, it is the
    /// next one.
    pub(crate) fn is_turn(&self, index: u64) -> bool {
        match &self.done {
            Done::Ordered { next_out, .. } => index == *next_out,
            Done::Unordered(_) => true,
        }
    }

    /// The output of task `index`, whose turn it was ([`Reorder::is_turn`]),
    /// was yielded without waiting here: the next one's turn comes.
    pub(crate) fn passed(&mut self, index: u64) {
        if let Done::Ordered {
            next_out, slots, ..
        } = &mut self.done
        {
            debug_assert_eq!(index, *next_out, "not its turn");
            debug_assert!(slots.front().is_none_or(Option::is_none));
            *next_out += 1;
            slots.pop_front();
        }
    }

    /// The next output to yield, if it is there.
    pub(crate) fn pop(&mut self) -> Option<TaskOutput> {
        let output = match &mut self.done {
            Done::Ordered {
                next_out,
                slots,
                count,
            } => {
                slots.front()?.as_ref()?;
                let output = slots.pop_front().flatten()?;
                *next_out += 1;
                *count -= 1;
                output
            }
            Done::Unordered(queue) => queue.pop_front()?,
        };
        self.held -= output.held_bytes();
        Some(output)
    }

    pub(crate) fn is_empty(&self) -> bool {
        match &self.done {
            Done::Ordered { count, .. } => *count == 0,
            Done::Unordered(queue) => queue.is_empty(),
        }
    }

    /// In an ordered run, the first index the run may not read yet: none
    /// past the window, and none at all while the outputs waiting hold
    /// `max_held` bytes or more.
    pub(crate) fn window_end(&self) -> Option<u64> {
        match (&self.done, self.held >= self.max_held) {
            (Done::Unordered(_), _) => None,
            (Done::Ordered { next_out, .. }, false) => Some(next_out + WINDOW),
            (Done::Ordered { next_out, .. }, true) => Some(*next_out),
        }
    }
}
