//! An [`Agent`]: runs a cluster's tasks on this machine's worker processes.
//! It watches the jobs bucket; for each job it fetches the component from
//! the object store (checking its SHA-256), starts a local run of the task
//! fed from the job's consumer (the dispatcher of a local pool, with its
//! lockdown, limits and retries), and publishes each output as the task's
//! reply before it acknowledges the task, so that an acknowledged task
//! always has a stored reply.
//!
//! The agent holds at most as many tasks as it has slots, across its jobs,
//! and sends progress acknowledgements for the tasks it holds. A task
//! delivered again (its first agent died, or was too slow to acknowledge)
//! is first looked up among the replies: one that has a reply is
//! acknowledged and not run again.
//!
//! A task's input too large for one message is read from the job's values
//! store; so is a reply too large for one message written there.
//!
//! An agent told to stop ([`AgentStop`]) stops fetching, hands the tasks
//! it holds back to the server (a negative acknowledgement: another agent
//! gets them at once, not after the ack wait), stops its workers, and
//! returns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::kv::Operation;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, AckKind};
use crossbeam_channel::Sender;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::link::{
    COMPONENTS, INDEX_HEADER, INPUT_HEADER, JOBS, Link, MESSAGE_OVERHEAD, OBJECT_HEADER, RESULTS,
    TASKS, consumer_name, fatal_subject, header, message_id, payload, put_value, result_subject,
};
use super::shared::Forwarder;
use super::wire::{JobSpec, Reply};
use crate::pool::dispatch::{Plan, Run, Source, Submitted};
use crate::pool::error::Error;
use crate::pool::hub::Hub;
use crate::pool::job::Job;
use crate::pool::output::TaskOutput;
use crate::pool::settings::Settings;
use crate::pool::task::{Component, Task};
use crate::pool::value::Input;

/// How long one fetch waits for tasks before it asks again.
const FETCH_WAIT: Duration = Duration::from_secs(1);

/// Runs the tasks of a cluster's jobs on this machine: see
/// [`PoolBuilder::agent`](crate::PoolBuilder::agent).
pub struct Agent {
    link: Link,
    /// The pool's settings: its worker count is the agent's slots; each
    /// job brings its own limits, retries and reuse.
    settings: Settings,
    /// Set once the agent is told to stop.
    stop: Arc<watch::Sender<bool>>,
}

/// Stops an [`Agent`] that runs, from any thread (a signal handler's,
/// say): see [`Agent::stopper`].
#[derive(Clone, Debug)]
pub struct AgentStop(Arc<watch::Sender<bool>>);

impl AgentStop {
    /// Tells the agent to stop: [`Agent::run`] hands back the tasks it
    /// holds and returns.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("url", &self.link.url)
            .field("slots", &self.settings.workers)
            .finish()
    }
}

impl Agent {
    pub(crate) fn new(link: Link, settings: Settings) -> Agent {
        let (stop, _) = watch::channel(false);
        Agent {
            link,
            settings,
            stop: Arc::new(stop),
        }
    }

    /// What stops this agent's [`Agent::run`], from another thread.
    pub fn stopper(&self) -> AgentStop {
        AgentStop(self.stop.clone())
    }

    /// Serves jobs until the connection to the server ends for good, or
    /// until told to stop ([`Agent::stopper`]): it then stops fetching,
    /// hands the tasks it holds back to the server, which gives them to
    /// another agent at once, stops its workers and returns `Ok`. It says
    /// on stderr when it starts and ends a job, when it is given a task
    /// delivered again (whose first agent died), and what it hands back.
    ///
    /// # Errors
    /// [`Error::Cluster`] when the server cannot be watched any more.
    pub fn run(self) -> Result<(), Error> {
        let runtime = self.link.runtime.clone();
        runtime.block_on(self.serve())
    }

