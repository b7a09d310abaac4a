//! Who sends an operation ([`Caller`]: a task of a job, run by a worker, or
//! the host), and which callers are [`Gone`] when a task ends or a worker
//! dies.

/// Names a job: a namespace of shared objects. Every object belongs to one
/// job, and a task sees only its own job's objects.
pub(crate) type JobId = u64;

/// Who sends an operation: a task of a job, run by a worker.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Caller {
    pub job: JobId,
    /// [`Caller::HOST`] for the host process itself.
    pub worker: u32,
    /// The task's index in its job; for the host, one number per thread.
    pub task: u64,
}

impl Caller {
    /// The worker id of the host process.
    pub(crate) const HOST: u32 = u32::MAX;
}

/// The tasks whose objects' holds are let go.
#[derive(Clone, Copy, Debug)]
pub(super) enum Gone {
    /// One task ended normally.
    Task(Caller),
    /// A worker process died, with every task it ran for a job.
    Worker(JobId, u32),
}

impl Gone {
    pub(super) fn covers(self, caller: &Caller) -> bool {
        match self {
            Gone::Task(task) => task == *caller,
            Gone::Worker(job, worker) => caller.job == job && caller.worker == worker,
        }
    }

    pub(super) fn died(self) -> bool {
        matches!(self, Gone::Worker(..))
    }
}
