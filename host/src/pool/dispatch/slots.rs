//! The worker slots of a dispatcher (see `scheduler`): each holds one
//! worker process at a time, with the batches it was sent and the deadline
//! it must meet. A worker that dies, misses its deadline, cannot be
//! written to, or answers with results that are not its batch's is killed,
//! and its batches go back to their runs.
//!
//! A worker hosts several tasks, each loaded the first time a batch of it
//! is sent there, at most [`HOSTED`] at once, the least recently used
//! unloaded first. The batches it holds at once are all of one run: a run's
//! task indexes are its own, and the hub tells the tasks of a worker apart
//! by their index. A worker's data limit is fixed when its lockdown is
//! sealed, sized for its first task's values, and its engine has
//! concurrency support only if its first task needs it (component-model
//! async): one that cannot hold a later task's values, or run its
//! component, says so and exits, and its batches come back unstarted, for
//! a fresh worker whose first task is theirs.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::compile::{MAX_DEATHS_IN_A_ROW, Prepared};
use super::process::{Ended, EventKind, OutputSink, Place, WorkerEvent, WorkerProcess};
use crate::pool::error::Error;
use crate::pool::job::Job;
use crate::pool::task::Task;
use crate::protocol::engine::TICK;
use crate::protocol::{CallResult, Calls, Code, Setup, ToWorker};

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

/// How a dispatcher's workers are started.
#[derive(Clone)]
pub(crate) struct Crew {
    /// How many at most.
    pub workers: usize,
    /// Where their tasks' output streams, live; `None` captures it.
    pub output: Option<OutputSink>,
    /// Kept up to date with the process id of the first slot's worker.
    pub pid: Option<Arc<AtomicU32>>,
    /// How long a worker may stay idle.
    pub idle_timeout: Option<Duration>,
}

/// Which run of a dispatcher a batch is of.
pub(super) type RunId = u64;

/// A batch a run hands its dispatcher: the tasks `indexes`, inputs of
/// `task`, their calls ready to send.
pub(super) struct Work {
    pub run: RunId,
    pub task: Task,
    pub prepared: Prepared,
    pub indexes: Vec<u64>,
    pub calls: Calls,
    /// How many batches of the run a worker may hold at once.
    pub in_flight: usize,
}

/// A batch sent to a worker.
struct Sent {
    run: RunId,
    task: Task,
    indexes: Vec<u64>,
}

/// One worker process and what the host expects of it.
struct Slot {
    process: WorkerProcess,
    /// The process's id in the pool, as its tasks read it.
    worker_id: u32,
    /// New each time a slot gets a process: events of an earlier process,
    /// still in the channel, are told apart and ignored.
    generation: u64,
    /// Set by its `Ready` event; cleared when the host kills it.
    ready: bool,
    /// The batches sent, oldest first. The worker answers them in order,
    /// so the oldest is the one running.
    batches: VecDeque<Sent>,
    /// When the worker must be ready by, and then when the oldest batch must
    /// be answered by, if one is in flight. Reset by each answer.
    deadline: Option<Instant>,
    /// Since when it has had no batch.
    idle_since: Instant,
    /// Why the host killed this worker, if it did: from then on its events
    /// are ignored until its `Exited`.
    killed: Option<String>,
    /// The tasks the worker hosts, by id, the most recently used last.
    hosted: Vec<u32>,
    /// Whether the worker said it cannot host a task: its batches never
    /// started.
    unfit: bool,
    /// The run the worker was started for: told if it cannot start.
    starter: RunId,
}

/// A run's tasks on a worker that died, as [`Slots::reap`] hands them back.
pub(super) struct Lost {
    pub run: RunId,
    /// The oldest batch's tasks: they were running, and cost an attempt.
    pub ran: Vec<u64>,
    /// The other tasks there: they never started.
    pub waiting: Vec<u64>,
    /// How many batches the worker held.
    pub batches: usize,
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
    /// Indexed by slot number, which each worker's events carry; `None`
    /// for a slot whose worker stopped and was not replaced yet.
    slots: Vec<Option<Slot>>,
    /// Handed to each worker's reader thread.
    events: Sender<WorkerEvent>,
    /// Deaths since the last batch answered; reset by each answer.
    deaths_in_a_row: u32,
    /// How the last worker that died ended.
    last_death: String,
    /// Set once a worker turned out to be another version of wpool: no
    /// other is started.
    other_version: bool,
    /// How the workers start, and how many at most.
    crew: Crew,
    /// The generations handed out so far.
    generations: u64,
}