    async fn serve(self) -> Result<(), Error> {
        let link = &self.link;
        let watch = async {
            let jobs = link.js.get_key_value(JOBS).await?;
            Ok::<_, async_nats::Error>(jobs.watch_with_history(">").await?)
        };
        let mut watch = watch
            .await
            .map_err(|e| link.error("cannot watch the jobs", e))?;
        let slots = Arc::new(Semaphore::new(self.settings.workers));
        let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut stop = self.stop.subscribe();
        loop {
            let entry = tokio::select! {
                entry = watch.next() => entry,
                () = stopped(&mut stop) => {
                    // Each job hands back its tasks and ends.
                    for (_, job) in running {
                        let _ = job.await;
                    }
                    return Ok(());
                }
            };
            let Some(entry) = entry else { break };
            let entry = entry.map_err(|e| link.error("cannot watch the jobs", e.into()))?;
            running.retain(|_, job| !job.is_finished());
            match entry.operation {
                Operation::Put if !running.contains_key(&entry.key) => {
                    let spec = match serde_json::from_slice::<JobSpec>(&entry.value) {
                        Ok(spec) => spec,
                        // Put by a submitter of another wpool version, say:
                        // its tasks are left to agents that can read it.
                        Err(error) => {
                            log(format_args!(
                                "job {}: skipped, its description does not read as this \
                                 agent's ({error}): was it submitted by another wpool version?",
                                entry.key
                            ));
                            continue;
                        }
                    };
                    let served = Served {
                        link: link.clone(),
                        job: entry.key.clone(),
                        spec,
                        settings: self.settings.clone(),
                        slots: slots.clone(),
                        stop: self.stop.subscribe(),
                    };
                    log(format_args!(
                        "job {}: running {} of {}",
                        entry.key, served.spec.func, served.spec.name
                    ));
                    running.insert(entry.key, tokio::spawn(served.serve()));
                }
                Operation::Put => {}
                Operation::Delete | Operation::Purge => {
                    if let Some(job) = running.remove(&entry.key) {
                        log(format_args!("job {}: ended", entry.key));
                        job.abort();
                    }
                }
            }
        }
        Err(link.error("the connection closed", "the jobs watch ended".into()))
    }
}

/// One job an agent serves.
struct Served {
    link: Link,
    job: String,
    spec: JobSpec,
    settings: Settings,
    slots: Arc<Semaphore>,
    /// Set once the agent is told to stop.
    stop: watch::Receiver<bool>,
}

/// A task the agent holds: its message, to acknowledge once its reply is
/// stored, and the slot it takes.
struct Held {
    message: jetstream::Message,
    _slot: OwnedSemaphorePermit,
}

impl Held {
    /// Deliveries of the task before this one, to agents that died.
    fn earlier(&self) -> u32 {
        let delivered = self.message.info().map_or(1, |info| info.delivered);
        u32::try_from(delivered - 1).unwrap_or(0)
    }

    /// The SHA-256 of the task's arguments, as its submitter sent it.
    fn input(&self) -> Option<String> {
        header(self.message.headers.as_ref(), INPUT_HEADER).map(str::to_string)
    }
}

type HeldTasks = Arc<Mutex<HashMap<u64, Held>>>;

/// Kills the job's local run when the job's future is dropped (the job
/// ended, or the agent stops serving it).
struct Terminate(Sender<()>);

impl Drop for Terminate {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

impl Served {
    /// Serves the job until it is deleted (the future is then dropped) or
    /// its local run stops as a whole, which its submitter is told.
    async fn serve(self) {
        let reason = match self.serve_until_fatal().await {
            Ok(()) => return,
            Err(reason) => reason,
        };
        let publish = PublishMessage::build().payload(reason.into_bytes().into());
        if let Ok(ack) = self
            .link
            .js
            .send_publish(fatal_subject(&self.job), publish)
            .await
        {
            let _ = ack.await;
        }
    }

