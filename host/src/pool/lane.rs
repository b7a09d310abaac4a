//! Runs fed one input at a time, for [`Pool::apply_async`](crate::Pool::apply_async)
//! and [`Pool::spawn`](crate::Pool::spawn): a [`Lane`] is a run on a thread
//! of its own, whose inputs are submitted while it goes on; each submission
//! gets an [`AsyncResult`]. [`Lanes`] keeps a pool's lanes, one per task. A
//! [`Process`] is a lane of one worker and one task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::dispatch::{Run, RunEvent};
use super::error::{Error, TaskError};
use super::job::Job;
use super::output::TaskOutput;
use super::task::Task;
use super::value::{Input, Value};

/// What to call with a task's result when it comes, on a thread of the
/// pool's, as Python's `apply_async` calls `callback` and `error_callback`.
///
/// ```
/// let callbacks = wpool::Callbacks::default()
///     .on_success(|value| println!("got {value}"))
///     .on_error(|error| eprintln!("failed: {error}"));
/// ```
#[derive(Default)]
pub struct Callbacks {
    on_success: Option<SuccessCallback>,
    on_error: Option<ErrorCallback>,
}

type SuccessCallback = Box<dyn FnOnce(&Value) + Send>;
type ErrorCallback = Box<dyn FnOnce(&TaskError) + Send>;

impl Callbacks {
    /// Calls `f` with the value when the task succeeds.
    pub fn on_success(mut self, f: impl FnOnce(&Value) + Send + 'static) -> Callbacks {
        self.on_success = Some(Box::new(f));
        self
    }

    /// Calls `f` with the error when the task fails.
    pub fn on_error(mut self, f: impl FnOnce(&TaskError) + Send + 'static) -> Callbacks {
        self.on_error = Some(Box::new(f));
        self
    }
}

/// Where a submitted task's output goes.
struct Delivery {
    output: Sender<TaskOutput>,
    callbacks: Callbacks,
}

/// A pool's `apply_async` lanes, one per task. Dropping it closes them:
/// each finishes what was submitted, then stops.
#[derive(Default)]
pub(crate) struct Lanes(Mutex<LanesState>);

#[derive(Default)]
struct LanesState {
    closed: bool,
    /// One lane per task, keyed by the task's identity.
    by_task: Vec<(Task, Lane)>,
}

impl Lanes {
    /// Submits `input` to the lane of `task`, starting the lane first if it
    /// has none. The pool's lock is not held while a new lane's workers
    /// compile, so `close` and `terminate` never wait for a compile.
    pub(crate) fn submit(
        &self,
        job: &Arc<Job>,
        task: &Task,
        input: Input,
        callbacks: Callbacks,
    ) -> Result<AsyncResult, Error> {
        {
            let state = lock(&self.0);
            if state.closed {
                return Err(Error::Closed { input });
            }
            if let Some((_, lane)) = state.by_task.iter().find(|(t, _)| t.same_function(task)) {
                return Ok(lane.submit(input, callbacks));
            }
        }
        let started = Lane::start(job, job.settings.workers, task)?;
        let mut state = lock(&self.0);
        if state.closed {
            started.close();
            return Err(Error::Closed { input });
        }
        // Another thread may have started a lane for this task meanwhile:
        // the first one serves, the other ends at once, having run nothing.
        let lane = match state
            .by_task
            .iter()
            .position(|(t, _)| t.same_function(task))
        {
            Some(i) => {
                started.close();
                &state.by_task[i].1
            }
            None => {
                state.by_task.push((task.clone(), started));
                &state.by_task.last().expect("just pushed").1
            }
        };
        Ok(lane.submit(input, callbacks))
    }

    /// No more submissions; what was submitted still runs.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.0);
        state.closed = true;
        for (_, lane) in &state.by_task {
            lane.close();
        }
    }

    /// Kills every lane's workers; unfinished tasks fail as terminated.
    pub(crate) fn terminate(&self) {
        let mut state = lock(&self.0);
        state.closed = true;
        for (_, lane) in &state.by_task {
            lane.terminate();
        }
    }

    /// Closes, then waits until every lane has finished and stopped.
    pub(crate) fn join(&self) {
        self.close();
        let lanes = std::mem::take(&mut lock(&self.0).by_task);
        for (_, lane) in lanes {
            lane.join();
        }
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        self.close();
    }
}

pub(crate) struct Lane {
    events: Sender<RunEvent>,
    /// By the index the run gives the n-th submission: n.
    deliveries: Arc<Mutex<HashMap<u64, Delivery>>>,
    submitted: Mutex<u64>,
    thread: JoinHandle<()>,
}

impl Lane {
    /// Starts the run's workers (reporting a component that cannot run) and
    /// the thread that drives the run.
    pub(crate) fn start(job: &Arc<Job>, workers: usize, task: &Task) -> Result<Lane, Error> {
        let mut run = Run::start(job, workers, task, std::iter::empty(), false)?;
        let events = run.submitter();
        let deliveries: Arc<Mutex<HashMap<u64, Delivery>>> = Arc::default();
        let routes = deliveries.clone();
        let thread = std::thread::Builder::new()
            .name("wpool-lane".into())
            .spawn(move || {
                // A run that fails as a whole drops the pending deliveries:
                // their results then report the loss.
                while let Some(Ok(output)) = run.next() {
                    if let Some(Delivery {
                        output: tx,
                        callbacks,
                    }) = lock(&routes).remove(&output.index)
                    {
                        match (&output.result, callbacks) {
                            (
                                Ok(value),
                                Callbacks {
                                    on_success: Some(f),
                                    ..
                                },
                            ) => f(value),
                            (
                                Err(error),
                                Callbacks {
                                    on_error: Some(f), ..
                                },
                            ) => f(error),
                            _ => {}
                        }
                        let _ = tx.send(output);
                    }
                }
            })
            .map_err(|source| Error::Thread { source })?;
        Ok(Lane {
            events,
            deliveries,
            submitted: Mutex::new(0),
            thread,
        })
    }

