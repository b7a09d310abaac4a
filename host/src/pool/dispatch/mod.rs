//! Runs over inputs, on worker processes. A run of `map` is of one task;
//! the `apply_async` run of a pool takes inputs of any task, each batch of
//! one.
//!
//! A [`Run`] composes three parts, each with one job:
//! - `feed`: where inputs come from (an iterator, or a channel of
//!   submissions), their admission, and the tasks to run again after their
//!   worker died;
//! - `scheduler`: the dispatcher the run's batches go to, a thread that
//!   owns the worker processes (`slots`) and shares them among every run
//!   attached to it: a pool's runs share its one;
//! - `reorder`: finished outputs waiting for their turn, and the window
//!   that bounds how far an ordered run reads ahead. A batch's results
//!   whose turn has come (all of an unordered run's, and in an ordered
//!   one a batch that continues its output) skip it: each is finished
//!   as the caller takes it, straight from the batch.
//!
//! A cluster's submission (`pool::cluster`) reads its inputs through a
//! feed and restores their order through a reorder window too.
//!
//! `compile` gives a run its task compiled (from the pool's memory,
//! `known`, the compile cache, or a worker that compiles it and is
//! stopped). `process` is one worker process as the host sees it.
//!
//! The run goes on in the caller's thread, inside [`Iterator::next`]:
//! between outputs it sends its dispatcher batches, at most
//! [`IN_FLIGHT`] per worker ahead of their results, then waits for
//! whichever comes first: a result, a submission when it may send more,
//! or the run's termination.

mod compile;
mod feed;
mod known;
mod process;
mod reorder;
mod scheduler;
mod slots;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use crossbeam_channel::{Receiver, Select, TryRecvError};

use self::compile::Prepared;
pub(crate) use self::compile::prepare;
use self::feed::Loss;
pub(crate) use self::feed::Ran;
pub(crate) use self::feed::{Feed, Source, Submitted};
pub(crate) use self::process::OutputSink;
pub(crate) use self::reorder::Reorder;
pub(crate) use self::scheduler::Scheduler;
use self::scheduler::{Answered, Client, Reply};
pub(crate) use self::slots::Crew;
use self::slots::{IN_FLIGHT, Lost, QUEUED_BELOW, Work};
use super::error::{Error, TaskError};
use super::job::Job;
use super::output::{Retry, TaskOutput};
use super::task::Task;
use super::value::Input;

/// How a run goes, beyond its task and its inputs.
pub(crate) struct Plan {
    /// Worker processes, for a run with workers of its own.
    pub workers: usize,
    /// Whether outputs come in input order.
    pub ordered: bool,
    /// Attempts more for a task whose worker died.
    pub retries: u32,
    /// Where the tasks' output streams, live; `None` captures it into each
    /// [`TaskOutput`]. For a run with workers of its own.
    pub output: Option<OutputSink>,
    /// Kept up to date with the process id of the first slot's worker
    /// (for [`Process::pid`](crate::Process::pid)).
    pub pid: Option<Arc<AtomicU32>>,
    /// A message here terminates the run: its workers are killed and its
    /// unfinished tasks fail.
    pub terminate: Option<Receiver<()>>,
    /// The pool's dispatcher, whose workers the run shares with the pool's
    /// other runs; `None`: the run has workers of its own, which stop with
    /// it.
    pub scheduler: Option<Scheduler>,
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
            scheduler: None,
        }
    }
}

/// How long a batch should keep a worker busy, once task cost is known.
const BATCH_TIME: Duration = Duration::from_millis(5);
/// The most tasks a batch holds, however cheap they are: tiny tasks
/// (B1's squares, about 0.4 µs) fill a batch of it in under 2 ms. Each
/// batch costs a frame each way and a wake-up of every thread it passes
/// through: from 1024 to 4096, the host's CPU for 1M squares went from
/// 0.415 to 0.378 s and the workers' from 0.489 to 0.439 s (medians of 9
/// alternations); 8192 bought nothing more.
const MAX_BATCH: usize = 4096;

