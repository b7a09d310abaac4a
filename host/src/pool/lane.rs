//! Runs fed one input at a time, for [`Pool::apply_async`](crate::Pool::apply_async)
//! and [`Pool::spawn`](crate::Pool::spawn): a [`Lane`] is a run on a thread
//! of its own whose source is a channel of submissions, each of any task;
//! each submission gets an [`AsyncResult`]. [`Lanes`] keeps a pool's one
//! `apply_async` lane, on the pool's workers, which it shares with the
//! pool's other runs (see `dispatch`). A [`Process`] is a lane of
//! one worker and one task, whose output may stream as it is written
//! ([`ProcessOptions`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::dispatch::{OutputSink, Plan, Run, Scheduler, Source, Submitted, prepare};
use super::error::{Error, TaskError};
use super::job::Job;
use super::output::TaskOutput;
use super::task::Task;
use super::value::{Input, Value};
use crate::protocol::Stream;

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
    /// A process's [`ProcessOptions::on_exit`]: called after the others.
    on_exit: Option<ExitCallback>,
}

type SuccessCallback = Box<dyn FnOnce(&Value) + Send>;
type ErrorCallback = Box<dyn FnOnce(&TaskError) + Send>;
type ExitCallback = Box<dyn FnOnce(&TaskOutput) + Send>;

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

/// The outcome of a submitted task, shared by the lane that sets it and the
/// [`AsyncResult`] that reads it: its output, or `None` when the run stopped
/// before the task finished.
type Outcome = Arc<OnceLock<Option<TaskOutput>>>;

/// Where a submitted task's output goes. Dropping it settles the outcome
/// (as lost, unless it was set) and then drops `_settled`: a closed channel
/// wakes every thread waiting in [`AsyncResult::get`].
struct Delivery {
    /// Set once, by the lane's thread or by the drop.
    outcome: Outcome,
    /// Called on the lane's thread before the outcome is set.
    callbacks: Callbacks,
    /// Never sent on: it closes when the delivery drops, after the outcome
    /// is set.
    _settled: Sender<Infallible>,
}

impl Drop for Delivery {
    fn drop(&mut self) {
        let _ = self.outcome.set(None);
    }
}

/// A pool's `apply_async` lane, for every task. Dropping it closes it: it
/// finishes what was submitted, then stops.
#[derive(Default)]
pub(crate) struct Lanes(Mutex<LanesState>);

#[derive(Default)]
struct LanesState {
    closed: bool,
    lane: Option<Lane>,
}

impl Lanes {
    /// Submits `input` of `task` to the pool's lane, starting the lane
    /// first if it has none. A task new to the pool is compiled first, so
    /// that one that cannot run is reported here. The pool's lock is not
    /// held while a task compiles or a new lane's workers start, so `close`
    /// and `terminate` never wait for them.
    pub(crate) fn submit(
        &self,
        job: &Arc<Job>,
        scheduler: &Scheduler,
        task: &Task,
        input: Input,
        callbacks: Callbacks,
    ) -> Result<AsyncResult, Error> {
        if lock(&self.0).closed {
            return Err(Error::Closed { input });
        }
        prepare(job, task, scheduler.known())?;
        {
            let state = lock(&self.0);
            if state.closed {
                return Err(Error::Closed { input });
            }
            if let Some(lane) = &state.lane {
                return Ok(lane.submit(job.next_submission(), task, input, callbacks));
            }
        }
        let plan = Plan {
            scheduler: Some(scheduler.clone()),
            ..Plan::new(job, job.settings.workers, false)
        };
        let started = Lane::start(job, task, plan)?;
        let mut state = lock(&self.0);
        if state.closed {
            started.close();
            return Err(Error::Closed { input });
        }
        // Another thread may have started the lane meanwhile: the first one
        // serves, the other ends at once, having run nothing.
        let lane = match &state.lane {
            Some(_) => {
                started.close();
                state.lane.as_ref().expect("checked")
            }
            None => state.lane.insert(started),
        };
        Ok(lane.submit(job.next_submission(), task, input, callbacks))
    }

