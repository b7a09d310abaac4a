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
            + self.stdout.bytes.len()
            + self.stderr.bytes.len()
    }

    /// The output of a task that failed without a result from a worker.
    pub(crate) fn failed(index: u64, input: Input, error: TaskError) -> TaskOutput {
        TaskOutput {
            index,
            input,
            result: Err(error),
            stdout: Captured::default(),
            stderr: Captured::default(),
        }
    }
}
