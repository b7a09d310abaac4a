//! Everything behind the hub's lock: every job's objects, the parked
//! waiters and their deadlines; and how an operation is served.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Instant;

use super::caller::{Caller, Gone, JobId};
use super::limits::HubLimits;
use super::objects::{JobObjects, Object, message_len, shape};
use super::waiters::{Deadlines, Flow, Outbox, Waiter, WaiterId};
use crate::protocol::{ObjectError, Op, Open};

/// Everything behind the hub's lock.
#[derive(Default)]
pub(super) struct State {
    pub jobs: HashMap<JobId, JobObjects>,
    /// Handles and waiter ids both come from here.
    next_id: u64,
    /// Each parked waiter, with the job and object it waits on.
    parked: HashMap<WaiterId, (JobId, u64)>,
    pub deadlines: Deadlines,
    /// Set when the last [`Hub`](super::Hub) drops: the timer thread ends.
    pub shutdown: bool,
}

impl State {
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Serves `op`; returns the object the waiter parked on, if it did.
    pub fn serve(
        &mut self,
        limits: &HubLimits,
        op: Op,
        waiter: Waiter,
        out: &mut Outbox,
    ) -> Option<u64> {
        let caller = waiter.caller;
        let parked = self.apply(limits, op, waiter, out);
        // The host's threads never end as tasks do: nothing to note.
        if caller.worker != Caller::HOST
            && let Some(job) = self.jobs.get_mut(&caller.job)
        {
            job.active.insert(caller);
        }
        parked
    }

    fn apply(
        &mut self,
        limits: &HubLimits,
        op: Op,
        waiter: Waiter,
        out: &mut Outbox,
    ) -> Option<u64> {
        if message_len(&op) > limits.max_message {
            out.fail(waiter, ObjectError::TooLarge(limits.max_message as u64));
            return None;
        }
        let job = waiter.caller.job;
        let handle = match op {
            Op::Open(open) => {
                let result = self.open(limits, waiter.caller, open);
                out.opened(waiter, result);
                return None;
            }
            ref op => op.handle().expect("only an open names no object"),
        };
        let Some((id, object, budget)) = self.jobs.get_mut(&job).and_then(|j| j.resolve(handle))
        else {
            let error = format!("handle {handle} names no object of this job");
            out.fail(waiter, ObjectError::Denied(error));
            return None;
        };
        match object.apply(op, waiter, budget, out) {
            Flow::Parked => Some(id),
            Flow::Done => None,
        }
    }

    /// Finds or creates the object `name` of the caller's job.
    fn open(&mut self, limits: &HubLimits, caller: Caller, open: Open) -> Result<u64, ObjectError> {
        let name = open.name();
        if name.len() > limits.max_name {
            return Err(ObjectError::Denied(format!(
                "a name is at most {} bytes long",
                limits.max_name
            )));
        }
        let names = self.jobs.get(&caller.job).map(|j| &j.names);
        let wanted = shape(&open, names.unwrap_or(&HashMap::new()))?;
        let pipe_end = match &open {
            Open::Pipe(pipe) => Some(pipe.end),
            _ => None,
        };
        let id = match self.jobs.get(&caller.job).and_then(|j| j.names.get(name)) {
            Some(&(id, shape)) if shape == wanted => id,
            Some((_, shape)) => {
                let names = names.expect("the name is the job's");
                return Err(ObjectError::Denied(format!(
                    "{name:?} is {}, not {}",
                    shape.describe(names),
                    wanted.describe(names)
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
                let name = name.to_string();
                let job = self.job(caller.job, limits)?;
                let object = Object::create(open, wanted, limits, job.next_cell())?;
                // Objects live as long as their job: so does this charge.
                job.budget().resize(0, object.held_bytes())?;
                let id = self.new_id();
                let job = self.jobs.get_mut(&caller.job).expect("just made");
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

    /// The objects of `job`, made (with its shared memory) if it has none.
    pub fn job(&mut self, job: JobId, limits: &HubLimits) -> Result<&mut JobObjects, ObjectError> {
        Ok(match self.jobs.entry(job) {
            Entry::Occupied(objects) => objects.into_mut(),
            Entry::Vacant(entry) => entry.insert(JobObjects::new(limits)?),
        })
    }

    /// Forgets the waiters `out` answered, then records `waiter` as parked
    /// on `object`, answering `timeout` at once if `deadline` has passed.
    /// Returns whether the timer must wake up sooner.
    pub fn settle(
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

    /// Answers waiter `id` if it still waits: its deadline passed.
    pub fn expire(&mut self, id: WaiterId, out: &mut Outbox) {
        let Some((job, object)) = self.parked.remove(&id) else {
            return;
        };
        if let Some(object) = self
            .jobs
            .get_mut(&job)
            .and_then(|j| j.objects.get_mut(&object))
        {
            object.expire(id, out);
        }
        // Already forgotten above.
        out.take_settled();
    }

    /// Whether `job` has objects, or tasks that used one: only then has a
    /// task's end anything to let go.
    pub fn tracks_tasks(&self, job: JobId) -> bool {
        self.jobs.get(&job).is_some_and(|j| j.tracks_tasks())
    }

    /// Lets every object of `job` forget the tasks that are `gone`, if any
    /// of them sent the hub an operation. A dead worker's locks are let go
    /// of in any case: its tasks may have taken them in their cells without
    /// a word to the hub since (a task that ends lets go of those itself).
    pub fn forget(&mut self, job: JobId, gone: Gone, out: &mut Outbox) {
        // A job whose tasks opened nothing, as most do, has nothing to let go.
        let Some(objects) = self.jobs.get_mut(&job).filter(|j| j.tracks_tasks()) else {
            return;
        };
        let used = match gone {
            Gone::Task(caller) => objects.active.remove(&caller),
            Gone::Worker(..) => {
                let before = objects.active.len();
                objects.active.retain(|caller| !gone.covers(caller));
                objects.active.len() < before
            }
        };
        if !used && !gone.died() {
            return;
        }
        for object in objects.objects.values_mut() {
            match object {
                _ if used => object.forget(gone, out),
                Object::Lock(lock) => lock.release_held_by(gone, out),
                _ => {}
            }
        }
        self.settle(None, None, out);
    }
}