    /// Runs the job's tasks; an error says why its agents cannot run it.
    async fn serve_until_fatal(&self) -> Result<(), String> {
        let task = self.task().await?;
        let mut settings = self.settings.clone();
        settings.limits = self.spec.limits.clone();
        settings.retries = self.spec.retries;
        settings.reuse = self.spec.reuse;
        // The job's shared objects are its submitter's.
        let forwarder = Forwarder::new(&self.link.client, &self.job)
            .await
            .map_err(|error| format!("cannot forward the job's shared objects: {error}"))?;
        let forwarder = Arc::new(forwarder);
        let job = Arc::new(Job::first(settings, Hub::remote(forwarder.clone())));
        let (submit, submitted) = crossbeam_channel::unbounded();
        let (terminate, terminated) = crossbeam_channel::bounded(1);
        let _terminate = Terminate(terminate);
        let (outputs_tx, mut outputs) = mpsc::unbounded_channel();
        let workers = self.settings.workers;
        let started = tokio::task::spawn_blocking({
            let task = task.clone();
            move || {
                let source = Source::<std::iter::Empty<Input>>::Submitted(submitted, None);
                let plan = Plan {
                    terminate: Some(terminated),
                    ..Plan::new(&job, workers, false)
                };
                let mut run = Run::start(&job, &task, source, plan)?;
                std::thread::Builder::new()
                    .name("wpool-agent-run".into())
                    .spawn(move || {
                        while let Some(output) = run.next() {
                            if outputs_tx.send(output).is_err() {
                                return;
                            }
                        }
                    })
                    .map_err(|source| Error::Thread { source })?;
                Ok::<_, Error>(())
            }
        });
        match started.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(format!("{:#}", anyhow::Error::from(error))),
            Err(_) => return Err("the agent could not start the run".into()),
        }
        let consumer: PullConsumer = self
            .link
            .js
            .get_consumer_from_stream(consumer_name(&self.job), TASKS)
            .await
            .map_err(|e| e.to_string())?;
        let held: HeldTasks = Arc::default();
        let mut stop = self.stop.clone();
        tokio::select! {
            () = self.fetch(&consumer, &task, &submit, &held) => Ok(()),
            fatal = self.answer(&mut outputs, &held) => fatal,
            () = self.keep_alive(&held) => Ok(()),
            () = forwarder.keep_alive() => Ok(()),
            () = stopped(&mut stop) => {
                self.hand_back(&held).await;
                Ok(())
            }
        }
    }

    /// The agent stops: the tasks it holds go back to the server, which
    /// delivers them to another agent at once. One whose reply was stored
    /// meanwhile is not run again there.
    async fn hand_back(&self, held: &HeldTasks) {
        let messages: Vec<jetstream::Message> =
            lock(held).drain().map(|(_, task)| task.message).collect();
        for message in &messages {
            let _ = message.ack_with(AckKind::Nak(None)).await;
        }
        log(format_args!(
            "job {}: stopping, {} task(s) handed back",
            self.job,
            messages.len()
        ));
    }

