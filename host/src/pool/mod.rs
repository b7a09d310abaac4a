//! The host side's public face: [`Pool`] and its [`PoolBuilder`]. A pool
//! runs [`Task`]s on worker processes and serves its job's shared objects.
//!
//! # Layout
//! - `task`: [`Component`] (a validated component and its WIT) and [`Task`]
//!   (one exported function); `value`: [`Input`] (from a value or a file)
//!   and [`Value`]; `inputs`: what a run takes ([`IntoInputs`]: an
//!   iterator, or an [`InputStream`] read on a thread of its own); `json`:
//!   values as typed JSON, both ways; `quote`: how messages quote a long
//!   input;
//!   `output`: [`TaskOutput`]; `error`: [`Error`] and [`TaskError`].
//! - `settings`: a pool's settings, built once; `job`: a namespace of
//!   shared objects and the settings its runs read.
//! - `dispatch`: runs over inputs, and the dispatcher thread that owns a
//!   pool's worker processes and shares them among its runs.
//! - `lane`: runs fed one input at a time: `apply_async`'s [`AsyncResult`],
//!   `spawn`'s [`Process`].
//! - `hub`: every job's shared objects, and the host's handles on them
//!   ([`Queue`] and its siblings).
//! - `cluster`: runs on many machines through NATS JetStream: a
//!   [`Cluster`]'s submissions and the [`Agent`]s that serve them.
//! - `cache`: the compile cache on disk and its keyed tags.
//! - `guest_build`: building a task project (Rust, Python, JavaScript)
//!   into a component.

mod cache;
mod cluster;
mod dispatch;
mod error;
mod guest_build;
mod hub;
mod inputs;
mod job;
mod json;
mod lane;
mod output;
mod quote;
mod settings;
mod task;
mod value;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use self::cluster::{Agent, AgentStop};
pub use self::error::{Error, TaskError};
pub use self::guest_build::{GUEST_TARGET, build_guest};
pub use self::hub::{
    Barrier, Condition, Connection, Dict, Event, Lock, Queue, Semaphore, SharedArray, SharedList,
    SharedValue,
};
pub use self::inputs::{InputStream, InputStreamCloser, IntoInputs};
pub use self::lane::{AsyncError, AsyncResult, Callbacks, Process, ProcessOptions};
pub use self::output::{Retry, TaskOutput};
pub use self::quote::shorten;
pub use self::task::{Component, MAX_COMPONENT_SIZE, Task};
pub use self::value::{Input, Value};

use self::cluster::{ClusterSettings, Link, Submission};
use self::dispatch::{Crew, Plan, Run, Scheduler};
use self::hub::Hub;
use self::job::Job;
use self::lane::Lanes;
use self::settings::{RetryHook, Settings};
use crate::protocol::{End, Limits, MAX_TIMEOUT, ObjectError, Scalar};

/// Configures a [`Pool`]. Start from [`Pool::builder`].
#[derive(Debug, Clone)]
pub struct PoolBuilder(Settings);

impl PoolBuilder {
    /// How long a worker may take to compile the component before the run
    /// stops with [`Error::CompileTimeout`]. Defaults to 60 s; a timeout
    /// longer than [`MAX_TIMEOUT`] is clamped to it.
    pub fn compile_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.0.compile_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// How many bytes of data (heap and other private writable memory) a
    /// worker may hold while it compiles the component. Defaults to 2 GiB,
    /// several times what a large real component needs (an 18 MB Python
    /// component compiles in about 400 MB); a component that needs more
    /// fails to run with [`Error::CannotRun`], and no worker grows past the
    /// cap trying.
    pub fn compile_memory(mut self, bytes: u64) -> PoolBuilder {
        self.0.compile_memory = bytes;
        self
    }

    /// How many bytes of finished outputs (values, errors, captured output,
    /// and their inputs) an ordered run ([`Pool::map`], [`Pool::imap`]) may
    /// hold while an earlier task still runs. When they are reached, the run
    /// reads no new input until the earliest task finishes: the host's
    /// memory stays bounded however slow one task is. Defaults to 256 MiB.
    pub fn max_waiting_output(mut self, bytes: usize) -> PoolBuilder {
        self.0.max_waiting_output = bytes;
        self
    }

