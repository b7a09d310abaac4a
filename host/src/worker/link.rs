//! The worker's side of the pipes to the host: results out, and requests to
//! the hub whose replies come back on stdin while the task waits.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader, BufWriter, Stdout};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tokio::sync::oneshot;

use super::channel::Key;
use crate::protocol::artifact::FdReader;
use crate::protocol::engine::TICK;
use crate::protocol::shared_memory::Arena;
use crate::protocol::{
    Answer, FromWorker, MAX_GET_MANY, ObjectError, Op, Request as _, ToWorker, await_awake, linger,
    queue, read_frame, write_frame,
};

/// A task whose gets on a channel follow each other closer than this gets
/// in a tight loop: it takes the items ahead (see [`HostLink::next_ahead`]).
const TIGHT: Duration = Duration::from_millis(1);

/// The worker's side of the channel to the host, shared by the task loop
/// (results) and the host functions of running tasks (requests to the hub,
/// whose replies the reader thread hands back through `pending`).
#[derive(Clone)]
pub(crate) struct HostLink {
    out: Arc<Mutex<BufWriter<Stdout>>>,
    pending: Arc<Mutex<HashMap<u64, Answering>>>,
    next_id: Arc<AtomicU64>,
    /// Queue items and pipe messages taken ahead: shared with the epoch
    /// thread, which puts back queue items left unused for a tick.
    ahead: Arc<Mutex<Vec<Ahead>>>,
    /// The job's shared memory, where the hub lives in the host.
    shared: Option<Arc<Arena>>,
}

/// The items a task took ahead from a channel, and when it last got one.
struct Ahead {
    task: u64,
    channel: Key,
    items: VecDeque<Vec<u8>>,
    /// When the task's last get on the channel was answered, by the hub or
    /// from `items`.
    last: Instant,
}

impl HostLink {
    pub(super) fn new(shared: Option<Arc<Arena>>) -> HostLink {
        HostLink {
            out: Arc::new(Mutex::new(BufWriter::new(io::stdout()))),
            pending: Arc::default(),
            next_id: Arc::default(),
            ahead: Arc::default(),
            shared,
        }
    }

    /// The job's shared memory, if the worker maps it.
    pub(crate) fn shared_memory(&self) -> Option<&Arena> {
        self.shared.as_deref()
    }

    pub(super) fn send(&self, message: &FromWorker) -> io::Result<()> {
        write_frame(&mut *lock(&self.out), message)
    }

    /// The next item task `task` took ahead from `channel`; or, when it has
    /// none, how many items its next get should take: more than one when
    /// its gets on the channel come in a tight loop (the last one answered
    /// less than [`TIGHT`] ago), as many as it would use in about that time
    /// at its pace, so that what it holds ahead is about a millisecond of
    /// its work.
    pub(crate) fn next_ahead(&self, task: u64, channel: Key) -> Result<Vec<u8>, u32> {
        let mut ahead = lock(&self.ahead);
        let Some(entry) = ahead
            .iter_mut()
            .find(|a| a.task == task && a.channel == channel)
        else {
            return Err(1);
        };
        if let Some(item) = entry.items.pop_front() {
            entry.last = Instant::now();
            return Ok(item);
        }
        let since = entry.last.elapsed();
        Err(match since < TIGHT {
            true => {
                (TIGHT.as_nanos() / since.as_nanos().max(1)).clamp(2, MAX_GET_MANY.into()) as u32
            }
            false => 1,
        })
    }

    /// The hub answered a get of task `task` on `channel`: `rest` are the
    /// items it took ahead, after the one it returns now.
    pub(crate) fn got(&self, task: u64, channel: Key, rest: Vec<Vec<u8>>) {
        let mut ahead = lock(&self.ahead);
        let entry = match ahead
            .iter()
            .position(|a| a.task == task && a.channel == channel)
        {
            Some(at) => &mut ahead[at],
            None => {
                ahead.push(Ahead {
                    task,
                    channel,
                    items: VecDeque::new(),
                    last: Instant::now(),
                });
                ahead.last_mut().expect("pushed")
            }
        };
        entry.items.extend(rest);
        entry.last = Instant::now();
    }

