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
//!
//! A named job outlives a submitter that dies: resuming it reads the
//! replies stored so far, checks each against its input's SHA-256 (which
//! every task and reply carries), takes the job's tasks still in the
//! stream out, and publishes again only the inputs without a reply.
//!
//! An input or a reply too large for one message travels through the
//! job's values store, its message naming the object.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{self, AckPolicy, pull};
use async_nats::jetstream::kv;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};

use super::link::{
    COMPONENTS, INDEX_HEADER, INPUT_HEADER, JOBS, Link, MESSAGE_OVERHEAD, OBJECT_HEADER, RESULTS,
    TASKS, consumer_name, digest, header, hex, message_id, payload, put_value, random_id,
    result_subject, task_message_id, task_subject, values_store,
};
use super::shared::Objects;
use super::wire::{JobSpec, Reply};
use crate::pool::dispatch::{Feed, Ran, Reorder, Source};
use crate::pool::error::Error;
use crate::pool::hub::Hub;
use crate::pool::output::{Retry, TaskOutput};
use crate::pool::settings::{RetryHook, Settings};
use crate::pool::task::Task;
use crate::pool::value::Input;
use crate::protocol::engine::TICK;

/// Tasks published and not yet answered, at most: the stream holds the
/// rest of the inputs back in the caller's iterator.
const MAX_UNFINISHED: usize = 1 << 16;
/// Tasks published before their acknowledgements are awaited.
const PUBLISH_BATCH: usize = 256;
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
    /// The job's name; a fresh one for each run when `None`.
    pub job: Option<String>,
    /// Whether the named job exists already and is resumed.
    pub resume: bool,
}

impl Default for ClusterSettings {
    /// A 30 s acknowledgement wait, a fresh job.
    fn default() -> ClusterSettings {
        ClusterSettings {
            ack_wait: Duration::from_secs(30),
            job: None,
            resume: false,
        }
    }
}

/// The longest job name.
const MAX_JOB_NAME: usize = 64;

