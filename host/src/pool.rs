//! The public face of the pool: [`Pool`] and its [`PoolBuilder`], the
//! per-task [`Limits`], and the [`TaskOutput`] each input yields.

use std::path::PathBuf;
use std::time::Duration;

use crate::capture::Captured;
use crate::dispatch::Run;
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
}

impl Default for Limits {
    /// 30 s, no fuel accounting, 512 MiB of memory, 64 KiB of each output.
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(30),
            fuel: None,
            max_memory: 512 << 20,
            max_output: 64 << 10,
        }
    }
}

/// Configures a [`Pool`]. Start from [`Pool::builder`].
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    workers: usize,
    limits: Limits,
    retries: u32,
    worker_program: Option<PathBuf>,
    reuse: u32,
    cache_dir: Option<PathBuf>,
}

impl PoolBuilder {
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

    /// Makes the pool. Workers start with each run, not here.
    pub fn build(self) -> Pool {
        Pool { config: self }
    }
}

/// A pool of isolated worker processes that maps a [`Task`] over inputs.
///
/// Each run ([`Pool::map`], [`Pool::imap`], [`Pool::imap_unordered`]) starts
/// its own worker processes, each compiling the component once, and stops
/// them when it ends or when its iterator is dropped.
#[derive(Debug, Clone)]
pub struct Pool {
    config: PoolBuilder,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::builder().build()
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
            worker_program: None,
            reuse: 1,
            cache_dir: crate::cache::default_dir(),
        }
    }

    /// How many workers each run starts.
    pub fn workers(&self) -> usize {
        self.config.workers
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
            run: Run::start(&self.config(), task, inputs.into_iter(), true)?,
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
            run: Run::start(&self.config(), task, inputs.into_iter(), false)?,
        })
    }

    fn config(&self) -> RunConfig {
        RunConfig {
            workers: self.config.workers,
            limits: self.config.limits.clone(),
            retries: self.config.retries,
            reuse: self.config.reuse,
            cache_dir: self.config.cache_dir.clone(),
            worker_program: self
                .config
                .worker_program
                .clone()
                .unwrap_or_else(default_worker_program),
        }
    }
}

/// What one run needs to know of the pool.
#[derive(Debug, Clone)]
pub(crate) struct RunConfig {
    pub workers: usize,
    pub limits: Limits,
    pub retries: u32,
    pub reuse: u32,
    pub cache_dir: Option<PathBuf>,
    pub worker_program: PathBuf,
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
