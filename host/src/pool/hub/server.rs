//! [`Hub`]: the handle every part of the host holds on the hub, its lock,
//! and the timer thread that answers `timeout` to waiters whose deadline
//! passes; or, where the job's objects live in another process, the
//! [`Remote`] its operations are forwarded to.

use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::caller::{Caller, Gone, JobId};
use super::limits::HubLimits;
use super::state::State;
use super::waiters::{Outbox, Reply, Waiter};
use crate::protocol::shared_memory::Arena;
use crate::protocol::{Answer, ObjectError, Op, Request, typed_answer};

/// What the hub's clones and its timer thread share.
struct Core {
    state: Mutex<State>,
    /// Wakes the timer thread when a nearer deadline comes, or at shutdown.
    timer: Condvar,
    limits: HubLimits,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock is a broken invariant of the hub itself:
        // replies are only called with the lock released.
        self.state.lock().expect("the hub's state is poisoned")
    }

    /// Answers `timeout` to waiters as their deadlines pass, until shutdown.
    fn run_timer(&self) {
        let mut state = self.lock();
        while !state.shutdown {
            let now = Instant::now();
            let mut out = Outbox::default();
            while let Some(id) = state.deadlines.pop_due(now) {
                state.expire(id, &mut out);
            }
            if !out.is_empty() {
                drop(state);
                out.deliver();
                state = self.lock();
                continue;
            }
            state = match state.deadlines.next() {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    self.timer
                        .wait_timeout(state, wait)
                        .expect("the hub's state is poisoned")
                        .0
                }
                None => self.timer.wait(state).expect("the hub's state is poisoned"),
            };
        }
    }
}

/// Held by every clone of a [`Hub`]; its drop is the hub's shutdown.
struct Owner(Arc<Core>);

impl Drop for Owner {
    /// Ends the timer thread (without waiting for it) and answers `closed` to
    /// every parked request.
    fn drop(&mut self) {
        let mut out = Outbox::default();
        {
            let mut state = self.0.lock();
            state.shutdown = true;
            for job in std::mem::take(&mut state.jobs).into_values() {
                job.abort(&mut out);
            }
        }
        self.0.timer.notify_all();
        out.deliver();
    }
}

/// The owner of every job's shared objects. Clones share one hub; when the
/// last clone drops, its timer thread ends and every parked request is
/// answered `closed`.
#[derive(Clone)]
pub(crate) struct Hub(Serving);

/// Where a hub's objects are.
#[derive(Clone)]
enum Serving {
    /// In this process.
    Here(Arc<Owner>),
    /// In another process: an agent's workers share the objects of their
    /// job's submitter.
    Elsewhere(Arc<dyn Remote>),
}

/// A hub in another process, which serves the operations of this process's
/// workers: the same calls as [`Hub`]'s, with the same promises.
pub(crate) trait Remote: Send + Sync {
    /// As [`Hub::request`].
    fn request(&self, caller: Caller, op: Op, timeout: Option<Duration>, reply: Reply);
    /// As [`Hub::task_ended`].
    fn task_ended(&self, caller: Caller);
    /// As [`Hub::worker_died`].
    fn worker_died(&self, job: JobId, worker: u32);
}

impl Hub {
    /// A hub with no objects, and its timer thread started.
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    pub(crate) fn new(limits: HubLimits) -> Hub {
        let core = Arc::new(Core {
            state: Mutex::new(State::default()),
            timer: Condvar::new(),
            limits,
        });
        let timer = Arc::clone(&core);
        thread::Builder::new()
            .name("wpool-hub-timer".into())
            .spawn(move || timer.run_timer())
            .expect("cannot start the hub's timer thread");
        Hub(Serving::Here(Arc::new(Owner(core))))
    }

    /// A hub whose objects `remote` serves.
    pub(crate) fn remote(remote: Arc<dyn Remote>) -> Hub {
        Hub(Serving::Elsewhere(remote))
    }

    /// Serves `op` for `caller`, as a worker sent it. Never blocks: `reply`
    /// is called exactly once, at once or later from another thread (when the operation can
    /// complete, or with `timeout` once `timeout` has passed; `None` waits
    /// as long as needed).
    pub(crate) fn request(&self, caller: Caller, op: Op, timeout: Option<Duration>, reply: Reply) {
        let core = match &self.0 {
            Serving::Here(owner) => &owner.0,
            Serving::Elsewhere(remote) => return remote.request(caller, op, timeout, reply),
        };
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut out = Outbox::default();
        let wake_timer = {
            let mut state = core.lock();
            let id = state.new_id();
            let waiter = Waiter::new(id, caller, reply);
            let parked = state.serve(&core.limits, op, waiter, &mut out);
            state.settle(
                parked.map(|object| (id, caller.job, object)),
                deadline,
                &mut out,
            )
        };
        if wake_timer {
            core.timer.notify_one();
        }
        out.deliver();
    }

