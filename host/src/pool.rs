//! The public face of the pool: [`Pool`] and its [`PoolBuilder`], the
//! per-task [`Limits`], the [`TaskOutput`] each input yields, and the jobs
//! that scope shared objects.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::capture::Captured;
use crate::dispatch::Run;
use crate::hub::{
    Barrier, Connection, Dict, End, Event, Hub, HubLimits, JobId, Lock, ObjectError, Queue, Scalar,
    Semaphore, SharedArray, SharedValue,
};
use crate::lane::{AsyncResult, Callbacks, Lane, Process};
use crate::{Error, Input, Task, TaskError, Value};

/// Hard limits on every task of a run. A task that exceeds one fails alone
/// with the matching [`TaskError`]; the others go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time a task may run, enforced by epoch interruption: a task
    /// is stopped at most one tick (10 ms) after it.
    pub timeout: Duration,
    /// Fuel a task may burn (about one unit per wasm instruction); `None`
    /// for no fuel accounting, which runs faster.
    pub fuel: Option<u64>,
    /// Bytes of linear memory a task may hold.
    pub max_memory: u64,
    /// Bytes of stdout, and of stderr, kept per task; the rest is dropped
    /// and counted.
    pub max_output: usize,
    /// Bytes of an input's WAVE text, and of a result's: a task whose input
    /// or result is larger fails with [`TaskError::TooLarge`].
    pub max_value: usize,
}

impl Default for Limits {
    /// 30 s, no fuel accounting, 512 MiB of memory, 64 KiB of each output,
    /// 16 MiB per input and per result.
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(30),
            fuel: None,
            max_memory: 512 << 20,
            max_output: 64 << 10,
            max_value: 16 << 20,
        }
    }
}

/// Configures a [`Pool`]. Start from [`Pool::builder`].
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    workers: usize,
    limits: Limits,
    retries: u32,
    compile_timeout: Duration,
    worker_program: Option<PathBuf>,
    reuse: u32,
    cache_dir: Option<PathBuf>,
}

impl PoolBuilder {
    /// How long a worker may take to compile the component before the run
    /// stops with [`Error::Pool`]. Defaults to 60 s.
    pub fn compile_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.compile_timeout = timeout;
        self
    }

    /// How many worker processes run tasks at once. Defaults to the number of
    /// cores; at least 1.
    pub fn workers(mut self, n: usize) -> PoolBuilder {
        self.workers = n.max(1);
        self
    }

    /// The limits on every task.
    pub fn limits(mut self, limits: Limits) -> PoolBuilder {
        self.limits = limits;
        self
    }

    /// How many times a task is tried again when the worker running it dies
    /// (it is then run alone, so that one poison input cannot take others
    /// down with it). Defaults to 1. A task that fails inside the sandbox (a
    /// trap, a timeout) is never retried: it would fail the same way.
    pub fn retries(mut self, n: u32) -> PoolBuilder {
        self.retries = n;
        self
    }

    /// How many tasks in a row one instance may serve, like Python's
    /// `maxtasksperchild`. Defaults to 1: every task runs in a fresh
    /// instance. With `n > 1` a worker keeps the instance a task leaves and
    /// runs the next task in it, until it has served `n` tasks; this saves
    /// the instantiation (most of the cost of a tiny task) but lets state
    /// carry over from one task to the next: linear memory (globals, the
    /// heap, whatever the guest's allocator and statics hold), tables, and
    /// the WASI context (its random number generator, open resources). Each
    /// task still gets its own deadline, fuel and output capture, and the
    /// memory cap bounds the instance's memory as a whole. An instance whose
    /// task traps, times out or hits a limit is always dropped: the next
    /// task gets a fresh one. A task that returns `err` keeps it. At least 1.
    pub fn reuse(mut self, n: u32) -> PoolBuilder {
        self.reuse = n.max(1);
        self
    }

    /// Where workers' compiled components are cached, so that later runs
    /// skip compiling; `None` turns the cache off. By default
    /// `$WPOOL_CACHE_DIR`, else `$XDG_CACHE_HOME/wpool`, else
    /// `$HOME/.cache/wpool`. Cached files are tagged with a keyed hash (the
    /// key is the file `key` there, readable only by its owner): a file that
    /// does not verify is ignored and replaced, never loaded.
    pub fn compile_cache(mut self, dir: Option<PathBuf>) -> PoolBuilder {
        self.cache_dir = dir;
        self
    }

    /// The program started as each worker: a `wpool` binary. By default, the
    /// `WPOOL_WORKER` environment variable, else the running executable when
    /// it is `wpool`, else `wpool` beside it or one directory up (where cargo
    /// puts binaries next to test executables), else `wpool` on the `PATH`.
    pub fn worker_program(mut self, path: impl Into<PathBuf>) -> PoolBuilder {
        self.worker_program = Some(path.into());
        self
    }

    /// Makes the pool, with its hub of shared objects. Workers start with
    /// each run, not here.
    pub fn build(self) -> Pool {
        let settings = Arc::new(Settings {
            workers: self.workers,
            limits: self.limits,
            retries: self.retries,
            compile_timeout: self.compile_timeout,
            reuse: self.reuse,
            cache_dir: self.cache_dir,
            worker_program: self.worker_program.unwrap_or_else(default_worker_program),
            hub: Hub::new(HubLimits::default()),
            next_job: AtomicU64::new(1),
            next_worker: Arc::new(AtomicU32::new(0)),
        });
        let job = JobState::new(0, &settings);
        Pool { settings, job }
    }
}

