//! What a pool keeps between its runs: its idle worker processes, each with
//! the tasks it hosts (compiled and linked, ready to run), the ids by which
//! workers know the pool's tasks, and the compiled code of its recent
//! tasks. A run takes idle workers first and hands back those it leaves
//! idle and ready, so the pool's next run, of any task, starts no process
//! (see `slots`). With an idle timeout, a thread of the pool's stops the
//! workers left idle longer, and ends when none is left.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::process::WorkerProcess;
use crate::pool::task::Task;
use crate::protocol::artifact::Artifact;

/// Tasks whose id and compiled code the pool remembers: a task forgotten
/// gets a new id, and its code comes from the compile cache again.
const REMEMBERED: usize = 16;

/// A pool's workers between runs, and what they know of its tasks. Dropping
/// it kills the idle workers.
pub(crate) struct Warm {
    shared: Arc<Shared>,
    /// How long a worker may stay idle; `None`: until the pool closes.
    idle_timeout: Option<Duration>,
}

/// What the pool and its reaper thread share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the reaper when the pool closes.
    closing: Condvar,
}

#[derive(Default)]
struct State {
    /// Set by [`Warm::close`]: workers handed back are stopped.
    closed: bool,
    /// The most recently handed back last, so the longest idle first.
    idle: Vec<Kept>,
    /// Whether the reaper thread runs.
    reaping: bool,
    /// The tasks the pool ran lately, the most recent last, each with its
    /// id and, once known, its compiled component.
    tasks: VecDeque<Known>,
    /// The next task's id: ids are never used twice, so a worker never
    /// mistakes one task for another.
    next_id: u32,
}

struct Known {
    task: Task,
    id: u32,
    compiled: Option<Artifact>,
}

/// An idle worker and the tasks it hosts, by id, the most recently used
/// last.
pub(super) struct Idle {
    pub process: WorkerProcess,
    pub hosted: Vec<(u32, Task)>,
}

/// An idle worker and since when it is.
struct Kept {
    worker: Idle,
    since: Instant,
}

impl Warm {
    /// Keeps idle workers for `idle_timeout` (`None`: until the pool
    /// closes).
    pub(crate) fn new(idle_timeout: Option<Duration>) -> Warm {
        Warm {
            shared: Arc::default(),
            idle_timeout,
        }
    }

    /// Up to `count` idle workers, the most recently used first, those that
    /// host task `id` before the others.
    pub(super) fn take(&self, id: u32, count: usize) -> Vec<Idle> {
        let mut state = self.lock();
        let mut order: Vec<usize> = (0..state.idle.len()).rev().collect();
        order.sort_by_key(|&i| !state.idle[i].worker.hosted.iter().any(|(h, _)| *h == id));
        order.truncate(count);
        order.sort_unstable_by(|a, b| b.cmp(a));
        // Removed from the back first, so that each index still holds.
        order
            .into_iter()
            .map(|i| state.idle.remove(i).worker)
            .collect()
    }

    /// Keeps `worker`, idle and ready, for a later run. The pool keeps at
    /// most `keep` idle workers: past that, the longest idle goes. Once
    /// closed, the worker stops at once.
    pub(super) fn give_back(&self, worker: Idle, keep: usize) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.idle.push(Kept {
            worker,
            since: Instant::now(),
        });
        let excess = state.idle.len().saturating_sub(keep);
        let stopped: Vec<_> = state.idle.drain(..excess).collect();
        if let Some(timeout) = self.idle_timeout
            && !state.reaping
        {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("idle-workers".into())
                .spawn(move || reap(&shared, timeout));
            // Without the thread, idle workers stay until the pool closes.
            state.reaping = spawned.is_ok();
        }
        drop(state);
        // Outside the lock.
        stop(stopped);
    }

    /// Stops the idle workers, and every worker handed back from now on.
    pub(crate) fn close(&self) {
        let idle = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.idle)
        };
        self.shared.closing.notify_all();
        stop(idle);
    }

    /// The id workers know `task` by, and its compiled component if the
    /// pool has it.
    pub(super) fn known(&self, task: &Task) -> (u32, Option<Artifact>) {
        let mut state = self.lock();
        let found = state.tasks.iter().position(|k| k.task.same_function(task));
        let known = match found {
            Some(i) => state.tasks.remove(i).expect("found"),
            None => {
                state.next_id += 1;
                Known {
                    task: task.clone(),
                    id: state.next_id,
                    compiled: None,
                }
            }
        };
        let answer = (known.id, known.compiled.clone());
        state.tasks.push_back(known);
        if state.tasks.len() > REMEMBERED {
            state.tasks.pop_front();
        }
        answer
    }

    /// Remembers the compiled component of task `id`.
    pub(super) fn compiled(&self, id: u32, compiled: &Artifact) {
        let mut state = self.lock();
        if let Some(known) = state.tasks.iter_mut().find(|k| k.id == id) {
            known.compiled = Some(compiled.clone());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned one is still whole.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// The reaper: stops each worker once it has been idle for `timeout`, until
/// none is left idle or the pool closes.
fn reap(shared: &Shared, timeout: Duration) {
    let mut state = shared.lock();
    loop {
        let Some(oldest) = state.idle.first().filter(|_| !state.closed) else {
            state.reaping = false;
            return;
        };
        let now = Instant::now();
        let due = oldest.since + timeout;
        if due > now {
            state = match shared.closing.wait_timeout(state, due - now) {
                Ok((state, _)) => state,
                Err(poison) => poison.into_inner().0,
            };
            continue;
        }
        let expired = state
            .idle
            .iter()
            .take_while(|kept| kept.since + timeout <= now);
        let expired = expired.count();
        let stopped: Vec<_> = state.idle.drain(..expired).collect();
        drop(state);
        stop(stopped);
        state = shared.lock();
    }
}

/// Kills every worker of `workers`, then reaps them (as each is dropped):
/// they end side by side, not one after the other.
fn stop(mut workers: Vec<Kept>) {
    for kept in &mut workers {
        kept.worker.process.kill();
    }
}