impl Slots {
    pub(super) fn new(job: &Arc<Job>, crew: Crew, events: Sender<WorkerEvent>) -> Slots {
        Slots {
            job: job.clone(),
            slots: Vec::new(),
            events,
            deaths_in_a_row: 0,
            last_death: String::new(),
            other_version: false,
            crew,
            generations: 0,
        }
    }

    /// How long a worker may take to get ready.
    pub(super) fn compile_timeout(&self) -> Duration {
        self.job.settings.compile_timeout
    }

    /// How many more workers may start.
    pub(super) fn vacant(&self) -> usize {
        self.crew.workers - self.slots.iter().flatten().count()
    }

    pub(super) fn any_ready(&self) -> bool {
        self.slots.iter().flatten().any(|s| s.ready)
    }

    /// Starts a worker in a vacant slot, with `task` (`prepared`) its first,
    /// for run `starter`, unless workers are dying in a loop.
    ///
    /// # Errors
    /// [`Error::WorkerVersion`], [`Error::CrashLoop`], or
    /// [`Error::SpawnWorker`].
    pub(super) fn spawn(
        &mut self,
        task: &Task,
        prepared: &Prepared,
        starter: RunId,
    ) -> Result<(), Error> {
        if self.other_version {
            return Err(Error::other_version(&self.job.settings.worker_program));
        }
        if self.deaths_in_a_row >= MAX_DEATHS_IN_A_ROW {
            let deaths = std::mem::take(&mut self.deaths_in_a_row);
            return Err(Error::CrashLoop {
                deaths,
                last: self.last_death.clone(),
            });
        }
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.generations += 1;
        let generation = self.generations;
        let settings = &self.job.settings;
        let setup = Setup {
            worker_id: self.job.next_worker_id(),
            limits: settings.limits.clone(),
            reuse: settings.reuse,
            compile_memory: settings.compile_memory,
            stream_output: self.crew.output.is_some(),
            export: task.worker_export(prepared.id),
            code: Code::Compiled(prepared.compiled.len()),
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
            Some(&prepared.compiled),
            place,
            self.job.hub.clone(),
            self.events.clone(),
            self.crew.output.clone(),
        )
        .map_err(|source| Error::SpawnWorker {
            program: program.clone(),
            source,
        })?;
        if let (0, Some(pid)) = (slot, &self.crew.pid) {
            pid.store(process.id(), Ordering::Relaxed);
        }
        self.slots[slot] = Some(Slot {
            process,
            worker_id: setup.worker_id,
            generation,
            ready: false,
            batches: VecDeque::new(),
            deadline: Some(Instant::now() + settings.compile_timeout),
            idle_since: Instant::now(),
            killed: None,
            hosted: vec![prepared.id],
            unfit: false,
            starter,
        });
        Ok(())
    }

    fn slot(&mut self, slot: usize) -> &mut Slot {
        self.slots[slot]
            .as_mut()
            .expect("an event's slot is checked")
    }

    /// Whether `event` comes from the process now in its slot, alive as far
    /// as the host knows, or is its `Exited`, or its `Unfit`: a worker that
    /// says it cannot host a task exits at once, so the host may fail to
    /// write it the task's batch and kill it before it hears why; its
    /// batches still never started.
    pub(super) fn is_current(&self, event: &WorkerEvent) -> bool {
        self.slots
            .get(event.slot)
            .and_then(Option::as_ref)
            .is_some_and(|s| {
                s.generation == event.generation
                    && (s.killed.is_none()
                        || matches!(event.kind, EventKind::Exited | EventKind::Unfit))
            })
    }

    /// The ready worker to send `work` to, if one has room for it: no
    /// batch, or fewer than its `in_flight` and all of its run; the least
    /// busy first, then one that hosts its task.
    pub(super) fn room_for(&self, work: &Work) -> Option<usize> {
        let slots = self.slots.iter().enumerate();
        let fits = slots.filter_map(|(i, slot)| Some((i, slot.as_ref()?)));
        fits.filter(|(_, s)| {
            s.ready
                && s.batches.len() < work.in_flight
                && s.batches.iter().all(|sent| sent.run == work.run)
        })
        .min_by_key(|(_, s)| (s.batches.len(), !s.hosted.contains(&work.prepared.id)))
        .map(|(i, _)| i)
    }

