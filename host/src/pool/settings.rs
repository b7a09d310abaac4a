//! [`Settings`]: everything a run needs to know of its pool, built once by
//! [`PoolBuilder`](super::PoolBuilder) and shared by every run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::hub::HubLimits;
use super::output::Retry;
use crate::protocol::Limits;

/// A pool's settings. [`Pool::builder`](super::Pool::builder) starts from
/// the defaults; each run reads them through its [`Job`](super::job::Job).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Worker processes of a `map` run (a spawned process has one).
    pub workers: usize,
    pub limits: Limits,
    /// Attempts more for a task whose worker died (`map`, `apply_async`).
    pub retries: u32,
    /// Told of each task retried.
    pub on_retry: Option<RetryHook>,
    pub compile_timeout: Duration,
    /// Bytes of data a worker may hold while it compiles the component.
    pub compile_memory: u64,
    /// Bytes of finished outputs an ordered run holds while an earlier task
    /// still runs.
    pub max_waiting_output: usize,
    /// Bytes one job's shared objects may hold in the host.
    pub max_shared: usize,
    /// Tasks one instance serves before it is replaced.
    pub reuse: u32,
    /// How long a worker kept between runs may stay idle; `None`: until
    /// the pool closes.
    pub idle_timeout: Option<Duration>,
    /// The compile cache's directory; `None` when it is off.
    pub cache_dir: Option<PathBuf>,
    /// The `wpool` binary each worker process runs.
    pub worker_program: PathBuf,
    /// The NATS credentials file a cluster or agent connects with.
    pub nats_credentials: Option<PathBuf>,
}

impl Settings {
    /// What the hub lets each job of the pool hold.
    pub(crate) fn hub_limits(&self) -> HubLimits {
        HubLimits {
            max_job_bytes: self.max_shared,
            ..HubLimits::default()
        }
    }
}

impl Default for Settings {
    /// One worker per core, [`Limits::default`], one retry, a 60 s compile
    /// deadline, a fresh instance per task, the default cache directory, and
    /// the default worker program.
    fn default() -> Settings {
        Settings {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: Limits::default(),
            retries: 1,
            on_retry: None,
            compile_timeout: Duration::from_secs(60),
            compile_memory: 2 << 30,
            max_waiting_output: 256 << 20,
            max_shared: HubLimits::default().max_job_bytes,
            reuse: 1,
            idle_timeout: None,
            cache_dir: super::cache::default_dir(),
            worker_program: default_worker_program(),
            nats_credentials: None,
        }
    }
}

/// What [`PoolBuilder::on_retry`](super::PoolBuilder::on_retry) calls.
#[derive(Clone)]
pub(crate) struct RetryHook(pub Arc<dyn Fn(&Retry) + Send + Sync>);

impl RetryHook {
    pub(crate) fn call(&self, retry: &Retry) {
        (self.0)(retry)
    }
}

impl std::fmt::Debug for RetryHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryHook")
    }
}

/// The `WPOOL_WORKER` environment variable, else the running executable
/// when it is `wpool`, else `wpool` beside it or one directory up, else
/// `wpool` on the `PATH`.
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
