//! What one input of a run yields: [`TaskOutput`].

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
    /// The worker process that ran the task last (its
    /// `context.worker-id`); `None` when no worker ran it (an input refused
    /// at admission, a task terminated before it started).
    pub worker: Option<u32>,
    /// How many times a worker ran the task: 1 for a task that finished,
    /// one more for each worker that died running it, 0 when none ran it.
    pub attempts: u32,
    /// How long the task ran in its worker, measured there, from its
    /// instantiation to its result; `None` when no result came from a
    /// worker.
    pub time: Option<std::time::Duration>,
}

impl TaskOutput {
    /// About how many bytes of host memory the output holds: its input, its
    /// value or error, and its captured output.
    pub(crate) fn held_bytes(&self) -> usize {
        let result = match &self.result {
            Ok(value) | Err(TaskError::Returned(value)) => value.encoded_len(),
            Err(TaskError::Trap(message)) => message.len(),
            Err(_) => 0,
        };
        std::mem::size_of::<TaskOutput>()
            + self.input.args.len()
            + result
            + self.stdout.bytes.len()
            + self.stderr.bytes.len()
    }

    /// The output of a task that failed without a result from a worker,
    /// after `attempts` on workers that died, the last `worker`.
    pub(crate) fn failed(
        index: u64,
        input: Input,
        error: TaskError,
        attempts: u32,
        worker: Option<u32>,
    ) -> TaskOutput {
        TaskOutput {
            index,
            input,
            result: Err(error),
            stdout: Captured::default(),
            stderr: Captured::default(),
            worker,
            attempts,
            time: None,
        }
    }
}
