//! A dispatcher: one thread that owns a set of worker processes (`slots`)
//! and hands them the batches of every run attached to it, as Python's
//! `Pool` hands its workers the tasks of all its `map`s and
//! `apply_async`s. A pool has one, whose runs share its workers however
//! many go on at once; a run of its own (a spawned process, an agent's
//! job) has one of its own.
//!
//! A run reads its inputs and orders its outputs in its own thread, and
//! sends the dispatcher batches, a few at most ahead of their results
//! (see `Run`): a run whose caller stops pulling outputs holds no worker
//! once those are answered, and the other runs go on. Batches wait in one
//! queue and go out in the order they came, each to a ready worker with
//! room for it (none of another run's batches in flight there), or to one
//! the dispatcher starts while the set has fewer than its count. Results
//! are checked here (a value that does not decode as the function's
//! result means a broken worker) and sent to their run, which types them;
//! a worker that dies sends each run back its tasks, which the run
//! retries or fails.
//!
//! Workers start when a run attaches and none is ready (up to the count),
//! or when a batch finds none with room and fewer than the count live; a
//! worker that dies is replaced that way, when there is work for it. Idle
//! workers stay until the dispatcher ends (its pool and every run are
//! gone), or for the idle timeout, or, once the pool is closed, until no
//! run is attached.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};

use super::compile::Prepared;
use super::feed::Ran;
use super::known::Known;
use super::process::{EventKind, WorkerEvent};
use super::slots::{Crew, Lost, RunId, Slots, Work};
use crate::pool::error::{Error, TaskError};
use crate::pool::job::Job;
use crate::pool::task::Task;
use crate::pool::value::Value;
use crate::protocol::{CallResult, Failure, Outcomes, encoding};

/// A task's result as its run takes it: its index, its value or error,
/// and how it ran.
pub(super) type Finished = (u64, Result<Value, TaskError>, Ran);

/// Results of one of a run's batches as their frame brought them, every
/// value in them checked against the function's result type
/// ([`Answered::check`]): the run types each as it takes it, in the
/// batch's order (the [`Iterator`]).
pub(super) struct Answered {
    task: Task,
    worker: u32,
    results: std::vec::IntoIter<CallResult>,
    outcomes: Outcomes,
}

/// What a dispatcher tells a run.
pub(super) enum Reply {
    /// A worker is ready: the component runs, and the run may start.
    Ready,
    /// Results of one of the run's batches; `done` once the batch has all
    /// of its answers (large results come in several parts).
    Done {
        busy: Duration,
        answered: Answered,
        done: bool,
    },
    /// A worker died holding some of the run's batches.
    Lost(Lost),
    /// The run cannot go on.
    Fatal(Error),
}

enum Command {
    Attach {
        run: RunId,
        task: Task,
        prepared: Prepared,
        replies: Sender<Reply>,
    },
    Work(Work),
    /// The run ends: its batches not sent are dropped, and the workers
    /// running its batches killed and reaped, before `done` drops.
    Leave {
        run: RunId,
        done: Option<Sender<()>>,
    },
    /// The pool is closed: idle workers stop once no run is attached,
    /// those idle now before `done` drops.
    Close {
        done: Sender<()>,
    },
}

/// A handle on a dispatcher; clones share it. Its thread starts with the
/// first run, and ends once every handle and run is gone, stopping the
/// workers.
#[derive(Clone)]
pub(crate) struct Scheduler(Arc<Shared>);

struct Shared {
    job: Arc<Job>,
    thread: Mutex<Thread>,
    /// The pool's tasks' ids and code; `None` for a run of its own, whose
    /// one task has id 0.
    known: Option<Known>,
    /// Whether a worker is ready, as the dispatcher last said: a run that
    /// attaches then need not wait to hear it.
    any_ready: Arc<AtomicBool>,
    /// Whether the pool is closed, or the dispatcher a run's own: a run
    /// that leaves then waits until the idle workers are stopped.
    closed: Arc<AtomicBool>,
    next_run: AtomicU64,
    /// How many workers at most: each run keeps a few batches per worker
    /// ahead.
    workers: usize,
}

/// The dispatcher's thread: to start with the first run, then running.
enum Thread {
    Idle(Crew),
    Running(Sender<Command>),
}