    /// How many items task `task` holds ahead from `channel`.
    pub(crate) fn held_ahead(&self, task: u64, channel: Key) -> usize {
        let ahead = lock(&self.ahead);
        ahead
            .iter()
            .find(|a| a.task == task && a.channel == channel)
            .map_or(0, |a| a.items.len())
    }

    /// Task `task` closed the pipe connection `channel`: the messages it
    /// took ahead are dropped, as its end's unread ones are.
    pub(crate) fn drop_ahead(&self, task: u64, channel: Key) {
        lock(&self.ahead).retain(|a| !(a.task == task && a.channel == channel));
    }

    /// Task `task` ended: the items it took ahead go back to their queues
    /// (its pipe ends closed, and dropped theirs).
    pub(super) fn put_back_all(&self, task: u64) {
        let mut ahead = lock(&self.ahead);
        self.put_back(&mut ahead, |a| a.task == task);
        ahead.retain(|a| a.task != task);
    }

    /// Puts back the queue items taken ahead whose task has not got one for
    /// a tick: another task may be waiting for them. A pipe's messages
    /// stay: no other task can receive them while the end is open.
    pub(super) fn put_back_unused(&self) {
        let mut ahead = lock(&self.ahead);
        self.put_back(&mut ahead, |a| a.last.elapsed() >= TICK);
    }

    /// Sends the items of each queue's entry `pick` chooses back to the
    /// queue. The lock on `ahead` is held until they are sent, so that the
    /// task's next get, which finds none left, reaches the hub after them.
    fn put_back(&self, ahead: &mut [Ahead], pick: impl Fn(&Ahead) -> bool) {
        for entry in ahead.iter_mut().filter(|a| !a.items.is_empty() && pick(a)) {
            let Key::Queue(handle) = entry.channel else {
                continue;
            };
            let items = std::mem::take(&mut entry.items).into();
            let op = queue::PutBack { handle, items };
            // Its answer finds no one waiting, and is dropped.
            let request = FromWorker::Request {
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                task: entry.task,
                op: op.into_op(),
                timeout: None,
            };
            let _ = self.send(&request);
        }
    }

    /// Sends `op` to the hub for task `task` and waits for the answer, which
    /// the hub gives within `timeout`. `Err(Closed)` if the host is gone.
    pub(crate) async fn request(
        &self,
        task: u64,
        op: Op,
        timeout: Option<Duration>,
    ) -> Result<Answer, ObjectError> {
        let mut rx = self.send_request(task, op, timeout)?;
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

    /// Sends `op` to the hub for task `task` without waiting: its answer
    /// comes on the receiver. `Err(Closed)` if the host is gone.
    pub(crate) fn send_request(
        &self,
        task: u64,
        op: Op,
        timeout: Option<Duration>,
    ) -> Result<Reply, ObjectError> {
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
        Ok(rx)
    }

    /// Whether a task waits for an answer from the hub, or has requests
    /// it sent without waiting still to be answered.
    fn awaits_answers(&self) -> bool {
        !lock(&self.pending).is_empty()
    }

    pub(super) fn deliver(&self, id: u64, result: Result<Answer, ObjectError>) {
        if let Some(waiter) = lock(&self.pending).remove(&id) {
            let _ = waiter.send(result);
        }
    }
}

/// Where the reader thread hands a hub reply to the task waiting for it.
type Answering = oneshot::Sender<Result<Answer, ObjectError>>;

/// Where a task gets the hub's reply to a request it sent.
pub(crate) type Reply = oneshot::Receiver<Result<Answer, ObjectError>>;

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

    /// The next descriptor that came with the frames read, after those
    /// [`Requests::next`] took: the job's shared memory, after the setup.
    pub(super) fn take_fd(&mut self) -> Option<OwnedFd> {
        self.0.get_mut().take()
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
            loop {
                // An answer the hub is about to send is read by a thread
                // awake: it reaches the task without a wake-up on the way,
                // which on a busy machine can cost more than the answer.
                if link.awaits_answers() {
                    linger(&requests.0);
                }
                let Some((request, artifact)) = requests.next() else {
                    break;
                };
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