    /// The earliest deadline of any worker: to be ready, to answer, or to
    /// stop for having been idle too long.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let idle_end = |s: &Slot| {
            let timeout = self.crew.idle_timeout?;
            (s.ready && s.batches.is_empty()).then(|| s.idle_since + timeout)
        };
        let slots = self.slots.iter().flatten();
        slots
            .filter_map(|s| s.deadline.or_else(|| idle_end(s)))
            .min()
    }

    /// Kills the workers whose deadline has passed, and stops those idle
    /// for longer than the idle timeout. A worker that did not get ready in
    /// time means its component takes too long to compile: the runs it
    /// started for are returned, to be stopped.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<RunId> {
        let mut late = Vec::new();
        for i in 0..self.slots.len() {
            let Some(slot) = &self.slots[i] else {
                continue;
            };
            let idle_end = self.crew.idle_timeout.map(|t| slot.idle_since + t);
            let idle = slot.ready && slot.batches.is_empty();
            if idle && idle_end.is_some_and(|end| end <= now) {
                self.slots[i] = None;
                continue;
            }
            if slot.deadline.is_none_or(|d| d > now) {
                continue;
            }
            if slot.ready {
                self.kill(i, "stopped answering and was killed".into());
            } else {
                late.push(slot.starter);
                self.kill(i, "did not compile in time".into());
            }
        }
        late
    }

    /// Kills the worker in `slot` for `why`; its `Exited` event follows, and
    /// the host ignores anything else it still sent.
    fn kill(&mut self, slot: usize, why: String) {
        let target = self.slot(slot);
        target.ready = false;
        target.deadline = None;
        target.killed = Some(why);
        target.process.kill();
    }

    /// When a batch of `len` tasks starting now must be answered by.
    fn batch_deadline(&self, len: usize) -> Instant {
        Instant::now() + (self.job.settings.limits.timeout + TICK) * len as u32 + GRACE
    }

    /// Sends `work` to the worker in `slot`, loading its task there first
    /// if the worker does not host it. A worker that cannot be written to
    /// is killed: the batch counts as sent, and comes back from
    /// [`Slots::reap`] with the others when its `Exited` comes.
    pub(super) fn send(&mut self, slot: usize, work: Work) {
        let deadline = self.batch_deadline(work.indexes.len());
        let Work {
            run,
            task,
            prepared: Prepared { id, compiled },
            indexes,
            mut calls,
            ..
        } = work;
        let target = self.slot(slot);
        let mut sent = Ok(());
        match target.hosted.iter().position(|hosted| *hosted == id) {
            Some(i) => {
                target.hosted.remove(i);
            }
            None => {
                if target.hosted.len() >= HOSTED {
                    let oldest = target.hosted.remove(0);
                    sent = target.process.send(&ToWorker::Unload(oldest));
                }
                let export = task.worker_export(id);
                sent = sent.and_then(|()| target.process.load(export, &compiled));
            }
        }
        target.hosted.push(id);
        calls.task = id;
        sent = sent.and_then(|()| target.process.send(&ToWorker::Batch(calls)));
        target.deadline.get_or_insert(deadline);
        target.batches.push_back(Sent { run, task, indexes });
        if let Err(e) = sent {
            self.kill(
                slot,
                format!("could not be sent a batch ({e}) and was killed"),
            );
        }
    }

    /// The worker in `slot` is ready for tasks.
    pub(super) fn ready(&mut self, slot: usize) {
        let target = self.slot(slot);
        target.ready = true;
        target.deadline = None;
        target.idle_since = Instant::now();
    }

    /// The worker in `slot` cannot host a task (its values need more
    /// memory than its lockdown allows, or its component another engine),
    /// and exits: its batches never started.
    pub(super) fn unfit(&mut self, slot: usize) {
        let target = self.slot(slot);
        target.ready = false;
        target.deadline = None;
        target.unfit = true;
    }

    /// The run the worker in `slot` was started for: told when the worker
    /// cannot start.
    pub(super) fn starter(&self, slot: usize) -> RunId {
        self.slots[slot].as_ref().map_or(0, |s| s.starter)
    }

    /// The run, task and worker id of the batch the worker in `slot`
    /// answered for with `results`, if they are the next tasks of its
    /// oldest batch, one per task, in the batch's order (a batch of large
    /// results is answered in several parts). Anything else means the
    /// worker is broken: it is killed, and its batches come back from
    /// [`Slots::reap`].
    pub(super) fn answering(
        &mut self,
        slot: usize,
        results: &[CallResult],
    ) -> Option<(RunId, Task, u32)> {
        let target = self.slot(slot);
        let expected = target.batches.front();
        let fits = expected.is_some_and(|batch| {
            !results.is_empty()
                && results.len() <= batch.indexes.len()
                && results
                    .iter()
                    .zip(&batch.indexes)
                    .all(|(got, want)| got.index == *want)
        });
        match (expected, fits) {
            (Some(batch), true) => Some((batch.run, batch.task.clone(), target.worker_id)),
            _ => {
                let got: Vec<u64> = results.iter().map(|r| r.index).collect();
                let why = format!(
                    "answered for tasks {got:?} instead of its batch {:?} and was killed",
                    expected
                        .map(|batch| batch.indexes.clone())
                        .unwrap_or_default()
                );
                self.kill(slot, why);
                None
            }
        }
    }

    /// The worker in `slot` answered for the next `answers` tasks of its
    /// oldest batch ([`Slots::answering`]), and their values decoded: the hub
    /// learns that those tasks ended. Returns whether the batch is done.
    pub(super) fn answered(&mut self, slot: usize, answers: usize) -> bool {
        self.deaths_in_a_row = 0;
        let target = self.slot(slot);
        let batch = target.batches.front_mut().expect("checked by `answering`");
        target.process.tasks_ended(&batch.indexes[..answers]);
        batch.indexes.drain(..answers);
        if !batch.indexes.is_empty() {
            return false;
        }
        target.batches.pop_front();
        target.idle_since = Instant::now();
        let next_len = target.batches.front().map(|b| b.indexes.len());
        let deadline = next_len.map(|len| self.batch_deadline(len));
        self.slot(slot).deadline = deadline;
        true
    }

    /// The worker in `slot` answered with a value that does not decode as
    /// its function's result: it is broken, and killed like one that
    /// answers out of turn.
    pub(super) fn undecodable(&mut self, slot: usize, why: &dyn std::fmt::Display) {
        self.kill(
            slot,
            format!("answered with a value that does not decode ({why}) and was killed"),
        );
    }

    /// The worker in `slot` ended (its stdout closed): reaps it and hands
    /// back its unfinished tasks, if it had any (all of one run: see
    /// [`Slots::room_for`]); its slot is vacant then.
    pub(super) fn reap(&mut self, slot: usize) -> Option<Lost> {
        let mut old = self.slots[slot].take()?;
        let (mut reason, signal) = match old.process.reap() {
            Ended::Died { reason, signal } => (reason, signal),
            Ended::OtherVersion => {
                self.other_version = true;
                ("worker is another version of wpool".to_owned(), None)
            }
        };
        if let Some(why) = old.killed.take() {
            reason = format!("worker {why} ({reason})");
        }
        // One that could not host a task did not crash.
        if !old.unfit {
            self.deaths_in_a_row += 1;
            self.last_death.clone_from(&reason);
        }
        let batches = old.batches.len();
        let oldest = old.batches.pop_front()?;
        // Only the oldest batch was running, unless the worker could not
        // host its task: the worker answers batches in order, and the
        // answers it sent came before its end. The batches behind it never
        // started.
        let later = old.batches.into_iter().flat_map(|sent| sent.indexes);
        let (ran, waiting) = match old.unfit {
            true => (
                Vec::new(),
                oldest.indexes.into_iter().chain(later).collect(),
            ),
            false => (oldest.indexes, later.collect()),
        };
        Some(Lost {
            run: oldest.run,
            ran,
            waiting,
            batches,
            reason,
            signal,
            worker: old.worker_id,
        })
    }

    /// Kills and reaps, now, the workers that hold batches of run `run`,
    /// which ended before they were answered: they hold no other run's.
    pub(super) fn kill_run(&mut self, run: RunId) {
        for slot in &mut self.slots {
            if slot
                .as_ref()
                .is_some_and(|s| s.batches.iter().any(|b| b.run == run))
            {
                *slot = None;
            }
        }
    }

    /// Stops every worker that is idle, now: they are killed and reaped.
    pub(super) fn stop_idle(&mut self) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.batches.is_empty()) {
                *slot = None;
            }
        }
    }
}