/// A pool of isolated worker processes that runs [`Task`]s, and the set of
/// shared objects (queues, pipes, values, locks, …) its tasks see.
///
/// Each run ([`Pool::map`], [`Pool::imap`], [`Pool::imap_unordered`]) starts
/// its own worker processes, each compiling the component once, and stops
/// them when it ends or when its iterator is dropped. [`Pool::apply_async`]
/// keeps one run per task going, fed one input at a time, until
/// [`Pool::close`]; [`Pool::spawn`] runs one task on a worker process of its
/// own, like `multiprocessing.Process`.
///
/// Clones share everything. [`Pool::job`] makes a pool with the same settings
/// whose tasks see a fresh set of shared objects. When the last clone of a
/// job goes, its objects go, and its `apply_async` runs finish what was
/// submitted, then stop.
#[derive(Clone)]
pub struct Pool {
    settings: Arc<Settings>,
    job: Arc<JobState>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.settings.workers)
            .field("limits", &self.settings.limits)
            .field("job", &self.job.id)
            .finish()
    }
}

struct Settings {
    workers: usize,
    limits: Limits,
    retries: u32,
    compile_timeout: Duration,
    reuse: u32,
    cache_dir: Option<PathBuf>,
    worker_program: PathBuf,
    hub: Hub,
    next_job: AtomicU64,
    /// Worker ids, unique within the pool: the hub tells tasks apart by them.
    next_worker: Arc<AtomicU32>,
}

/// One job: a namespace in the hub, and the job's `apply_async` lanes.
pub(crate) struct JobState {
    id: JobId,
    hub: Hub,
    lanes: Mutex<Lanes>,
}

struct Lanes {
    closed: bool,
    /// One lane per task, keyed by the task's identity.
    by_task: Vec<(Task, Lane)>,
}

impl JobState {
    fn new(id: JobId, settings: &Settings) -> Arc<JobState> {
        Arc::new(JobState {
            id,
            hub: settings.hub.clone(),
            lanes: Mutex::new(Lanes {
                closed: false,
                by_task: Vec::new(),
            }),
        })
    }

    pub(crate) fn id(&self) -> JobId {
        self.id
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for JobState {
    fn drop(&mut self) {
        for (_, lane) in &self.lanes().by_task {
            lane.close();
        }
        self.hub.drop_job(self.id);
    }
}

impl Pool {
    /// A builder with the defaults: one worker per core, [`Limits::default`],
    /// one retry.
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: Limits::default(),
            retries: 1,
            compile_timeout: Duration::from_secs(60),
            worker_program: None,
            reuse: 1,
            cache_dir: crate::cache::default_dir(),
        }
    }

    /// How many workers each run starts.
    pub fn workers(&self) -> usize {
        self.settings.workers
    }

    /// A pool with the same settings whose tasks see a fresh, empty set of
    /// shared objects.
    pub fn job(&self) -> Pool {
        let id = self.settings.next_job.fetch_add(1, Ordering::Relaxed);
        Pool {
            settings: self.settings.clone(),
            job: JobState::new(id, &self.settings),
        }
    }

    /// Runs `task` over every input and collects the outputs in input order.
    ///
    /// # Errors
    /// [`Error::Pool`] if the workers cannot start or cannot run the
    /// component. Tasks that fail do not make this fail: their
    /// [`TaskOutput::result`] holds the error.
    pub fn map(
        &self,
        task: &Task,
        inputs: impl IntoIterator<Item = Input>,
    ) -> Result<Vec<TaskOutput>, Error> {
        self.imap(task, inputs)?.collect()
    }

    /// Runs `task` over `inputs` lazily, yielding outputs in input order as
    /// soon as each one and all before it are done. Inputs are read only as
    /// workers need them, so an endless iterator runs in bounded memory.
    ///
    /// # Errors
    /// [`Error::Pool`] if the first worker cannot start or cannot prepare the
    /// component; the iterator yields it too if workers later cannot be
    /// replaced.
    pub fn imap<I>(&self, task: &Task, inputs: I) -> Result<Imap<I::IntoIter>, Error>
    where
        I: IntoIterator<Item = Input>,
    {
        Ok(Imap {
            run: Run::start(
                &self.run_config(self.settings.workers),
                task,
                inputs.into_iter(),
                true,
            )?,
        })
    }

