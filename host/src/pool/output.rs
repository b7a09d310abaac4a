//! What one input of a run yields: [`TaskOutput`]; and what a run tells
//! of a task it runs again: [`Retry`].

use super::error::TaskError;
use super::value::{Input, Value};
use crate::protocol::Captured;

/// What one input yielded.
#[derive(Debug, Clone)]
pub struct TaskOutput {
    /// The task's index, as the task reads it from `context.task-index`:
    /// for [`Pool::map`](crate::Pool::map) and its kin, the input's position
    /// in the run, counting from 0; for [`Pool::apply_async`](crate::Pool::apply_async)
    /// and [`Pool::spawn`](crate::Pool::spawn), the submission's position
    /// among the job's submissions of both kinds, counting from 0.
    pub index: u64,
    /// The input itself.
    pub input: Input,
    /// The function's result, or why the task failed.
    pub result: Result<Value, TaskError>,
    /// What the task wrote to its stdout.
    pub stdout: Captured,
    /// What the task wrote to its stderr.
    pub stderr: Captured,
    /// How many times the task was started on a worker process: 1, or more
    /// when the worker running it died and it was retried (see
    /// [`PoolBuilder::retries`](crate::PoolBuilder::retries)); 0 when it
    /// never was (an input refused at admission, a task terminated before
    /// it started). A retried task's result counts once, but what its
    /// earlier attempts did to shared objects stays done.
    pub attempts: u32,
    /// The worker process that ran the task last (its
    /// `context.worker-id`); `None` when no worker ran it (an input refused
    /// at admission, a task terminated before it started).
    pub worker: Option<u32>,
    /// How long the task ran in its worker, measured there, from its
    /// instantiation to its result; `None` when no result came from a
    /// worker.
    pub time: Option<std::time::Duration>,
}

/// A task that runs again because the worker process running it died, as
/// [`PoolBuilder::on_retry`](crate::PoolBuilder::on_retry) is told of it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Retry {
    /// The task's index, as in [`TaskOutput::index`].
    pub index: u64,
    /// Its input.
    pub input: Input,
    /// How the worker ended, as the operating system reported it.
    pub reason: String,
    /// The attempt that starts now, counting from 1: at least 2.
    pub attempt: u32,
    /// The most attempts the task may have: 1 plus the retries.
    pub attempts: u32,
}

impl TaskOutput {
    /// About how many bytes of host memory the output holds: its input, its
    /// value or error, and its captured output.
    pub(crate) fn held_bytes(&self) -> usize {
        let result = match &self.result {
            Ok(value) | Err(TaskError::Returned(value)) => value.encoded_len(),
            Err(TaskError::Trap(message) | TaskError::Exception(message)) => message.len(),
            Err(_) => 0,
        };
        std::mem::size_of::<TaskOutput>()
            + self.input.args.len()
            + result
            + self.stdout.kept()
            + self.stderr.kept()
    }

    /// The output of a task that failed without a result from a worker,
    /// after `attempts` attempts.
    pub(crate) fn failed(index: u64, input: Input, error: TaskError, attempts: u32) -> TaskOutput {
        TaskOutput {
            index,
            input,
            result: Err(error),
            stdout: Captured::default(),
            stderr: Captured::default(),
            attempts,
            worker: None,
            time: None,
        }
    }
}
