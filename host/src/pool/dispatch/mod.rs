//! The dispatcher: one run over inputs, on worker processes. A run of
//! `map` is of one task; the `apply_async` run of a pool takes inputs of
//! any task, each batch of one.
//!
//! A [`Run`] composes three parts, each with one job:
//! - `feed`: where inputs come from (an iterator, or a channel of
//!   submissions), their admission, and the tasks to run again after their
//!   worker died;
//! - `slots`: the worker processes, the tasks each hosts, their batches in
//!   flight, deadlines, replacement, and the crash-loop count;
//! - `reorder`: finished outputs waiting for their turn, and the window
//!   that bounds how far an ordered run reads ahead.
//!
//! A cluster's submission (`pool::cluster`) reads its inputs through a
//! feed and restores their order through a reorder window too.
//!
//! `compile` gives a run its task compiled (from the pool's memory, the
//! compile cache, or a worker that compiles it and is stopped); `warm` is
//! what a pool keeps between its runs: idle workers, its tasks' ids and
//! their compiled code.
//!
//! `process` is one worker process as the host sees it. The run goes on in
//! the caller's thread, inside [`Iterator::next`]: between outputs it tops
//! up the workers, then waits for whichever comes first: a worker's event,
//! a submission when a worker has room, the run's termination, or the
//! nearest deadline.

mod compile;
mod feed;
mod process;
mod reorder;
mod slots;
mod warm;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, TryRecvError};

pub(crate) use self::compile::prepare;
use self::feed::Loss;
pub(crate) use self::feed::Ran;
pub(crate) use self::feed::{Feed, Source, Submitted};
pub(crate) use self::process::OutputSink;
use self::process::{EventKind, WorkerEvent};
pub(crate) use self::reorder::Reorder;
use self::slots::{IN_FLIGHT, QUEUED_BELOW, Slots};
pub(crate) use self::warm::Warm;
use super::error::{Error, TaskError};
use super::job::Job;
use super::output::{Retry, TaskOutput};
use super::task::Task;
use super::value::{Input, Value};
use crate::protocol::{CallResult, Encoded, Failure, Outcomes, encoding};

/// How a run goes, beyond its task and its inputs.
pub(crate) struct Plan {
    /// Worker processes.
    pub workers: usize,
    /// Whether outputs come in input order.
    pub ordered: bool,
    /// Attempts more for a task whose worker died.
    pub retries: u32,
    /// Where the tasks' output streams, live; `None` captures it into each
    /// [`TaskOutput`].
    pub output: Option<OutputSink>,
    /// Kept up to date with the process id of the first slot's worker
    /// (for [`Process::pid`](crate::Process::pid)).
    pub pid: Option<Arc<AtomicU32>>,
    /// A message here terminates the run: its workers are killed and its
    /// unfinished tasks fail.
    pub terminate: Option<Receiver<()>>,
    /// The pool's warm workers: the run takes its task's from there, and
    /// hands back those it leaves idle and ready when it ends; `None`: it
    /// starts its own, and stops them.
    pub warm: Option<Arc<Warm>>,
    /// Whether the run lends its workers to the pool (`warm`) whenever it
    /// has nothing to run, and takes the pool's idle ones again when it
    /// has: a run of submitted inputs (`apply_async`), which lasts until
    /// the pool closes, then holds no worker while it waits.
    pub lends: bool,
}

impl Plan {
    /// `workers` processes, the pool's retries, captured output, nothing
    /// else.
    pub(crate) fn new(job: &Job, workers: usize, ordered: bool) -> Plan {
        Plan {
            workers,
            ordered,
            retries: job.settings.retries,
            output: None,
            pid: None,
            terminate: None,
            warm: None,
            lends: false,
        }
    }
}

/// How long a batch should keep a worker busy, once task cost is known.
const BATCH_TIME: Duration = Duration::from_millis(5);
const MAX_BATCH: usize = 1024;

pub(crate) struct Run<I> {
    task: Task,
    /// The job whose objects the tasks see, and the pool's settings; held
    /// so that the job's objects live while the run goes on.
    job: Arc<Job>,
    /// Where the next batch comes from; it holds every input handed out
    /// until its task finishes.
    feed: Feed<I>,
    /// The worker processes; a dead one's tasks go back to the feed.
    slots: Slots,
    /// Where finished outputs wait for their turn.
    reorder: Reorder,
    /// Where every worker's reader thread posts its events. The slots hold
    /// a sender, so it never closes while the run lives.
    events: Receiver<WorkerEvent>,
    /// A message here terminates the run: its workers are killed and its
    /// unfinished tasks fail. When every sender has dropped, no termination
    /// can come any more and the run stops watching it.
    terminate: Option<Receiver<()>>,
    /// Attempts more for a task whose worker died.
    retries: u32,
    /// Whether the run lends its workers while it has nothing to run.
    lends: bool,
    /// Measured worker time per task, averaged over the batches answered.
    cost: Option<Duration>,
    /// Why the run stopped as a whole: yielded once, after the outputs
    /// ready before it, and then the run is finished.
    fatal: Option<Error>,
    /// Set once the run has yielded its last item: `next` returns `None`.
    finished: bool,
}

