//! Locks and number values in the job's shared memory (see
//! `protocol::shared_memory`): what a task opened ([`LockRef`],
//! [`ValueRef`]), and the operations a task does on their cells itself.
//! A lock another task holds is spun for briefly, then waited for in the
//! hub; a lock the hub has waiters for is released through it.

use std::time::{Duration, Instant};

use crate::protocol::shared_memory::{Cell, Release, ScalarKind, Take, holder};
use crate::protocol::{ObjectError, Request, lock, value};

use super::state::TaskState;

/// How long a task spins for a lock another task holds before it waits in
/// the hub: longer than a short critical section of a task on another
/// core takes, and short next to the round trip to the hub and back that
/// waiting costs.
const SPIN: Duration = Duration::from_micros(50);

/// A lock a task opened.
#[derive(Clone, Copy)]
pub struct LockRef {
    pub handle: lock::Handle,
    pub reentrant: bool,
    /// Its cell, where this worker maps the job's shared memory.
    pub cell: Option<u32>,
}

/// A value a task opened.
#[derive(Clone, Copy)]
pub struct ValueRef {
    pub handle: value::Handle,
    /// Its cell and kind, if it is a number and this worker maps the job's
    /// shared memory.
    pub cell: Option<(u32, ScalarKind)>,
}

/// What spinning for a lock came to.
pub(super) enum Spun {
    Taken,
    /// Still held by another task: wait for it in the hub.
    Busy,
    Refused(ObjectError),
    /// Taken, freed by the hub because its holder died while this task
    /// spun: the task answers `abandoned`, as the hub's waiters do, and
    /// releases it.
    Abandoned,
}

impl TaskState {
    /// Cell `index` of the job's shared memory.
    fn cell(&self, index: u32) -> Result<&Cell, ObjectError> {
        self.link
            .shared_memory()
            .and_then(|arena| arena.cell(index))
            .ok_or_else(|| ObjectError::Denied(format!("no shared cell {index}")))
    }

    /// This task's tag in a lock's cell.
    fn tag(&self) -> u64 {
        holder(self.worker_id, self.task_index)
    }

    /// Whether this worker maps cell `index`: the hub's answer to `locate`.
    pub(super) fn mapped(&self, index: u32) -> Option<u32> {
        self.cell(index).ok().map(|_| index)
    }

    /// Takes the lock in cell `index`, spinning for it while another task
    /// holds it, up to [`SPIN`] and `timeout_ms`.
    pub(super) fn spin_for(&self, lock: LockRef, index: u32, timeout_ms: Option<u64>) -> Spun {
        let Ok(cell) = self.cell(index) else {
            return Spun::Busy;
        };
        let tag = self.tag();
        let abandons = cell.abandons();
        let spin = timeout_ms.map_or(SPIN, |ms| Duration::from_millis(ms).min(SPIN));
        let start = Instant::now();
        let mut round = 0u32;
        loop {
            match cell.take(tag, lock.reentrant) {
                Take::Taken if cell.abandons() == abandons => return Spun::Taken,
                Take::Taken => return Spun::Abandoned,
                Take::Refused(error) => return Spun::Refused(error),
                Take::Busy if cell.abandons() != abandons => {
                    return Spun::Refused(ObjectError::Abandoned);
                }
                Take::Busy if start.elapsed() >= spin => return Spun::Busy,
                Take::Busy if round < 100 => std::hint::spin_loop(),
                Take::Busy => std::thread::yield_now(),
            }
            round += 1;
        }
    }

    /// Notes that the task took the lock `lock`, to let go of it when the
    /// task ends.
    pub(super) fn took(&mut self, lock: LockRef) {
        if let Some(index) = lock.cell
            && !self.held.iter().any(|(held, _)| *held == index)
        {
            self.held.push((index, lock.handle));
        }
    }

    /// Lets go of the locks the task still holds in the job's shared
    /// memory: the task ended. The hub would too, once it hears of the end
    /// with the task's batch; the next task of the batch may be waiting for
    /// one. A lock the hub has waiters for is released through the hub,
    /// which hands it over before it hears of the next task's operations.
    pub(crate) fn let_go(&mut self) {
        let tag = self.tag();
        for (index, handle) in std::mem::take(&mut self.held) {
            let Ok(cell) = self.cell(index) else {
                continue;
            };
            if cell.release_all(tag) == Release::ToHub {
                let release = lock::Release { handle };
                // Its answer is of no use: the task is over.
                let _ = self
                    .link
                    .send_request(self.task_index, release.into_op(), None);
            }
        }
    }

    /// Takes the lock in cell `index` if that needs no wait.
    pub(super) fn try_take(&self, lock: LockRef, index: u32) -> Result<bool, ObjectError> {
        match self.cell(index)?.take(self.tag(), lock.reentrant) {
            Take::Taken => Ok(true),
            Take::Busy => Ok(false),
            Take::Refused(error) => Err(error),
        }
    }

    /// Releases the lock in cell `index` once; `None` if the hub must hand
    /// it to a waiter.
    pub(super) fn release_cell(&self, index: u32) -> Option<Result<(), ObjectError>> {
        let cell = match self.cell(index) {
            Ok(cell) => cell,
            Err(error) => return Some(Err(error)),
        };
        match cell.release(self.tag()) {
            Release::Released => Some(Ok(())),
            Release::ToHub => None,
            Release::NotHeld => Some(Err(ObjectError::Denied(
                "this task does not hold the lock".into(),
            ))),
        }
    }

    /// Whether any task holds the lock in cell `index`.
    pub(super) fn locked_cell(&self, index: u32) -> Result<bool, ObjectError> {
        Ok(self.cell(index)?.holder().is_some())
    }

    /// Applies `op` to the number value in cell `index`, of kind `kind`.
    pub(super) fn on_value_cell<T>(
        &self,
        (index, kind): (u32, ScalarKind),
        op: impl FnOnce(&Cell, ScalarKind) -> Result<T, ObjectError>,
    ) -> Result<T, ObjectError> {
        op(self.cell(index)?, kind)
    }
}
