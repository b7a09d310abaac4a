//! A run's worker slots: each holds one worker process at a time, with the
//! batches it was sent and the deadline it must meet. A worker that dies,
//! misses its deadline, cannot be written to, or answers with results that
//! are not its batch's is killed, and a new process of the next generation
//! takes its slot, until too many die in a row. Every worker loads the
//! run's task compiled (see `compile`): a component is compiled once.
//!
//! A worker hosts several tasks, each loaded the first time a batch of it
//! is sent there, at most [`HOSTED`] at once, the least recently used
//! unloaded first. A run of a pool takes the pool's idle workers first,
//! whatever they host, and hands back those it leaves idle (ready, or
//! still starting) when it ends; a run that lends (`apply_async`'s) also
//! hands them all back whenever it has nothing to run, and fills its
//! slots again when it has. A worker's data limit is fixed when its
//! lockdown is sealed, sized for its first task's values, and its engine
//! has concurrency support only if its first task needs it (component-model
//! async): one that cannot hold a later task's values, or run its
//! component, says so and exits, and a fresh worker for that task takes
//! its slot, its batches coming back unstarted.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::compile::{MAX_DEATHS_IN_A_ROW, Prepared, prepare};
use super::process::{EventKind, OutputSink, Place, WorkerEvent, WorkerProcess};
use super::warm::{Idle, Warm};
use crate::pool::error::Error;
use crate::pool::job::Job;
use crate::pool::task::Task;
use crate::protocol::engine::TICK;
use crate::protocol::{Calls, Code, Setup, ToWorker, encoding};

/// Tasks one worker hosts at most. Each holds its compiled code in the
/// worker: a Python task's is about 35 MB, so eight keep a worker within a
/// few hundred MB, and a pool rarely cycles through more tasks at once.
pub(super) const HOSTED: usize = 8;

/// Batches in flight per worker once its tasks are known to be short: one
/// running, one waiting in its pipe, so a worker never idles while the
/// host prepares its next batch. Until then, and for long tasks, a worker
/// gets one batch at a time (of one task, until task cost is known), so
/// that long tasks spread over every worker instead of queueing behind the
/// first one.
pub(super) const IN_FLIGHT: usize = 2;
/// Tasks that take this long or longer, on average, get no batch queued
/// behind the running one: the host's turn-around between two batches
/// (well under a millisecond) is nothing beside them, and a run stopped
/// (a Ctrl-C) then waits only for the tasks running, not for one queued
/// behind each.
pub(super) const QUEUED_BELOW: Duration = Duration::from_millis(20);
/// How long past its tasks' deadlines a batch may go unanswered before the
/// host takes its worker for hung and kills it. Deadlines inside wasm are
/// enforced by the worker itself; this catches a worker stuck outside wasm.
const GRACE: Duration = Duration::from_secs(2);

/// One worker process and what the host expects of it.
struct Slot {
    process: WorkerProcess,
    /// The process's id in the pool, as its tasks read it.
    worker_id: u32,
    /// New each time a slot gets a process (see [`Slots::generations`]):
    /// events of an earlier process, still in the channel, are told apart
    /// and ignored.
    generation: u64,
    /// Set by its `Ready` event; cleared when the host kills it.
    ready: bool,
    /// The indexes of each batch sent, oldest first. The worker answers
    /// them in order, so the oldest is the one running.
    batches: VecDeque<Vec<u64>>,
    /// When the worker must be ready by, and then when the oldest batch must
    /// be answered by, if one is in flight. Reset by each answer.
    deadline: Option<Instant>,
    /// Why the host killed this worker, if it did: from then on its events
    /// are ignored until its `Exited`.
    killed: Option<String>,
    /// The tasks the worker hosts, by id, the most recently used last.
    hosted: Vec<(u32, Task)>,
    /// The task the worker said it cannot host ([`Slots::unfit`]): its
    /// batches never started, and its replacement starts with that task.
    unfit: Option<Task>,
}