impl<I: Iterator<Item = Input>> Run<I> {
    /// Starts the workers and waits until one is ready, so that a component
    /// that cannot run is reported before any input is read.
    pub(crate) fn start(
        job: &Arc<Job>,
        task: &Task,
        source: Source<I>,
        plan: Plan,
    ) -> Result<Run<I>, Error> {
        let Plan {
            workers,
            ordered,
            retries,
            output,
            pid,
            terminate,
            warm,
            lends,
        } = plan;
        let (slots, events) = Slots::start(job, task, workers, output, pid, warm)?;
        let mut run = Run {
            task: task.clone(),
            job: job.clone(),
            feed: Feed::new(source, task.clone(), job.settings.limits.max_value),
            slots,
            reorder: Reorder::new(ordered, job.settings.max_waiting_output),
            events,
            terminate,
            retries,
            lends,
            cost: None,
            fatal: None,
            finished: false,
        };
        while !run.slots.any_ready() {
            run.wait();
            if let Some(error) = run.fatal.take() {
                return Err(error);
            }
        }
        Ok(run)
    }

    pub(crate) fn has_ready(&self) -> bool {
        self.fatal.is_some() || self.finished || self.reorder.has_ready()
    }

    pub(crate) fn next(&mut self) -> Option<Result<TaskOutput, Error>> {
        loop {
            // Before its last output goes out, so that a run the caller
            // starts once it has that output finds the workers idle.
            if self.lends && !self.slots.is_empty() && self.feed.is_idle() {
                self.slots.lend();
            }
            if let Some(output) = self.reorder.pop() {
                return Some(Ok(output));
            }
            if let Some(error) = self.fatal.take() {
                self.finished = true;
                return Some(Err(error));
            }
            if self.finished {
                return None;
            }
            self.dispatch();
            if self.reorder.has_ready() {
                continue;
            }
            if self.feed.is_done() && self.reorder.is_empty() {
                self.finished = true;
                return None;
            }
            self.wait();
        }
    }

    /// How many tasks the next batch holds: enough to keep a worker busy
    /// for [`BATCH_TIME`], once task cost is known; one until then.
    fn batch_size(&self) -> usize {
        match self.cost {
            None => 1,
            Some(cost) => (BATCH_TIME.as_nanos() / cost.as_nanos().max(1))
                .clamp(1, MAX_BATCH as u128) as usize,
        }
    }

    /// Batches a worker may hold: [`IN_FLIGHT`] once its tasks are known
    /// to be shorter than [`QUEUED_BELOW`]; one until task cost is known,
    /// so that long tasks spread over the workers, and for long tasks.
    fn in_flight(&self) -> usize {
        match self.cost {
            Some(cost) if cost < QUEUED_BELOW => IN_FLIGHT,
            _ => 1,
        }
    }

    /// Tops up every ready worker with batches from the feed, the least busy
    /// first; a run that lent its workers takes some again first if it has
    /// work.
    fn dispatch(&mut self) {
        if self.slots.is_empty()
            && !self.feed.is_idle()
            && let Err(error) = self.slots.fill()
        {
            self.fatal = Some(error);
            return;
        }
        while let Some(slot) = self.slots.with_room(self.in_flight()) {
            let batch = self
                .feed
                .next_batch(self.batch_size(), self.reorder.window_end());
            let refused = !batch.refused.is_empty();
            for output in batch.refused {
                self.reorder.insert(output);
            }
            let Some(task) = batch.task.filter(|_| !batch.indexes.is_empty()) else {
                if refused {
                    continue;
                }
                return;
            };
            let calls = self.feed.calls(&batch.indexes);
            if let Err(error) = self.slots.send(slot, &task, batch.indexes, calls) {
                self.fatal = Some(error);
                return;
            }
        }
    }