    /// How many bytes one job's shared objects (queues, pipes, values,
    /// arrays, dicts, lists) may hold in the host, counting what holding
    /// each item costs beyond its bytes (128 bytes an item, and a dict
    /// entry's key with 128 more). A store past it is denied and changes
    /// nothing, so the host's memory stays bounded whatever tasks store.
    /// Defaults to 256 MiB.
    pub fn max_shared(mut self, bytes: usize) -> PoolBuilder {
        self.0.max_shared = bytes;
        self
    }

    /// How many worker processes run tasks at once. Defaults to the number of
    /// cores; at least 1.
    pub fn workers(mut self, n: usize) -> PoolBuilder {
        self.0.workers = n.max(1);
        self
    }

    /// The limits on every task. A [`Limits::timeout`] longer than
    /// [`MAX_TIMEOUT`] is clamped to it.
    pub fn limits(mut self, limits: Limits) -> PoolBuilder {
        self.0.limits = Limits {
            timeout: limits.timeout.min(MAX_TIMEOUT),
            ..limits
        };
        self
    }

    /// How many times a task of [`Pool::map`] and its kin, or of
    /// [`Pool::apply_async`], is tried again when the worker running it
    /// dies (it is then run alone, so that one poison input cannot take
    /// others down with it). Defaults to 1. A task that fails inside the
    /// sandbox (a trap, a timeout) is never retried: it would fail the same
    /// way. A retried task's result counts once, but whatever its earlier
    /// attempts did to shared objects (a put, an increment) stays done, and
    /// may be done again. [`Pool::spawn`] never retries unless
    /// [`ProcessOptions::retries`] says so.
    pub fn retries(mut self, n: u32) -> PoolBuilder {
        self.0.retries = n;
        self
    }

    /// Calls `f` each time a task is retried, when its new attempt starts,
    /// on the thread driving the run (for [`Pool::imap`], the caller's,
    /// inside `next`), as the command line announces retries on stderr.
    /// Through agents ([`PoolBuilder::cluster`]) the submitter learns of a
    /// task's retries only with its result: `f` is called once then, for
    /// the attempt that gave it, if it was not the first.
    ///
    /// ```
    /// let pool = wpool::Pool::builder()
    ///     .on_retry(|retry| {
    ///         eprintln!("task {}: {}, attempt {} of {}", retry.index, retry.reason, retry.attempt, retry.attempts)
    ///     })
    ///     .build();
    /// ```
    pub fn on_retry(mut self, f: impl Fn(&Retry) + Send + Sync + 'static) -> PoolBuilder {
        self.0.on_retry = Some(RetryHook(Arc::new(f)));
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
        self.0.reuse = n.max(1);
        self
    }