    /// No more submissions; what was submitted still runs.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.0);
        state.closed = true;
        if let Some(lane) = &state.lane {
            lane.close();
        }
    }

    /// Kills the lane's workers; unfinished tasks fail as terminated.
    pub(crate) fn terminate(&self) {
        let mut state = lock(&self.0);
        state.closed = true;
        if let Some(lane) = &state.lane {
            lane.terminate();
        }
    }

    /// Closes, then waits until the lane has finished and stopped.
    pub(crate) fn join(&self) {
        self.close();
        let lane = lock(&self.0).lane.take();
        if let Some(lane) = lane {
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
    /// The run's source: it reads each submission as its next input. Taken
    /// by [`Lane::close`]: when the sender drops, the run finishes what was
    /// submitted, then ends.
    submissions: Mutex<Option<Sender<Submitted>>>,
    /// A message terminates the run: its workers are killed, and what is
    /// unfinished fails.
    terminate: Sender<()>,
    /// Where each submitted task's output goes, by its index.
    deliveries: Arc<Mutex<HashMap<u64, Delivery>>>,
    /// Drives the run and delivers its outputs; ends with the run.
    thread: JoinHandle<()>,
}

impl Lane {
    /// Starts the run's workers (reporting a component that cannot run),
    /// `task` their first, and the thread that drives the run, as `plan`
    /// says; the lane terminates it.
    pub(crate) fn start(job: &Arc<Job>, task: &Task, plan: Plan) -> Result<Lane, Error> {
        let (submissions, source) = crossbeam_channel::unbounded();
        let (terminate, terminated) = crossbeam_channel::bounded(1);
        let source = Source::<std::iter::Empty<Input>>::Submitted(source, None);
        let plan = Plan {
            terminate: Some(terminated),
            ..plan
        };
        let mut run = Run::start(job, task, source, plan)?;
        let deliveries: Arc<Mutex<HashMap<u64, Delivery>>> = Arc::default();
        let routes = deliveries.clone();
        let thread = std::thread::Builder::new()
            .name("wpool-lane".into())
            .spawn(move || {
                while let Some(Ok(output)) = run.next() {
                    // Not under the lock: a callback may submit.
                    let delivery = lock(&routes).remove(&output.index);
                    if let Some(delivery) = delivery {
                        delivery.deliver(output);
                    }
                }
                // Submissions fail from now on. A run that failed as a whole
                // leaves deliveries pending: dropped, their results report
                // the loss.
                drop(run);
                lock(&routes).clear();
            })
            .map_err(|source| Error::Thread { source })?;
        Ok(Lane {
            submissions: Mutex::new(Some(submissions)),
            terminate,
            deliveries,
            thread,
        })
    }

    /// Submits `input` of `task` as task `index`, which must be new to the
    /// lane.
    pub(crate) fn submit(
        &self,
        index: u64,
        task: &Task,
        input: Input,
        callbacks: Callbacks,
    ) -> AsyncResult {
        let (settled, waiting) = crossbeam_channel::bounded(0);
        let outcome = Outcome::default();
        let delivery = Delivery {
            outcome: outcome.clone(),
            callbacks,
            _settled: settled,
        };
        lock(&self.deliveries).insert(index, delivery);
        // A closed lane, or a run that has ended already, drops the
        // delivery, which its result reports.
        let submissions = lock(&self.submissions);
        let sent = submissions
            .as_ref()
            .is_some_and(|s| s.send((index, task.clone(), input)).is_ok());
        drop(submissions);
        if !sent {
            lock(&self.deliveries).remove(&index);
        }
        AsyncResult { outcome, waiting }
    }

    pub(crate) fn close(&self) {
        lock(&self.submissions).take();
    }

    pub(crate) fn terminate(&self) {
        let _ = self.terminate.try_send(());
    }

    pub(crate) fn join(self) {
        self.close();
        // A callback, on the lane's thread, cannot wait for that thread:
        // the lane finishes what was submitted after it returns.
        if self.thread.thread().id() != std::thread::current().id() {
            let _ = self.thread.join();
        }
    }

    fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

impl Delivery {
    /// Calls the callback that matches the output, and then `on_exit`,
    /// then settles the outcome.
    fn deliver(mut self, output: TaskOutput) {
        let Callbacks {
            on_success,
            on_error,
            on_exit,
        } = std::mem::take(&mut self.callbacks);
        match (&output.result, on_success, on_error) {
            (Ok(value), Some(f), _) => f(value),
            (Err(error), _, Some(f)) => f(error),
            _ => {}
        }
        if let Some(f) = on_exit {
            f(&output);
        }
        let _ = self.outcome.set(Some(output));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one is still whole.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The output of a task submitted with `apply_async`, to collect later.
/// Any number of threads may wait on it at once.
pub struct AsyncResult {
    outcome: Outcome,
    /// Closes once the outcome is set; nothing is ever sent on it.
    waiting: Receiver<Infallible>,
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
        if self.outcome.get().is_none() {
            let waited = match timeout {
                Some(timeout) => self.waiting.recv_timeout(timeout),
                None => self
                    .waiting
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            if let Err(RecvTimeoutError::Timeout) = waited {
                return Err(AsyncError::NotReady);
            }
        }
        match self.outcome.get() {
            Some(Some(output)) => Ok(output.clone()),
            Some(None) => Err(AsyncError::Lost),
            None => unreachable!("the outcome is set before its channel closes"),
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

/// How [`Pool::spawn_with`](crate::Pool::spawn_with) runs a process:
/// where its output goes as it is written, what to call when it ends, and
/// whether it is started again when its worker dies.
///
/// ```
/// use std::io::Write as _;
///
/// let options = wpool::ProcessOptions::default()
///     .on_output(|stream, bytes| match stream {
///         wpool::Stream::Stdout => std::io::stdout().write_all(bytes).unwrap(),
///         wpool::Stream::Stderr => std::io::stderr().write_all(bytes).unwrap(),
///     })
///     .on_exit(|output| println!("process {} ended", output.index));
/// ```
#[derive(Default)]
pub struct ProcessOptions {
    on_output: Option<OutputSink>,
    on_exit: Option<ExitCallback>,
    retries: u32,
}

impl ProcessOptions {
    /// Streams the process's output to `f` as it is written, instead of
    /// capturing it into its [`TaskOutput`] (whose `stdout` and `stderr`
    /// are then empty): `f` gets whole lines, unless a line outgrows 16
    /// KiB, and what is left when the task ends or its worker dies (an
    /// unfinished line waits for its end, even if the guest flushes). It is
    /// called on a thread of the pool's, one call at a time; while it runs,
    /// the process waits when it writes more. What a process wrote before
    /// its worker died has been given to `f`, its unfinished line too.
    pub fn on_output(
        mut self,
        f: impl Fn(Stream, &[u8]) + Send + Sync + 'static,
    ) -> ProcessOptions {
        self.on_output = Some(Arc::new(f));
        self
    }

    /// Calls `f` with the process's output when it ends, on a thread of the
    /// pool's, before [`Process::join`] returns.
    pub fn on_exit(mut self, f: impl FnOnce(&TaskOutput) + Send + 'static) -> ProcessOptions {
        self.on_exit = Some(Box::new(f));
        self
    }

    /// Starts the task again, up to `n` times, when the worker running it
    /// dies (a process is never started again by default, as Python never
    /// restarts one). What the earlier attempts did, to shared objects and
    /// on their output, stays done.
    pub fn retries(mut self, n: u32) -> ProcessOptions {
        self.retries = n;
        self
    }
}

/// A task running on a worker process of its own: see
/// [`Pool::spawn`](crate::Pool::spawn). Dropping it does not stop the task;
/// [`Process::terminate`] does.
pub struct Process {
    lane: Option<Lane>,
    result: AsyncResult,
    /// The process id of its worker; 0 before it starts.
    pid: Arc<AtomicU32>,
}

impl Process {
    /// Starts `task` on a worker process of its own, with `input`, as
    /// `options` say.
    pub(crate) fn start(
        job: &Arc<Job>,
        task: &Task,
        input: Input,
        options: ProcessOptions,
    ) -> Result<Process, Error> {
        let pid = Arc::new(AtomicU32::new(0));
        let plan = Plan {
            retries: options.retries,
            output: options.on_output,
            pid: Some(pid.clone()),
            ..Plan::new(job, 1, false)
        };
        let lane = Lane::start(job, task, plan)?;
        let callbacks = Callbacks {
            on_exit: options.on_exit,
            ..Callbacks::default()
        };
        let result = lane.submit(job.next_submission(), task, input, callbacks);
        lane.close();
        Ok(Process {
            lane: Some(lane),
            result,
            pid,
        })
    }

    /// The operating system's id of the worker process running the task,
    /// like `Process.pid` (a retried process gets a new one).
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
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
    /// 0 when it returned a value; else [`TaskError::exit_code`]: the
    /// status it passed to WASI `exit`, minus the signal that killed its
    /// worker (-9 when it was terminated or killed with SIGKILL), 1 for any
    /// other failure.
    pub fn exit_code(&self) -> Option<i32> {
        let output = self.result.get(Some(Duration::ZERO));
        match output.map(|o| o.result) {
            Err(AsyncError::NotReady) => None,
            Err(_) => Some(1),
            Ok(Ok(_)) => Some(0),
            Ok(Err(error)) => Some(error.exit_code()),
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