    /// Like [`Pool::imap`], but yields each output as soon as it is done.
    ///
    /// # Errors
    /// As [`Pool::imap`].
    pub fn imap_unordered<I>(&self, task: &Task, inputs: I) -> Result<Imap<I::IntoIter>, Error>
    where
        I: IntoIterator<Item = Input>,
    {
        Ok(Imap {
            run: Run::start(
                &self.run_config(self.settings.workers),
                task,
                inputs.into_iter(),
                false,
            )?,
        })
    }

    /// Submits one task and returns at once; the [`AsyncResult`] gets its
    /// output. Tasks submitted for the same [`Task`] share one run whose
    /// workers stay up until [`Pool::close`] or [`Pool::terminate`].
    ///
    /// # Errors
    /// [`Error::Pool`] if the pool is closed, or its workers cannot start.
    pub fn apply_async(&self, task: &Task, input: Input) -> Result<AsyncResult, Error> {
        self.apply_async_with(task, input, Callbacks::default())
    }

    /// Like [`Pool::apply_async`], and calls `callbacks` with the result when
    /// it comes, on a thread of the pool's (as Python calls `callback` and
    /// `error_callback`).
    ///
    /// # Errors
    /// As [`Pool::apply_async`].
    pub fn apply_async_with(
        &self,
        task: &Task,
        input: Input,
        callbacks: Callbacks,
    ) -> Result<AsyncResult, Error> {
        let mut lanes = self.job.lanes();
        if lanes.closed {
            return Err(Error::Pool("the pool is closed".into()));
        }
        let lane = match lanes
            .by_task
            .iter()
            .position(|(t, _)| t.same_function(task))
        {
            Some(i) => &lanes.by_task[i].1,
            None => {
                let lane = Lane::start(&self.run_config(self.settings.workers), task)?;
                lanes.by_task.push((task.clone(), lane));
                &lanes.by_task.last().expect("just pushed").1
            }
        };
        Ok(lane.submit(input, callbacks))
    }

    /// Runs one task on a worker process of its own, outside the pool's
    /// worker count, like `multiprocessing.Process(target, args).start()`.
    /// It sees this pool's shared objects.
    ///
    /// # Errors
    /// [`Error::Pool`] if the worker cannot start or cannot run the component.
    pub fn spawn(&self, task: &Task, input: Input) -> Result<Process, Error> {
        let lane = Lane::start(&self.run_config(1), task)?;
        let result = lane.submit(input, Callbacks::default());
        lane.close();
        Ok(Process::new(lane, result))
    }

    /// No more [`Pool::apply_async`]: the tasks already submitted still run.
    pub fn close(&self) {
        let mut lanes = self.job.lanes();
        lanes.closed = true;
        for (_, lane) in &lanes.by_task {
            lane.close();
        }
    }

    /// Stops every `apply_async` run at once: their workers are killed, and
    /// unfinished tasks fail with [`TaskError::Terminated`].
    pub fn terminate(&self) {
        let mut lanes = self.job.lanes();
        lanes.closed = true;
        for (_, lane) in &lanes.by_task {
            lane.terminate();
        }
    }

    /// Closes the pool and waits until every submitted task has finished and
    /// the `apply_async` workers have stopped.
    pub fn join(&self) {
        self.close();
        let lanes = std::mem::take(&mut self.job.lanes().by_task);
        for (_, lane) in lanes {
            lane.join();
        }
    }

    /// The job's queue `name` (`multiprocessing.Queue`), created with room
    /// for `capacity` items (0: the hub's limit) if it does not exist. The
    /// host takes part like any task.
    ///
    /// Each of the job's objects below is opened the same way: by name,
    /// created on first use, shared with every task of the job that opens
    /// the same name.
    ///
    /// # Errors
    /// [`ObjectError::Denied`] if `name` names another kind of object, or a
    /// limit on names or objects is reached (likewise for the others).
    pub fn queue(&self, name: &str, capacity: u32) -> Result<Queue, ObjectError> {
        Queue::open(&self.job.hub, self.job.id, name, capacity)
    }

    /// One end of the job's pipe `name` (`multiprocessing.Pipe`).
    ///
    /// # Errors
    /// As [`Pool::queue`]; also `Denied` if that end is open already.
    pub fn pipe(&self, name: &str, end: End) -> Result<Connection, ObjectError> {
        Connection::open(&self.job.hub, self.job.id, name, end)
    }

