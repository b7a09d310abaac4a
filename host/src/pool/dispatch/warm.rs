//! A pool's warm workers: processes a run has finished with, idle and ready,
//! kept so that the pool's next run of the same task takes them instead of
//! starting new ones. A worker holds the one component it was set up with,
//! compiled and linked, and the settings fixed at its start (the lockdown
//! and its rlimits, sized for that component's values): it serves only
//! runs of that task.

use std::sync::{Mutex, MutexGuard};

use super::process::WorkerProcess;
use crate::pool::task::Task;

/// The idle workers of one pool (one job: a worker's shared-object
/// operations go to the job it was started for). Dropping it kills them.
#[derive(Default)]
pub(crate) struct Warm(Mutex<State>);

#[derive(Default)]
struct State {
    /// Set by [`Warm::close`]: workers handed back are stopped.
    closed: bool,
    /// The most recently handed back last.
    idle: Vec<(Task, WorkerProcess)>,
}

impl Warm {
    /// Up to `count` idle workers of `task`, the most recently used first.
    pub(super) fn take(&self, task: &Task, count: usize) -> Vec<WorkerProcess> {
        let mut state = self.lock();
        let mut taken = Vec::new();
        let mut i = state.idle.len();
        while i > 0 && taken.len() < count {
            i -= 1;
            if state.idle[i].0.same_function(task) {
                taken.push(state.idle.remove(i).1);
            }
        }
        taken
    }

    /// Keeps `worker`, idle and ready to run `task`, for a later run. The
    /// pool keeps at most `keep` idle workers: past that, the longest idle
    /// goes. Once closed, the worker stops at once.
    pub(super) fn give_back(&self, task: &Task, worker: WorkerProcess, keep: usize) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.idle.push((task.clone(), worker));
        let excess = state.idle.len().saturating_sub(keep);
        // Dropped here, which kills and reaps them.
        let stopped: Vec<_> = state.idle.drain(..excess).collect();
        drop(state);
        drop(stopped);
    }

    /// Stops the idle workers, and every worker handed back from now on.
    pub(crate) fn close(&self) {
        let idle = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.idle)
        };
        drop(idle);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned one is still whole.
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}
