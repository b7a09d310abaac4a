//! What a run's workers are fed: inputs from its [`Source`], admitted one
//! way for every kind of run, and the tasks to run again after their worker
//! died. The feed keeps every input handed out until its task finishes.
//! Each input is of one [`Task`]: a run's own, or, for a submission, the
//! one it names; a batch holds inputs of one task.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, TryRecvError};
use nohash_hasher::IntMap;

use crate::pool::error::TaskError;
use crate::pool::output::TaskOutput;
use crate::pool::task::Task;
use crate::pool::value::{Input, Value};
use crate::protocol::{Call, Calls, Captured};

/// Bytes of input one batch carries at most, unless a single input is
/// larger: keeps each batch's frame far below the frame limit.
const MAX_BATCH_BYTES: usize = 64 << 20;

/// Where a run's inputs come from.
pub(crate) enum Source<I> {
    /// `map` and `imap`: an iterator, read only as workers need inputs;
    /// each input's index is its position in it. Exhausted when it returns
    /// `None`.
    Inputs(I),
    /// `apply_async` and `spawn`: inputs submitted while the run goes on,
    /// each with the index the job gave it; and an `InputStream`'s inputs,
    /// as its thread reads them. Exhausted when every sender has dropped and
    /// the channel is empty, or at once when the flag is set (an
    /// `InputStreamCloser` closed the stream): the inputs in the channel
    /// are then dropped.
    Submitted(Receiver<Submitted>, Option<Arc<AtomicBool>>),
}

/// An input submitted to a run, with the index the job gave it and the
/// task it is for.
pub(crate) type Submitted = (u64, Task, Input);

/// An input handed out and not yet finished.
struct Pending {
    task: Task,
    input: Input,
    /// How many times it was sent to a worker to run, not counting the
    /// times it came back unstarted: every attempt but the last ended with
    /// its worker's death.
    attempts: u32,
}

/// How a task that finished on a worker ran: where, for how long, and
/// what it wrote.
pub(crate) struct Ran {
    /// The worker that ran it; `None` when a cluster's agent did.
    pub worker: Option<u32>,
    /// How long the call took; `None` when a cluster's agent ran it.
    pub time: Option<std::time::Duration>,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// What became of a task whose worker died running it.
pub(super) enum Loss {
    /// It runs again, as attempt number `attempt`.
    Retried { input: Input, attempt: u32 },
    /// It had all its attempts: it failed.
    Failed(TaskOutput),
}

/// The next batch to send, and the inputs refused on the way.
pub(crate) struct Batch {
    /// What the batch's inputs are for; `None` when it has none.
    pub task: Option<Task>,
    pub indexes: Vec<u64>,
    /// Inputs refused at admission: they never reach a worker.
    pub refused: Vec<TaskOutput>,
}

pub(crate) struct Feed<I> {
    /// `None` once exhausted (or terminated): no input comes any more.
    source: Option<Source<I>>,
    /// The task of the source's inputs, when it is an iterator.
    task: Task,
    /// An input read and not handed out yet: of another task than the
    /// batch it was read for.
    peeked: Option<Submitted>,
    /// The index of the next input: the iterator's next, or the one after
    /// the last submission read (an `InputStream`'s come in order, and an
    /// ordered run reads them no further ahead of its output than an
    /// iterator's).
    next_index: u64,
    /// Every input handed out whose task has not finished, by index. The
    /// index is its own hash: indexes handed out in a row sit side by side
    /// in the table, which takes an insert and a removal a task, mostly in
    /// index order.
    pending: IntMap<u64, Pending>,
    /// Tasks whose worker died, to run again, each alone, before any new
    /// input.
    retry: VecDeque<u64>,
    /// Bytes an input's encoding may have (`Limits::max_value`).
    max_value: usize,
}

impl<I: Iterator<Item = Input>> Feed<I> {
    /// A feed of `source`, whose inputs (from an iterator) are `task`'s.
    pub(crate) fn new(source: Source<I>, task: Task, max_value: usize) -> Feed<I> {
        Feed {
            source: Some(source),
            task,
            peeked: None,
            next_index: 0,
            pending: IntMap::default(),
            retry: VecDeque::new(),
            max_value,
        }
    }