    /// How long a worker the pool keeps between runs may stay idle before
    /// it stops. By default idle workers stay until the pool is closed or
    /// dropped, as a Python `Pool`'s do; a long-lived pool that runs now
    /// and then may rather give their memory back, at the cost of starting
    /// workers again for its next run.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = wpool::Pool::builder()
    ///     .idle_timeout(Duration::from_secs(30))
    ///     .build();
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.0.idle_timeout = Some(timeout);
        self
    }

    /// Where workers' compiled components are cached, so that later runs
    /// skip compiling; `None` turns the cache off. By default
    /// `$WPOOL_CACHE_DIR`, else `$XDG_CACHE_HOME/wpool`, else
    /// `$HOME/.cache/wpool`. Cached files are tagged with a keyed hash (the
    /// key is the file `key` there, readable only by its owner): a file that
    /// does not verify is ignored and replaced, never loaded.
    pub fn compile_cache(mut self, dir: Option<PathBuf>) -> PoolBuilder {
        self.0.cache_dir = dir;
        self
    }

    /// The program started as each worker: a `wpool` binary of this
    /// library's version (one of another version exits at once, and the run
    /// stops with [`Error::WorkerVersion`]). By default, the
    /// `WPOOL_WORKER` environment variable, else the running executable when
    /// it is `wpool`, else `wpool` beside it or one directory up (where cargo
    /// puts binaries next to test executables), else `wpool` on the `PATH`.
    pub fn worker_program(mut self, path: impl Into<PathBuf>) -> PoolBuilder {
        self.0.worker_program = path.into();
        self
    }

    /// The NATS credentials file (`.creds`: a user JWT and its NKey seed)
    /// that [`PoolBuilder::cluster`] and [`PoolBuilder::agent`] connect
    /// with. A user and password go in the URL instead
    /// (`nats://user:password@host:4222`).
    pub fn nats_credentials(mut self, file: impl Into<PathBuf>) -> PoolBuilder {
        self.0.nats_credentials = Some(file.into());
        self
    }

    /// Connects to the NATS server at `url` (`nats://host:port`,
    /// `tls://...`, with `user:password@` when it asks for them, or with
    /// [`PoolBuilder::nats_credentials`]), whose agents
    /// ([`PoolBuilder::agent`]) will run this builder's tasks, under its
    /// limits and retries. A run on the cluster prints and yields what a
    /// local run does; an input or result too large for one message of the
    /// server's (`max_payload`, 1 MiB by default) travels through the
    /// server's object store, up to [`Limits::max_value`](crate::Limits::max_value).
    /// Each run is a job whose shared objects this process serves to the
    /// tasks on every agent, for as long as the run lasts.
    ///
    /// # Errors
    /// [`Error::Cluster`] if the server cannot be reached or has no
    /// JetStream.
    ///
    /// # Example
    /// With a server (`nats-server -js`) and agents (`wpool agent --nats
    /// nats://127.0.0.1:4222`) running:
    /// ```no_run
    /// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
    /// let task = wpool::Component::from_file(square)?.task(None)?;
    /// let cluster = wpool::Pool::builder().cluster("nats://127.0.0.1:4222")?;
    /// let inputs = (0..100).map(|x| task.parse_input(&x.to_string()).unwrap());
    /// for output in cluster.imap(&task, inputs)? {
    ///     let output = output?;
    ///     println!("{}: {}", output.index, output.result?);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cluster(self, url: &str) -> Result<Cluster, Error> {
        Ok(Cluster {
            link: Link::connect(url, self.0.nats_credentials.as_deref())?,
            settings: self.0,
            cluster: ClusterSettings::default(),
        })
    }

    /// Connects to the NATS server at `url` as an agent, which runs the
    /// tasks of every job submitted there ([`PoolBuilder::cluster`]) on
    /// this machine's worker processes, at most [`PoolBuilder::workers`]
    /// at once. Each job brings its limits, retries and instance reuse;
    /// the compile settings, the cache and the worker program are this
    /// builder's. [`Agent::run`] serves.
    ///
    /// # Errors
    /// As [`PoolBuilder::cluster`].
    ///
    /// # Example
    /// ```no_run
    /// // Serves every job submitted to the server, two tasks at a time.
    /// wpool::Pool::builder()
    ///     .workers(2)
    ///     .agent("nats://127.0.0.1:4222")?
    ///     .run()?;
    /// # Ok::<(), wpool::Error>(())
    /// ```
    pub fn agent(self, url: &str) -> Result<Agent, Error> {
        let link = Link::connect(url, self.0.nats_credentials.as_deref())?;
        Ok(Agent::new(link, self.0))
    }

    /// Makes the pool, with its hub of shared objects. Workers start with
    /// the first run that needs them, not here.
    pub fn build(self) -> Pool {
        let hub = Hub::new(self.0.hub_limits());
        let job = Arc::new(Job::first(self.0, hub));
        Pool {
            scheduler: Pool::scheduler(&job),
            job,
            lanes: Arc::default(),
            next_job: Arc::new(AtomicU64::new(1)),
        }
    }
}

