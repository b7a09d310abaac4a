//! The dispatcher: one run of a task over inputs. It owns the worker
//! processes of the run, feeds them batches sized from measured task cost,
//! retries the tasks of a worker that dies, and hands outputs back in input
//! order (or as they finish).
//!
//! It runs in the caller's thread, inside [`Iterator::next`]: between
//! outputs it tops up the workers and waits on one channel where every
//! worker's reader thread posts its frames.

mod process;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

pub(crate) use self::process::RunEvent;
use self::process::{EventKind, Place, WorkerProcess};
use super::cache::{CompileCache, Entry};
use super::error::{Error, TaskError};
use super::job::Job;
use super::output::TaskOutput;
use super::task::Task;
use super::value::Input;
use crate::protocol::engine::TICK;
use crate::protocol::{Call, CallResult, Failure, Setup, ToWorker};

/// Batches in flight per worker: one running, one waiting in its pipe, so a
/// worker never idles while the host prepares its next batch.
const IN_FLIGHT: usize = 2;
/// How long a batch should keep a worker busy, once task cost is known.
const BATCH_TIME: Duration = Duration::from_millis(5);
const MAX_BATCH: usize = 1024;
/// How far ahead of the oldest unfinished input an ordered run may read:
/// bounds the memory held for outputs waiting on a slow task.
const WINDOW: u64 = 1 << 16;
/// Worker deaths in a row, with no batch finished in between, before the
/// run stops: a crash loop is reported, not respawned forever.
const MAX_DEATHS_IN_A_ROW: u32 = 8;
/// How long past its tasks' deadlines a batch may go unanswered before the
/// host takes its worker for hung and kills it. Deadlines inside wasm are
/// enforced by the worker itself; this catches a worker stuck outside wasm.
const GRACE: Duration = Duration::from_secs(2);

/// An input handed out and not yet finished.
struct Pending {
    input: Input,
    /// How many workers died running it.
    deaths: u32,
}

/// A worker slot; its process is replaced when it dies.
struct Slot {
    process: WorkerProcess,
    generation: u64,
    ready: bool,
    /// The indexes of each batch sent, oldest first.
    batches: VecDeque<Vec<u64>>,
    /// When the worker must be ready by, and then when the oldest batch must
    /// be answered by, if one is in flight.
    deadline: Option<Instant>,
    /// Whether the host killed this worker for missing its deadline.
    hung: bool,
}

impl Slot {
    fn new(process: WorkerProcess, generation: u64, compile_timeout: Duration) -> Slot {
        Slot {
            process,
            generation,
            ready: false,
            batches: VecDeque::new(),
            deadline: Some(Instant::now() + compile_timeout),
            hung: false,
        }
    }
}

pub(crate) struct Run<I> {
    task: Task,
    /// The job whose objects the tasks see, and the pool's settings; held
    /// so that the job's objects live while the run goes on.
    job: Arc<Job>,
    ordered: bool,
    inputs: I,
    inputs_done: bool,
    next_index: u64,
    pending: HashMap<u64, Pending>,
    /// Tasks whose worker died, to run again, each alone.
    retry: VecDeque<u64>,
    /// Inputs submitted while the run goes on (see [`Run::submitter`]).
    submitted: VecDeque<Input>,
    /// Whether more submissions may come.
    accepting: bool,
    /// Whether the run was terminated: workers are not replaced any more.
    terminated: bool,
    slots: Vec<Slot>,
    deaths_in_a_row: u32,
    events: Receiver<RunEvent>,
    events_tx: Sender<RunEvent>,
    /// Finished outputs not yet yielded, by index.
    done: BTreeMap<u64, TaskOutput>,
    next_out: u64,
    /// Measured worker time per task.
    cost: Option<Duration>,
    fatal: Option<Error>,
    finished: bool,
    /// The compile cache and this run's entry in it, unless it is off or
    /// cannot be used.
    cache: Option<(CompileCache, Entry)>,
    /// The compiled component workers load instead of compiling, once the
    /// cache had it or a worker sent it.
    compiled: Option<Arc<[u8]>>,
}

