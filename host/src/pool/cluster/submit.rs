//! One run of a task over inputs on a cluster's agents: a [`Submission`]
//! puts the component in the object store and the job in the jobs bucket,
//! publishes each input as a task message, and reads the replies back,
//! keeping the first for each input and restoring input order as a local
//! run does (the same feed and reorder window).
//!
//! A task whose agents all died before acknowledging it reaches the
//! consumer's `max_deliver`: the server's `MAX_DELIVERIES` advisory names
//! its stream sequence, and the submission publishes a `worker-lost` reply
//! for it, through the same de-duplicated subject as any reply.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{self, AckPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};

use super::link::{
    COMPONENTS, INDEX_HEADER, JOBS, Link, RESULTS, TASKS, consumer_name, message_id,
    result_subject, task_subject,
};
use super::wire::{JobSpec, Reply};
use crate::pool::dispatch::{Feed, Ran, Reorder, Source};
use crate::pool::error::Error;
use crate::pool::output::TaskOutput;
use crate::pool::settings::Settings;
use crate::pool::task::Task;
use crate::pool::value::Input;

/// Tasks published and not yet answered, at most: the stream holds the
/// rest of the inputs back in the caller's iterator.
const MAX_UNFINISHED: usize = 1 << 16;
/// Tasks published before their acknowledgements are awaited.
const PUBLISH_BATCH: usize = 256;
/// Bytes of a reply beyond its value and captured output: its framing.
const REPLY_OVERHEAD: usize = 4 << 10;
/// How long the end of a run waits for the server to forget its job.
const CLEAN_WAIT: Duration = Duration::from_secs(5);
/// How long a run waits for a server that went away before it stops.
const SERVER_GONE: Duration = Duration::from_secs(30);

/// The settings of a cluster run that are not the pool's.
#[derive(Debug, Clone)]
pub(crate) struct ClusterSettings {
    /// How long an agent may hold a task without acknowledging it (agents
    /// send progress acknowledgements meanwhile) before it goes to another.
    pub ack_wait: Duration,
}

impl Default for ClusterSettings {
    /// A 30 s acknowledgement wait.
    fn default() -> ClusterSettings {
        ClusterSettings {
            ack_wait: Duration::from_secs(30),
        }
    }
}

pub(crate) struct Submission<I> {
    link: Link,
    job: String,
    task: Task,
    feed: Feed<I>,
    reorder: Reorder,
    /// The replies to this job's tasks, in the order they were stored.
    replies: consumer::pull::Ordered,
    /// The server's advisories of this job's tasks delivered `max_deliver`
    /// times without an acknowledgement.
    dead: async_nats::Subscriber,
    /// The stream sequence of each unanswered task's message, by its index.
    sequences: HashMap<u64, u64>,
    retries: u32,
    /// Since when the server has been unreachable, if it is.
    gone_since: Option<Instant>,
    fatal: Option<Error>,
    finished: bool,
    /// Whether the job's bucket key, consumer and messages are gone.
    cleaned: bool,
}

impl<I: Iterator<Item = Input>> Submission<I> {
    /// Puts the component and the job where agents find them. Inputs are
    /// read and published as the run goes on.
    pub(crate) fn start(
        link: &Link,
        settings: &Settings,
        cluster: &ClusterSettings,
        task: &Task,
        inputs: I,
        ordered: bool,
    ) -> Result<Submission<I>, Error> {
        let link = link.clone();
        // A task message, and a reply with both outputs, must fit in one
        // message: values are capped below the server's maximum.
        let max_payload = link.client.server_info().max_payload;
        let room = max_payload.saturating_sub(2 * settings.limits.max_output + REPLY_OVERHEAD);
        let mut limits = settings.limits.clone();
        limits.max_value = limits.max_value.min(room);
        let job = job_id();
        let spec = JobSpec {
            component: hex(&Sha256::digest(task.wasm())),
            name: task.component().name().to_string(),
            func: task.name().to_string(),
            limits: limits.clone(),
            retries: settings.retries,
            reuse: settings.reuse,
            ack_wait: cluster.ack_wait,
        };
        let runtime = link.runtime.clone();
        let (replies, dead) = runtime
            .block_on(open(&link, &job, &spec, task))
            .map_err(|e| link.error("cannot submit the job", e))?;
        Ok(Submission {
            link,
            job,
            task: task.clone(),
            feed: Feed::new(Source::Inputs(inputs), task.clone(), limits.max_value),
            reorder: Reorder::new(ordered, settings.max_waiting_output),
            replies,
            dead,
            sequences: HashMap::new(),
            retries: settings.retries,
            gone_since: None,
            fatal: None,
            finished: false,
            cleaned: false,
        })
    }

    pub(crate) fn has_ready(&self) -> bool {
        self.fatal.is_some() || self.finished || self.reorder.has_ready()
    }