    /// Serves `request` for `caller` and waits for its answer: the typed
    /// client of the host's handles (and of the hub's tests).
    pub(crate) fn call<R: Request>(
        &self,
        caller: Caller,
        request: R,
        timeout: Option<Duration>,
    ) -> Result<R::Answer, ObjectError> {
        self.start(caller, request, timeout).wait()
    }

    /// Serves `request` for `caller` without waiting: the answer comes
    /// through the [`Pending`].
    pub(crate) fn start<R: Request>(
        &self,
        caller: Caller,
        request: R,
        timeout: Option<Duration>,
    ) -> Pending<R> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let reply = Box::new(move |result| {
            // The receiver may be gone: its caller stopped waiting.
            let _ = tx.send(result);
        });
        self.request(caller, request.into_op(), timeout, reply);
        Pending {
            rx,
            request: PhantomData,
        }
    }

    /// The task finished normally: the locks it holds pass to their next
    /// waiters, the pipe ends it opened close (their peers' `recv` sees
    /// `closed` once drained), and its own waiters are answered `timeout`.
    pub(crate) fn task_ended(&self, caller: Caller) {
        self.tasks_ended(caller.job, caller.worker, &[caller.task]);
    }

    /// As [`Hub::task_ended`] for the tasks `tasks` of worker `worker` in
    /// `job`, which ended in this order: the end of a batch, under one
    /// hold of the hub's lock.
    pub(crate) fn tasks_ended(&self, job: JobId, worker: u32, tasks: &[u64]) {
        let callers = tasks.iter().map(|&task| Caller { job, worker, task });
        let owner = match &self.0 {
            Serving::Here(owner) => owner,
            Serving::Elsewhere(remote) => return callers.for_each(|c| remote.task_ended(c)),
        };
        let mut out = Outbox::default();
        {
            let mut state = owner.0.lock();
            // Most jobs open nothing: their batch's end costs one look.
            if !state.tracks_tasks(job) {
                return;
            }
            for caller in callers {
                state.forget(job, Gone::Task(caller), &mut out);
            }
        }
        out.deliver();
    }

    /// A worker process died: as [`Hub::task_ended`] for each of its tasks
    /// in `job`, except that the waiters of a lock it held get `abandoned`
    /// (the lock is left free), and so do the others at a barrier where one
    /// of its tasks waited. Its own waiters are answered `abandoned`.
    pub(crate) fn worker_died(&self, job: JobId, worker: u32) {
        let owner = match &self.0 {
            Serving::Here(owner) => owner,
            Serving::Elsewhere(remote) => return remote.worker_died(job, worker),
        };
        let mut out = Outbox::default();
        owner
            .0
            .lock()
            .forget(job, Gone::Worker(job, worker), &mut out);
        out.deliver();
    }

    /// The shared memory of `job`, for its workers to map: `None` where
    /// the job's objects live in another process (their workers send every
    /// operation), or if it cannot be made (the job's `open`s then fail
    /// with the reason).
    pub(crate) fn shared_memory(&self, job: JobId) -> Option<Arc<Arena>> {
        let Serving::Here(owner) = &self.0 else {
            return None;
        };
        let core = &owner.0;
        let mut state = core.lock();
        state
            .job(job, &core.limits)
            .ok()
            .map(|objects| objects.arena.clone())
    }

    /// Forgets every object of `job`; their waiters are answered `closed`.
    /// A remote hub's objects are its process's to forget.
    pub(crate) fn drop_job(&self, job: JobId) {
        let Serving::Here(owner) = &self.0 else {
            return;
        };
        let mut out = Outbox::default();
        {
            let mut state = owner.0.lock();
            if let Some(objects) = state.jobs.remove(&job) {
                objects.abort(&mut out);
            }
            state.settle(None, None, &mut out);
        }
        out.deliver();
    }
}

/// The answer to a request of type `R`, once the hub gives it.
pub(crate) struct Pending<R> {
    rx: Receiver<Result<Answer, ObjectError>>,
    request: PhantomData<fn() -> R>,
}

impl<R: Request> Pending<R> {
    /// Waits for the answer.
    pub(crate) fn wait(&self) -> Result<R::Answer, ObjectError> {
        // The hub calls every reply exactly once, even at its shutdown.
        let reply = self.rx.recv().unwrap_or(Err(ObjectError::Closed));
        decode::<R>(reply)
    }

    /// The answer, if the hub has given it.
    #[cfg(test)]
    pub(crate) fn try_wait(&self) -> Option<Result<R::Answer, ObjectError>> {
        self.rx.try_recv().ok().map(decode::<R>)
    }
}

/// The typed answer to `R`. The hub answers every waiter through
/// [`Outbox::answer`] with its own request's type, so another kind of answer
/// is a broken invariant of the hub itself.
fn decode<R: Request>(reply: Result<Answer, ObjectError>) -> Result<R::Answer, ObjectError> {
    typed_answer::<R>(reply)
        .unwrap_or_else(|answer| panic!("the hub answered {answer:?} out of turn"))
}