    /// The job's shared value `name` (`multiprocessing.Value`).
    ///
    /// # Errors
    /// As [`Pool::queue`].
    pub fn value(&self, name: &str, initial: Scalar) -> Result<SharedValue, ObjectError> {
        SharedValue::open(&self.job.hub, self.job.id, name, initial)
    }

    /// The job's shared array `name` of `len` scalars (`multiprocessing.Array`).
    ///
    /// # Errors
    /// As [`Pool::queue`].
    pub fn array(&self, name: &str, len: u32, initial: Scalar) -> Result<SharedArray, ObjectError> {
        SharedArray::open(&self.job.hub, self.job.id, name, len, initial)
    }

    /// The job's lock `name` (`Lock`, or `RLock` when `reentrant`).
    ///
    /// # Errors
    /// As [`Pool::queue`].
    pub fn lock(&self, name: &str, reentrant: bool) -> Result<Lock, ObjectError> {
        Lock::open(&self.job.hub, self.job.id, name, reentrant)
    }

    /// The job's dict `name` (a `Manager().dict()`).
    ///
    /// # Errors
    /// As [`Pool::queue`].
    pub fn dict(&self, name: &str) -> Result<Dict, ObjectError> {
        Dict::open(&self.job.hub, self.job.id, name)
    }

    /// The job's event `name` (`multiprocessing.Event`).
    ///
    /// # Errors
    /// As [`Pool::queue`].
    pub fn event(&self, name: &str) -> Result<Event, ObjectError> {
        Event::open(&self.job.hub, self.job.id, name)
    }

    /// The job's semaphore `name` with `initial` permits.
    ///
    /// # Errors
    /// As [`Pool::queue`].
    pub fn semaphore(&self, name: &str, initial: u32) -> Result<Semaphore, ObjectError> {
        Semaphore::open(&self.job.hub, self.job.id, name, initial)
    }

    /// The job's barrier `name` for `parties` participants.
    ///
    /// # Errors
    /// As [`Pool::queue`].
    pub fn barrier(&self, name: &str, parties: u32) -> Result<Barrier, ObjectError> {
        Barrier::open(&self.job.hub, self.job.id, name, parties)
    }

    fn run_config(&self, workers: usize) -> RunConfig {
        RunConfig {
            workers,
            limits: self.settings.limits.clone(),
            retries: self.settings.retries,
            compile_timeout: self.settings.compile_timeout,
            reuse: self.settings.reuse,
            cache_dir: self.settings.cache_dir.clone(),
            worker_program: self.settings.worker_program.clone(),
            job: self.job.clone(),
            worker_ids: self.settings.next_worker.clone(),
        }
    }
}

/// What one run needs to know of the pool.
#[derive(Clone)]
pub(crate) struct RunConfig {
    pub workers: usize,
    pub limits: Limits,
    pub retries: u32,
    pub compile_timeout: Duration,
    pub reuse: u32,
    pub cache_dir: Option<PathBuf>,
    pub worker_program: PathBuf,
    /// Keeps the job's objects alive while the run goes on.
    pub job: Arc<JobState>,
    pub worker_ids: Arc<AtomicU32>,
}

fn default_worker_program() -> PathBuf {
    if let Some(path) = std::env::var_os("WPOOL_WORKER") {
        return path.into();
    }
    let name = format!("wpool{}", std::env::consts::EXE_SUFFIX);
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|n| n == name.as_str()) {
            return exe;
        }
        let beside = exe.ancestors().skip(1).take(2).map(|dir| dir.join(&name));
        if let Some(found) = beside.into_iter().find(|p| p.is_file()) {
            return found;
        }
    }
    PathBuf::from(name)
}

/// The streaming iterator of a run: see [`Pool::imap`]. Dropping it stops the
/// run: its workers are killed and reaped.
pub struct Imap<I: Iterator<Item = Input>> {
    run: Run<I>,
}

impl<I: Iterator<Item = Input>> Imap<I> {
    /// Whether [`Iterator::next`] would return without waiting for a worker.
    /// Lets a consumer flush what it printed before it blocks.
    pub fn has_ready(&self) -> bool {
        self.run.has_ready()
    }
}

impl<I: Iterator<Item = Input>> Iterator for Imap<I> {
    type Item = Result<TaskOutput, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.run.next()
    }
}

/// What one input yielded.
#[derive(Debug, Clone)]
pub struct TaskOutput {
    /// The input's position in the run, counting from 0.
    pub index: u64,
    /// The input itself.
    pub input: Input,
    /// The function's result, or why the task failed.
    pub result: Result<Value, TaskError>,
    /// What the task wrote to its stdout.
    pub stdout: Captured,
    /// What the task wrote to its stderr.
    pub stderr: Captured,
}
