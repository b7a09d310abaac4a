//! The hub: the host-process side of the `wpool:task` WIT's shared objects.
//! It owns every queue, pipe, value, array, lock, dict, event, semaphore and
//! barrier of every job, and serves the operations that tasks (through their
//! worker's connection) and the host itself send it. [`Hub::request`] never
//! blocks: an operation that must wait parks its reply, which is called when
//! the operation completes or its timeout passes.
//!
//! One mutex guards every object: an operation touches one object under it
//! (`task_ended` and `worker_died` every object of the job), and the replies
//! it settles are called after it is released. A timer thread
//! answers `timeout` to waiters whose deadline passes.
//!
//! # Layout
//! - `waiters`: parked requests, the replies an operation settles, deadlines.
//! - `budget`: the bytes a job's queues, pipes and dicts hold.
//! - `route`: what an `open` asks for and must agree on, and where an
//!   operation goes.
//! - `objects`: a job's objects, and the dispatch of an operation to one.
//! - `queue`, `pipe`, `shared` (value, array, lock, dict), `sync` (event,
//!   semaphore, barrier): one file per WIT interface, each object's rules.
//! - `handles`: the host participant's blocking handles, [`Queue`] and the
//!   others.

mod budget;
mod handles;
mod objects;
mod pipe;
mod queue;
mod route;
mod shared;
mod sync;
mod waiters;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

pub use handles::{
    Barrier, Connection, Dict, Event, Lock, Queue, Semaphore, SharedArray, SharedValue,
};

use crate::protocol::{Answer, End, FromAnswer, ObjectError, Op, Scalar};
use objects::{Gone, JobObjects, Object};
use route::{Route, Spec};
use waiters::{Deadlines, Flow, Outbox, Waiter, WaiterId};

/// Names one run of a task over its inputs; every object belongs to one job.
pub(crate) type JobId = u64;

/// Who sends an operation: a task of a job, run by a worker.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Caller {
    pub job: JobId,
    /// [`Caller::HOST`] for the host process itself.
    pub worker: u32,
    /// The task's index in its job; for the host, one number per thread.
    pub task: u64,
}

impl Caller {
    /// The worker id of the host process.
    pub(crate) const HOST: u32 = u32::MAX;
}

/// Where an operation's answer goes. Called exactly once, with none of the
/// hub's locks held, on the thread of the request or of whatever completed
/// it (another request, the timer thread, a drop): it should only hand the
/// answer on, say to a channel, and may call the hub again.
pub(crate) type Reply = Box<dyn FnOnce(Result<Answer, ObjectError>) + Send>;

/// What the hub lets one job hold.
#[derive(Clone, Debug)]
pub(crate) struct HubLimits {
    /// The largest queue item, pipe message, dict entry (key and value) or
    /// bytes scalar; a larger one gets `too-large`.
    pub max_message: usize,
    /// How many objects (of any kind) a job may open.
    pub max_objects_per_job: usize,
    /// The longest name, in bytes.
    pub max_name: usize,
    /// The most items one queue of capacity 0, one pipe inbox or one dict
    /// holds, and the longest array.
    pub max_queued_items: usize,
    /// The most bytes a job's queues, pipes and dicts hold together
    /// (waiting puts and sends included); beyond, a store gets `denied`.
    pub max_job_bytes: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        HubLimits {
            max_message: 1 << 20,
            max_objects_per_job: 1024,
            max_name: 256,
            max_queued_items: 65536,
            max_job_bytes: 256 << 20,
        }
    }
}

/// Everything behind the hub's lock.
#[derive(Default)]
struct State {
    jobs: HashMap<JobId, JobObjects>,
    /// Handles and waiter ids both come from here.
    next_id: u64,
    /// Each parked waiter, with the job and object it waits on.
    parked: HashMap<WaiterId, (JobId, u64)>,
    deadlines: Deadlines,
    /// Set when the last [`Hub`] drops: the timer thread ends.
    shutdown: bool,
}

impl State {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Serves `op`; returns the object the waiter parked on, if it did.
    fn serve(
        &mut self,
        limits: &HubLimits,
        op: Op,
        waiter: Waiter,
        out: &mut Outbox,
    ) -> Option<u64> {
        if op.message_len() > limits.max_message {
            out.answer(
                waiter,
                Err(ObjectError::TooLarge(limits.max_message as u64)),
            );
            return None;
        }
        let job = waiter.caller.job;
        match op.route() {
            Route::Open(name, spec) => {
                let result = self.open(limits, waiter.caller, name, spec);
                out.answer(waiter, result.map(Answer::Handle));
                None
            }
            Route::On(handle, op) => {
                let Some((id, object, budget)) =
                    self.jobs.get_mut(&job).and_then(|j| j.resolve(handle))
                else {
                    let error = format!("handle {handle} names no object of this job");
                    out.answer(waiter, Err(ObjectError::Denied(error)));
                    return None;
                };
                match object.apply(op, waiter, budget, out) {
                    Flow::Parked => Some(id),
                    Flow::Done => None,
                }
            }
        }
    }