    /// The channel of submitted inputs while it may still bring one: the
    /// run waits on it when a worker has room.
    pub(crate) fn submissions(&self) -> Option<&Receiver<Submitted>> {
        match &self.source {
            Some(Source::Submitted(receiver, _)) => Some(receiver),
            _ => None,
        }
    }

    /// Whether every input has been read and every task has finished.
    pub(crate) fn is_done(&self) -> bool {
        self.source.is_none() && self.pending.is_empty() && self.retry.is_empty()
    }

    /// The next batch of at most `size` tasks, all of one task: a task to
    /// retry, alone, or new inputs, none at or past `window_end` when
    /// given. Empty when no input is available now.
    pub(crate) fn next_batch(&mut self, size: usize, window_end: Option<u64>) -> Batch {
        let mut batch = Batch {
            task: None,
            indexes: Vec::new(),
            refused: Vec::new(),
        };
        if let Some(index) = self.retry.pop_front() {
            if let Some(pending) = self.pending.get_mut(&index) {
                pending.attempts += 1;
                batch.task = Some(pending.task.clone());
            }
            batch.indexes.push(index);
            return batch;
        }
        let mut bytes = 0;
        while batch.indexes.len() < size && bytes < MAX_BATCH_BYTES {
            if window_end.is_some_and(|end| self.next_index >= end) {
                break;
            }
            let Some((index, task, mut input)) = self.read() else {
                break;
            };
            if batch.task.as_ref().is_some_and(|t| !t.same_function(&task)) {
                self.peeked = Some((index, task, input));
                break;
            }
            match self.admit(&mut input) {
                Ok(size) => {
                    bytes += size;
                    batch.task.get_or_insert_with(|| task.clone());
                    let pending = Pending {
                        task,
                        input,
                        attempts: 1,
                    };
                    self.pending.insert(index, pending);
                    batch.indexes.push(index);
                }
                Err(error) => batch
                    .refused
                    .push(TaskOutput::failed(index, input, error, 0)),
            }
        }
        batch
    }

    /// Ends a closed stream: the inputs read from it and not handed out
    /// are dropped.
    fn drop_closed(&mut self) {
        if let Some(Source::Submitted(_, Some(closed))) = &self.source
            && closed.load(Ordering::SeqCst)
        {
            self.source = None;
            self.peeked = None;
        }
    }

    /// The next input from the source, if one is there now.
    fn read(&mut self) -> Option<Submitted> {
        self.drop_closed();
        if let Some(peeked) = self.peeked.take() {
            return Some(peeked);
        }
        let next = match self.source.as_mut()? {
            Source::Inputs(inputs) => inputs.next().map(|input| {
                self.next_index += 1;
                (self.next_index - 1, self.task.clone(), input)
            }),
            Source::Submitted(receiver, _) => match receiver.try_recv() {
                Ok(submitted) => {
                    self.next_index = submitted.0 + 1;
                    Some(submitted)
                }
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => None,
            },
        };
        if next.is_none() {
            self.source = None;
        }
        next
    }

    /// Admission, the same for every run: an input larger than
    /// `Limits::max_value` fails at once. Returns the input's size.
    fn admit(&self, input: &mut Input) -> Result<usize, TaskError> {
        input.load(self.max_value)?;
        let size = input.args.len();
        if size > self.max_value {
            return Err(TaskError::TooLarge {
                what: "input",
                size: Some(size as u64),
                limit: self.max_value as u64,
            });
        }
        Ok(size)
    }

