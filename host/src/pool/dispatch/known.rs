//! What a pool knows of the tasks it ran lately: the id by which its
//! workers know each, and its compiled code, so that a task run again is
//! neither compiled nor read from the compile cache again.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use crate::pool::task::Task;
use crate::protocol::artifact::Artifact;

/// Tasks whose id and compiled code the pool remembers: a task forgotten
/// gets a new id, and its code comes from the compile cache again.
const REMEMBERED: usize = 16;

/// A pool's recent tasks.
#[derive(Default)]
pub(crate) struct Known(Mutex<State>);

#[derive(Default)]
struct State {
    /// The tasks the pool ran lately, the most recent last, each with its
    /// id and, once known, its compiled component.
    tasks: VecDeque<Entry>,
    /// The id of the last task given one: ids are never used twice, so a
    /// worker never mistakes one task for another.
    last_id: u32,
}

struct Entry {
    task: Task,
    id: u32,
    compiled: Option<Artifact>,
}

impl Known {
    /// The id workers know `task` by, and its compiled component if the
    /// pool has it.
    pub(super) fn get(&self, task: &Task) -> (u32, Option<Artifact>) {
        let mut state = self.lock();
        let found = state.tasks.iter().position(|k| k.task.same_function(task));
        let entry = match found {
            Some(i) => state.tasks.remove(i).expect("found"),
            None => {
                state.last_id += 1;
                Entry {
                    task: task.clone(),
                    id: state.last_id,
                    compiled: None,
                }
            }
        };
        let answer = (entry.id, entry.compiled.clone());
        state.tasks.push_back(entry);
        if state.tasks.len() > REMEMBERED {
            state.tasks.pop_front();
        }
        answer
    }

    /// Remembers the compiled component of task `id`.
    pub(super) fn compiled(&self, id: u32, compiled: &Artifact) {
        let mut state = self.lock();
        if let Some(entry) = state.tasks.iter_mut().find(|k| k.id == id) {
            entry.compiled = Some(compiled.clone());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned one is still whole.
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}