/// The tasks of a worker that died, as [`Slots::reap`] hands them back.
pub(super) struct Lost {
    /// The oldest batch's tasks: they were running, and cost an attempt.
    pub ran: Vec<u64>,
    /// The later batches' tasks: they never started.
    pub waiting: Vec<u64>,
    /// How the worker ended.
    pub reason: String,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Its id.
    pub worker: u32,
}

pub(super) struct Slots {
    /// Whose settings the workers get, and whose hub serves them.
    job: Arc<Job>,
    /// The run's task, compiled: a new worker's first.
    task: Task,
    prepared: Prepared,
    /// Indexed by slot number, which each worker's events carry.
    slots: Vec<Slot>,
    /// Handed to each worker's reader thread. The slots hold one, so the
    /// channel never closes while the run may wait on it.
    events: Sender<WorkerEvent>,
    /// Deaths since the last batch answered; reset by each answer.
    deaths_in_a_row: u32,
    /// Set when the run is terminated: workers are not replaced any more.
    terminated: bool,
    /// Where the workers' tasks' output streams, if it does.
    output: Option<OutputSink>,
    /// Set to the process id of each worker started in slot 0.
    pid: Option<Arc<AtomicU32>>,
    /// How many workers the run has.
    workers: usize,
    /// The pool's idle workers and its tasks' ids and code: where the run
    /// takes its first workers from, and hands back those it leaves idle.
    warm: Option<Arc<Warm>>,
    /// The generations handed out so far: every process a slot gets, new or
    /// taken from the pool, has a generation of its own in the run.
    generations: u64,
}

impl Slots {
    /// Prepares the task (see `compile`), takes up to `workers` of the
    /// pool's idle workers and starts the others; their events come on the
    /// receiver.
    pub(super) fn start(
        job: &Arc<Job>,
        task: &Task,
        workers: usize,
        output: Option<OutputSink>,
        pid: Option<Arc<AtomicU32>>,
        warm: Option<Arc<Warm>>,
    ) -> Result<(Slots, Receiver<WorkerEvent>), Error> {
        let prepared = prepare(job, task, warm.as_deref())?;
        let (events, receiver) = crossbeam_channel::unbounded();
        let mut slots = Slots {
            job: job.clone(),
            task: task.clone(),
            prepared,
            slots: Vec::with_capacity(workers),
            events,
            deaths_in_a_row: 0,
            terminated: false,
            output,
            pid,
            workers,
            warm,
            generations: 0,
        };
        slots.fill()?;
        Ok((slots, receiver))
    }

    /// Fills the slots, which are empty (the run starts, or lent its
    /// workers): the pool's idle workers first, then new ones.
    pub(super) fn fill(&mut self) -> Result<(), Error> {
        let taken = match &self.warm {
            Some(warm) => warm.take(self.prepared.id, self.workers),
            None => Vec::new(),
        };
        for Idle { process, hosted } in taken {
            let slot = self.slots.len();
            let generation = self.next_generation();
            // One that died while idle is dropped, which reaps it. One still
            // starting gets the time a new one gets.
            if let Some(ready) = process.reroute(slot, generation, self.events.clone()) {
                let deadline = Instant::now() + self.job.settings.compile_timeout;
                self.slots.push(Slot {
                    worker_id: process.worker_id(),
                    process,
                    generation,
                    ready,
                    batches: VecDeque::new(),
                    deadline: (!ready).then_some(deadline),
                    killed: None,
                    hosted,
                    unfit: None,
                });
            }
        }
        for slot in self.slots.len()..self.workers {
            let task = self.task.clone();
            let started = self.spawn(slot, &task)?;
            self.slots.push(started);
        }
        Ok(())
    }

    /// Whether the run has no worker: it lent them all (see
    /// [`Slots::lend`]).
    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn next_generation(&mut self) -> u64 {
        self.generations += 1;
        self.generations
    }

