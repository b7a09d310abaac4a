//! The worker process: the `wpool` binary started by a pool with the hidden
//! `__worker` argument. It reads frames from stdin, runs tasks, and writes
//! frames to stdout; it exits when its stdin closes or its parent dies.

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use crossbeam_channel::Receiver;

use crate::runtime::Runtime;
use crate::transport::{FromWorker, ToWorker, read_frame, write_frame};

/// The command-line argument that turns the `wpool` binary into a worker.
pub const WORKER_ARG: &str = "__worker";

/// Runs the worker loop until the host closes the channel. `parent` is the
/// process id of the host, which must still be our parent.
pub fn main(parent: u32) -> ExitCode {
    die_with_parent(parent);
    let requests = spawn_reader();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let Ok(ToWorker::Setup(setup)) = requests.recv() else {
        return ExitCode::FAILURE;
    };
    let (mut runtime, artifact) = match Runtime::new(setup) {
        Ok(ready) => ready,
        Err(e) => {
            let _ = write_frame(&mut out, &FromWorker::SetupFailed(format!("{e:#}")));
            return ExitCode::FAILURE;
        }
    };
    if write_frame(&mut out, &FromWorker::Ready { artifact }).is_err() {
        return ExitCode::FAILURE;
    }
    for request in requests {
        let ToWorker::Batch(jobs) = request else {
            return ExitCode::FAILURE;
        };
        let start = Instant::now();
        let results = jobs.iter().map(|job| runtime.run(job)).collect();
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

/// Asks the kernel to kill this process when its parent dies, then checks
/// that the parent did not die before the request took effect.
fn die_with_parent(parent: u32) {
    #[cfg(target_os = "linux")]
    {
        let _ =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    }
    let still_there =
        rustix::process::getppid().is_some_and(|pid| pid.as_raw_pid() as u32 == parent);
    if !still_there {
        std::process::exit(1);
    }
}