    /// The job's task, from its component in the object store, whose bytes
    /// must have the job's hash.
    async fn task(&self) -> Result<Task, String> {
        let wasm = async {
            let store = self.link.js.get_object_store(COMPONENTS).await?;
            let mut object = store.get(&self.spec.component).await?;
            let mut wasm = Vec::new();
            object.read_to_end(&mut wasm).await?;
            Ok::<_, async_nats::Error>(wasm)
        };
        let wasm = wasm
            .await
            .map_err(|e| format!("cannot fetch component {}: {e}", self.spec.component))?;
        let hash: String = Sha256::digest(&wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if hash != self.spec.component {
            return Err(format!(
                "the component's bytes hash to {hash}, not {}",
                self.spec.component
            ));
        }
        let component = Component::from_bytes(self.spec.name.clone(), wasm);
        component
            .and_then(|component| component.task(Some(&self.spec.func)))
            .map_err(|e| e.to_string())
    }

    /// Takes tasks from the job's consumer as slots free up, never more
    /// than are free, and hands them to the local run. The agent's slots
    /// are shared by its jobs: a job waits for its tasks holding none, so
    /// that a job with none to give (its inputs yet to come, or its
    /// submitter gone) never keeps another's waiting.
    async fn fetch(
        &self,
        consumer: &PullConsumer,
        task: &Task,
        submit: &Sender<Submitted>,
        held: &HeldTasks,
    ) {
        loop {
            // Room for one task at least (the semaphore is fair: a job
            // waiting here does not pass one that waits for a slot).
            let Ok(room) = self.slots.clone().acquire_owned().await else {
                return;
            };
            drop(room);
            let free = self.slots.available_permits().max(1);
            let batch = consumer
                .fetch()
                .max_messages(free)
                .expires(FETCH_WAIT)
                .messages()
                .await;
            let Ok(mut batch) = batch else {
                // The consumer is gone: the job has ended.
                return;
            };
            while let Some(Ok(message)) = batch.next().await {
                let Some(slot) = self.slot_for(&message).await else {
                    return;
                };
                self.take(message, slot, task, submit, held).await;
            }
        }
    }

    /// A slot for the task `message` delivers: at once, unless another
    /// job's tasks took the room meanwhile; the server is then told that
    /// the task is in progress while it waits, so that it is not delivered
    /// again. `None` when the agent stops.
    async fn slot_for(&self, message: &jetstream::Message) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Some(slot);
        }
        let acquire = self.slots.clone().acquire_owned();
        tokio::pin!(acquire);
        loop {
            tokio::select! {
                slot = &mut acquire => return slot.ok(),
                () = tokio::time::sleep(self.progress_period()) => {
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            }
        }
    }

    /// How often the server is told that a task held is in progress: three
    /// times per ack wait.
    fn progress_period(&self) -> Duration {
        (self.spec.ack_wait / 3).max(Duration::from_millis(100))
    }