/// Whether `name` may name a job: it is part of subjects, stream and
/// consumer names and keys.
fn valid_job_name(name: &str) -> bool {
    (1..=MAX_JOB_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
    /// The replies a resumed job had before this submitter, by input
    /// index, each with its input's SHA-256; taken as their inputs are
    /// read.
    earlier: HashMap<u64, (Bytes, Option<String>)>,
    /// The job's epoch: how many submitters it had before this one.
    epoch: u32,
    /// The server's largest message.
    max_payload: usize,
    retries: u32,
    /// Told of each task that took more than one attempt.
    on_retry: Option<RetryHook>,
    /// Since when the server has been unreachable, if it is.
    gone_since: Option<Instant>,
    fatal: Option<Error>,
    /// Why a resumed job's inputs are not its own: the run stops before it
    /// yields anything more, and leaves the job as it was.
    refused: Option<Error>,
    finished: bool,
    /// Whether the job's bucket key, consumer and messages are gone.
    cleaned: bool,
    /// The job's shared objects, which its agents' tasks use; they go with
    /// the run.
    _objects: Objects,
}

impl<I: Iterator<Item = Input>> Submission<I> {
    /// Puts the component and the job where agents find them. Inputs are
    /// read and published as the run goes on.
    pub(crate) fn start(
        link: &Link,
        settings: &Settings,
        cluster: &ClusterSettings,
        task: &Task,
        inputs: Source<I>,
        ordered: bool,
    ) -> Result<Submission<I>, Error> {
        let link = link.clone();
        let job = match &cluster.job {
            Some(name) if !valid_job_name(name) => {
                return Err(Error::JobName { name: name.clone() });
            }
            Some(name) => name.clone(),
            None => job_id(),
        };
        let mut spec = JobSpec {
            component: hex(&Sha256::digest(task.wasm())),
            name: task.component().name().to_string(),
            func: task.name().to_string(),
            limits: settings.limits.clone(),
            retries: settings.retries,
            reuse: settings.reuse,
            ack_wait: cluster.ack_wait,
            epoch: 0,
        };
        let runtime = link.runtime.clone();
        // Served before any agent can see the job.
        let hub = Hub::new(settings.hub_limits());
        let objects = runtime
            .block_on(Objects::serve(&link.client, &job, hub))
            .map_err(|e| link.error("cannot serve the job's shared objects", e))?;
        let opened = runtime.block_on(open(&link, &job, &mut spec, task, cluster.resume))?;
        let mut earlier = HashMap::new();
        let mut fatal = None;
        for message in opened.earlier {
            let Some(index) = reply_index(&message.subject) else {
                fatal = Some(cannot_run(task, &message.payload));
                continue;
            };
            let bytes = runtime
                .block_on(payload(
                    &link.js,
                    &job,
                    message.headers.as_ref(),
                    &message.payload,
                ))
                .map_err(|e| link.error("cannot read the job's results", e))?;
            let input = header(message.headers.as_ref(), INPUT_HEADER).map(str::to_string);
            earlier.insert(index, (bytes, input));
        }
        Ok(Submission {
            max_payload: link.client.server_info().max_payload,
            link,
            job,
            task: task.clone(),
            feed: Feed::new(inputs, task.clone(), spec.limits.max_value),
            reorder: Reorder::new(ordered, settings.max_waiting_output),
            replies: opened.replies,
            dead: opened.dead,
            sequences: HashMap::new(),
            earlier,
            epoch: spec.epoch,
            retries: settings.retries,
            on_retry: settings.on_retry.clone(),
            gone_since: None,
            fatal,
            refused: None,
            finished: false,
            cleaned: false,
            _objects: objects,
        })
    }

    pub(crate) fn has_ready(&self) -> bool {
        self.fatal.is_some() || self.finished || self.reorder.has_ready()
    }

    pub(crate) fn next(&mut self) -> Option<Result<TaskOutput, Error>> {
        loop {
            if let Some(error) = self.refused.take() {
                self.finished = true;
                return Some(Err(error));
            }
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
                if let Some(&index) = self.earlier.keys().min() {
                    self.not_its_inputs(format!(
                        "the job has a result for input {index}, and these inputs end before it"
                    ));
                    continue;
                }
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
            let mut tasks = Vec::with_capacity(batch.indexes.len());
            for index in batch.indexes {
                let args = self.feed.args(index).unwrap_or_default();
                let input = digest(&args);
                let Some((reply, replied)) = self.earlier.remove(&index) else {
                    tasks.push(Outgoing { index, args, input });
                    continue;
                };
                if replied.as_deref() != Some(input.as_str()) {
                    self.not_its_inputs(format!(
                        "input {index} is not the one the job was started with"
                    ));
                    return Ok(());
                }
                self.answer(index, &reply);
            }
            let runtime = self.link.runtime.clone();
            let stored = runtime
                .block_on(self.publish_tasks(tasks))
                .map_err(|e| self.link.error("cannot publish tasks", e))?;
            self.sequences.extend(stored);
        }
        Ok(())
    }

    /// Publishes each task, then waits until the stream has stored them
    /// all; returns each one's index with its stream sequence.
    async fn publish_tasks(
        &self,
        tasks: Vec<Outgoing>,
    ) -> Result<Vec<(u64, u64)>, async_nats::Error> {
        let subject = task_subject(&self.job);
        let mut pending = Vec::with_capacity(tasks.len());
        for Outgoing { index, args, input } in tasks {
            let mut headers = HeaderMap::new();
            headers.insert(INDEX_HEADER, index.to_string().as_str());
            headers.insert(INPUT_HEADER, input.as_str());
            let args = match args.len() + MESSAGE_OVERHEAD > self.max_payload {
                true => {
                    let name = format!("in-{index}");
                    put_value(&self.link.js, &self.job, &name, &args).await?;
                    headers.insert(OBJECT_HEADER, name.as_str());
                    Bytes::new()
                }
                false => args,
            };
            let publish = PublishMessage::build()
                .payload(args)
                .headers(headers)
                .message_id(task_message_id(&self.job, self.epoch, index));
            let ack = self.link.js.send_publish(subject.clone(), publish).await?;
            pending.push((index, ack));
        }
        let mut stored = Vec::with_capacity(pending.len());
        for (index, ack) in pending {
            stored.push((index, ack.await?.sequence));
        }
        Ok(stored)
    }

    /// Stops a resumed job given other inputs than it was started with.
    /// The job stays on the server, as it was, to be resumed right.
    fn not_its_inputs(&mut self, why: String) {
        self.cleaned = true;
        self.refused = Some(self.link.error(
            format!("cannot resume job {}", self.job),
            format!("{why}: resume it with the task and inputs it was started with").into(),
        ));
    }

    /// Waits for the next reply or advisory, and handles it; gives up when
    /// the server has been gone for [`SERVER_GONE`].
    fn wait(&mut self) {
        let runtime = self.link.runtime.clone();
        // Inputs read on a thread of their own (`InputStream`) are looked
        // for every tick.
        let tick = match self.feed.submissions() {
            Some(_) => TICK,
            None => Duration::from_secs(1),
        };
        let (replies, dead) = (&mut self.replies, &mut self.dead);
        let event = runtime.block_on(async {
            tokio::select! {
                reply = replies.next() => match reply {
                    Some(Ok(message)) => Event::Reply(Box::new(message)),
                    Some(Err(error)) => Event::Failed("cannot read the replies", error.into()),
                    None => Event::Failed("the connection closed", "the replies ended".into()),
                },
                advisory = dead.next() => match advisory {
                    Some(message) => Event::Dead(message.payload),
                    None => Event::Failed("the connection closed", "the advisories ended".into()),
                },
                () = tokio::time::sleep(tick) => Event::Tick,
            }
        });
        match event {
            Event::Reply(message) => self.reply(&message),
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

    /// A reply: the first for its input is its output; any later one is a
    /// duplicate and dropped.
    fn reply(&mut self, message: &async_nats::Message) {
        let Some(index) = reply_index(&message.subject) else {
            self.fatal = Some(cannot_run(&self.task, &message.payload));
            return;
        };
        let runtime = self.link.runtime.clone();
        let headers = message.headers.as_ref();
        match runtime.block_on(payload(&self.link.js, &self.job, headers, &message.payload)) {
            Ok(reply) => self.answer(index, &reply),
            Err(error) => self.fatal = Some(self.link.error("cannot read a result", error)),
        }
    }

    /// Task `index` has `reply`: its output, unless it had one already.
    fn answer(&mut self, index: u64, reply: &[u8]) {
        let answer = Reply::decode(&self.task, reply);
        // The worker was one of its agent's: its number names none here.
        let ran = Ran {
            worker: None,
            time: answer.time,
            stdout: answer.stdout,
            stderr: answer.stderr,
        };
        let Some(mut output) = self.feed.finish(index, answer.result, ran) else {
            return;
        };
        output.attempts = answer.attempts;
        // Agents tell of a task's retries only with its reply: each attempt
        // before the last ended with the death of the worker running it, or
        // of its agent, or with its agent stopped and handing it back.
        if output.attempts > 1
            && let Some(hook) = &self.on_retry
        {
            hook.call(&Retry {
                index,
                input: output.input.clone(),
                reason: "its agent or worker stopped before it finished".into(),
                attempt: output.attempts,
                attempts: output.attempts.max(self.retries + 1),
            });
        }
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
        let input = digest(&self.feed.args(index).unwrap_or_default());
        let runtime = self.link.runtime.clone();
        let published = runtime.block_on(async {
            let mut headers = HeaderMap::new();
            headers.insert(INPUT_HEADER, input.as_str());
            let publish = PublishMessage::build()
                .payload(reply)
                .headers(headers)
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
    /// Ends the job on the server: agents stop serving it, and its tasks,
    /// replies and values leave the server. Done once, when the run ends or
    /// is dropped.
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
            let _ = link.js.delete_object_store(values_store(job)).await;
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

/// A task to publish: its input index, arguments, and their SHA-256.
struct Outgoing {
    index: u64,
    args: Bytes,
    input: String,
}

/// What a wait brought.
enum Event {
    /// A reply.
    Reply(Box<async_nats::jetstream::Message>),
    /// A `MAX_DELIVERIES` advisory.
    Dead(bytes::Bytes),
    Failed(&'static str, async_nats::Error),
    /// A second passed: time to look at the connection.
    Tick,
}

/// A job's streams, opened.
struct Opened {
    replies: consumer::pull::Ordered,
    dead: async_nats::Subscriber,
    /// The replies stored before this submitter came: a resumed job's.
    earlier: Vec<async_nats::jetstream::Message>,
}

/// Puts the component (unless the store has it) and the job's consumer and
/// spec in place, and subscribes to its replies and dead letters first, so
/// that none is missed. A resumed job must be on the server, started with
/// the same `spec` but for its epoch, which goes up by one: the tasks it
/// still has in the stream are taken out, and the replies it has are read.
async fn open(
    link: &Link,
    job: &str,
    spec: &mut JobSpec,
    task: &Task,
    resume: bool,
) -> Result<Opened, Error> {
    let failed = |e| link.error("cannot submit the job", e);
    let cannot_resume = |why: String| link.error(format!("cannot resume job {job}"), why.into());
    let store = link
        .js
        .get_object_store(COMPONENTS)
        .await
        .map_err(|e| failed(e.into()))?;
    if store.info(&spec.component).await.is_err() {
        let wasm = task.wasm();
        store
            .put(spec.component.as_str(), &mut &wasm[..])
            .await
            .map_err(|e| failed(e.into()))?;
    }
    let jobs = link
        .js
        .get_key_value(JOBS)
        .await
        .map_err(|e| failed(e.into()))?;
    let tasks = link
        .js
        .get_stream(TASKS)
        .await
        .map_err(|e| failed(e.into()))?;
    // A job that ended leaves its key deleted, not gone.
    let entry = jobs.entry(job).await.map_err(|e| failed(e.into()))?;
    let entry = entry.filter(|entry| entry.operation == kv::Operation::Put);
    let revision = match (entry, resume) {
        (None, true) => {
            return Err(cannot_resume(
                "it is not on the server (it ended, or never started)".into(),
            ));
        }
        (Some(_), false) => {
            return Err(link.error(
                format!("cannot start job {job}"),
                "a job of that name is on the server: resume it (--resume), or name another".into(),
            ));
        }
        (Some(entry), true) => {
            let started: JobSpec = serde_json::from_slice(&entry.value)
                .map_err(|e| cannot_resume(format!("its spec does not decode: {e}")))?;
            if let Some(why) = started.differs(spec) {
                return Err(cannot_resume(format!(
                    "{why}: resume it with the task and options it was started with"
                )));
            }
            spec.epoch = started.epoch + 1;
            tasks
                .purge()
                .filter(task_subject(job))
                .await
                .map_err(|e| failed(e.into()))?;
            Some(entry.revision)
        }
        (None, false) => None,
    };
    let dead = link
        .client
        .subscribe(format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{TASKS}.{}",
            consumer_name(job)
        ))
        .await
        .map_err(|e| failed(e.into()))?;
    let results = link
        .js
        .get_stream(RESULTS)
        .await
        .map_err(|e| failed(e.into()))?;
    let replies = results
        .create_consumer(pull::OrderedConfig {
            filter_subject: format!("wpool.res.{job}.>"),
            ..Default::default()
        })
        .await
        .map_err(|e| failed(e.into()))?;
    let stored = replies.cached_info().num_pending;
    let mut replies = replies.messages().await.map_err(|e| failed(e.into()))?;
    let mut earlier = Vec::new();
    while (earlier.len() as u64) < stored {
        match replies.next().await {
            Some(Ok(message)) => earlier.push(message),
            Some(Err(e)) => return Err(link.error("cannot read the job's results", e.into())),
            None => break,
        }
    }
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
        .await
        .map_err(|e| failed(e.into()))?;
    let value = serde_json::to_vec(spec)
        .map_err(|e| failed(e.into()))?
        .into();
    let put = match revision {
        Some(revision) => jobs.update(job, value, revision).await.map_err(Into::into),
        None => jobs.create(job, value).await.map_err(Into::into),
    };
    put.map_err(failed)?;
    Ok(Opened {
        replies,
        dead,
        earlier,
    })
}

/// The input index a reply's subject names; `None` for the job's fatal
/// error.
fn reply_index(subject: &str) -> Option<u64> {
    subject.rsplit('.').next()?.parse().ok()
}

/// The error that stops a job whose agents cannot run its component, as
/// `reason` says.
fn cannot_run(task: &Task, reason: &[u8]) -> Error {
    Error::CannotRun {
        name: task.component().name().to_string(),
        reason: String::from_utf8_lossy(reason).into_owned(),
    }
}

/// A fresh job id: 16 hex digits from the system's random numbers.
fn job_id() -> String {
    format!("{:016x}", random_id())
}
