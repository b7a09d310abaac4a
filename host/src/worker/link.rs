//! The worker's side of the pipes to the host: results out, and requests to
//! the hub whose replies come back on stdin while the task waits.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Stdout};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::Receiver;
use tokio::sync::oneshot;

use crate::protocol::artifact::FdReader;
use crate::protocol::{
    Answer, FromWorker, ObjectError, Op, ToWorker, await_awake, read_frame, write_frame,
};

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
    pub(super) fn new() -> HostLink {
        HostLink {
            out: Arc::new(Mutex::new(BufWriter::new(io::stdout()))),
            pending: Arc::default(),
            next_id: Arc::default(),
        }
    }

    pub(super) fn send(&self, message: &FromWorker) -> io::Result<()> {
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
        let (tx, mut rx) = oneshot::channel();
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
        // Most answers come within tens of microseconds.
        let answered = await_awake(|| match rx.try_recv() {
            Ok(answer) => Some(answer),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(ObjectError::Closed)),
        });
        match answered {
            Some(answer) => answer,
            None => rx.await.unwrap_or(Err(ObjectError::Closed)),
        }
    }

    pub(super) fn deliver(&self, id: u64, result: Result<Answer, ObjectError>) {
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

/// A request from the host, and the artifact's descriptor that came with
/// it, if it carries one ([`ToWorker::carries_artifact`]).
pub(super) type Request = (ToWorker, Option<OwnedFd>);

/// The worker's stdin: frames from the host, and the descriptors that come
/// with them.
pub(super) struct Requests(BufReader<FdReader<io::Stdin>>);

impl Requests {
    pub(super) fn new() -> Requests {
        Requests(BufReader::new(FdReader::new(io::stdin())))
    }

    /// The next request; `None` once stdin is closed or broken.
    pub(super) fn next(&mut self) -> Option<Request> {
        let request = read_frame::<ToWorker>(&mut self.0).ok()??;
        let artifact = match request.carries_artifact() {
            true => self.0.get_mut().take(),
            false => None,
        };
        Some((request, artifact))
    }
}

/// Reads requests on a thread of their own, so that the host never blocks
/// writing to a busy worker, and hub replies reach a task while it runs.
/// When stdin closes, the host is gone or done with us: the whole process
/// exits at once, even in the middle of a task.
pub(super) fn spawn_reader(link: HostLink, mut requests: Requests) -> Receiver<Request> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("requests".into())
        .spawn(move || {
            while let Some((request, artifact)) = requests.next() {
                match request {
                    ToWorker::Reply { id, result } => link.deliver(id, result),
                    request => {
                        if tx.send((request, artifact)).is_err() {
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
