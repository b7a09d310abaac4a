//! The messages between the host and a worker process. The host writes
//! [`ToWorker`] frames to the worker's stdin and reads [`FromWorker`] frames
//! from its stdout. This is the narrow interface a networked transport would
//! replace.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::captured::Captured;
use super::encoding::{self, Reader};
use super::frame::{part_of, shared_bytes};
use super::limits::Limits;
use super::ops::{Answer, ObjectError, Op};

/// How a worker runs its tasks, and the first task it hosts: sent once,
/// first. The first task's component is compiled (or loaded) before the
/// worker's lockdown is sealed; every later one comes compiled
/// ([`Load`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Setup {
    /// Unique within the pool; guests read it as `context.worker-id`.
    pub worker_id: u32,
    pub limits: Limits,
    /// How many tasks one instance serves before it is replaced.
    pub reuse: u32,
    /// Bytes of data the worker may hold while it compiles the component.
    pub compile_memory: u64,
    /// Whether a task's output streams to the host as it is written
    /// ([`FromWorker::Output`]) instead of being captured into its result.
    pub stream_output: bool,
    /// The first task.
    pub export: Export,
    /// Its code.
    pub code: Code,
    /// The cells of the job's shared memory (see
    /// [`shared_memory`](super::shared_memory)), whose descriptor comes
    /// with the frame, after the artifact's if it has one; `None` where the
    /// job's objects live in another process.
    pub shared_cells: Option<u32>,
}

/// Where a worker gets its first task's code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Code {
    /// The component, to compile and send back compiled in
    /// [`FromWorker::Ready`], for the host to cache and other workers to
    /// load.
    Compile(Bytes),
    /// Compiled by an earlier worker, or from the compile cache (its tag
    /// verified by the host): the first this many bytes of the descriptor
    /// that comes with the frame (see [`artifact`](super::artifact)).
    Compiled(u64),
}

/// A function a worker hosts, and the id its batches name it by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Export {
    /// The host's id for the task, unique within the pool.
    pub task: u32,
    /// The export name of the interface holding the function, if any.
    pub instance: Option<String>,
    pub func: String,
    /// Whether its component uses component-model async, and so runs only
    /// on an engine with concurrency support (`engine::config`). A worker's
    /// engine is made for its first task: one that is sent a task needing
    /// the other engine cannot host it ([`FromWorker::Unfit`]).
    pub concurrency: bool,
}

/// Host to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    Setup(Setup),
    /// Host this task too, compiled: its code is the first this many bytes
    /// of the descriptor that comes with the frame (a sealed worker
    /// compiles nothing). A worker that cannot
    /// host it within the memory its lockdown was sealed with answers
    /// [`FromWorker::Unfit`] and exits.
    Load(Export, u64),
    /// Stop hosting task `id`.
    Unload(u32),
    /// Run these calls, in order, and answer with one [`FromWorker::Done`].
    Batch(Calls),
    /// The hub's answer to the worker's [`FromWorker::Request`] `id`.
    Reply {
        id: u64,
        result: Result<Answer, ObjectError>,
    },
}

/// A batch of calls of one function, their arguments in one buffer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Calls {
    /// Which of the worker's tasks ([`Export::task`]).
    pub task: u32,
    pub calls: Vec<Call>,
    /// Every call's arguments in the binary value encoding
    /// (`protocol::encoding`), one call after the other.
    #[serde(deserialize_with = "shared_bytes")]
    pub args: Bytes,
}

/// One call of the function: the task's index in its run, and how many
/// bytes of [`Calls::args`] its arguments take.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Call {
    pub index: u64,
    pub size: u64,
}

impl ToWorker {
    /// Whether the frame comes with an artifact's descriptor.
    pub(crate) fn carries_artifact(&self) -> bool {
        matches!(
            self,
            ToWorker::Load(..)
                | ToWorker::Setup(Setup {
                    code: Code::Compiled(_),
                    ..
                })
        )
    }
}

/// Worker to host.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The component compiled and links: calls may come. `artifact` is the
    /// compiled component when the setup gave [`Code::Compile`].
    Ready { artifact: Option<Bytes> },
    /// The component cannot run here; the worker exits after saying so.
    SetupFailed(String),
    /// The task of a [`ToWorker::Load`], by id, needs more memory for its
    /// values than this worker's lockdown allows (sized for its first
    /// task), or another engine than its first task's
    /// ([`Export::concurrency`]): the worker exits after saying so, having
    /// run nothing more.
    Unfit(u32),
    /// The results of the batch's next calls, in the batch's order. A
    /// batch is answered by one `Done`, or by several once its results pass
    /// [`RESULTS_PER_FRAME`] bytes, so that no frame outgrows the limit
    /// and a worker holds a bounded number of finished results. `busy` is
    /// the time spent on these calls. The values returned are in one
    /// buffer, `values`, one after the other in the results' order (see
    /// [`CallResult::outcome`]).
    Done {
        busy: Duration,
        results: Vec<CallResult>,
        #[serde(deserialize_with = "shared_bytes")]
        values: Bytes,
    },
    /// What the running task wrote to `stream`, sent while it runs when the
    /// setup asked for streaming: each write of the guest's, as it makes
    /// it (the host cuts them into lines).
    Output { stream: Stream, bytes: Vec<u8> },
    /// Task `task` operates on a shared object; the hub answers with a
    /// [`ToWorker::Reply`] within `timeout`.
    Request {
        id: u64,
        task: u64,
        op: Op,
        timeout: Option<Duration>,
    },
}

/// Bytes of results after which a worker sends those it has, before its
/// batch is over: far below [`MAX_FRAME`](super::frame::MAX_FRAME), which
/// a batch of large results could otherwise pass.
pub(crate) const RESULTS_PER_FRAME: usize = 64 << 20;