impl<I: Iterator<Item = Input>> Run<I> {
    /// Starts the workers and waits until one is ready, so that a component
    /// that cannot run is reported before any input is read.
    pub(crate) fn start(
        job: &Arc<Job>,
        workers: usize,
        task: &Task,
        inputs: I,
        ordered: bool,
    ) -> Result<Run<I>, Error> {
        let (events_tx, events) = crossbeam_channel::unbounded();
        let settings = &job.settings;
        let cache = settings.cache_dir.as_deref().and_then(|dir| {
            let cache = CompileCache::open_or_warn(dir)?;
            let entry = cache.entry(&task.wasm(), &settings.limits).ok()?;
            Some((cache, entry))
        });
        let compiled = cache
            .as_ref()
            .and_then(|(cache, entry)| cache.get(entry))
            .map(Arc::from);
        let mut run = Run {
            task: task.clone(),
            job: job.clone(),
            ordered,
            inputs,
            inputs_done: false,
            next_index: 0,
            pending: HashMap::new(),
            retry: VecDeque::new(),
            submitted: VecDeque::new(),
            accepting: false,
            terminated: false,
            slots: Vec::with_capacity(workers),
            deaths_in_a_row: 0,
            events,
            events_tx,
            done: BTreeMap::new(),
            next_out: 0,
            cost: None,
            fatal: None,
            finished: false,
            cache,
            compiled,
        };
        for slot in 0..workers {
            let process = run.spawn(slot, 0)?;
            run.slots
                .push(Slot::new(process, 0, settings.compile_timeout));
        }
        while !run.slots.iter().any(|s| s.ready) {
            run.wait();
            if let Some(error) = run.fatal.take() {
                return Err(error);
            }
        }
        Ok(run)
    }

    fn spawn(&mut self, slot: usize, generation: u64) -> Result<WorkerProcess, Error> {
        let (instance, func) = self.task.export_path();
        let settings = &self.job.settings;
        let setup = Setup {
            worker_id: self.job.next_worker_id(),
            wasm: self.task.wasm(),
            instance,
            func,
            limits: settings.limits.clone(),
            reuse: settings.reuse,
            compiled: self.compiled.clone(),
            serialize: self.cache.is_some() && self.compiled.is_none(),
        };
        let program = &settings.worker_program;
        let place = Place {
            job: self.job.id,
            worker_id: setup.worker_id,
            slot,
            generation,
        };
        WorkerProcess::spawn(
            program,
            &setup,
            place,
            self.job.hub.clone(),
            self.events_tx.clone(),
        )
        .map_err(|source| Error::SpawnWorker {
            program: program.clone(),
            source,
        })
    }

    pub(crate) fn has_ready(&self) -> bool {
        self.fatal.is_some() || self.finished || self.peek_done()
    }

    fn peek_done(&self) -> bool {
        match self.ordered {
            true => self.done.contains_key(&self.next_out),
            false => !self.done.is_empty(),
        }
    }