impl Scheduler {
    /// A dispatcher for `job` with `crew`; `shared` when it serves a
    /// pool's runs, whose tasks then get ids of their own.
    pub(crate) fn new(job: &Arc<Job>, crew: Crew, shared: bool) -> Scheduler {
        Scheduler(Arc::new(Shared {
            job: job.clone(),
            workers: crew.workers,
            thread: Mutex::new(Thread::Idle(crew)),
            known: shared.then(Known::default),
            any_ready: Arc::default(),
            closed: Arc::new(AtomicBool::new(!shared)),
            next_run: AtomicU64::new(1),
        }))
    }

    pub(crate) fn known(&self) -> Option<&Known> {
        self.0.known.as_ref()
    }

    pub(super) fn workers(&self) -> usize {
        self.0.workers
    }

    /// Attaches a run of `task`, and waits until a worker is ready,
    /// started for it if none is.
    ///
    /// # Errors
    /// As [`Run::start`](super::Run::start).
    pub(super) fn attach(&self, task: &Task, prepared: Prepared) -> Result<Client, Error> {
        let commands = self.commands()?;
        let run = self.0.next_run.fetch_add(1, Ordering::Relaxed);
        let (replies_to, replies) = crossbeam_channel::unbounded();
        let attach = Command::Attach {
            run,
            task: task.clone(),
            prepared,
            replies: replies_to,
        };
        let client = Client {
            run,
            commands,
            replies,
            name: task.component().name().to_string(),
            sent: 0,
            closed: self.0.closed.clone(),
        };
        if client.commands.send(attach).is_err() {
            return Err(client.gone());
        }
        // A pool's warm workers run the task (or say they cannot, as the
        // run goes on).
        if self.0.any_ready.load(Ordering::Relaxed) {
            return Ok(client);
        }
        match client.replies.recv() {
            Ok(Reply::Ready) => Ok(client),
            Ok(Reply::Fatal(error)) => Err(error),
            _ => Err(client.gone()),
        }
    }

    /// The pool is closed: its idle workers stop, and each worker once no
    /// run is attached.
    pub(crate) fn close(&self) {
        self.0.close();
    }

    /// The channel to the dispatcher's thread, started on first use.
    fn commands(&self) -> Result<Sender<Command>, Error> {
        let mut thread = self.0.lock();
        let crew = match &*thread {
            Thread::Running(commands) => return Ok(commands.clone()),
            // Kept for another try if the thread cannot start.
            Thread::Idle(crew) => crew.clone(),
        };
        let (commands, receiver) = crossbeam_channel::unbounded();
        let (events_to, events) = crossbeam_channel::unbounded();
        let job = &self.0.job;
        let dispatcher = Dispatcher {
            any_ready: self.0.any_ready.clone(),
            slots: Slots::new(job, crew, events_to),
            events,
            commands: receiver,
            runs: HashMap::new(),
            pending: VecDeque::new(),
            // A run's own workers stop with it.
            closed: self.0.closed.load(Ordering::Relaxed),
        };
        std::thread::Builder::new()
            .name("wpool-dispatch".into())
            .spawn(move || dispatcher.serve())
            .map_err(|source| Error::Thread { source })?;
        *thread = Thread::Running(commands.clone());
        Ok(commands)
    }
}