    /// `task`, compiled, with the id its workers know it by.
    fn prepared(&self, task: &Task) -> Result<Prepared, Error> {
        match task.same_function(&self.task) {
            true => Ok(self.prepared.clone()),
            false => prepare(&self.job, task, self.warm.as_deref()),
        }
    }

    /// Starts a worker for `slot` whose first task is `first`.
    fn spawn(&mut self, slot: usize, first: &Task) -> Result<Slot, Error> {
        let Prepared { id, compiled } = self.prepared(first)?;
        let generation = self.next_generation();
        let settings = &self.job.settings;
        let setup = Setup {
            worker_id: self.job.next_worker_id(),
            limits: settings.limits.clone(),
            reuse: settings.reuse,
            compile_memory: settings.compile_memory,
            stream_output: self.output.is_some(),
            export: first.worker_export(id),
            code: Code::Compiled(compiled.len()),
            // `WorkerProcess::spawn` names the job's shared memory.
            shared_cells: None,
        };
        let program = &settings.worker_program;
        let place = Place {
            job: self.job.id,
            worker_id: setup.worker_id,
            slot,
            generation,
        };
        let process = WorkerProcess::spawn(
            program,
            &setup,
            Some(&compiled),
            place,
            self.job.hub.clone(),
            self.events.clone(),
            self.output.clone(),
        )
        .map_err(|source| Error::SpawnWorker {
            program: program.clone(),
            source,
        })?;
        if let (0, Some(pid)) = (slot, &self.pid) {
            pid.store(process.id(), Ordering::Relaxed);
        }
        Ok(Slot {
            process,
            worker_id: setup.worker_id,
            generation,
            ready: false,
            batches: VecDeque::new(),
            deadline: Some(Instant::now() + settings.compile_timeout),
            killed: None,
            hosted: vec![(id, first.clone())],
            unfit: None,
        })
    }

    /// Whether `event` comes from the process now in its slot, alive as far
    /// as the host knows, or is its `Exited`, or its `Unfit`: a worker that
    /// says it cannot host a task exits at once, so the host may fail to
    /// write it the task's batch and kill it before it hears why; its
    /// batches still never started.
    pub(super) fn is_current(&self, event: &WorkerEvent) -> bool {
        self.slots.get(event.slot).is_some_and(|s| {
            s.generation == event.generation
                && (s.killed.is_none()
                    || matches!(event.kind, EventKind::Exited | EventKind::Unfit(_)))
        })
    }

    /// The id of the worker now in `slot`.
    pub(super) fn worker_id(&self, slot: usize) -> u32 {
        self.slots[slot].worker_id
    }

    pub(super) fn any_ready(&self) -> bool {
        self.slots.iter().any(|s| s.ready)
    }

