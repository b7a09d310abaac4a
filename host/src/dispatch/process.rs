//! One worker process as the host sees it: the child, the pipe to its stdin,
//! and a thread that turns its stdout frames into [`Event`]s.

use std::io::{self, BufReader, BufWriter};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crossbeam_channel::Sender;

use crate::test_hook;
use crate::transport::{FromWorker, Setup, ToWorker, read_frame, write_frame};
use crate::worker::WORKER_ARG;

/// What a worker's reader thread reports, tagged with the worker's slot and
/// generation (a slot's worker is replaced when it dies).
pub(crate) struct Event {
    pub slot: usize,
    pub generation: u64,
    pub kind: EventKind,
}

pub(crate) enum EventKind {
    Message(FromWorker),
    /// The worker's stdout closed: it exited or was killed.
    Exited,
}

/// A running worker process. Dropping it kills and reaps the process.
pub(crate) struct WorkerProcess {
    child: Child,
    stdin: BufWriter<ChildStdin>,
}

impl WorkerProcess {
    /// Starts `program` as a worker and sends it `setup`.
    pub(crate) fn spawn(
        program: &Path,
        setup: &Setup,
        slot: usize,
        generation: u64,
        events: Sender<Event>,
    ) -> io::Result<WorkerProcess> {
        let mut command = Command::new(program);
        command
            .arg(WORKER_ARG)
            .arg(std::process::id().to_string())
            .env_clear()
            // Out of the terminal's process group: a Ctrl-C reaches the host
            // alone, which lets running tasks finish.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(hook) = std::env::var_os(test_hook::VAR) {
            command.env(test_hook::VAR, hook);
        }
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = child.stdin.take().expect("stdin is piped");
        std::thread::Builder::new()
            .name(format!("worker-{slot}"))
            .spawn(move || {
                let mut stdout = BufReader::new(stdout);
                let send = |kind| {
                    events.send(Event {
                        slot,
                        generation,
                        kind,
                    })
                };
                while let Ok(Some(message)) = read_frame::<FromWorker>(&mut stdout) {
                    if send(EventKind::Message(message)).is_err() {
                        return;
                    }
                }
                let _ = send(EventKind::Exited);
            })?;
        let mut worker = WorkerProcess {
            child,
            stdin: BufWriter::new(stdin),
        };
        // A worker that dies before reading its setup reports itself through
        // `Exited`, like any other death.
        let _ = worker.send(&ToWorker::Setup(setup.clone()));
        Ok(worker)
    }

    /// Sends one request. An error means the worker is gone; its `Exited`
    /// event follows.
    pub(crate) fn send(&mut self, request: &ToWorker) -> io::Result<()> {
        write_frame(&mut self.stdin, request)
    }

    /// Kills the process; its `Exited` event follows.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the process to end (its stdout has closed) and says how it
    /// ended.
    pub(crate) fn reap(&mut self) -> String {
        match self.child.wait() {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => format!("worker exited with status {code}"),
                (None, Some(signal)) if signal == libc::SIGSYS => format!(
                    "worker killed by signal {signal} (SIGSYS: a system call its seccomp filter forbids)"
                ),
                (None, Some(signal)) => format!("worker killed by signal {signal}"),
                (None, None) => format!("worker ended: {status}"),
            },
            Err(e) => format!("worker lost: {e}"),
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
