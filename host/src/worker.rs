//! The worker process: the `wpool` binary started by a pool with the hidden
//! `__worker` argument. It reads frames from stdin, runs tasks, and writes
//! frames to stdout; it exits when its stdin closes or its parent dies.

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use crossbeam_channel::Receiver;

use crate::runtime::Runtime;
use crate::sandbox;
use crate::test_hook::{self, Hook};
use crate::transport::{FromWorker, ToWorker, read_frame, write_frame};

/// The command-line argument that turns the `wpool` binary into a worker.
pub const WORKER_ARG: &str = "__worker";

/// The command-line argument that makes the `wpool` binary a lockdown probe
/// for `wpool doctor`.
pub const PROBE_ARG: &str = "__probe";

/// Runs the worker loop until the host closes the channel. `parent` is the
/// process id of the host, which must still be our parent. The process is
/// locked down first ([`sandbox`]), and sealed before any guest code runs.
pub fn main(parent: u32) -> ExitCode {
    sandbox::enter(parent);
    let hook = test_hook::get();
    let requests = spawn_reader();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let Ok(ToWorker::Setup(setup)) = requests.recv() else {
        return ExitCode::FAILURE;
    };
    if hook == Some(Hook::SlowCompile) {
        test_hook::stall();
    }
    let max_memory = setup.limits.max_memory;
    let runtime = match Runtime::new(setup) {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = write_frame(&mut out, &FromWorker::SetupFailed(format!("{e:#}")));
            return ExitCode::FAILURE;
        }
    };
    sandbox::seal(max_memory);
    if write_frame(&mut out, &FromWorker::Ready).is_err() {
        return ExitCode::FAILURE;
    }
    for request in requests {
        let ToWorker::Batch(jobs) = request else {
            return ExitCode::FAILURE;
        };
        let start = Instant::now();
        let results = jobs
            .iter()
            .map(|job| {
                if hook == Some(Hook::ForbiddenSyscall(job.index)) {
                    test_hook::forbidden_syscall();
                }
                runtime.run(job)
            })
            .collect();
        let done = FromWorker::Done {
            busy: start.elapsed(),
            results,
        };
        if write_frame(&mut out, &done)
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Reads requests on a thread of their own, so that the host never blocks
/// writing to a busy worker. When stdin closes, the host is gone or done
/// with us: the whole process exits at once, even in the middle of a task.
fn spawn_reader() -> Receiver<ToWorker> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("requests".into())
        .spawn(move || {
            let mut stdin = BufReader::new(std::io::stdin().lock());
            while let Ok(Some(request)) = read_frame::<ToWorker>(&mut stdin) {
                if tx.send(request).is_err() {
                    break;
                }
            }
            std::process::exit(0);
        })
        .expect("cannot start the worker's reader thread");
    rx
}

/// Applies the whole lockdown as a worker would (with the default memory
/// cap), prints each layer on stdout, then makes a forbidden system call: a
/// probe that seccomp does not kill exits with status 3.
pub fn probe(parent: u32) -> ExitCode {
    let mut layers = sandbox::enter(parent);
    layers.extend(sandbox::seal(crate::Limits::default().max_memory));
    let mut out = std::io::stdout().lock();
    for layer in &layers {
        let _ = writeln!(out, "{layer}");
    }
    let _ = out.flush();
    test_hook::forbidden_syscall();
    ExitCode::from(3)
}
