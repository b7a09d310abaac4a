//! The worker process: the `wpool` binary started by a pool with the hidden
//! `__worker` argument. It reads frames from stdin, runs tasks, and writes
//! frames to stdout; it exits when its stdin closes or its parent dies.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Stdout, Write as _};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tokio::sync::oneshot;

use crate::hub::{Answer, ObjectError, Op};
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
/// locked down first (`sandbox`), and sealed before any guest code runs.
pub fn main(parent: u32) -> ExitCode {
    sandbox::enter(parent);
    let hook = test_hook::get();
    let link = HostLink::new();
    let requests = spawn_reader(link.clone());
    let Ok(ToWorker::Setup(setup)) = requests.recv() else {
        return ExitCode::FAILURE;
    };
    if hook == Some(Hook::SlowCompile) {
        test_hook::stall();
    }
    let max_memory = setup.limits.max_memory;
    let (mut runtime, artifact) = match Runtime::new(setup, link.clone()) {
        Ok(ready) => ready,
        Err(e) => {
            let _ = link.send(&FromWorker::SetupFailed(format!("{e:#}")));
            return ExitCode::FAILURE;
        }
    };
    sandbox::seal(max_memory);
    if link.send(&FromWorker::Ready { artifact }).is_err() {
        return ExitCode::FAILURE;
    }
    for request in requests {
        let ToWorker::Batch(calls) = request else {
            return ExitCode::FAILURE;
        };
        let start = Instant::now();
        let results = calls
            .iter()
            .map(|call| {
                if hook == Some(Hook::ForbiddenSyscall(call.index)) {
                    test_hook::forbidden_syscall();
                }
                runtime.run(call)
            })
            .collect();
        let done = FromWorker::Done {
            busy: start.elapsed(),
            results,
        };
        if link.send(&done).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The worker's side of the channel to the host, shared by the task loop
/// (results) and the host functions of running tasks (requests to the hub,
/// whose replies the reader thread hands back through `pending`).
#[derive(Clone)]
pub(crate) struct HostLink {
    out: Arc<Mutex<BufWriter<Stdout>>>,
    pending: Arc<Mutex<HashMap<u64, Answering>>>,
    next_id: Arc<AtomicU64>,
}

impl HostLink {
    fn new() -> HostLink {
        HostLink {
            out: Arc::new(Mutex::new(BufWriter::new(io::stdout()))),
            pending: Arc::default(),
            next_id: Arc::default(),
        }
    }

    fn send(&self, message: &FromWorker) -> io::Result<()> {
        write_frame(&mut *lock(&self.out), message)
    }

    /// Sends `op` to the hub for task `task` and waits for the answer, which
    /// the hub gives within `timeout`. `Err(Closed)` if the host is gone.
    pub(crate) async fn request(
        &self,
        task: u64,
        op: Op,
        timeout: Option<Duration>,
    ) -> Result<Answer, ObjectError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let request = FromWorker::Request {
            id,
            task,
            op,
            timeout,
        };
        if self.send(&request).is_err() {
            lock(&self.pending).remove(&id);
            return Err(ObjectError::Closed);
        }
        rx.await.unwrap_or(Err(ObjectError::Closed))
    }

    fn deliver(&self, id: u64, result: Result<Answer, ObjectError>) {
        if let Some(waiter) = lock(&self.pending).remove(&id) {
            let _ = waiter.send(result);
        }
    }
}

/// Where the reader thread hands a hub reply to the task waiting for it.
type Answering = oneshot::Sender<Result<Answer, ObjectError>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one is still whole.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Reads requests on a thread of their own, so that the host never blocks
/// writing to a busy worker, and hub replies reach a task while it runs.
/// When stdin closes, the host is gone or done with us: the whole process
/// exits at once, even in the middle of a task.
fn spawn_reader(link: HostLink) -> Receiver<ToWorker> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("requests".into())
        .spawn(move || {
            let mut stdin = BufReader::new(io::stdin().lock());
            while let Ok(Some(request)) = read_frame::<ToWorker>(&mut stdin) {
                match request {
                    ToWorker::Reply { id, result } => link.deliver(id, result),
                    request => {
                        if tx.send(request).is_err() {
                            break;
                        }
                    }
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