    /// The ready slot with the fewest batches, if it has fewer than
    /// `in_flight`.
    pub(super) fn with_room(&self, in_flight: usize) -> Option<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].ready && self.slots[i].batches.len() < in_flight)
            .min_by_key(|&i| self.slots[i].batches.len())
    }

    /// The earliest deadline of any slot.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.slots.iter().filter_map(|slot| slot.deadline).min()
    }

    /// Kills the workers whose deadline has passed. One that did not get
    /// ready in time stops the run: the component takes too long to compile.
    pub(super) fn expire(&mut self, now: Instant) -> Result<(), Error> {
        let mut result = Ok(());
        for slot in 0..self.slots.len() {
            if self.slots[slot].deadline.is_none_or(|d| d > now) {
                continue;
            }
            if self.slots[slot].ready {
                self.kill(slot, "stopped answering and was killed".into());
            } else {
                self.kill(slot, "did not compile in time".into());
                result = Err(Error::CompileTimeout {
                    name: self.task.component().name().to_string(),
                    timeout: self.job.settings.compile_timeout,
                });
            }
        }
        result
    }

    /// Kills the worker in `slot` for `why`; its `Exited` event follows, and
    /// the host ignores anything else it still sent.
    fn kill(&mut self, slot: usize, why: String) {
        let target = &mut self.slots[slot];
        target.ready = false;
        target.deadline = None;
        target.killed = Some(why);
        target.process.kill();
    }

    /// When a batch of `len` tasks starting now must be answered by.
    fn batch_deadline(&self, len: usize) -> Instant {
        Instant::now() + (self.job.settings.limits.timeout + TICK) * len as u32 + GRACE
    }

    /// Sends the batch of tasks `indexes`, inputs of `task`, to the worker
    /// in `slot`, loading the task there first if the worker does not host
    /// it. A worker that cannot be written to is killed: the batch counts
    /// as sent, and comes back from [`Slots::reap`] with the others when
    /// its `Exited` comes.
    ///
    /// # Errors
    /// When `task` cannot be compiled (the pool had forgotten its code).
    pub(super) fn send(
        &mut self,
        slot: usize,
        task: &Task,
        indexes: Vec<u64>,
        mut calls: Calls,
    ) -> Result<(), Error> {
        let deadline = self.batch_deadline(indexes.len());
        let Prepared { id, compiled } = self.prepared(task)?;
        let target = &mut self.slots[slot];
        let mut sent = Ok(());
        match target.hosted.iter().position(|(hosted, _)| *hosted == id) {
            Some(i) => {
                target.hosted.remove(i);
            }
            None => {
                if target.hosted.len() >= HOSTED {
                    let (oldest, _) = target.hosted.remove(0);
                    sent = target.process.send(&ToWorker::Unload(oldest));
                }
                let export = task.worker_export(id);
                sent = sent.and_then(|()| target.process.load(export, &compiled));
            }
        }
        target.hosted.push((id, task.clone()));
        calls.task = id;
        sent = sent.and_then(|()| target.process.send(&ToWorker::Batch(calls)));
        target.deadline.get_or_insert(deadline);
        target.batches.push_back(indexes);
        if let Err(e) = sent {
            self.kill(
                slot,
                format!("could not be sent a batch ({e}) and was killed"),
            );
        }
        Ok(())
    }

    /// The worker in `slot` is ready for tasks.
    pub(super) fn ready(&mut self, slot: usize) {
        self.slots[slot].ready = true;
        self.slots[slot].deadline = None;
    }

    /// The worker in `slot` cannot host its task `id` (its values need
    /// more memory than its lockdown allows, or its component another
    /// engine), and exits: its batches never
    /// started. Its replacement starts with that task.
    pub(super) fn unfit(&mut self, slot: usize, id: u32) {
        let task = self.hosted(slot, id).unwrap_or_else(|| self.task.clone());
        let target = &mut self.slots[slot];
        target.ready = false;
        target.deadline = None;
        target.unfit = Some(task);
    }

    /// The worker in `slot` answered for the tasks `got`. They must be the
    /// next of its oldest batch, one per task, in the batch's order (a batch
    /// of large results is answered in several parts): then the hub learns
    /// that those tasks ended, the batch is done once all of its tasks are,
    /// and this returns true. Anything else means the worker is broken: it
    /// is killed, and its batches come back from [`Slots::reap`].
    pub(super) fn answered(&mut self, slot: usize, got: &[u64]) -> bool {
        let target = &mut self.slots[slot];
        let expected = target.batches.front();
        if got.is_empty() || expected.is_none_or(|batch| !batch.starts_with(got)) {
            let why = format!(
                "answered for tasks {got:?} instead of its batch {:?} and was killed",
                expected.cloned().unwrap_or_default()
            );
            self.kill(slot, why);
            return false;
        }
        target.process.tasks_ended(got);
        self.deaths_in_a_row = 0;
        let batch = target.batches.front_mut().expect("checked above");
        batch.drain(..got.len());
        if batch.is_empty() {
            target.batches.pop_front();
            let next_len = target.batches.front().map(Vec::len);
            self.slots[slot].deadline = next_len.map(|len| self.batch_deadline(len));
        }
        true
    }

    /// The worker in `slot` answered with a value that does not decode as
    /// the function's result: it is broken, and killed like one that
    /// answers out of turn.
    pub(super) fn undecodable(&mut self, slot: usize, error: encoding::Error) {
        self.kill(
            slot,
            format!("answered with a value that does not decode ({error}) and was killed"),
        );
    }

    /// The worker in `slot` ended (its stdout closed): reaps it and hands
    /// back its unfinished tasks. `None` after [`Slots::terminate`].
    pub(super) fn reap(&mut self, slot: usize) -> Option<Lost> {
        let old = &mut self.slots[slot];
        let (mut reason, signal) = old.process.reap();
        if self.terminated {
            return None;
        }
        if let Some(why) = old.killed.take() {
            reason = format!("worker {why} ({reason})");
        }
        old.ready = false;
        old.deadline = None;
        let mut batches = old.batches.drain(..);
        // A worker that could not host a task ran none of its batches.
        if old.unfit.is_some() {
            return Some(Lost {
                ran: Vec::new(),
                waiting: batches.flatten().collect(),
                reason,
                signal,
                worker: old.worker_id,
            });
        }
        // Only the oldest batch was running: the worker answers batches in
        // order, and the answers it sent came before its end. The batches
        // behind it never started.
        let ran = batches.next().unwrap_or_default();
        let waiting = batches.flatten().collect();
        self.deaths_in_a_row += 1;
        Some(Lost {
            ran,
            waiting,
            reason,
            signal,
            worker: old.worker_id,
        })
    }

    /// Starts a new worker in `slot`, after [`Slots::reap`], unless workers
    /// are dying in a loop: then the run stops. One that replaces a worker
    /// too small for a task starts with that task.
    pub(super) fn replace(&mut self, slot: usize, reason: &str) -> Result<(), Error> {
        let unfit = self.slots[slot].unfit.take();
        if unfit.is_none() && self.deaths_in_a_row >= MAX_DEATHS_IN_A_ROW {
            return Err(Error::CrashLoop {
                deaths: self.deaths_in_a_row,
                last: reason.to_string(),
            });
        }
        let first = unfit.unwrap_or_else(|| self.task.clone());
        self.slots[slot] = self.spawn(slot, &first)?;
        Ok(())
    }

    /// The task the worker in `slot` knows as `id`, if it hosts it.
    pub(super) fn hosted(&self, slot: usize, id: u32) -> Option<Task> {
        let hosted = &self.slots[slot].hosted;
        hosted
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, t)| t.clone())
    }

    /// Lends every worker to the pool while the run has nothing to run
    /// (it has none running): another run may take them, and
    /// [`Slots::fill`] takes the pool's idle ones again when the run has
    /// work. Nothing happens for a run that has no pool to lend to.
    pub(super) fn lend(&mut self) {
        if let Some(warm) = self.warm.clone() {
            self.give_back(&warm);
        }
    }

    /// Hands the workers that are idle (ready, or still starting) back to
    /// `warm`, for the pool's next run of any task; the others are killed
    /// as their slots drop.
    fn give_back(&mut self, warm: &Warm) {
        for slot in std::mem::take(&mut self.slots) {
            let idle = slot.batches.is_empty() && slot.killed.is_none();
            if idle && !slot.process.exited() {
                let idle = Idle {
                    process: slot.process,
                    hosted: slot.hosted,
                };
                warm.give_back(idle, self.workers);
            }
        }
    }

    /// Kills every worker for good: none is replaced any more.
    pub(super) fn terminate(&mut self) {
        self.terminated = true;
        self.warm = None;
        for slot in 0..self.slots.len() {
            self.slots[slot].batches.clear();
            self.kill(slot, "was terminated".into());
        }
    }
}

impl Drop for Slots {
    /// The run ended: its idle workers go back to the pool for good.
    fn drop(&mut self) {
        if let Some(warm) = self.warm.take() {
            self.give_back(&warm);
        }
    }
}