/// A pool of isolated worker processes that runs [`Task`]s, and the set of
/// shared objects (queues, pipes, values, locks, …) its tasks see.
///
/// The pool has [`PoolBuilder::workers`] worker processes, started with
/// its first run, and every run ([`Pool::map`], [`Pool::imap`],
/// [`Pool::imap_unordered`], and [`Pool::apply_async`]'s) shares them,
/// however many go on at once, from however many threads: one thread of
/// the pool's hands them the runs' batches, in the order they come, as
/// Python's `Pool` does (a short run beside a run of long tasks gets a
/// worker each time one of those ends). A run keeps at most two batches
/// per worker ahead of its results, so one whose caller stops pulling
/// outputs leaves the workers to the others once those are done.
///
/// Each worker hosts up to 8 tasks at once, each component compiled once
/// for the pool and loaded into a worker the first time it runs a task of
/// it (the least recently used is unloaded past 8). [`Pool::apply_async`]
/// keeps one run going for every task, fed one input at a time, until
/// [`Pool::close`]. Idle workers stay up until the pool is dropped, or
/// closed and no run is left, or for [`PoolBuilder::idle_timeout`].
/// [`Pool::spawn`] runs one task on a worker process of its own, like
/// `multiprocessing.Process`.
///
/// Clones share everything. [`Pool::job`] makes a pool with the same settings
/// whose tasks see a fresh set of shared objects. When the last clone of a
/// pool goes, its `apply_async` runs finish what was submitted, then stop;
/// its job's objects go when the last of its runs ends.
#[derive(Clone)]
pub struct Pool {
    job: Arc<Job>,
    /// The `apply_async` runs of this pool's job; dropping the last clone
    /// closes them.
    lanes: Arc<Lanes>,
    /// The job's worker processes, which every run of the pool shares.
    scheduler: Scheduler,
    /// Ids for [`Pool::job`], shared by every job of the pool.
    next_job: Arc<AtomicU64>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.job.settings.workers)
            .field("limits", &self.job.settings.limits)
            .field("job", &self.job.id)
            .finish()
    }
}

impl Pool {
    /// A builder with the defaults: one worker per core, [`Limits::default`],
    /// one retry.
    pub fn builder() -> PoolBuilder {
        PoolBuilder(Settings::default())
    }

    /// How many worker processes the pool has, which its runs share.
    pub fn workers(&self) -> usize {
        self.job.settings.workers
    }

    /// A pool with the same settings whose tasks see a fresh, empty set of
    /// shared objects, and worker processes of its own (a worker serves
    /// one job's objects): two jobs running at once run twice
    /// [`PoolBuilder::workers`] processes.
    pub fn job(&self) -> Pool {
        let id = self.next_job.fetch_add(1, Ordering::Relaxed);
        let job = Arc::new(self.job.sibling(id));
        Pool {
            scheduler: Pool::scheduler(&job),
            job,
            lanes: Arc::default(),
            next_job: self.next_job.clone(),
        }
    }

    /// The dispatcher of `job`'s runs, which share its workers.
    fn scheduler(job: &Arc<Job>) -> Scheduler {
        let crew = Crew {
            workers: job.settings.workers,
            output: None,
            pid: None,
            idle_timeout: job.settings.idle_timeout,
        };
        Scheduler::new(job, crew, true)
    }

