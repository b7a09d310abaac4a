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
//! - `deaf`: the pool's first worker (id 0) closes the socket it reads
//!   requests from once its setup came, and stays alive: the host's next
//!   write to it fails.

use std::io::{BufReader, BufWriter};
use std::os::fd::AsFd as _;
use std::os::unix::net::UnixStream;

use crate::protocol::artifact::{FdReader, send_with};
use crate::protocol::{CallResult, TEST_HOOK_VAR, ToWorker, read_frame, write_frame};

/// A fault to provoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    SlowCompile,
    ForbiddenSyscall(u64),
    WrongIndex,
    CorruptResult,
    Deaf,
}

/// The hook this process was given, if any.
pub(crate) fn get() -> Option<Hook> {
    let value = std::env::var(TEST_HOOK_VAR).ok()?;
    match value.split_once('=') {
        None if value == "slow-compile" => Some(Hook::SlowCompile),
        None if value == "wrong-index" => Some(Hook::WrongIndex),
        None if value == "corrupt-result" => Some(Hook::CorruptResult),
        None if value == "deaf" => Some(Hook::Deaf),
        Some(("forbidden-syscall", index)) => index.parse().ok().map(Hook::ForbiddenSyscall),
        _ => None,
    }
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

/// For [`Hook::CorruptResult`]: replaces each result of worker 0 by `0x80`.
pub(crate) fn corrupt(worker_id: u32, mut results: Vec<CallResult>) -> Vec<CallResult> {
    if worker_id == 0 {
        for result in &mut results {
            result.outcome = Ok(bytes::Bytes::from_static(&[0x80]));
        }
    }
    results
}

/// For [`Hook::Deaf`]: puts a relay between the host's socket and the
/// stdin the worker reads. The relay passes frames on, with the artifacts
/// that come with them; in worker 0 it stops after the setup and closes the
/// host's socket, while keeping the worker's stdin open, so the worker
/// neither reads nor exits. Must run before the worker's reader starts, and
/// before the lockdown is sealed (it makes a socket pair and duplicates
/// descriptors).
pub(crate) fn relay_stdin() {
    let host = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .expect("cannot duplicate stdin");
    let (inner, outer) = UnixStream::pair().expect("cannot make a socket pair");
    rustix::stdio::dup2_stdin(&inner).expect("cannot replace stdin");
    drop(inner);
    std::thread::spawn(move || {
        let mut host = BufReader::new(FdReader::new(host));
        while let Ok(Some(request)) = read_frame::<ToWorker>(&mut host) {
            let sent = match request.carries_artifact() {
                true => host
                    .get_mut()
                    .take()
                    .ok_or_else(|| std::io::Error::other("no artifact came"))
                    .and_then(|fd| send_with(&outer, &request, fd.as_fd())),
                false => write_frame(&mut BufWriter::new(&outer), &request),
            };
            if sent.is_err() {
                return;
            }
            if let ToWorker::Setup(setup) = &request
                && setup.worker_id == 0
            {
                drop(host);
                // The worker's stdin stays open: it waits for requests
                // that never come.
                loop {
                    std::thread::park();
                }
            }
        }
    });
}