    pub(crate) fn next(&mut self) -> Option<Result<TaskOutput, Error>> {
        loop {
            if self.peek_done() {
                let (_, output) = self.done.pop_first().expect("peeked");
                self.next_out = output.index + 1;
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
            if self.inputs_done
                && self.pending.is_empty()
                && self.done.is_empty()
                && self.submitted.is_empty()
                && !self.accepting
            {
                self.finished = true;
                return None;
            }
            self.wait();
        }
    }

    /// Handles the next event, or kills the workers whose batch is overdue.
    fn wait(&mut self) {
        let deadline = self.slots.iter().filter_map(|slot| slot.deadline).min();
        let event = match deadline {
            Some(deadline) => self.events.recv_deadline(deadline).ok(),
            None => Some(self.events.recv().expect("the run holds a sender")),
        };
        match event {
            Some(event) => self.handle(event),
            None => {
                let now = Instant::now();
                for slot in &mut self.slots {
                    if slot.deadline.is_some_and(|d| d <= now) && !slot.ready {
                        slot.deadline = None;
                        slot.process.kill();
                        self.fatal = Some(Error::CompileTimeout {
                            name: self.task.component().name().to_string(),
                            timeout: self.job.settings.compile_timeout,
                        });
                    } else if slot.deadline.is_some_and(|d| d <= now) {
                        slot.deadline = None;
                        slot.hung = true;
                        slot.process.kill();
                    }
                }
            }
        }
    }

    /// When a batch of `len` tasks starting now must be answered by.
    fn batch_deadline(&self, len: usize) -> Instant {
        Instant::now() + (self.job.settings.limits.timeout + TICK) * len as u32 + GRACE
    }

    /// Tops up every ready worker to [`IN_FLIGHT`] batches.
    fn dispatch(&mut self) {
        for slot in 0..self.slots.len() {
            while self.slots[slot].ready && self.slots[slot].batches.len() < IN_FLIGHT {
                let batch = self.next_batch();
                if batch.is_empty() {
                    return;
                }
                let calls = batch
                    .iter()
                    .map(|index| Call {
                        index: *index,
                        args: self.pending[index].input.args.clone(),
                    })
                    .collect();
                let deadline = self.batch_deadline(batch.len());
                let target = &mut self.slots[slot];
                if target.process.send(&ToWorker::Batch(calls)).is_err() {
                    // The worker is dying; its `Exited` event will come. The
                    // batch never reached it, so it costs no attempt.
                    target.ready = false;
                    self.retry.extend(batch);
                } else {
                    target.deadline.get_or_insert(deadline);
                    target.batches.push_back(batch);
                }
            }
        }
    }

    /// Lets inputs be added while the run goes on: send [`RunEvent::Submit`]
    /// for each, then [`RunEvent::Close`] (or [`RunEvent::Terminate`]). Until
    /// then, the run does not end.
    pub(crate) fn submitter(&mut self) -> Sender<RunEvent> {
        self.accepting = true;
        self.events_tx.clone()
    }

    /// The next batch: a task to retry, alone, or fresh inputs.
    fn next_batch(&mut self) -> Vec<u64> {
        if let Some(index) = self.retry.pop_front() {
            return vec![index];
        }
        if let Some(input) = self.submitted.pop_front() {
            let index = self.next_index;
            self.next_index += 1;
            self.pending.insert(index, Pending { input, deaths: 0 });
            return vec![index];
        }
        let size = match self.cost {
            None => 1,
            Some(cost) => (BATCH_TIME.as_nanos() / cost.as_nanos().max(1))
                .clamp(1, MAX_BATCH as u128) as usize,
        };
        let mut batch = Vec::with_capacity(size);
        while batch.len() < size && !self.inputs_done {
            if self.ordered && self.next_index >= self.next_out + WINDOW {
                break;
            }
            let Some(input) = self.inputs.next() else {
                self.inputs_done = true;
                break;
            };
            let index = self.next_index;
            self.next_index += 1;
            if let Some(error) = self.too_large(&input) {
                // It never reaches a worker: it fails at once.
                self.done.insert(index, failed(index, input, error));
                continue;
            }
            self.pending.insert(index, Pending { input, deaths: 0 });
            batch.push(index);
        }
        batch
    }

    fn too_large(&self, input: &Input) -> Option<TaskError> {
        let size: usize = input.args.iter().map(String::len).sum();
        let limit = self.job.settings.limits.max_value;
        (size > limit).then_some(TaskError::TooLarge {
            what: "input",
            size: size as u64,
            limit: limit as u64,
        })
    }

    fn handle(&mut self, event: RunEvent) {
        let (slot, generation, kind) = match event {
            RunEvent::Worker {
                slot,
                generation,
                kind,
            } => (slot, generation, kind),
            RunEvent::Submit(input) => return self.submitted.push_back(input),
            RunEvent::Close => {
                self.accepting = false;
                return;
            }
            RunEvent::Terminate => return self.terminate(),
        };
        if self
            .slots
            .get(slot)
            .is_none_or(|s| s.generation != generation)
        {
            return;
        }
        match kind {
            EventKind::Ready { artifact } => {
                self.slots[slot].ready = true;
                self.slots[slot].deadline = None;
                if let (Some(artifact), Some((cache, entry)), None) =
                    (artifact, &self.cache, &self.compiled)
                {
                    // A cache that cannot be written only costs speed.
                    let _ = cache.put(entry, &artifact);
                    self.compiled = Some(artifact.into());
                }
            }
            EventKind::SetupFailed(message) => {
                self.fatal = Some(Error::CannotRun {
                    name: self.task.component().name().to_string(),
                    reason: message,
                });
            }
            EventKind::Done { busy, results } => {
                self.slots[slot].batches.pop_front();
                self.deaths_in_a_row = 0;
                let next_len = self.slots[slot].batches.front().map(Vec::len);
                self.slots[slot].deadline = next_len.map(|len| self.batch_deadline(len));
                if !results.is_empty() {
                    let per_task = busy / results.len() as u32;
                    self.cost = Some(match self.cost {
                        None => per_task,
                        Some(cost) => (cost * 3 + per_task) / 4,
                    });
                }
                for result in results {
                    self.finish(result);
                }
            }
            EventKind::Exited => self.replace(slot),
        }
    }

    fn finish(&mut self, result: CallResult) {
        let Some(pending) = self.pending.remove(&result.index) else {
            return;
        };
        let outcome = result
            .outcome
            .map(|wave| self.task.value(wave))
            .map_err(|failure| match failure {
                Failure::Returned(wave) => TaskError::Returned(self.task.value(wave)),
                Failure::Trap(message) => TaskError::Trap(message),
                Failure::Exit(code) => TaskError::Exit(code),
                Failure::StackOverflow => TaskError::StackOverflow,
                Failure::Timeout(after) => TaskError::Timeout(after),
                Failure::OutOfFuel(fuel) => TaskError::OutOfFuel(fuel),
                Failure::MemoryLimit(bytes) => TaskError::MemoryLimit(bytes),
                Failure::ResultTooLarge { size, limit } => TaskError::TooLarge {
                    what: "result",
                    size,
                    limit,
                },
            });
        self.done.insert(
            result.index,
            TaskOutput {
                index: result.index,
                input: pending.input,
                result: outcome,
                stdout: result.stdout,
                stderr: result.stderr,
            },
        );
    }

    /// Kills every worker and fails every unfinished task.
    fn terminate(&mut self) {
        self.terminated = true;
        self.accepting = false;
        self.inputs_done = true;
        for slot in &mut self.slots {
            slot.ready = false;
            slot.deadline = None;
            slot.batches.clear();
            slot.process.kill();
        }
        self.retry.clear();
        for input in std::mem::take(&mut self.submitted) {
            let index = self.next_index;
            self.next_index += 1;
            self.pending.insert(index, Pending { input, deaths: 0 });
        }
        for (index, pending) in std::mem::take(&mut self.pending) {
            self.done
                .insert(index, failed(index, pending.input, TaskError::Terminated));
        }
    }

    /// A worker died: its unfinished tasks are retried or failed, and a new
    /// worker takes the slot.
    fn replace(&mut self, slot: usize) {
        if self.terminated {
            self.slots[slot].process.reap();
            return;
        }
        let old = &mut self.slots[slot];
        let mut reason = old.process.reap();
        if old.hung {
            reason = format!("worker stopped answering and was killed ({reason})");
        }
        // Only the oldest batch was running: the worker answers batches in
        // order, and the answers it sent came before its end. The batches
        // behind it never started, and cost no attempt.
        let mut batches = old.batches.drain(..);
        let ran = batches.next().unwrap_or_default();
        let waiting: Vec<u64> = batches.flatten().collect();
        self.retry.extend(waiting);
        for index in ran {
            let pending = self.pending.get_mut(&index).expect("in flight");
            pending.deaths += 1;
            if pending.deaths > self.job.settings.retries {
                let pending = self.pending.remove(&index).expect("in flight");
                let error = TaskError::WorkerLost {
                    attempts: pending.deaths,
                    reason: reason.clone(),
                };
                self.done.insert(index, failed(index, pending.input, error));
            } else {
                self.retry.push_back(index);
            }
        }
        self.deaths_in_a_row += 1;
        if self.deaths_in_a_row >= MAX_DEATHS_IN_A_ROW {
            self.fatal = Some(Error::CrashLoop {
                deaths: self.deaths_in_a_row,
                last: reason,
            });
            return;
        }
        let generation = self.slots[slot].generation + 1;
        match self.spawn(slot, generation) {
            Ok(process) => {
                self.slots[slot] = Slot::new(process, generation, self.job.settings.compile_timeout)
            }
            Err(error) => self.fatal = Some(error),
        }
    }
}

/// The output of a task that failed without a result from a worker.
fn failed(index: u64, input: Input, error: TaskError) -> TaskOutput {
    TaskOutput {
        index,
        input,
        result: Err(error),
        stdout: Default::default(),
        stderr: Default::default(),
    }
}