    /// Runs `task` over every input and collects the outputs in input order.
    ///
    /// # Errors
    /// [`Error::SpawnWorker`] if the workers cannot start,
    /// [`Error::WorkerVersion`] if they are another version of wpool,
    /// [`Error::CannotRun`] or [`Error::CompileTimeout`] if they cannot
    /// prepare the component, [`Error::CrashLoop`] if they keep dying. Tasks
    /// that fail do not make this fail: their [`TaskOutput::result`] holds
    /// the error.
    ///
    /// # Example
    /// ```
    /// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
    /// # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
    /// let task = wpool::Component::from_file(square)?.task(None)?;
    /// let pool = wpool::Pool::builder().workers(2).worker_program(worker).build();
    /// let inputs = vec![task.parse_input("3")?, task.parse_input("-4")?];
    /// let outputs = pool.map(&task, inputs)?;
    /// let squares: Vec<String> = outputs
    ///     .iter()
    ///     .map(|output| output.result.as_ref().unwrap().to_string())
    ///     .collect();
    /// assert_eq!(squares, ["9", "16"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map(&self, task: &Task, inputs: impl IntoInputs) -> Result<Vec<TaskOutput>, Error> {
        self.imap(task, inputs)?.collect()
    }

    /// Runs `task` over `inputs` lazily, yielding outputs in input order as
    /// soon as each one and all before it are done. Inputs are read only as
    /// workers need them, so an endless iterator runs in bounded memory.
    ///
    /// # Errors
    /// As [`Pool::map`], for the first worker to be ready; the iterator
    /// yields the same errors if workers later die and cannot be replaced.
    pub fn imap<I: IntoInputs>(&self, task: &Task, inputs: I) -> Result<Imap<I::Iter>, Error> {
        let plan = Plan {
            scheduler: Some(self.scheduler.clone()),
            ..Plan::new(&self.job, self.job.settings.workers, true)
        };
        let run = Run::start(&self.job, task, inputs.into_source(task).0, plan)?;
        Ok(Imap {
            run: Stream::Local(run),
        })
    }

    /// Like [`Pool::imap`], but yields each output as soon as it is done.
    /// [`TaskOutput::index`] tells which input it is.
    ///
    /// # Errors
    /// As [`Pool::imap`].
    ///
    /// # Example
    /// ```
    /// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
    /// # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
    /// let task = wpool::Component::from_file(square)?.task(None)?;
    /// let pool = wpool::Pool::builder().workers(2).worker_program(worker).build();
    /// let inputs = (0..20).map(|x| task.parse_input(&x.to_string()).unwrap());
    /// let mut indexes: Vec<u64> = pool
    ///     .imap_unordered(&task, inputs)?
    ///     .map(|output| output.map(|o| o.index))
    ///     .collect::<Result<_, _>>()?;
    /// indexes.sort();
    /// assert_eq!(indexes, (0..20).collect::<Vec<u64>>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn imap_unordered<I: IntoInputs>(
        &self,
        task: &Task,
        inputs: I,
    ) -> Result<Imap<I::Iter>, Error> {
        let plan = Plan {
            scheduler: Some(self.scheduler.clone()),
            ..Plan::new(&self.job, self.job.settings.workers, false)
        };
        let run = Run::start(&self.job, task, inputs.into_source(task).0, plan)?;
        Ok(Imap {
            run: Stream::Local(run),
        })
    }

    /// Submits one task and returns at once; the [`AsyncResult`] gets its
    /// output. Tasks submitted for any [`Task`] share one run on the pool's
    /// workers, which stays up until [`Pool::close`] or
    /// [`Pool::terminate`]. A task new to the pool is compiled first (or
    /// taken from the compile cache), so this may take that long.
    ///
    /// # Errors
    /// [`Error::Closed`], holding `input`, if the pool is closed; as
    /// [`Pool::map`] if the task cannot be compiled, or the pool's
    /// workers are not running yet and cannot start.
    ///
    /// # Example
    /// ```
    /// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
    /// # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
    /// use wpool::{Component, Error, Pool};
    ///
    /// let task = Component::from_file(square)?.task(None)?;
    /// let pool = Pool::builder().workers(2).worker_program(worker).build();
    /// let pending: Vec<_> = (1..=3)
    ///     .map(|x| pool.apply_async(&task, task.parse_input(&x.to_string())?))
    ///     .collect::<Result<_, _>>()?;
    /// // The tasks run while the caller goes on; `get` waits for one.
    /// let squares: Vec<String> = pending
    ///     .iter()
    ///     .map(|result| result.get(None).unwrap().result.unwrap().to_string())
    ///     .collect();
    /// assert_eq!(squares, ["1", "4", "9"]);
    /// pool.join();
    /// // A closed pool takes no more tasks, and hands the input back.
    /// match pool.apply_async(&task, task.parse_input("7")?) {
    ///     Err(Error::Closed { input }) => assert_eq!(input.to_string(), "7"),
    ///     _ => unreachable!("a closed pool takes no task"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        self.lanes
            .submit(&self.job, &self.scheduler, task, input, callbacks)
    }

    /// Runs one task on a worker process of its own, outside the pool's
    /// worker count, like `multiprocessing.Process(target, args).start()`.
    /// It sees this pool's shared objects.
    ///
    /// # Errors
    /// As [`Pool::map`].
    ///
    /// # Example
    /// ```
    /// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
    /// # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
    /// let task = wpool::Component::from_file(square)?.task(None)?;
    /// let pool = wpool::Pool::builder().workers(2).worker_program(worker).build();
    /// let mut process = pool.spawn(&task, task.parse_input("7")?)?;
    /// assert!(process.join(None));
    /// assert!(!process.is_alive());
    /// assert_eq!(process.exit_code(), Some(0));
    /// assert_eq!(process.output().unwrap().result?.to_string(), "49");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(&self, task: &Task, input: Input) -> Result<Process, Error> {
        self.spawn_with(task, input, ProcessOptions::default())
    }

    /// Like [`Pool::spawn`], as `options` say: its output streamed as it
    /// is written, a callback when it ends, retries.
    ///
    /// # Errors
    /// As [`Pool::map`].
    ///
    /// # Example
    /// ```
    /// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
    /// # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
    /// let task = wpool::Component::from_file(square)?.task(None)?;
    /// let pool = wpool::Pool::builder().worker_program(worker).build();
    /// let (ended, end) = std::sync::mpsc::channel();
    /// let options = wpool::ProcessOptions::default()
    ///     .on_exit(move |output| ended.send(output.index).unwrap());
    /// let mut process = pool.spawn_with(&task, task.parse_input("7")?, options)?;
    /// assert_eq!(end.recv()?, 0);
    /// assert!(process.join(None));
    /// assert_eq!(process.exit_code(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_with(
        &self,
        task: &Task,
        input: Input,
        options: ProcessOptions,
    ) -> Result<Process, Error> {
        Process::start(&self.job, task, input, options)
    }

    /// No more [`Pool::apply_async`]: the tasks already submitted still run.
    /// The pool's idle workers stop, and so does each worker when its run
    /// ends: a later run starts its own.
    pub fn close(&self) {
        self.lanes.close();
        self.scheduler.close();
    }

    /// Stops every `apply_async` run at once: their workers are killed, and
    /// unfinished tasks fail with [`TaskError::Terminated`]. The pool's idle
    /// workers stop too.
    pub fn terminate(&self) {
        self.lanes.terminate();
        self.scheduler.close();
    }

    /// Closes the pool and waits until every submitted task has finished and
    /// the `apply_async` workers have stopped. Called from a callback of
    /// [`Pool::apply_async_with`], which runs on the thread that delivers
    /// the results, it closes the pool and returns at once: that thread
    /// cannot wait for itself, and goes on delivering what was submitted.
    pub fn join(&self) {
        self.close();
        self.lanes.join();
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

    /// The job's condition `name` (`multiprocessing.Condition`) on its lock
    /// `lock`.
    ///
    /// # Errors
    /// As [`Pool::queue`]; also `Denied` if `lock` names no lock of the
    /// job, or the condition exists on another lock.
    pub fn condition(&self, name: &str, lock: &str) -> Result<Condition, ObjectError> {
        Condition::open(&self.job.hub, self.job.id, name, lock)
    }

    /// The job's list `name` (a `Manager().list()`).
    ///
    /// # Errors
    /// As [`Pool::queue`].
    pub fn list(&self, name: &str) -> Result<SharedList, ObjectError> {
        SharedList::open(&self.job.hub, self.job.id, name)
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
}

/// A NATS server whose agents run this machine's tasks: see
/// [`PoolBuilder::cluster`]. Its runs ([`Cluster::map`], [`Cluster::imap`],
/// [`Cluster::imap_unordered`]) yield what a [`Pool`]'s do.
///
/// Each run is a job on the server: its component goes to the server's
/// object store once (named by its SHA-256), each input is a message that
/// one agent takes, and each result comes back as a message, counted once
/// however often its task ran. A task runs at least once: when its agent
/// dies, it is delivered to another after [`Cluster::ack_wait`], up to
/// the builder's retries, and then fails as
/// [`TaskError::WorkerLost`]; its side effects may thus happen twice.
/// Tasks see shared objects of their agent's, not the submitter's.
pub struct Cluster {
    link: Link,
    settings: Settings,
    cluster: ClusterSettings,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("limits", &self.settings.limits)
            .field("ack_wait", &self.cluster.ack_wait)
            .finish()
    }
}