    pub(crate) fn next(&mut self) -> Option<Result<TaskOutput, Error>> {
        loop {
            if let Some(output) = self.reorder.pop() {
                return Some(Ok(output));
            }
            if let Some(error) = self.fatal.take() {
                self.finished = true;
                self.clean();
                return Some(Err(error));
            }
            if self.finished {
                return None;
            }
            if let Err(error) = self.publish() {
                self.fatal = Some(error);
                continue;
            }
            if self.reorder.has_ready() {
                continue;
            }
            if self.feed.is_done() && self.reorder.is_empty() {
                self.finished = true;
                self.clean();
                return None;
            }
            self.wait();
        }
    }

    /// Publishes new inputs as tasks, as far as the window allows.
    fn publish(&mut self) -> Result<(), Error> {
        while self.feed.unfinished() < MAX_UNFINISHED {
            let batch = self
                .feed
                .next_batch(PUBLISH_BATCH, self.reorder.window_end());
            for output in batch.refused {
                self.reorder.insert(output);
            }
            if batch.indexes.is_empty() {
                return Ok(());
            }
            let tasks: Vec<_> = batch
                .indexes
                .iter()
                .map(|&index| (index, self.feed.args(index).unwrap_or_default()))
                .collect();
            let runtime = self.link.runtime.clone();
            let stored = runtime
                .block_on(publish_tasks(&self.link, &self.job, tasks))
                .map_err(|e| self.link.error("cannot publish tasks", e))?;
            self.sequences.extend(stored);
        }
        Ok(())
    }

    /// Waits for the next reply or advisory, and handles it; gives up when
    /// the server has been gone for [`SERVER_GONE`].
    fn wait(&mut self) {
        let runtime = self.link.runtime.clone();
        let (replies, dead) = (&mut self.replies, &mut self.dead);
        let event = runtime.block_on(async {
            tokio::select! {
                reply = replies.next() => match reply {
                    Some(Ok(message)) => Event::Reply(message.subject.to_string(), message.payload.clone()),
                    Some(Err(error)) => Event::Failed("cannot read the replies", error.into()),
                    None => Event::Failed("the connection closed", "the replies ended".into()),
                },
                advisory = dead.next() => match advisory {
                    Some(message) => Event::Dead(message.payload),
                    None => Event::Failed("the connection closed", "the advisories ended".into()),
                },
                () = tokio::time::sleep(Duration::from_secs(1)) => Event::Tick,
            }
        });
        match event {
            Event::Reply(subject, payload) => self.reply(&subject, &payload),
            Event::Dead(payload) => self.dead_letter(&payload),
            Event::Failed(what, error) => self.fatal = Some(self.link.error(what, error)),
            Event::Tick => {}
        }
        let state = self.link.client.connection_state();
        match (&state, self.gone_since) {
            (async_nats::connection::State::Connected, _) => self.gone_since = None,
            (_, None) => self.gone_since = Some(Instant::now()),
            (_, Some(since)) if since.elapsed() > SERVER_GONE => {
                self.fatal = Some(self.link.error(
                    format!("unreachable for {}s", SERVER_GONE.as_secs()),
                    format!("connection {state:?}").into(),
                ));
            }
            _ => {}
        }
    }

    /// The reply on `subject`: the first for its input is its output; any
    /// later one is a duplicate and dropped.
    fn reply(&mut self, subject: &str, payload: &[u8]) {
        let Some(last) = subject.rsplit('.').next() else {
            return;
        };
        if last == "fatal" {
            self.fatal = Some(Error::CannotRun {
                name: self.task.component().name().to_string(),
                reason: String::from_utf8_lossy(payload).into_owned(),
            });
            return;
        }
        let Ok(index) = last.parse::<u64>() else {
            return;
        };
        let (result, stdout, stderr) = Reply::decode(&self.task, payload);
        let ran = Ran {
            worker: None,
            time: None,
            stdout,
            stderr,
        };
        let Some(output) = self.feed.finish(index, result, ran) else {
            return;
        };
        self.sequences.remove(&index);
        self.reorder.insert(output);
    }

    /// A `MAX_DELIVERIES` advisory: the task it names was delivered as
    /// many times as its retries allow and never acknowledged. Its reply
    /// says so; the message leaves the stream.
    fn dead_letter(&mut self, payload: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Advisory {
            stream_seq: u64,
            deliveries: u32,
        }
        let Ok(advisory) = serde_json::from_slice::<Advisory>(payload) else {
            return;
        };
        let Some((&index, _)) = self
            .sequences
            .iter()
            .find(|&(_, &seq)| seq == advisory.stream_seq)
        else {
            return;
        };
        let attempts = advisory.deliveries.max(self.retries + 1);
        let reason = "its agent stopped without acknowledging it, on every delivery".into();
        let reply = Reply::lost(attempts, reason).encode();
        let runtime = self.link.runtime.clone();
        let published = runtime.block_on(async {
            let publish = PublishMessage::build()
                .payload(reply)
                .message_id(message_id(&self.job, index));
            self.link
                .js
                .send_publish(result_subject(&self.job, index), publish)
                .await?
                .await?;
            let tasks = self.link.js.get_stream(TASKS).await?;
            tasks.delete_message(advisory.stream_seq).await?;
            Ok::<_, async_nats::Error>(())
        });
        if let Err(error) = published {
            self.fatal = Some(self.link.error("cannot fail a lost task", error));
        }
    }
}