    /// One task delivered: run it, unless it was answered already or does
    /// not decode.
    async fn take(
        &self,
        message: jetstream::Message,
        slot: OwnedSemaphorePermit,
        task: &Task,
        submit: &Sender<Submitted>,
        held: &HeldTasks,
    ) {
        let index = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(INDEX_HEADER))
            .and_then(|value| value.as_str().parse::<u64>().ok());
        let Some(index) = index else {
            // No reply can name it: it leaves the stream.
            let _ = message.ack_with(AckKind::Term).await;
            return;
        };
        let delivery = message.info().map_or(1, |info| info.delivered);
        if delivery > 1 {
            let answered = self.answered(index).await;
            let what = match answered {
                true => "answered already: not run again",
                false => "running it",
            };
            log(format_args!(
                "job {}: task {index} delivered again (delivery {delivery}), {what}",
                self.job
            ));
            if answered {
                let _ = message.double_ack().await;
                return;
            }
        }
        #[cfg(feature = "test-hooks")]
        test_hook("agent-abort", index);
        let headers = message.headers.as_ref();
        let args = payload(&self.link.js, &self.job, headers, &message.payload).await;
        let input = match args {
            Ok(args) => task.input(args).map_err(|error| {
                format!("its message does not decode as the function's input: {error}")
            }),
            Err(error) => Err(format!("its input cannot be read: {error}")),
        };
        let input = match input {
            Ok(input) => input,
            Err(reason) => {
                let digest = header(headers, INPUT_HEADER).map(str::to_string);
                if self.publish(index, Reply::rejected(reason), digest).await {
                    let _ = message.double_ack().await;
                }
                return;
            }
        };
        let mut tasks = lock(held);
        if let Some(earlier) = tasks.get_mut(&index) {
            // Delivered again while it runs here: the newer delivery is
            // the one to acknowledge.
            earlier.message = message;
            return;
        }
        tasks.insert(
            index,
            Held {
                message,
                _slot: slot,
            },
        );
        drop(tasks);
        let _ = submit.send((index, task.clone(), input));
    }

    /// Whether task `index` has a reply stored already.
    async fn answered(&self, index: u64) -> bool {
        let Ok(results) = self.link.js.get_stream_no_info(RESULTS).await else {
            return false;
        };
        results
            .direct_get_last_for_subject(result_subject(&self.job, index))
            .await
            .is_ok()
    }

    /// Publishes each output of the local run as its task's reply, then
    /// acknowledges the task. A run that stops as a whole is the job's
    /// fatal error.
    async fn answer(
        &self,
        outputs: &mut mpsc::UnboundedReceiver<Result<TaskOutput, Error>>,
        held: &HeldTasks,
    ) -> Result<(), String> {
        while let Some(output) = outputs.recv().await {
            let output = output.map_err(|error| format!("{:#}", anyhow::Error::from(error)))?;
            let (earlier, input) = lock(held)
                .get(&output.index)
                .map_or((0, None), |task| (task.earlier(), task.input()));
            let reply = Reply::new(&output, earlier);
            let stored = self.publish(output.index, reply, input).await;
            #[cfg(feature = "test-hooks")]
            test_hook("agent-abort-after-reply", output.index);
            let task = lock(held).remove(&output.index);
            // Unacknowledged when its reply could not be stored: it is
            // delivered again after the ack wait.
            if let (true, Some(task)) = (stored, task) {
                let _ = task.message.double_ack().await;
            }
        }
        Err("the agent's run ended".into())
    }

    /// Publishes `reply` for task `index`, whose arguments have the SHA-256
    /// `input`, and waits until it is stored. A reply too large for one
    /// message is stored in the job's values store, and its message names
    /// it.
    async fn publish(&self, index: u64, reply: Reply, input: Option<String>) -> bool {
        let mut headers = async_nats::HeaderMap::new();
        if let Some(input) = input {
            headers.insert(INPUT_HEADER, input.as_str());
        }
        let mut reply = reply.encode();
        let max_payload = self.link.client.server_info().max_payload;
        if reply.len() + MESSAGE_OVERHEAD > max_payload {
            let name = format!("res-{index}");
            if put_value(&self.link.js, &self.job, &name, &reply)
                .await
                .is_err()
            {
                return false;
            }
            headers.insert(OBJECT_HEADER, name.as_str());
            reply = bytes::Bytes::new();
        }
        let publish = PublishMessage::build()
            .payload(reply)
            .headers(headers)
            .message_id(message_id(&self.job, index));
        match self
            .link
            .js
            .send_publish(result_subject(&self.job, index), publish)
            .await
        {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        }
    }

    /// Tells the server, three times per ack wait, that the tasks held are
    /// still running, so that a long task is not delivered again.
    async fn keep_alive(&self, held: &HeldTasks) {
        loop {
            tokio::time::sleep(self.progress_period()).await;
            let messages: Vec<jetstream::Message> = lock(held)
                .values()
                .map(|task| task.message.clone())
                .collect();
            for message in messages {
                let _ = message.ack_with(AckKind::Progress).await;
            }
        }
    }
}

/// Returns once the agent is told to stop (or can no longer be).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding it; a poisoned one is still whole.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Says what the agent did on stderr, for whoever runs it.
fn log(what: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "wpool agent: {what}");
}

/// Faults only the test suite provokes, in the agent process itself:
/// `WPOOL_TEST_HOOK=agent-abort=N` aborts the agent when it is about to
/// run task N, as a machine that dies under one input would;
/// `agent-abort-after-reply=N` aborts it once task N's reply is stored,
/// before the task is acknowledged.
#[cfg(feature = "test-hooks")]
fn test_hook(name: &str, index: u64) {
    let hook = std::env::var(crate::protocol::TEST_HOOK_VAR).ok();
    if hook.is_some_and(|hook| hook == format!("{name}={index}")) {
        std::process::abort();
    }
}