impl Cluster {
    /// How long an agent may hold a task without acknowledging it before it
    /// is delivered to another: how long a dead agent's tasks wait. Agents
    /// send progress acknowledgements every third of it while a task runs,
    /// so a long task is not delivered again. Defaults to 30 s.
    pub fn ack_wait(mut self, wait: Duration) -> Cluster {
        self.cluster.ack_wait = wait;
        self
    }

    /// Names the job of each run (1 to 64 ASCII letters, digits, `-` and
    /// `_`), rather than a fresh random name: a job of that name must not
    /// be on the server. Should its submitter die, the job stays there,
    /// its tasks running, and [`Cluster::resume`] takes it up again.
    pub fn job(mut self, name: impl Into<String>) -> Cluster {
        self.cluster.job = Some(name.into());
        self.cluster.resume = false;
        self
    }

    /// Resumes the job `name`, whose submitter died: a run with the task,
    /// inputs and settings the job was started with yields every output
    /// once, publishing again only the inputs that have no result yet.
    /// The run fails with [`Error::Cluster`] when there is no such job, or
    /// it runs another component, function or limits, or an input differs
    /// from the one it was started with (checked by SHA-256); the job then
    /// stays as it was.
    pub fn resume(mut self, name: impl Into<String>) -> Cluster {
        self.cluster.job = Some(name.into());
        self.cluster.resume = true;
        self
    }