pub(crate) struct Run<I> {
    /// The job whose objects the tasks see, and the pool's settings; held
    /// so that the job's objects live while the run goes on.
    job: Arc<Job>,
    /// The dispatcher, for the ids and code of the tasks of an `apply_async`
    /// run.
    scheduler: Scheduler,
    /// The run's task, compiled.
    task: (Task, Prepared),
    /// Where the next batch comes from; it holds every input handed out
    /// until its task finishes.
    feed: Feed<I>,
    /// The run's end of its dispatcher, and its batches not answered yet;
    /// `None` once terminated.
    client: Option<Client>,
    /// The batch whose results are being yielded, each finished as the
    /// caller takes it, without waiting in `reorder`: in an ordered run,
    /// one whose next result is the run's next output; in an unordered
    /// one, any.
    answered: Option<Answered>,
    /// Where finished outputs wait for their turn.
    reorder: Reorder,
    /// A message here terminates the run: its workers are killed and its
    /// unfinished tasks fail. When every sender has dropped, no termination
    /// can come any more and the run stops watching it.
    terminate: Option<Receiver<()>>,
    /// Attempts more for a task whose worker died.
    retries: u32,
    /// Measured worker time per task, averaged over the batches answered.
    cost: Option<Duration>,
    /// Why the run stopped as a whole: yielded once, after the outputs
    /// ready before it, and then the run is finished.
    fatal: Option<Error>,
    /// Set once the run has yielded its last item: `next` returns `None`.
    finished: bool,
}

