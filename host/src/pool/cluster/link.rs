//! The connection to a NATS server with JetStream, and the streams, bucket
//! and object store every submitter and agent shares, created by whichever
//! connects first:
//!
//! - stream `WPOOL_TASKS` (subjects `wpool.task.<job>`, work-queue
//!   retention): one message per input, consumed by the job's durable pull
//!   consumer `job-<job>` that all agents share;
//! - stream `WPOOL_RESULTS` (subjects `wpool.res.<job>.<index>`): one reply
//!   per input, de-duplicated by its message id, kept a day at most;
//! - key-value bucket `wpool_jobs`: each running job's [`JobSpec`](super::wire::JobSpec);
//! - object store `wpool_components`: components by the SHA-256 of their
//!   bytes.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store, stream};
use async_nats::{Client, ConnectOptions};

use crate::pool::error::Error;

pub(super) const TASKS: &str = "WPOOL_TASKS";
pub(super) const RESULTS: &str = "WPOOL_RESULTS";
pub(super) const JOBS: &str = "wpool_jobs";
pub(super) const COMPONENTS: &str = "wpool_components";
/// The header that carries a task's input index.
pub(super) const INDEX_HEADER: &str = "Wpool-Index";

/// How long a message id is remembered: a task or a reply published twice
/// within it is stored once.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long replies are kept at most, should their submitter never clean up.
const RESULTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The subject of job `job`'s tasks.
pub(super) fn task_subject(job: &str) -> String {
    format!("wpool.task.{job}")
}

/// The subject of the reply to task `index` of job `job`.
pub(super) fn result_subject(job: &str, index: u64) -> String {
    format!("wpool.res.{job}.{index}")
}

/// The subject of a job's run-stopping error (a component its agents cannot
/// run): `wpool.res.<job>.fatal`.
pub(super) fn fatal_subject(job: &str) -> String {
    format!("wpool.res.{job}.fatal")
}

/// The durable consumer of job `job`'s tasks.
pub(super) fn consumer_name(job: &str) -> String {
    format!("job-{job}")
}

/// A message id, unique to a job's task or reply `index`.
pub(super) fn message_id(job: &str, index: u64) -> String {
    format!("{job}.{index}")
}

/// A connection to the server, on a runtime of its own.
#[derive(Clone)]
pub(crate) struct Link {
    pub(super) url: String,
    /// Runs the connection and every exchange with the server; the caller's
    /// thread waits on it with `block_on`.
    pub(super) runtime: Arc<tokio::runtime::Runtime>,
    pub(super) client: Client,
    pub(super) js: jetstream::Context,
}

impl Link {
    /// Connects to the server at `url` (`nats://`, `tls://`, with
    /// `user:password@` if it asks for them), checks that it has JetStream,
    /// and makes the shared streams, bucket and store if they are missing.
    ///
    /// # Errors
    /// [`Error::Cluster`] naming the URL and what failed.
    pub(crate) fn connect(url: &str) -> Result<Link, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wpool-nats")
            .enable_all()
            .build()
            .map_err(|source| Error::Thread { source })?;
        let failed = |what: &str| {
            let what = what.to_string();
            move |source| Error::Cluster {
                url: url.to_string(),
                what,
                source,
            }
        };
        let client = runtime
            .block_on(
                ConnectOptions::new()
                    .name("wpool")
                    .connection_timeout(Duration::from_secs(5))
                    .connect(url),
            )
            .map_err(|e| failed("cannot connect")(e.into()))?;
        // The context starts a task of its own on the runtime.
        let entered = runtime.enter();
        let js = jetstream::new(client.clone());
        drop(entered);
        runtime
            .block_on(js.query_account())
            .map_err(|e| failed("the server has no JetStream (start it with -js)")(e.into()))?;
        runtime
            .block_on(prepare(&js))
            .map_err(failed("cannot prepare the streams"))?;
        Ok(Link {
            url: url.to_string(),
            runtime: Arc::new(runtime),
            client,
            js,
        })
    }

    /// An error on the connection to this server.
    pub(super) fn error(&self, what: impl Into<String>, source: async_nats::Error) -> Error {
        Error::Cluster {
            url: self.url.clone(),
            what: what.into(),
            source,
        }
    }
}

/// Makes what every job shares, where it is missing.
async fn prepare(js: &jetstream::Context) -> Result<(), async_nats::Error> {
    js.get_or_create_stream(stream::Config {
        name: TASKS.into(),
        subjects: vec!["wpool.task.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    })
    .await?;
    js.get_or_create_stream(stream::Config {
        name: RESULTS.into(),
        subjects: vec!["wpool.res.>".into()],
        max_age: RESULTS_MAX_AGE,
        duplicate_window: DUPLICATE_WINDOW,
        allow_direct: true,
        ..Default::default()
    })
    .await?;
    if js.get_key_value(JOBS).await.is_err() {
        js.create_key_value(kv::Config {
            bucket: JOBS.into(),
            history: 1,
            ..Default::default()
        })
        .await?;
    }
    if js.get_object_store(COMPONENTS).await.is_err() {
        js.create_object_store(object_store::Config {
            bucket: COMPONENTS.into(),
            ..Default::default()
        })
        .await?;
    }
    Ok(())
}