    /// Runs `task` over every input on the cluster and collects the outputs
    /// in input order.
    ///
    /// # Errors
    /// [`Error::Cluster`] if the server refuses the job or goes away for
    /// more than 30 s; [`Error::CannotRun`] if an agent cannot run the
    /// component.
    pub fn map(&self, task: &Task, inputs: impl IntoInputs) -> Result<Vec<TaskOutput>, Error> {
        self.imap(task, inputs)?.collect()
    }

    /// Like [`Pool::imap`], on the cluster: inputs are published as agents
    /// need them (at most 65 536 ahead), outputs yielded in input order.
    ///
    /// # Errors
    /// As [`Cluster::map`].
    pub fn imap<I: IntoInputs>(&self, task: &Task, inputs: I) -> Result<Imap<I::Iter>, Error> {
        let run = Submission::start(
            &self.link,
            &self.settings,
            &self.cluster,
            task,
            inputs.into_source(task).0,
            true,
        )?;
        Ok(Imap {
            run: Stream::Cluster(run),
        })
    }

    /// Like [`Pool::imap_unordered`], on the cluster.
    ///
    /// # Errors
    /// As [`Cluster::map`].
    pub fn imap_unordered<I: IntoInputs>(
        &self,
        task: &Task,
        inputs: I,
    ) -> Result<Imap<I::Iter>, Error> {
        let run = Submission::start(
            &self.link,
            &self.settings,
            &self.cluster,
            task,
            inputs.into_source(task).0,
            false,
        )?;
        Ok(Imap {
            run: Stream::Cluster(run),
        })
    }
}

/// The streaming iterator of a run: see [`Pool::imap`]. Dropping it stops the
/// run: its busy workers are killed and reaped, its idle ones go back to the
/// pool (on a cluster, the job ends).
pub struct Imap<I: Iterator<Item = Input>> {
    run: Stream<I>,
}

/// Where a run's outputs come from.
#[allow(
    clippy::large_enum_variant,
    reason = "one per run, moved only when the run starts"
)]
enum Stream<I> {
    Local(Run<I>),
    Cluster(Submission<I>),
}

impl<I: Iterator<Item = Input>> Imap<I> {
    /// Whether [`Iterator::next`] would return without waiting for a worker.
    /// Lets a consumer flush what it printed before it blocks.
    pub fn has_ready(&self) -> bool {
        match &self.run {
            Stream::Local(run) => run.has_ready(),
            Stream::Cluster(run) => run.has_ready(),
        }
    }
}

impl<I: Iterator<Item = Input>> Iterator for Imap<I> {
    type Item = Result<TaskOutput, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.run {
            Stream::Local(run) => run.next(),
            Stream::Cluster(run) => run.next(),
        }
    }
}