    pub(crate) fn submit(&self, input: Input, callbacks: Callbacks) -> AsyncResult {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut submitted = lock(&self.submitted);
        lock(&self.deliveries).insert(
            *submitted,
            Delivery {
                output: tx,
                callbacks,
            },
        );
        *submitted += 1;
        // The run's thread holds the receiver until it ends; a run that has
        // ended already drops the delivery, which its result reports.
        if self.events.send(RunEvent::Submit(input)).is_err() {
            lock(&self.deliveries).remove(&(*submitted - 1));
        }
        AsyncResult {
            state: Mutex::new(State::Waiting(rx)),
        }
    }

    pub(crate) fn close(&self) {
        let _ = self.events.send(RunEvent::Close);
    }

    pub(crate) fn terminate(&self) {
        let _ = self.events.send(RunEvent::Terminate);
    }

    pub(crate) fn join(self) {
        self.close();
        let _ = self.thread.join();
    }

    fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one is still whole.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The output of a task submitted with `apply_async`, to collect later.
pub struct AsyncResult {
    state: Mutex<State>,
}

enum State {
    Waiting(Receiver<TaskOutput>),
    Done(TaskOutput),
    /// The run stopped as a whole (its workers could not be replaced).
    Lost,
}

/// Why [`AsyncResult::get`] has no output to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AsyncError {
    /// The timeout passed before the task finished.
    #[error("the task has not finished")]
    NotReady,
    /// The task's run stopped as a whole (its workers kept dying, or could
    /// not be started again) before it finished.
    #[error("the task's run stopped before the task finished")]
    Lost,
}

impl AsyncResult {
    /// Waits up to `timeout` (forever for `None`) and returns the task's
    /// output; may be called again, and returns the same output.
    ///
    /// # Errors
    /// [`AsyncError::NotReady`] when the timeout passes first,
    /// [`AsyncError::Lost`] when the task can no longer finish.
    pub fn get(&self, timeout: Option<Duration>) -> Result<TaskOutput, AsyncError> {
        let mut state = lock(&self.state);
        if let State::Waiting(rx) = &*state {
            let received = match timeout {
                Some(timeout) => rx.recv_timeout(timeout),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            *state = match received {
                Ok(output) => State::Done(output),
                Err(RecvTimeoutError::Timeout) => return Err(AsyncError::NotReady),
                Err(RecvTimeoutError::Disconnected) => State::Lost,
            };
        }
        match &*state {
            State::Done(output) => Ok(output.clone()),
            State::Lost => Err(AsyncError::Lost),
            State::Waiting(_) => unreachable!("a waiting state was just resolved"),
        }
    }

    /// Waits up to `timeout` for the task to finish; returns whether it has.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        self.get(timeout).is_ok()
    }

    /// Whether the task has finished (successfully or not).
    pub fn ready(&self) -> bool {
        self.wait(Some(Duration::ZERO))
    }
}

/// A task running on a worker process of its own: see
/// [`Pool::spawn`](crate::Pool::spawn). Dropping it does not stop the task;
/// [`Process::terminate`] does.
pub struct Process {
    lane: Option<Lane>,
    result: AsyncResult,
}

impl Process {
    /// Starts `task` on a worker process of its own, with `input`.
    pub(crate) fn start(job: &Arc<Job>, task: &Task, input: Input) -> Result<Process, Error> {
        let lane = Lane::start(job, 1, task)?;
        let result = lane.submit(input, Callbacks::default());
        lane.close();
        Ok(Process {
            lane: Some(lane),
            result,
        })
    }

    /// Waits up to `timeout` (forever for `None`) for the task to finish;
    /// returns whether it has, like `Process.join` followed by a look at
    /// `is_alive`.
    pub fn join(&mut self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let finished = self.result.wait(timeout);
        if finished && let Some(lane) = self.lane.take() {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_none_or(|left| !left.is_zero()) || lane.is_finished() {
                lane.join();
            } else {
                self.lane = Some(lane);
            }
        }
        finished
    }

    /// Whether the task is still running.
    pub fn is_alive(&self) -> bool {
        !self.result.ready()
    }

    /// The exit code, like `Process.exitcode`: `None` while the task runs;
    /// 0 when it returned a value; the status it passed to WASI `exit`; -9
    /// when it was terminated; 1 for any other failure.
    pub fn exit_code(&self) -> Option<i32> {
        let output = self.result.get(Some(Duration::ZERO));
        match output.map(|o| o.result) {
            Err(AsyncError::NotReady) => None,
            Err(_) => Some(1),
            Ok(Ok(_)) => Some(0),
            Ok(Err(TaskError::Exit(code))) => Some(code),
            Ok(Err(TaskError::Terminated)) => Some(-9),
            Ok(Err(_)) => Some(1),
        }
    }

    /// The task's output, once it has finished.
    pub fn output(&self) -> Option<TaskOutput> {
        self.result.get(Some(Duration::ZERO)).ok()
    }

    /// Kills the worker process; the task fails with
    /// [`TaskError::Terminated`].
    pub fn terminate(&self) {
        if let Some(lane) = &self.lane {
            lane.terminate();
        }
    }
}