    /// Finds or creates the object `name` of the caller's job.
    fn open(
        &mut self,
        limits: &HubLimits,
        caller: Caller,
        name: String,
        spec: Spec,
    ) -> Result<u64, ObjectError> {
        if name.len() > limits.max_name {
            return Err(ObjectError::Denied(format!(
                "a name is at most {} bytes long",
                limits.max_name
            )));
        }
        let wanted = spec.shape();
        let pipe_end = match spec {
            Spec::Pipe(end) => Some(end),
            _ => None,
        };
        let id = match self.jobs.get(&caller.job).and_then(|j| j.names.get(&name)) {
            Some(&(id, shape)) if shape == wanted => id,
            Some((_, shape)) => {
                return Err(ObjectError::Denied(format!(
                    "{name:?} is a {shape}, not a {wanted}"
                )));
            }
            None => {
                let count = self.jobs.get(&caller.job).map_or(0, |j| j.objects.len());
                if count >= limits.max_objects_per_job {
                    return Err(ObjectError::Denied(format!(
                        "a job may open at most {} objects",
                        limits.max_objects_per_job
                    )));
                }
                let object = Object::create(spec, limits)?;
                let id = self.new_id();
                let job = self
                    .jobs
                    .entry(caller.job)
                    .or_insert_with(|| JobObjects::new(limits));
                job.names.insert(name, (id, wanted));
                job.objects.insert(id, object);
                id
            }
        };
        let Some(end) = pipe_end else {
            return Ok(id);
        };
        let connection = self.new_id();
        let job = self
            .jobs
            .get_mut(&caller.job)
            .expect("the pipe's job exists");
        let Some(Object::Pipe(pipe)) = job.objects.get_mut(&id) else {
            unreachable!("a pipe's shape names a pipe");
        };
        if let Some(replaced) = pipe.open(end, connection, caller)? {
            job.connections.remove(&replaced);
        }
        job.connections.insert(connection, id);
        Ok(connection)
    }

    /// Forgets the waiters `out` answered, then records `waiter` as parked
    /// on `object`, answering `timeout` at once if `deadline` has passed.
    /// Returns whether the timer must wake up sooner.
    fn settle(
        &mut self,
        parked: Option<(WaiterId, JobId, u64)>,
        deadline: Option<Instant>,
        out: &mut Outbox,
    ) -> bool {
        for id in out.take_settled() {
            self.parked.remove(&id);
        }
        let Some((id, job, object)) = parked else {
            return false;
        };
        self.parked.insert(id, (job, object));
        let Some(at) = deadline else {
            return false;
        };
        if at <= Instant::now() {
            self.expire(id, out);
            return false;
        }
        let parked = &self.parked;
        self.deadlines
            .push(at, id, parked.len(), |id| parked.contains_key(&id))
    }

    /// Answers `timeout` to waiter `id` if it still waits.
    fn expire(&mut self, id: WaiterId, out: &mut Outbox) {
        let Some((job, object)) = self.parked.remove(&id) else {
            return;
        };
        let object = self
            .jobs
            .get_mut(&job)
            .and_then(|j| j.objects.get_mut(&object));
        for waiter in object
            .into_iter()
            .flat_map(|o| o.take_waiters(&mut |w| w.id == id))
        {
            out.answer(waiter, Err(ObjectError::Timeout));
        }
        // Already forgotten above.
        out.take_settled();
    }

    /// Lets every object of `job` forget the tasks that are `gone`.
    fn forget(&mut self, job: JobId, gone: Gone, out: &mut Outbox) {
        if let Some(objects) = self.jobs.get_mut(&job) {
            for object in objects.objects.values_mut() {
                object.forget(gone, out);
            }
        }
        self.settle(None, None, out);
    }
}

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
pub(crate) struct Hub(Arc<Owner>);

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
        Hub(Arc::new(Owner(core)))
    }

    fn core(&self) -> &Core {
        &self.0.0
    }

    /// Serves `op` for `caller`. Never blocks: `reply` is called exactly
    /// once, at once or later from another thread (when the operation can
    /// complete, or with `timeout` once `timeout` has passed; `None` waits
    /// as long as needed).
    pub(crate) fn request(&self, caller: Caller, op: Op, timeout: Option<Duration>, reply: Reply) {
        let core = self.core();
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

    fn forget(&self, job: JobId, gone: Gone) {
        let mut out = Outbox::default();
        self.core().lock().forget(job, gone, &mut out);
        out.deliver();
    }

    /// The task finished normally: the locks it holds pass to their next
    /// waiters, the pipe ends it opened close (their peers' `recv` sees
    /// `closed` once drained), and its own waiters are answered `timeout`.
    pub(crate) fn task_ended(&self, caller: Caller) {
        self.forget(caller.job, Gone::Task(caller));
    }

    /// A worker process died: as [`Hub::task_ended`] for each of its tasks
    /// in `job`, except that the waiters of a lock it held get `abandoned`
    /// (the lock is left free), and so do the others at a barrier where one
    /// of its tasks waited. Its own waiters are answered `abandoned`.
    pub(crate) fn worker_died(&self, job: JobId, worker: u32) {
        self.forget(job, Gone::Worker(job, worker));
    }

    /// Forgets every object of `job`; their waiters are answered `closed`.
    pub(crate) fn drop_job(&self, job: JobId) {
        let mut out = Outbox::default();
        {
            let mut state = self.core().lock();
            if let Some(objects) = state.jobs.remove(&job) {
                objects.abort(&mut out);
            }
            state.settle(None, None, &mut out);
        }
        out.deliver();
    }
}
