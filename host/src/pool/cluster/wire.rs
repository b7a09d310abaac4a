//! What crosses between a submitter and its agents through NATS: the
//! [`JobSpec`] a submitter puts in the jobs bucket, and each task's
//! [`Reply`]. A task's input crosses as its arguments' binary encoding,
//! the message's whole payload; a reply is a postcard frame.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::pool::error::TaskError;
use crate::pool::output::TaskOutput;
use crate::pool::task::Task;
use crate::pool::value::Value;
use crate::protocol::{Captured, Failure, Limits, encoding};

/// A job as its agents see it: what to run and under which limits. Put in
/// the jobs bucket under the job's id; deleting the key ends the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct JobSpec {
    /// The SHA-256 of the component's bytes, in hex: its name in the
    /// components object store, and what an agent checks its bytes against.
    pub component: String,
    /// The component's name where the submitter loaded it, for messages.
    pub name: String,
    /// The function's full name.
    pub func: String,
    pub limits: Limits,
    /// Attempts more for a task whose worker process died on an agent.
    pub retries: u32,
    pub reuse: u32,
    /// How long a delivered task may go without an acknowledgement (or a
    /// progress acknowledgement) before it is delivered again.
    pub ack_wait: Duration,
    /// How many times the job was resumed: its tasks' message ids differ
    /// from one submitter to the next.
    pub epoch: u32,
}

impl JobSpec {
    /// Why a job started as `self` cannot be resumed as `other`, if it
    /// cannot: they differ in more than their epoch.
    pub(super) fn differs(&self, other: &JobSpec) -> Option<String> {
        if self.component != other.component {
            return Some(format!(
                "it runs another component ({}, SHA-256 {})",
                self.name, self.component
            ));
        }
        if self.func != other.func {
            return Some(format!("it runs function {}", self.func));
        }
        let same = JobSpec {
            epoch: self.epoch,
            name: self.name.clone(),
            ..other.clone()
        };
        (*self != same).then(|| {
            format!(
                "it was started with other limits, retries, reuse or ack wait: {:?}, {} retries, \
                 reuse {}, ack wait {:?}",
                self.limits, self.retries, self.reuse, self.ack_wait
            )
        })
    }
}

/// One task's outcome as an agent publishes it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Reply {
    pub result: Result<Bytes, Fault>,
    pub stdout: Captured,
    pub stderr: Captured,
    /// How many times the task started: on its agent's worker processes,
    /// and on agents before it that died running it.
    pub attempts: u32,
    /// How long the task ran in its worker; `None` when it never ran.
    pub time: Option<Duration>,
}

/// A reply as the submitter reads it: its values checked against the
/// task's types.
pub(super) struct Answer {
    pub result: Result<Value, TaskError>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub attempts: u32,
    pub time: Option<Duration>,
}

/// Why a task failed, as it crosses: a worker's [`Failure`], or one that
/// the agent's pool decided.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Fault {
    Worker(Failure),
    InputTooLarge {
        size: Option<u64>,
        limit: u64,
    },
    WorkerLost {
        attempts: u32,
        reason: String,
        signal: Option<i32>,
    },
    Terminated,
    Rejected(String),
    Input(String),
}

