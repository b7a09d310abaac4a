//! Faults that only the test suite provokes, in the worker process itself,
//! where no guest can. Compiled only with the `test-hooks` cargo feature,
//! which the test suite turns on and a build users run leaves off: the host
//! then passes `WPOOL_TEST_HOOK` from its own environment to its workers
//! (which otherwise start with an empty one), and guests see no environment
//! at all.
//!
//! - `slow-compile`: the worker sleeps instead of compiling, so the host's
//!   compile deadline fires.
//! - `forbidden-syscall=N`: before task N, the worker tries to start a
//!   process, which its seccomp filter forbids.
//! - `wrong-index`: the pool's first worker (id 0) reports every result
//!   under the index after the one it ran, an index outside its batch.
//! - `corrupt-result`: the pool's first worker (id 0) sends every result
//!   as one byte, `0x80`, which decodes as no type's value (an integer
//!   that does not end).
//! - `garbage-frame`: the pool's first worker (id 0) sends a frame that
//!   does not decode instead of its first batch's results, and stays alive
//!   (a worker that broke in a way its pipe does not show).
//! - `deaf`: the pool's first worker (id 0) shuts the socket it reads
//!   requests from once its setup came, and stays alive: the host's next
//!   write to it fails.

use crossbeam_channel::Receiver;

use super::link::Request;
use crate::protocol::{CallResult, Setup, TEST_HOOK_VAR};

/// A fault to provoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    SlowCompile,
    ForbiddenSyscall(u64),
    WrongIndex,
    CorruptResult,
    GarbageFrame,
    Deaf,
}

/// The hook this process was given, if any.
pub(crate) fn get() -> Option<Hook> {
    let value = std::env::var(TEST_HOOK_VAR).ok()?;
    match value.split_once('=') {
        None if value == "slow-compile" => Some(Hook::SlowCompile),
        None if value == "wrong-index" => Some(Hook::WrongIndex),
        None if value == "corrupt-result" => Some(Hook::CorruptResult),
        None if value == "garbage-frame" => Some(Hook::GarbageFrame),
        None if value == "deaf" => Some(Hook::Deaf),
        Some(("forbidden-syscall", index)) => index.parse().ok().map(Hook::ForbiddenSyscall),
        _ => None,
    }
}

/// For [`Hook::GarbageFrame`]: writes a frame of four bytes that decode as
/// no message to stdout (the worker's channel to the host, idle while the
/// batch's results are due), then stays alive.
pub(crate) fn send_garbage() -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(&[4, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])?;
    out.flush()?;
    stall();
    Ok(())
}

/// Sleeps for longer than any compile deadline of the test suite.
pub(crate) fn stall() {
    std::thread::sleep(std::time::Duration::from_secs(600));
}

/// For [`Hook::WrongIndex`]: moves the results of worker 0 to the next
/// index.
pub(crate) fn misnumber(worker_id: u32, mut results: Vec<CallResult>) -> Vec<CallResult> {
    if worker_id == 0 {
        for result in &mut results {
            result.index += 1;
        }
    }
    results
}

/// For [`Hook::CorruptResult`]: replaces each value of worker 0 by `0x80`.
pub(crate) fn corrupt(
    worker_id: u32,
    mut results: Vec<CallResult>,
    values: Vec<u8>,
) -> (Vec<CallResult>, Vec<u8>) {
    if worker_id != 0 {
        return (results, values);
    }
    for result in &mut results {
        result.outcome = Ok(1);
    }
    let values = vec![0x80; results.len()];
    (results, values)
}

/// For [`Hook::Deaf`]: whether worker 0, set up by `setup`, stops reading
/// now: then the socket it reads is shut for reading (the host's next
/// write to it fails), while the lockdown is not sealed yet.
pub(crate) fn deafens(hook: Option<Hook>, setup: &Setup) -> bool {
    let deaf = hook == Some(Hook::Deaf) && setup.worker_id == 0;
    if deaf {
        let _ = rustix::net::shutdown(std::io::stdin(), rustix::net::Shutdown::Read);
    }
    deaf
}

/// A deaf worker's requests: none ever comes, and the channel never
/// closes, so that the worker neither reads nor exits.
pub(crate) fn deaf_requests() -> Receiver<Request> {
    let (sender, requests) = crossbeam_channel::unbounded();
    std::mem::forget(sender);
    requests
}