    /// The calls that run the tasks `indexes`, their arguments in one
    /// buffer; the worker's id for their task is the slots' to set.
    pub(crate) fn calls(&self, indexes: &[u64]) -> Calls {
        let inputs: Vec<&Input> = indexes.iter().map(|i| &self.pending[i].input).collect();
        // One input is sent as it is, without a copy.
        if let ([index], [input]) = (indexes, &inputs[..]) {
            return Calls {
                task: 0,
                calls: vec![Call {
                    index: *index,
                    size: input.args.len() as u64,
                }],
                args: input.args.to_bytes(),
            };
        }
        let mut args = Vec::with_capacity(inputs.iter().map(|input| input.args.len()).sum());
        let calls = indexes
            .iter()
            .zip(inputs)
            .map(|(&index, input)| {
                args.extend_from_slice(input.args.as_slice());
                Call {
                    index,
                    size: input.args.len() as u64,
                }
            })
            .collect();
        Calls {
            task: 0,
            calls,
            args: args.into(),
        }
    }

    /// The arguments of task `index`, handed out and not finished.
    pub(crate) fn args(&self, index: u64) -> Option<bytes::Bytes> {
        self.pending
            .get(&index)
            .map(|pending| pending.input.args.to_bytes())
    }

    /// How many inputs are handed out and not finished.
    pub(crate) fn unfinished(&self) -> usize {
        self.pending.len()
    }

    /// Task `index` finished with `result`, as `ran` tells: its output,
    /// unless it had finished already.
    pub(crate) fn finish(
        &mut self,
        index: u64,
        result: Result<Value, TaskError>,
        ran: Ran,
    ) -> Option<TaskOutput> {
        let Pending {
            input, attempts, ..
        } = self.pending.remove(&index)?;
        Some(TaskOutput {
            index,
            input,
            result,
            stdout: ran.stdout,
            stderr: ran.stderr,
            attempts,
            worker: ran.worker,
            time: ran.time,
        })
    }

    /// Tasks that never started on a worker that died: they run again, at
    /// no cost of an attempt.
    pub(super) fn requeue(&mut self, indexes: impl IntoIterator<Item = u64>) {
        for index in indexes {
            if let Some(pending) = self.pending.get_mut(&index) {
                pending.attempts -= 1;
            }
            self.retry.push_back(index);
        }
    }

    /// Task `index` was running on a worker that died (for `reason`, by
    /// `signal` if one killed it): it runs again, alone, unless it has had
    /// `retries` attempts more already; then it fails.
    pub(super) fn lost(
        &mut self,
        index: u64,
        retries: u32,
        reason: &str,
        signal: Option<i32>,
    ) -> Option<Loss> {
        let pending = self.pending.get(&index)?;
        if pending.attempts <= retries {
            self.retry.push_back(index);
            return Some(Loss::Retried {
                input: pending.input.clone(),
                attempt: pending.attempts + 1,
            });
        }
        let Pending {
            input, attempts, ..
        } = self.pending.remove(&index)?;
        let error = TaskError::WorkerLost {
            attempts,
            reason: reason.to_owned(),
            signal,
        };
        Some(Loss::Failed(TaskOutput::failed(
            index, input, error, attempts,
        )))
    }

    /// Stops the feed: no input is read any more, and every input handed
    /// out or submitted and not yet finished fails with `error`.
    pub(super) fn stop(&mut self, error: TaskError) -> Vec<TaskOutput> {
        let mut unfinished: Vec<(u64, Input, u32)> = self
            .pending
            .drain()
            .map(|(index, pending)| (index, pending.input, pending.attempts))
            .collect();
        let peeked = self.peeked.take().into_iter();
        unfinished.extend(peeked.map(|(index, _, input)| (index, input, 0)));
        if let Some(Source::Submitted(receiver, _)) = self.source.take() {
            unfinished.extend(
                receiver
                    .try_iter()
                    .map(|(index, _, input)| (index, input, 0)),
            );
        }
        self.retry.clear();
        unfinished
            .into_iter()
            .map(|(index, input, attempts)| {
                TaskOutput::failed(index, input, error.clone(), attempts)
            })
            .collect()
    }
}