impl<I: Iterator<Item = Input>> Run<I> {
    /// Compiles the task and attaches the run to its dispatcher, which
    /// waits until a worker is ready, so that a component that cannot run
    /// is reported before any input is read.
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
            scheduler,
        } = plan;
        let scheduler = scheduler.unwrap_or_else(|| {
            let crew = Crew {
                workers,
                output,
                pid,
                idle_timeout: None,
            };
            Scheduler::new(job, crew, false)
        });
        let prepared = prepare(job, task, scheduler.known())?;
        let client = scheduler.attach(task, prepared.clone())?;
        Ok(Run {
            job: job.clone(),
            task: (task.clone(), prepared),
            scheduler,
            feed: Feed::new(source, task.clone(), job.settings.limits.max_value),
            client: Some(client),
            answered: None,
            reorder: Reorder::new(ordered, job.settings.max_waiting_output),
            terminate,
            retries,
            cost: None,
            fatal: None,
            finished: false,
        })
    }

    pub(crate) fn has_ready(&self) -> bool {
        let in_turn = self.answered.as_ref().and_then(Answered::next_index);
        self.fatal.is_some()
            || self.finished
            || self.reorder.has_ready()
            || in_turn.is_some_and(|index| self.reorder.is_turn(index))
    }

    pub(crate) fn next(&mut self) -> Option<Result<TaskOutput, Error>> {
        loop {
            if let Some(output) = self.next_answered() {
                return Some(Ok(output));
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
            if self.reorder.has_ready() || self.fatal.is_some() {
                continue;
            }
            if self.feed.is_done() && self.reorder.is_empty() {
                self.finished = true;
                return None;
            }
            self.wait();
        }
    }

    /// The next output of the batch being yielded, if its turn has come.
    /// A batch whose next output is not in turn waits in the reorder, as
    /// outputs do: only the batch that continues the run's output goes
    /// straight out, each output moved once.
    fn next_answered(&mut self) -> Option<TaskOutput> {
        while let Some(index) = self.answered.as_ref()?.next_index() {
            if !self.reorder.is_turn(index) {
                self.drain_answered();
                return None;
            }
            let (index, outcome, ran) = self.answered.as_mut()?.next()?;
            if let Some(output) = self.feed.finish(index, outcome, ran) {
                self.reorder.passed(index);
                return Some(output);
            }
        }
        self.answered = None;
        None
    }

    /// Finishes the rest of the batch being yielded into the reorder.
    fn drain_answered(&mut self) {
        for (index, outcome, ran) in self.answered.take().into_iter().flatten() {
            if let Some(output) = self.feed.finish(index, outcome, ran) {
                self.reorder.insert(output);
            }
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

    /// Whether the run may send another batch: it keeps at most
    /// [`Run::in_flight`] per worker of its dispatcher ahead of their
    /// results.
    fn has_room(&self) -> bool {
        let ahead = self.scheduler.workers() * self.in_flight();
        self.client
            .as_ref()
            .is_some_and(|client| client.sent < ahead)
    }

    /// Sends the dispatcher batches from the feed while the run has room.
    fn dispatch(&mut self) {
        while self.has_room() {
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
            let prepared = match self.prepared(&task) {
                Ok(prepared) => prepared,
                Err(error) => {
                    self.fatal = Some(error);
                    return;
                }
            };
            let calls = self.feed.calls(&batch.indexes);
            let work = Work {
                // The client sets it.
                run: 0,
                task,
                prepared,
                indexes: batch.indexes,
                calls,
                in_flight: self.in_flight(),
            };
            if let Some(client) = &mut self.client {
                client.send(work);
            }
        }
    }

    /// `task`, compiled: the run's own, or another of an `apply_async`
    /// run's, from the pool's memory (it was compiled when submitted) or
    /// else its compile cache.
    fn prepared(&self, task: &Task) -> Result<Prepared, Error> {
        match task.same_function(&self.task.0) {
            true => Ok(self.task.1.clone()),
            false => prepare(&self.job, task, self.scheduler.known()),
        }
    }

    /// Waits for the next reply, submission or termination, and handles
    /// it.
    fn wait(&mut self) {
        let ready = {
            let mut select = Select::new();
            let replies = self.client.as_ref().map(|c| select.recv(&c.replies));
            let submissions = match (self.feed.submissions(), self.has_room()) {
                (Some(submissions), true) => Some(select.recv(submissions)),
                _ => None,
            };
            let terminate = self.terminate.as_ref().map(|t| select.recv(t));
            if replies.is_none() && submissions.is_none() && terminate.is_none() {
                // Nothing can come: the run was terminated, and its
                // outputs are all out.
                self.finished = true;
                return;
            }
            let ready = select.ready();
            (Some(ready) == replies, Some(ready) == terminate)
        };
        match ready {
            (true, _) => match self.client.as_ref().map(|c| c.replies.try_recv()) {
                Some(Ok(reply)) => self.handle(reply),
                Some(Err(TryRecvError::Disconnected)) => {
                    self.fatal = self.client.take().map(|client| client.gone());
                }
                _ => {}
            },
            (_, true) => match self.terminate.as_ref().map(Receiver::try_recv) {
                Some(Ok(())) => self.terminate(),
                Some(Err(TryRecvError::Disconnected)) => self.terminate = None,
                _ => {}
            },
            // A submission: `dispatch` reads it.
            _ => {}
        }
    }

    fn handle(&mut self, reply: Reply) {
        match reply {
            Reply::Ready => {}
            Reply::Fatal(error) => self.fatal = Some(error),
            Reply::Done {
                busy,
                answered,
                done,
            } => {
                if let (true, Some(client)) = (done, &mut self.client) {
                    client.sent -= 1;
                }
                if answered.len() > 0 {
                    let per_task = busy / answered.len() as u32;
                    self.cost = Some(match self.cost {
                        None => per_task,
                        Some(cost) => (cost * 3 + per_task) / 4,
                    });
                }
                // The batch before is yielded before the run waits, so
                // none is left; were one left, it would wait its turn.
                self.drain_answered();
                self.answered = Some(answered);
            }
            Reply::Lost(lost) => self.lost(lost),
        }
    }

    /// Kills the workers running the run's tasks and fails every unfinished
    /// task.
    fn terminate(&mut self) {
        // A batch in turn is yielded before the run waits, so none is left
        // here; were one left, its tasks finished, and do not fail.
        self.drain_answered();
        self.terminate = None;
        self.client = None;
        for output in self.feed.stop(TaskError::Terminated) {
            self.reorder.insert(output);
        }
    }

    /// A worker died holding batches of the run: their tasks are retried or
    /// failed.
    fn lost(&mut self, lost: Lost) {
        if let Some(client) = &mut self.client {
            client.sent -= lost.batches;
        }
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
    }
}