impl Shared {
    /// See [`Scheduler::close`]; returns once the idle workers are reaped.
    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let thread = self.lock();
        let Thread::Running(commands) = &*thread else {
            return;
        };
        let (done, closed) = crossbeam_channel::bounded(0);
        if commands.send(Command::Close { done }).is_ok() {
            // Disconnected once the dispatcher has done it.
            let _ = closed.recv();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Thread> {
        // Nothing panics while holding it; a poisoned one is still whole.
        self.thread
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for Shared {
    /// The pool is gone: its idle workers stop now, the others with their
    /// runs.
    fn drop(&mut self) {
        self.close();
    }
}

/// A run's end of its dispatcher. Dropping it leaves: the run's batches
/// in flight are stopped.
pub(super) struct Client {
    run: RunId,
    commands: Sender<Command>,
    pub replies: Receiver<Reply>,
    /// The name of the run's component, for [`Client::gone`].
    name: String,
    /// Batches sent and not answered yet.
    pub sent: usize,
    /// See [`Shared::closed`].
    closed: Arc<AtomicBool>,
}

impl Client {
    /// What the run says when its dispatcher's thread is gone (it
    /// panicked): no reply can come.
    pub(super) fn gone(&self) -> Error {
        Error::CannotRun {
            name: self.name.clone(),
            reason: "the pool's dispatcher thread has stopped".into(),
        }
    }

    /// Queues a batch of the run's.
    pub(super) fn send(&mut self, mut work: Work) {
        work.run = self.run;
        self.sent += 1;
        // A dispatcher that stopped has failed the run already.
        let _ = self.commands.send(Command::Work(work));
    }
}

impl Drop for Client {
    /// Returns once the workers the run stops are reaped: those running
    /// its batches, and, once the pool is closed (a dispatcher of the
    /// run's own is), the idle ones.
    fn drop(&mut self) {
        let (done, left) = match self.sent > 0 || self.closed.load(Ordering::Relaxed) {
            true => {
                let (done, left) = crossbeam_channel::bounded(0);
                (Some(done), Some(left))
            }
            false => (None, None),
        };
        let leave = Command::Leave {
            run: self.run,
            done,
        };
        if let (Ok(()), Some(left)) = (self.commands.send(leave), left) {
            // Disconnected once the dispatcher has done it.
            let _ = left.recv();
        }
    }
}

/// A run attached to the dispatcher.
struct Attached {
    task: Task,
    prepared: Prepared,
    replies: Sender<Reply>,
    /// Whether it was told that a worker is ready, or that it cannot go
    /// on.
    told: bool,
}

/// The dispatcher's thread's state.
struct Dispatcher {
    /// Set while a worker is ready (see [`Shared::any_ready`]).
    any_ready: Arc<AtomicBool>,
    slots: Slots,
    events: Receiver<WorkerEvent>,
    commands: Receiver<Command>,
    runs: HashMap<RunId, Attached>,
    /// Batches not sent yet, in the order they came.
    pending: VecDeque<Work>,
    /// Set by [`Command::Close`].
    closed: bool,
}

impl Dispatcher {
    /// Serves until every handle and run is gone; dropping the slots then
    /// stops the workers.
    fn serve(mut self) {
        loop {
            self.dispatch();
            self.any_ready
                .store(self.slots.any_ready(), Ordering::Relaxed);
            let mut select = Select::new();
            let commands = select.recv(&self.commands);
            select.recv(&self.events);
            let ready = match self.slots.deadline() {
                Some(deadline) => select.ready_deadline(deadline).ok(),
                None => Some(select.ready()),
            };
            match ready {
                None => self.expire(),
                Some(i) if i == commands => match self.commands.try_recv() {
                    Ok(command) => self.command(command),
                    Err(TryRecvError::Disconnected) => return,
                    Err(TryRecvError::Empty) => {}
                },
                Some(_) => {
                    if let Ok(event) = self.events.try_recv() {
                        self.event(event);
                    }
                }
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Attach {
                run,
                task,
                prepared,
                replies,
            } => {
                let attached = Attached {
                    task,
                    prepared,
                    replies,
                    told: false,
                };
                self.runs.insert(run, attached);
                self.staff();
            }
            Command::Work(work) => {
                if self.runs.contains_key(&work.run) {
                    self.pending.push_back(work);
                }
            }
            Command::Leave { run, done } => {
                self.runs.remove(&run);
                self.pending.retain(|work| work.run != run);
                self.slots.kill_run(run);
                self.stop_if_closed();
                drop(done);
            }
            Command::Close { done } => {
                self.closed = true;
                self.stop_if_closed();
                drop(done);
            }
        }
    }

    /// Once the pool is closed and no run is attached, idle workers stop.
    fn stop_if_closed(&mut self) {
        if self.closed && self.runs.is_empty() {
            self.slots.stop_idle();
        }
    }

    /// Tells the runs that wait for a ready worker that one is; while
    /// none is, starts workers for them, up to the count (one that dies
    /// starting is replaced, until they die in a loop).
    fn staff(&mut self) {
        if self.slots.any_ready() {
            for run in self.runs.values_mut().filter(|run| !run.told) {
                run.told = true;
                let _ = run.replies.send(Reply::Ready);
            }
            return;
        }
        let waiting = self.runs.iter().find(|(_, run)| !run.told);
        let Some((&run, attached)) = waiting else {
            return;
        };
        let (task, prepared) = (attached.task.clone(), attached.prepared.clone());
        for _ in 0..self.slots.vacant() {
            if let Err(error) = self.slots.spawn(&task, &prepared, run) {
                return self.fail(run, error);
            }
        }
    }

    /// Stops run `run` with `error`: it is told, and its batches not sent
    /// are dropped.
    fn fail(&mut self, run: RunId, error: Error) {
        self.pending.retain(|work| work.run != run);
        if let Some(attached) = self.runs.get_mut(&run) {
            attached.told = true;
            let _ = attached.replies.send(Reply::Fatal(error));
        }
    }

    /// Sends the batches waiting, in order, while each finds a worker with
    /// room; starts one for the first that does not, if fewer than the
    /// count run.
    fn dispatch(&mut self) {
        while let Some(work) = self.pending.front() {
            if let Some(slot) = self.slots.room_for(work) {
                let work = self.pending.pop_front().expect("looked at");
                self.slots.send(slot, work);
                continue;
            }
            if self.slots.vacant() > 0 {
                let (task, prepared, run) = (work.task.clone(), work.prepared.clone(), work.run);
                if let Err(error) = self.slots.spawn(&task, &prepared, run) {
                    self.fail(run, error);
                    continue;
                }
            }
            return;
        }
    }

    fn expire(&mut self) {
        for run in self.slots.expire(Instant::now()) {
            let Some(attached) = self.runs.get(&run) else {
                continue;
            };
            let error = Error::CompileTimeout {
                name: attached.task.component().name().to_string(),
                timeout: self.slots.compile_timeout(),
            };
            self.fail(run, error);
        }
    }

    fn event(&mut self, event: WorkerEvent) {
        if !self.slots.is_current(&event) {
            return;
        }
        let slot = event.slot;
        match event.kind {
            EventKind::Ready { .. } => {
                self.slots.ready(slot);
                self.staff();
            }
            EventKind::Unfit => self.slots.unfit(slot),
            EventKind::SetupFailed(reason) => {
                let run = self.slots.starter(slot);
                if let Some(attached) = self.runs.get(&run) {
                    let name = attached.task.component().name().to_string();
                    self.fail(run, Error::CannotRun { name, reason });
                }
            }
            EventKind::Done {
                busy,
                results,
                values,
            } => {
                let Some((run, task, worker)) = self.slots.answering(slot, &results) else {
                    return;
                };
                let answered = match Answered::check(task, worker, results, values) {
                    Ok(answered) => answered,
                    Err(error) => return self.slots.undecodable(slot, &error),
                };
                let done = self.slots.answered(slot, answered.len());
                if let Some(attached) = self.runs.get(&run) {
                    let reply = Reply::Done {
                        busy,
                        answered,
                        done,
                    };
                    let _ = attached.replies.send(reply);
                }
            }
            EventKind::Exited => {
                if let Some(lost) = self.slots.reap(slot)
                    && let Some(attached) = self.runs.get(&lost.run)
                {
                    let _ = attached.replies.send(Reply::Lost(lost));
                }
                self.staff();
            }
        }
    }
}

impl Answered {
    /// Checks a batch's results: every value decodes as the function's
    /// result (the `ok` ones and the `err` ones returned), within the
    /// buffer. An error means the worker is broken.
    fn check(
        task: Task,
        worker: u32,
        results: Vec<CallResult>,
        values: Bytes,
    ) -> Result<Answered, encoding::Error> {
        let mut outcomes = Outcomes::new(values.clone());
        for result in &results {
            let value = match (outcomes.next(&result.outcome)?, &result.outcome) {
                (Some(value), _) => value,
                (None, Err(Failure::Returned(value))) => value,
                (None, _) => continue,
            };
            task.check_value(value)?;
        }
        Ok(Answered {
            task,
            worker,
            results: results.into_iter(),
            outcomes: Outcomes::new(values),
        })
    }

    /// The index of the next result, if one is left.
    pub(super) fn next_index(&self) -> Option<u64> {
        self.results.as_slice().first().map(|result| result.index)
    }
}

impl Iterator for Answered {
    type Item = Finished;

    fn next(&mut self) -> Option<Finished> {
        let CallResult {
            index,
            outcome,
            time,
            stdout,
            stderr,
        } = self.results.next()?;
        let outcome = match self
            .outcomes
            .take(outcome)
            .expect("`check` passed the values")
        {
            Ok(value) => Ok(self.task.checked_value(value)),
            Err(failure) => Err(self.task.checked_failure(failure)),
        };
        let ran = Ran {
            worker: Some(self.worker),
            time: Some(time),
            stdout,
            stderr,
        };
        Some((index, outcome, ran))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.results.size_hint()
    }
}

impl ExactSizeIterator for Answered {}
