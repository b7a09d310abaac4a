//! What a run's workers are fed: inputs from its [`Source`], admitted one
//! way for every kind of run, and the tasks to run again after their worker
//! died. The feed keeps every input handed out until its task finishes.

use std::collections::{HashMap, VecDeque};

use crossbeam_channel::{Receiver, TryRecvError};

use crate::pool::error::TaskError;
use crate::pool::output::TaskOutput;
use crate::pool::value::Input;
use crate::protocol::{Call, Calls};

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
    /// each with the index the job gave it. Exhausted when every sender has
    /// dropped and the channel is empty.
    Submitted(Receiver<(u64, Input)>),
}

/// An input handed out and not yet finished.
struct Pending {
    input: Input,
    /// How many workers died running it.
    deaths: u32,
    /// The last worker that died running it.
    last_worker: Option<u32>,
}

/// The next batch to send, and the inputs refused on the way.
pub(super) struct Batch {
    pub indexes: Vec<u64>,
    /// Inputs refused at admission: they never reach a worker.
    pub refused: Vec<TaskOutput>,
}

pub(super) struct Feed<I> {
    /// `None` once exhausted (or terminated): no input comes any more.
    source: Option<Source<I>>,
    /// The index of the iterator's next input.
    next_index: u64,
    /// Every input handed out whose task has not finished, by index.
    pending: HashMap<u64, Pending>,
    /// Tasks whose worker died, to run again, each alone, before any new
    /// input.
    retry: VecDeque<u64>,
    /// Bytes an input's encoding may have (`Limits::max_value`).
    max_value: usize,
}

impl<I: Iterator<Item = Input>> Feed<I> {
    pub(super) fn new(source: Source<I>, max_value: usize) -> Feed<I> {
        Feed {
            source: Some(source),
            next_index: 0,
            pending: HashMap::new(),
            retry: VecDeque::new(),
            max_value,
        }
    }

    /// The channel of submitted inputs while it may still bring one: the
    /// run waits on it when a worker has room.
    pub(super) fn submissions(&self) -> Option<&Receiver<(u64, Input)>> {
        match &self.source {
            Some(Source::Submitted(receiver)) => Some(receiver),
            _ => None,
        }
    }

    /// Whether every input has been read and every task has finished.
    pub(super) fn is_done(&self) -> bool {
        self.source.is_none() && self.pending.is_empty() && self.retry.is_empty()
    }

    /// The next batch of at most `size` tasks: a task to retry, alone, or
    /// new inputs, none at or past `window_end` when given. Empty when no
    /// input is available now.
    pub(super) fn next_batch(&mut self, size: usize, window_end: Option<u64>) -> Batch {
        let mut batch = Batch {
            indexes: Vec::new(),
            refused: Vec::new(),
        };
        if let Some(index) = self.retry.pop_front() {
            batch.indexes.push(index);
            return batch;
        }
        let mut bytes = 0;
        while batch.indexes.len() < size && bytes < MAX_BATCH_BYTES {
            if window_end.is_some_and(|end| self.next_index >= end) {
                break;
            }
            let Some((index, mut input)) = self.read() else {
                break;
            };
            match self.admit(&mut input) {
                Ok(size) => {
                    bytes += size;
                    self.pending.insert(
                        index,
                        Pending {
                            input,
                            deaths: 0,
                            last_worker: None,
                        },
                    );
                    batch.indexes.push(index);
                }
                Err(error) => {
                    let output = TaskOutput::failed(index, input, error, 0, None);
                    batch.refused.push(output);
                }
            }
        }
        batch
    }

    /// The next input from the source, if one is there now.
    fn read(&mut self) -> Option<(u64, Input)> {
        let next = match self.source.as_mut()? {
            Source::Inputs(inputs) => inputs.next().map(|input| {
                self.next_index += 1;
                (self.next_index - 1, input)
            }),
            Source::Submitted(receiver) => match receiver.try_recv() {
                Ok(submitted) => Some(submitted),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => None,
            },
        };
        if next.is_none() {
            self.source = None;
        }
        next
    }

    /// Admission, the same for every run: a file is read now, as its task
    /// is dispatched; an input that cannot be made, or is larger than
    /// `Limits::max_value`, fails at once. Returns the input's size.
    fn admit(&self, input: &mut Input) -> Result<usize, TaskError> {
        input.load(self.max_value)?;
        let size = input.args.len();
        if size > self.max_value {
            return Err(TaskError::TooLarge {
                what: "input",
                size: size as u64,
                limit: self.max_value as u64,
            });
        }
        Ok(size)
    }

    /// The calls that run the tasks `indexes`, their arguments in one
    /// buffer.
    pub(super) fn calls(&self, indexes: &[u64]) -> Calls {
        let inputs: Vec<&Input> = indexes.iter().map(|i| &self.pending[i].input).collect();
        let mut args = Vec::with_capacity(inputs.iter().map(|input| input.args.len()).sum());
        let calls = indexes
            .iter()
            .zip(inputs)
            .map(|(&index, input)| {
                args.extend_from_slice(&input.args);
                Call {
                    index,
                    size: input.args.len() as u64,
                }
            })
            .collect();
        Calls {
            calls,
            args: args.into(),
        }
    }

    /// Task `index` finished: its input and how many workers died running
    /// it before, unless it had finished already.
    pub(super) fn finish(&mut self, index: u64) -> Option<(Input, u32)> {
        self.pending
            .remove(&index)
            .map(|pending| (pending.input, pending.deaths))
    }

    /// Tasks that never started on a worker that died: they run again, at
    /// no cost of an attempt.
    pub(super) fn requeue(&mut self, indexes: impl IntoIterator<Item = u64>) {
        self.retry.extend(indexes);
    }

    /// Task `index` was running on `worker`, which died: it runs again,
    /// alone, unless it has had `retries` attempts more already; then it
    /// fails.
    pub(super) fn lost(
        &mut self,
        index: u64,
        retries: u32,
        reason: &str,
        worker: u32,
    ) -> Option<TaskOutput> {
        let pending = self.pending.get_mut(&index)?;
        pending.deaths += 1;
        pending.last_worker = Some(worker);
        if pending.deaths <= retries {
            self.retry.push_back(index);
            return None;
        }
        let pending = self.pending.remove(&index)?;
        let error = TaskError::WorkerLost {
            attempts: pending.deaths,
            reason: reason.to_owned(),
        };
        Some(TaskOutput::failed(
            index,
            pending.input,
            error,
            pending.deaths,
            Some(worker),
        ))
    }

    /// Stops the feed: no input is read any more, and every input handed
    /// out or submitted and not yet finished fails with `error`.
    pub(super) fn stop(&mut self, error: TaskError) -> Vec<TaskOutput> {
        let mut unfinished: Vec<TaskOutput> = self
            .pending
            .drain()
            .map(|(index, pending)| {
                let error = error.clone();
                TaskOutput::failed(
                    index,
                    pending.input,
                    error,
                    pending.deaths,
                    pending.last_worker,
                )
            })
            .collect();
        if let Some(Source::Submitted(receiver)) = self.source.take() {
            unfinished.extend(
                receiver
                    .try_iter()
                    .map(|(index, input)| TaskOutput::failed(index, input, error.clone(), 0, None)),
            );
        }
        self.retry.clear();
        unfinished
    }
}