impl Reply {
    /// The reply that carries `output`, of a task delivered to this agent
    /// after `earlier` deliveries to agents that died.
    pub(super) fn new(output: &TaskOutput, earlier: u32) -> Reply {
        let result = match &output.result {
            Ok(value) => Ok(value.encoded()),
            Err(error) => Err(match error {
                TaskError::Returned(value) => Fault::Worker(Failure::Returned(value.encoded())),
                TaskError::Trap(message) => Fault::Worker(Failure::Trap(message.clone())),
                TaskError::Exit(code) => Fault::Worker(Failure::Exit(*code)),
                TaskError::StackOverflow => Fault::Worker(Failure::StackOverflow),
                TaskError::Timeout(after) => Fault::Worker(Failure::Timeout(*after)),
                TaskError::OutOfFuel(fuel) => Fault::Worker(Failure::OutOfFuel(*fuel)),
                TaskError::MemoryLimit(bytes) => Fault::Worker(Failure::MemoryLimit(*bytes)),
                TaskError::TooLarge {
                    what: "result",
                    size,
                    limit,
                } => Fault::Worker(Failure::ResultTooLarge {
                    size: *size,
                    limit: *limit,
                }),
                TaskError::TooLarge { size, limit, .. } => Fault::InputTooLarge {
                    size: *size,
                    limit: *limit,
                },
                TaskError::WorkerLost {
                    attempts,
                    reason,
                    signal,
                } => Fault::WorkerLost {
                    attempts: *attempts,
                    reason: reason.clone(),
                    signal: *signal,
                },
                TaskError::Terminated => Fault::Terminated,
                TaskError::Rejected(reason) => Fault::Rejected(reason.clone()),
                TaskError::Input(message) => Fault::Input(message.clone()),
                TaskError::Exception(message) => Fault::Worker(Failure::Exception(message.clone())),
            }),
        };
        Reply {
            result,
            stdout: output.stdout.clone(),
            stderr: output.stderr.clone(),
            attempts: output.attempts + earlier,
            time: output.time,
        }
    }

    /// A reply for a task the agent refused to run, saying why.
    pub(super) fn rejected(reason: String) -> Reply {
        Reply {
            result: Err(Fault::Rejected(reason)),
            stdout: Captured::default(),
            stderr: Captured::default(),
            attempts: 0,
            time: None,
        }
    }

    /// The reply for a task whose agents all stopped before answering it.
    pub(super) fn lost(attempts: u32, reason: String) -> Reply {
        Reply {
            result: Err(Fault::WorkerLost {
                attempts,
                reason,
                signal: None,
            }),
            stdout: Captured::default(),
            stderr: Captured::default(),
            attempts,
            time: None,
        }
    }

    pub(super) fn encode(&self) -> Bytes {
        postcard::to_allocvec(self)
            .expect("a reply always serializes")
            .into()
    }

    /// The reply in `payload`, its values checked against `task`'s types,
    /// as the task's result. A payload that does not decode is the task's
    /// failure too: it never stops the run.
    pub(super) fn decode(task: &Task, payload: &[u8]) -> Answer {
        let reply: Reply = match postcard::from_bytes(payload) {
            Ok(reply) => reply,
            Err(error) => {
                let error =
                    TaskError::Rejected(format!("its agent's reply does not decode: {error}"));
                return Answer {
                    result: Err(error),
                    stdout: Captured::default(),
                    stderr: Captured::default(),
                    attempts: 1,
                    time: None,
                };
            }
        };
        let undecodable = |error: encoding::Error| {
            TaskError::Rejected(format!(
                "its agent's result does not decode as the function's result: {error}"
            ))
        };
        let result = match reply.result {
            Ok(bytes) => task.value(bytes).map_err(undecodable),
            Err(Fault::Worker(failure)) => Err(task.failure(failure).unwrap_or_else(undecodable)),
            Err(Fault::InputTooLarge { size, limit }) => Err(TaskError::TooLarge {
                what: "input",
                size,
                limit,
            }),
            Err(Fault::WorkerLost {
                attempts,
                reason,
                signal,
            }) => Err(TaskError::WorkerLost {
                attempts,
                reason,
                signal,
            }),
            Err(Fault::Terminated) => Err(TaskError::Terminated),
            Err(Fault::Rejected(reason)) => Err(TaskError::Rejected(reason)),
            Err(Fault::Input(message)) => Err(TaskError::Input(message)),
        };
        Answer {
            result,
            stdout: reply.stdout,
            stderr: reply.stderr,
            attempts: reply.attempts,
            time: reply.time,
        }
    }
}