    /// Waits for the next worker event, submission or termination, and
    /// handles it; or, at the nearest deadline, kills the workers that
    /// missed it.
    fn wait(&mut self) {
        let (ready, submissions) = {
            let mut select = Select::new();
            select.recv(&self.events);
            // A run that lent its workers waits for its next input.
            let room = self.slots.with_room(self.in_flight()).is_some() || self.slots.is_empty();
            let submissions = match (self.feed.submissions(), room) {
                (Some(submissions), true) => Some(select.recv(submissions)),
                _ => None,
            };
            if let Some(terminate) = &self.terminate {
                select.recv(terminate);
            }
            let ready = match self.slots.deadline() {
                Some(deadline) => select.ready_deadline(deadline).ok(),
                None => Some(select.ready()),
            };
            (ready, submissions)
        };
        match ready {
            None => {
                if let Err(error) = self.slots.expire(Instant::now()) {
                    self.fatal = Some(error);
                }
            }
            // The worker events, registered first.
            Some(0) => {
                if let Ok(event) = self.events.try_recv() {
                    self.handle(event);
                }
            }
            // `dispatch` reads it.
            Some(i) if Some(i) == submissions => {}
            // The termination, registered last.
            Some(_) => match self.terminate.as_ref().map(Receiver::try_recv) {
                Some(Ok(())) => self.terminate(),
                Some(Err(TryRecvError::Disconnected)) => self.terminate = None,
                _ => {}
            },
        }
    }

    fn handle(&mut self, event: WorkerEvent) {
        if !self.slots.is_current(&event) {
            return;
        }
        let slot = event.slot;
        match event.kind {
            EventKind::Ready { .. } => self.slots.ready(slot),
            EventKind::Unfit(id) => self.slots.unfit(slot, id),
            EventKind::SetupFailed(message) => {
                self.fatal = Some(Error::CannotRun {
                    name: self.task.component().name().to_string(),
                    reason: message,
                });
            }
            EventKind::Done {
                busy,
                results,
                values,
            } => {
                let worker = self.slots.worker_id(slot);
                let mut values = Outcomes::new(values);
                let decoded: Result<Vec<_>, _> = results
                    .into_iter()
                    .map(|result| {
                        let CallResult {
                            index,
                            outcome,
                            time,
                            stdout,
                            stderr,
                        } = result;
                        let task = self.feed.task(index).unwrap_or(&self.task);
                        let outcome = Self::outcome(task, values.take(outcome)?)?;
                        let ran = Ran {
                            worker: Some(worker),
                            time: Some(time),
                            stdout,
                            stderr,
                        };
                        Ok((index, outcome, ran))
                    })
                    .collect();
                let decoded = match decoded {
                    Ok(decoded) => decoded,
                    Err(error) => return self.slots.undecodable(slot, error),
                };
                let indexes: Vec<u64> = decoded.iter().map(|(index, ..)| *index).collect();
                if !self.slots.answered(slot, &indexes) {
                    return;
                }
                if !indexes.is_empty() {
                    let per_task = busy / indexes.len() as u32;
                    self.cost = Some(match self.cost {
                        None => per_task,
                        Some(cost) => (cost * 3 + per_task) / 4,
                    });
                }
                for (index, outcome, ran) in decoded {
                    if let Some(output) = self.feed.finish(index, outcome, ran) {
                        self.reorder.insert(output);
                    }
                }
            }
            EventKind::Exited => self.replace(slot),
        }
    }

    /// What a worker's outcome of a call means to the caller (see
    /// [`Task::failure`]). An error when its value does not decode as the
    /// function's result.
    fn outcome(
        task: &Task,
        outcome: Result<Encoded, Failure>,
    ) -> Result<Result<Value, TaskError>, encoding::Error> {
        Ok(match outcome {
            Ok(bytes) => Ok(task.value(bytes)?),
            Err(failure) => Err(task.failure(failure)?),
        })
    }

    /// Kills every worker and fails every unfinished task.
    fn terminate(&mut self) {
        self.terminate = None;
        self.slots.terminate();
        for output in self.feed.stop(TaskError::Terminated) {
            self.reorder.insert(output);
        }
    }

    /// A worker died: its unfinished tasks are retried or failed, and a new
    /// worker takes the slot.
    fn replace(&mut self, slot: usize) {
        let Some(lost) = self.slots.reap(slot) else {
            return;
        };
        self.feed.requeue(lost.waiting);
        for index in lost.ran {
            match self
                .feed
                .lost(index, self.retries, &lost.reason, lost.signal)
            {
                Some(Loss::Failed(mut output)) => {
                    output.worker = Some(lost.worker);
                    self.reorder.insert(output);
                }
                Some(Loss::Retried { input, attempt }) => {
                    if let Some(hook) = &self.job.settings.on_retry {
                        hook.call(&Retry {
                            index,
                            input,
                            reason: lost.reason.clone(),
                            attempt,
                            attempts: self.retries + 1,
                        });
                    }
                }
                None => {}
            }
        }
        // With nothing left to run, no worker takes the dead one's place.
        if self.feed.is_spent() {
            return;
        }
        if let Err(error) = self.slots.replace(slot, &lost.reason) {
            self.fatal = Some(error);
        }
    }
}
