//! What one input of a run yields: [`TaskOutput`].

use super::error::TaskError;
use super::value::{Input, Value};
use crate::protocol::Captured;

/// What one input yielded.
#[derive(Debug, Clone)]
pub struct TaskOutput {
    /// The input's position in the run, counting from 0.
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