/// One of a task's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stream {
    /// The task's stdout.
    Stdout,
    /// The task's stderr.
    Stderr,
}

/// The outcome of one call, as [`FromWorker::Done`] reports it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CallResult {
    pub index: u64,
    /// Its result: how many bytes of the frame's `values` its encoding
    /// takes (none for a function without one), after the results before
    /// it; or why it failed.
    pub outcome: Result<u64, Failure>,
    /// How long the call took in the worker, from the start of its
    /// instantiation (or its reused instance's call) to its result.
    pub time: Duration,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// A task failure as it crosses from a worker to the host, before the host
/// attaches the types that turn it into a `TaskError`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// The function returned the `err` case of its `result`: the whole
    /// result, encoded.
    Returned(#[serde(deserialize_with = "shared_bytes")] Bytes),
    Trap(String),
    /// A trap after the guest reported an uncaught exception on its
    /// stderr: the exception, read from the report.
    Exception(String),
    Exit(i32),
    StackOverflow,
    Timeout(Duration),
    OutOfFuel(u64),
    MemoryLimit(u64),
    /// The result's encoding has `size` bytes, more than `limit`; `None`:
    /// more than wasmtime would copy out of the guest for a value of
    /// `limit` bytes, and how much more is not known.
    ResultTooLarge {
        size: Option<u64>,
        limit: u64,
    },
}

impl CallResult {
    /// About how many bytes the result takes in a frame besides its value:
    /// an error's bytes and its captured output.
    pub fn size(&self) -> usize {
        let error = match &self.outcome {
            Err(Failure::Returned(bytes)) => bytes.len(),
            _ => 0,
        };
        error + self.stdout.kept() + self.stderr.kept()
    }
}

/// The values of a [`FromWorker::Done`]'s results, in turn: each
/// [`CallResult::outcome`]'s value, taken out of `values`.
pub(crate) struct Outcomes {
    values: Bytes,
    offset: usize,
}

impl Outcomes {
    pub(crate) fn new(values: Bytes) -> Outcomes {
        Outcomes { values, offset: 0 }
    }

    /// The next result's value, if its outcome has one; an error when the
    /// buffer ends before the value (a broken worker).
    pub(crate) fn next(
        &mut self,
        outcome: &Result<u64, Failure>,
    ) -> Result<Option<&[u8]>, encoding::Error> {
        match outcome {
            Ok(len) => {
                let at = self.advance(*len)?;
                Ok(Some(&self.values[at]))
            }
            Err(_) => Ok(None),
        }
    }

    /// The next result's outcome, its value taken from the buffer (kept
    /// as [`Encoded::within`] keeps it); an error as [`Outcomes::next`]'s.
    pub(crate) fn take(
        &mut self,
        outcome: Result<u64, Failure>,
    ) -> Result<Result<Encoded, Failure>, encoding::Error> {
        match outcome {
            Ok(len) => {
                let at = self.advance(len)?;
                Ok(Ok(Encoded::within(&self.values, &self.values[at])))
            }
            Err(failure) => Ok(Err(failure)),
        }
    }

    /// Where the next value, of `len` bytes, lies in the buffer; the
    /// values after it start past it.
    fn advance(&mut self, len: u64) -> Result<std::ops::Range<usize>, encoding::Error> {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let start = self.offset;
        Reader::new(&self.values[start..]).take(len)?;
        self.offset = start + len;
        Ok(start..self.offset)
    }
}

/// A value's encoding as the host keeps it: in place when it is small (as
/// the results of tiny tasks are: a number is a few bytes), so that it
/// costs no allocation; otherwise in [`Bytes`].
#[derive(Clone)]
pub(crate) enum Encoded {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Bytes),
}

/// Bytes of an encoding kept in place: as many as an [`Encoded`] of
/// [`Bytes`] leaves room for.
const INLINE: usize = 30;

impl Encoded {
    /// The encoding `value`, a part of the buffer `within`: in place when it
    /// is small; otherwise as a frame's bytes are kept ([`part_of`]).
    pub(crate) fn within(within: &Bytes, value: &[u8]) -> Encoded {
        Encoded::inline(value).unwrap_or_else(|| Encoded::Shared(part_of(within, value)))
    }

    fn inline(value: &[u8]) -> Option<Encoded> {
        let mut bytes = [0; INLINE];
        bytes.get_mut(..value.len())?.copy_from_slice(value);
        let len = value.len() as u8;
        Some(Encoded::Inline { len, bytes })
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Encoded::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Encoded::Shared(bytes) => bytes,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// The encoding in [`Bytes`], copied if it is kept in place.
    pub(crate) fn to_bytes(&self) -> Bytes {
        match self {
            Encoded::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
            Encoded::Shared(bytes) => bytes.clone(),
        }
    }
}

impl Default for Encoded {
    /// No bytes: the arguments of a function without parameters.
    fn default() -> Encoded {
        Encoded::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl From<Bytes> for Encoded {
    fn from(bytes: Bytes) -> Encoded {
        Encoded::inline(&bytes).unwrap_or(Encoded::Shared(bytes))
    }
}

impl From<Vec<u8>> for Encoded {
    fn from(bytes: Vec<u8>) -> Encoded {
        Encoded::inline(&bytes).unwrap_or_else(|| Encoded::Shared(bytes.into()))
    }
}

impl From<&[u8]> for Encoded {
    fn from(bytes: &[u8]) -> Encoded {
        Encoded::inline(bytes).unwrap_or_else(|| Encoded::Shared(Bytes::copy_from_slice(bytes)))
    }
}
