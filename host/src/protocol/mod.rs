//! What crosses between the host process and a worker process, and nothing
//! that runs either: the frames and messages between them, the compiled
//! artifacts passed as file descriptors, the limits a worker applies,
//! the shared-object operations it forwards to the hub with their answers
//! and errors, the job's shared memory where locks and number values live, the binary encoding of values, the output it captured, the
//! engine settings the compile cache is keyed by, the interfaces a worker
//! provides to tasks, the command-line markers that start the `wpool`
//! binary as a worker, and the lockdown probe's report.
//!
//! The host side (`pool`, `hub`) and the worker side (`worker`) both import
//! this module and never each other.

pub(crate) mod artifact;
mod captured;
pub(crate) mod encoding;
pub(crate) mod engine;
mod frame;
mod limits;
mod messages;
mod ops;
mod probe;
pub(crate) mod provided;
pub(crate) mod shared_memory;

pub use self::captured::Captured;
pub(crate) use self::frame::{await_awake, linger, read_frame, write_frame};
pub use self::limits::{Limits, MAX_MEMORY, MAX_TIMEOUT};
pub use self::messages::Stream;
pub(crate) use self::messages::{
    Call, CallResult, Calls, Code, Encoded, Export, Failure, FromWorker, Outcomes,
    RESULTS_PER_FRAME, Setup, ToWorker,
};
pub(crate) use self::ops::{
    Answer, AnswerType, MAX_GET_MANY, MAX_STREAMED_ITEM, Op, Open, Request, array, barrier,
    condition, dict, event, list, lock, pipe, queue, semaphore, typed_answer, value,
};
pub use self::ops::{End, ObjectError, Scalar};
pub use self::probe::Layer;

/// The command-line argument that turns the `wpool` binary into a worker.
pub const WORKER_ARG: &str = "__worker";

/// The version of wpool a worker must be to serve a host: each sends the
/// other frames of its own version, which another's may not decode. The
/// host passes its own after [`WORKER_ARG`].
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The status a worker exits with, having run nothing, when its host is
/// another version of wpool ([`VERSION`]).
pub(crate) const OTHER_VERSION: u8 = 4;

/// The command-line argument that makes the `wpool` binary a lockdown probe
/// for `wpool doctor`.
pub const PROBE_ARG: &str = "__probe";

/// The environment variable through which the test suite asks workers for
/// faults (see `worker::test_hook`); the host passes it on to its workers,
/// which otherwise start with an empty environment. Only in builds with the
/// `test-hooks` feature.
#[cfg(feature = "test-hooks")]
pub(crate) const TEST_HOOK_VAR: &str = "WPOOL_TEST_HOOK";

/// Settings of the crate's property tests: `cases` cases, or as many as
/// `PROPTEST_CASES` says, to fuzz longer on demand
/// (`PROPTEST_CASES=1000000 cargo test --release --lib props`).
#[cfg(test)]
pub(crate) fn prop_config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    proptest::test_runner::Config::with_cases(cases)
}