impl<I> Submission<I> {
    /// Ends the job on the server: agents stop serving it, and its tasks and
    /// replies leave the streams. Done once, when the run ends or is
    /// dropped.
    fn clean(&mut self) {
        if std::mem::replace(&mut self.cleaned, true) {
            return;
        }
        let runtime = self.link.runtime.clone();
        let link = &self.link;
        let job = &self.job;
        let cleaning = async {
            if let Ok(jobs) = link.js.get_key_value(JOBS).await {
                let _ = jobs.delete(job).await;
            }
            if let Ok(tasks) = link.js.get_stream(TASKS).await {
                let _ = tasks.delete_consumer(&consumer_name(job)).await;
                let _ = tasks.purge().filter(task_subject(job)).await;
            }
            if let Ok(results) = link.js.get_stream(RESULTS).await {
                let _ = results.purge().filter(format!("wpool.res.{job}.>")).await;
            }
        };
        let _ = runtime.block_on(async { tokio::time::timeout(CLEAN_WAIT, cleaning).await });
    }
}

impl<I> Drop for Submission<I> {
    /// A run dropped before its end (its iterator dropped, the caller
    /// interrupted) ends its job too.
    fn drop(&mut self) {
        self.clean();
    }
}

/// What a wait brought.
enum Event {
    /// A reply, on its subject.
    Reply(String, bytes::Bytes),
    /// A `MAX_DELIVERIES` advisory.
    Dead(bytes::Bytes),
    Failed(&'static str, async_nats::Error),
    /// A second passed: time to look at the connection.
    Tick,
}

/// Puts the component (unless the store has it) and the job's consumer and
/// spec in place, and subscribes to its replies and dead letters first, so
/// that none is missed.
async fn open(
    link: &Link,
    job: &str,
    spec: &JobSpec,
    task: &Task,
) -> Result<(consumer::pull::Ordered, async_nats::Subscriber), async_nats::Error> {
    let store = link.js.get_object_store(COMPONENTS).await?;
    if store.info(&spec.component).await.is_err() {
        let wasm = task.wasm();
        store.put(spec.component.as_str(), &mut &wasm[..]).await?;
    }
    let dead = link
        .client
        .subscribe(format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{TASKS}.{}",
            consumer_name(job)
        ))
        .await?;
    let results = link.js.get_stream(RESULTS).await?;
    let replies = results
        .create_consumer(pull::OrderedConfig {
            filter_subject: format!("wpool.res.{job}.>"),
            ..Default::default()
        })
        .await?
        .messages()
        .await?;
    let tasks = link.js.get_stream(TASKS).await?;
    tasks
        .create_consumer(pull::Config {
            durable_name: Some(consumer_name(job)),
            filter_subject: task_subject(job),
            ack_policy: AckPolicy::Explicit,
            ack_wait: spec.ack_wait,
            max_deliver: i64::from(spec.retries) + 1,
            max_ack_pending: MAX_UNFINISHED as i64,
            ..Default::default()
        })
        .await?;
    let jobs = link.js.get_key_value(JOBS).await?;
    jobs.put(job, serde_json::to_vec(spec)?.into()).await?;
    Ok((replies, dead))
}

/// Publishes each task, then waits until the stream has stored them all;
/// returns each one's index with its stream sequence.
async fn publish_tasks(
    link: &Link,
    job: &str,
    tasks: Vec<(u64, bytes::Bytes)>,
) -> Result<Vec<(u64, u64)>, async_nats::Error> {
    let subject = task_subject(job);
    let mut pending = Vec::with_capacity(tasks.len());
    for (index, args) in tasks {
        let mut headers = HeaderMap::new();
        headers.insert(INDEX_HEADER, index.to_string().as_str());
        let publish = PublishMessage::build()
            .payload(args)
            .headers(headers)
            .message_id(message_id(job, index));
        pending.push((index, link.js.send_publish(subject.clone(), publish).await?));
    }
    let mut stored = Vec::with_capacity(pending.len());
    for (index, ack) in pending {
        stored.push((index, ack.await?.sequence));
    }
    Ok(stored)
}

/// A fresh job id: 16 hex digits from the system's random numbers.
fn job_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
