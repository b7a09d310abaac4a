//! The library's errors: [`Error`] for what stops a run from starting (or
//! going on), [`TaskError`] for one task that failed while the others go on.

use std::path::PathBuf;
use std::time::Duration;

use super::value::{Input, LoadError, Value};

/// Why a component could not be loaded, a task chosen, an input accepted, or
/// a run started or gone on.
///
/// Every variant is a problem with what the caller asked for or with the
/// machine, never with one task's input: those are [`TaskError`]s. Messages
/// do not repeat their `source`: print the chain (as `anyhow`'s `{:#}` does)
/// to see it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The component file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component.
    #[error("{name} is not a WebAssembly component: {reason}")]
    NotComponent {
        /// The file or name the bytes came from.
        name: String,
        /// What is wrong with them.
        reason: String,
    },
    /// The component is larger than
    /// [`MAX_COMPONENT_SIZE`](crate::MAX_COMPONENT_SIZE).
    #[error(
        "{name} is {}, larger than the {} wpool accepts for a component",
        bytesize::ByteSize::b(*size).display().iec(),
        bytesize::ByteSize::b(*limit).display().iec()
    )]
    TooLarge {
        /// The file or name the bytes came from.
        name: String,
        /// Its size in bytes.
        size: u64,
        /// The largest size accepted, in bytes.
        limit: u64,
    },
    /// The component imports what no worker provides: it cannot run. Found
    /// on the host, from the component's WIT, before any worker starts.
    #[error(
        "{name} imports what wpool does not provide: {imports}; a task may import only {provided} \
         (rebuild it against those, or without the others; `wpool inspect` lists its imports)"
    )]
    UnprovidedImports {
        /// The component.
        name: String,
        /// The imports no worker provides, comma-separated.
        imports: String,
        /// What workers do provide: packages with their versions.
        provided: String,
    },
    /// No exported function has the name asked for.
    #[error("{name} has no exported function {func:?}; it exports: {exports}")]
    UnknownFunc {
        /// The component.
        name: String,
        /// The name asked for.
        func: String,
        /// The functions it does export, comma-separated.
        exports: String,
    },
    /// The component exports several functions and none was named.
    #[error("{name} exports several functions, name one: {exports}")]
    AmbiguousFunc {
        /// The component.
        name: String,
        /// Its functions, comma-separated.
        exports: String,
    },
    /// The name asked for is the bare name of several functions, exported
    /// from different interfaces.
    #[error("{name} exports several functions named {func:?}, name one in full: {matches}")]
    AmbiguousName {
        /// The component.
        name: String,
        /// The name asked for.
        func: String,
        /// The full names of the functions it names, comma-separated.
        matches: String,
    },
    /// The component exports no function at all.
    #[error("{name} exports no function")]
    NoFunc {
        /// The component.
        name: String,
    },
    /// The function's signature uses types that have no value form, such as
    /// resources, streams or futures.
    #[error("function {func} cannot be mapped: {reason}")]
    UnsupportedSignature {
        /// The function.
        func: String,
        /// Which type is the problem.
        reason: String,
    },
    /// An input does not parse as the function's parameter types.
    #[error("input {input:?} is not a valid {expected}: {reason}")]
    BadInput {
        /// The input text, shortened when long ([`shorten`](crate::shorten)).
        input: String,
        /// The expected type, in WIT syntax.
        expected: String,
        /// What the parser said.
        reason: String,
    },
    /// A guest crate could not be built into a component.
    #[error("cannot build {}: {reason}", dir.display())]
    Build {
        /// The crate directory.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The pool is closed ([`Pool::close`](crate::Pool::close),
    /// [`Pool::terminate`](crate::Pool::terminate) or
    /// [`Pool::join`](crate::Pool::join)) and takes no more tasks. The input
    /// that was refused comes back, as a channel's `SendError` hands back
    /// its message.
    #[error("the pool is closed")]
    Closed {
        /// The input that was not submitted.
        input: Input,
    },
    /// The worker program could not be started.
    #[error("cannot start worker {}", program.display())]
    SpawnWorker {
        /// The program, as [`PoolBuilder::worker_program`](crate::PoolBuilder::worker_program)
        /// chose it.
        program: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A worker could not prepare the component (wasmtime refused to link
    /// or instantiate it).
    #[error("{name} cannot run: {reason}")]
    CannotRun {
        /// The component.
        name: String,
        /// What the worker said.
        reason: String,
    },
    /// A worker did not have the component compiled within
    /// [`PoolBuilder::compile_timeout`](crate::PoolBuilder::compile_timeout);
    /// it was killed.
    #[error(
        "{name} did not compile within {}; its worker was killed",
        humantime::format_duration(*timeout)
    )]
    CompileTimeout {
        /// The component.
        name: String,
        /// The compile timeout.
        timeout: Duration,
    },
    /// The worker program is another version of wpool than this one, whose
    /// frames it may not decode: it exited at once, having run nothing.
    #[error(
        "worker program {} is another version of wpool than this one ({version}): point WPOOL_WORKER (or PoolBuilder::worker_program) at wpool {version}",
        program.display()
    )]
    WorkerVersion {
        /// The program, as [`PoolBuilder::worker_program`](crate::PoolBuilder::worker_program)
        /// chose it.
        program: PathBuf,
        /// This wpool's version, which the worker must have.
        version: &'static str,
    },
    /// Workers kept dying before finishing any task: the run stopped rather
    /// than start them again forever.
    #[error("{deaths} workers died in a row without finishing a task; the last {last}")]
    CrashLoop {
        /// How many workers died in a row.
        deaths: u32,
        /// How the last one ended, as the operating system reported it.
        last: String,
    },
    /// The NATS server of a cluster could not be reached, has no JetStream,
    /// refused an operation, or went away for longer than a run waits.
    #[error("NATS server {url}: {what}")]
    Cluster {
        /// The server's URL, as given.
        url: String,
        /// What failed.
        what: String,
        /// What the client said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A cluster job's name ([`Cluster::job`](crate::Cluster::job)) is not
    /// 1 to 64 ASCII letters, digits, `-` and `_`.
    #[error("job name {name:?}: a job is named with 1 to 64 ASCII letters, digits, '-' and '_'")]
    JobName {
        /// The name, as given.
        name: String,
    },
    /// The host could not start a thread of its own.
    #[error("cannot start a thread")]
    Thread {
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl Error {
    /// The worker program `program` turned out to be another version of
    /// wpool than this one.
    pub(crate) fn other_version(program: &std::path::Path) -> Error {
        Error::WorkerVersion {
            program: program.to_owned(),
            version: crate::protocol::VERSION,
        }
    }
}

/// Why one task failed. The other tasks of the run are not affected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The function returned the `err` case of its `result`.
    #[error("returned {0}")]
    Returned(Value),
    /// The guest trapped: a panic, an `unreachable`, an out-of-bounds access.
    #[error("trap: {0}")]
    Trap(String),
    /// The guest raised an exception it did not catch (a Python `raise`, a
    /// JavaScript `throw`): the exception, as the last line of the report
    /// the guest printed on its stderr, such as `ValueError: bad input`.
    #[error("exception: {0}")]
    Exception(String),
    /// The guest exited (WASI `exit`) with this status instead of returning.
    #[error("exited with status {0}")]
    Exit(i32),
    /// The guest used up its wasm stack.
    #[error("stack overflow")]
    StackOverflow,
    /// The task ran past its deadline and was interrupted.
    #[error("timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The task used all the fuel it was given.
    #[error("out of fuel after {0} units")]
    OutOfFuel(u64),
    /// The task asked for more linear memory than its cap allows.
    #[error("memory limit of {} exceeded", bytesize::ByteSize::b(*.0).display().iec())]
    MemoryLimit(u64),
    /// The pool was terminated before the task finished.
    #[error("terminated")]
    Terminated,
    /// The task's input, or its result, is larger than
    /// [`Limits::max_value`](crate::Limits::max_value).
    #[error("{what} {}", over_limit(*size, *limit))]
    TooLarge {
        /// `input` or `result`.
        what: &'static str,
        /// Its size in bytes, as encoded between the host and the workers;
        /// `None` for a result too large to be copied out of the guest,
        /// whose size is not known.
        size: Option<u64>,
        /// The limit in bytes.
        limit: u64,
    },
    /// A cluster's agent refused the task (its message did not decode as
    /// the function's input), or its reply did not decode as the
    /// function's result.
    #[error("rejected: {0}")]
    Rejected(String),

    /// The input could not be made: a file that cannot be read (missing, a
    /// directory, not readable, not UTF-8 for a `string` parameter), or a
    /// streamed input that does not match the parameter types. The task
    /// never reached a worker.
    #[error("{0}")]
    Input(String),
    /// The worker process running the task died, on every attempt.
    #[error("worker lost after {attempts} attempt(s): {reason}")]
    WorkerLost {
        /// How many times the task was tried.
        attempts: u32,
        /// How the last worker ended, as the operating system reported it.
        reason: String,
        /// The signal that killed the last worker, if one did (9 for
        /// SIGKILL).
        signal: Option<i32>,
    },
}

impl TaskError {
    /// The exit code a process that failed this way ends with, as Python's
    /// `Process.exitcode` gives it: the status the task passed to WASI
    /// `exit`; minus the signal when its worker was killed by one (-9 for
    /// SIGKILL, and for [`TaskError::Terminated`]); 1 for any other
    /// failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            TaskError::Exit(code) => *code,
            TaskError::Terminated => -libc::SIGKILL,
            TaskError::WorkerLost {
                signal: Some(signal),
                ..
            } => -signal,
            _ => 1,
        }
    }

    /// A short stable name for the kind of failure, as used in JSON output:
    /// `err`, `trap`, `exception`, `exit`, `stack-overflow`, `timeout`, `fuel`,
    /// `memory`, `size`, `input`, `worker-lost`, `terminated` or `rejected`.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskError::Returned(_) => "err",
            TaskError::Trap(_) => "trap",
            TaskError::Exception(_) => "exception",
            TaskError::Exit(_) => "exit",
            TaskError::StackOverflow => "stack-overflow",
            TaskError::Timeout(_) => "timeout",
            TaskError::OutOfFuel(_) => "fuel",
            TaskError::MemoryLimit(_) => "memory",
            TaskError::TooLarge { .. } => "size",
            TaskError::Input(_) => "input",
            TaskError::WorkerLost { .. } => "worker-lost",
            TaskError::Terminated => "terminated",
            TaskError::Rejected(_) => "rejected",
        }
    }
}

impl From<LoadError> for TaskError {
    fn from(error: LoadError) -> TaskError {
        match error {
            LoadError::Input(message) => TaskError::Input(message),
            LoadError::TooLarge { size, limit } => TaskError::TooLarge {
                what: "input",
                size,
                limit,
            },
        }
    }
}

/// `SIZE exceeds the limit of LIMIT`, each as a person reads it (`2.0
/// MiB`), with the exact bytes too when the two would read the same (`1.0
/// KiB (1025 bytes)`).
fn over_limit(size: Option<u64>, limit: u64) -> String {
    let human = |bytes| bytesize::ByteSize::b(bytes).display().iec().to_string();
    let b = human(limit);
    let Some(size) = size else {
        return format!("over the limit of {b}");
    };
    let a = human(size);
    match a == b {
        true => format!("of {a} ({size} bytes) exceeds the limit of {b} ({limit} bytes)"),
        false => format!("of {a} exceeds the limit of {b}"),
    }
}
