//! A job's shared objects across machines. They live in the submitter, in a
//! hub of its own, as a local run's live in its host: an agent forwards each
//! operation of its tasks to it as a NATS message with a reply subject on
//! the job's subject (`wpool.hub.<job>`, outside every stream), in the
//! order its workers sent them, and the submitter serves them in that order
//! and answers each when the operation completes. So a task's queue puts and
//! gets stream as on a local worker, and every queue, pipe, lock, condition,
//! value, array, dict, list, event, semaphore and barrier of a job is one
//! object for all its tasks, on any agent, with the rules and limits of a
//! local run.
//!
//! An agent tells the submitter when a task that used an object ends, or
//! its worker process dies, as a local worker's dispatcher tells its hub.
//! An agent whose tasks hold objects sends a heartbeat every second; one
//! not heard for [`LEASE`] is taken for dead, and its workers with it: a
//! lock one of them held is free and its waiters get `abandoned`, as when
//! a local worker dies. An agent whose heartbeat goes unanswered (the
//! submitter is gone) answers `closed` to its tasks' waiting operations;
//! with no submitter, an operation is answered `closed` at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::{Client, Request, Subject};
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::link::{MESSAGE_OVERHEAD, random_id};
use crate::pool::hub::{Caller, Hub, JobId, Remote, Reply};
use crate::protocol::{Answer, ObjectError, Op};

/// How often an agent whose tasks hold objects says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long the submitter waits to hear from such an agent before it lets
/// go of what its tasks held; and how long an agent waits for the answer
/// to its heartbeat before it takes the submitter for gone.
const LEASE: Duration = Duration::from_secs(5);
/// The job of the submitter's hub: its only one.
const JOB: JobId = 0;

/// The subject of job `job`'s operations on its shared objects.
fn subject(job: &str) -> String {
    format!("wpool.hub.{job}")
}

/// What an agent sends the submitter.
#[derive(Serialize, Deserialize)]
struct Forwarded {
    /// The agent's own number for the job, random.
    agent: u64,
    what: What,
}

#[derive(Serialize, Deserialize)]
enum What {
    /// An operation of task `task`, run by the agent's worker `worker`:
    /// answered with the hub's answer.
    Request {
        worker: u32,
        task: u64,
        op: Op,
        timeout: Option<Duration>,
    },
    /// A task that sent operations ended.
    TaskEnded { worker: u32, task: u64 },
    /// A worker whose tasks sent operations died.
    WorkerDied { worker: u32 },
    /// The heartbeat: answered with an empty message.
    Alive,
}

/// The submitter's side: serves the job's objects to its agents until
/// dropped. Dropping it answers `closed` to every waiting operation.
pub(crate) struct Objects(tokio::task::JoinHandle<()>);

impl Drop for Objects {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Objects {
    /// Serves `job`'s operations from `hub`, on the connection's runtime.
    pub(crate) async fn serve(client: &Client, job: &str, hub: Hub) -> Result<Objects, Error> {
        let requests = client.subscribe(subject(job)).await?;
        let server = Server {
            client: client.clone(),
            runtime: Handle::current(),
            hub,
            heard: HashMap::new(),
            ids: HashMap::new(),
            dead: HashSet::new(),
            expired: HashSet::new(),
            next_id: 0,
        };
        Ok(Objects(tokio::spawn(server.run(requests))))
    }
}

type Error = async_nats::Error;

struct Server {
    client: Client,
    runtime: Handle,
    hub: Hub,
    /// When each agent was last heard from.
    heard: HashMap<u64, Instant>,
    /// The hub's worker id of each agent's worker that sent operations.
    ids: HashMap<(u64, u32), u32>,
    /// Workers that died: their operations are refused.
    dead: HashSet<(u64, u32)>,
    /// Agents whose lease expired: their operations are refused.
    expired: HashSet<u64>,
    next_id: u32,
}

impl Server {
    async fn run(mut self, mut requests: async_nats::Subscriber) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                message = requests.next() => match message {
                    Some(message) => self.take(message),
                    None => return,
                },
                _ = tick.tick() => self.expire(),
            }
        }
    }

    fn take(&mut self, message: async_nats::Message) {
        let respond = Respond {
            client: self.client.clone(),
            runtime: self.runtime.clone(),
            to: message.reply.map(|to| to.to_string()),
        };
        // Not from an agent of this version: nothing it could use.
        let Ok(Forwarded { agent, what }) = postcard::from_bytes(&message.payload) else {
            return respond.answer(Err(ObjectError::Denied("an undecodable operation".into())));
        };
        if self.expired.contains(&agent) {
            return respond.answer(Err(ObjectError::Abandoned));
        }
        self.heard.insert(agent, Instant::now());
        match what {
            What::Alive => respond.send(Bytes::new()),
            What::Request {
                worker,
                task,
                op,
                timeout,
            } => {
                if self.dead.contains(&(agent, worker)) {
                    return respond.answer(Err(ObjectError::Abandoned));
                }
                let id = *self.ids.entry((agent, worker)).or_insert_with(|| {
                    self.next_id += 1;
                    self.next_id
                });
                let caller = Caller {
                    job: JOB,
                    worker: id,
                    task,
                };
                let reply = Box::new(move |answer| respond.answer(answer));
                self.hub.request(caller, op, timeout, reply);
            }
            What::TaskEnded { worker, task } => {
                if let Some(&id) = self.ids.get(&(agent, worker)) {
                    self.hub.task_ended(Caller {
                        job: JOB,
                        worker: id,
                        task,
                    });
                }
            }
            What::WorkerDied { worker } => {
                if let Some(id) = self.ids.remove(&(agent, worker)) {
                    self.dead.insert((agent, worker));
                    self.hub.worker_died(JOB, id);
                }
            }
        }
    }

    /// Lets go of what the tasks of each agent not heard for [`LEASE`]
    /// held, as if its workers died.
    fn expire(&mut self) {
        let silent: Vec<u64> = self
            .heard
            .iter()
            .filter(|(_, at)| at.elapsed() > LEASE)
            .map(|(&agent, _)| agent)
            .collect();
        for agent in silent {
            self.heard.remove(&agent);
            let mut died = Vec::new();
            self.ids.retain(|&(of, _), &mut id| {
                let keep = of != agent;
                if !keep {
                    died.push(id);
                }
                keep
            });
            // An agent with no live worker holds nothing: it may come back.
            if !died.is_empty() {
                self.expired.insert(agent);
            }
            for id in died {
                self.hub.worker_died(JOB, id);
            }
        }
    }
}

/// Where the answer to one message goes.
struct Respond {
    client: Client,
    runtime: Handle,
    to: Option<String>,
}

impl Respond {
    fn answer(self, answer: Result<Answer, ObjectError>) {
        let limit = self
            .client
            .server_info()
            .max_payload
            .saturating_sub(MESSAGE_OVERHEAD);
        let mut bytes = postcard::to_stdvec(&answer).unwrap_or_default();
        if bytes.len() > limit {
            let refused: Result<Answer, _> = Err(ObjectError::TooLarge(limit as u64));
            bytes = postcard::to_stdvec(&refused).unwrap_or_default();
        }
        self.send(bytes.into());
    }

    fn send(self, payload: Bytes) {
        let Some(to) = self.to else {
            return;
        };
        let client = self.client;
        self.runtime.spawn(async move {
            // An agent gone meanwhile has no use for it.
            let _ = client.publish(to, payload).await;
        });
    }
}

/// An agent's side: the [`Remote`] hub its job's workers use, which
/// forwards their operations to the submitter.
pub(crate) struct Forwarder {
    client: Client,
    subject: String,
    agent: u64,
    /// What the agent sends the submitter, in the order its workers sent
    /// it ([`send_in_order`]).
    outbox: mpsc::UnboundedSender<Outgoing>,
    state: Arc<Mutex<Forwarding>>,
}

/// A message to the submitter, and the number of the operation it carries,
/// if it is one: its answer is awaited.
struct Outgoing {
    operation: Option<u64>,
    payload: Bytes,
}

#[derive(Default)]
struct Forwarding {
    next: u64,
    /// Operations sent and not answered yet, by a number of the agent's.
    waiting: HashMap<u64, Reply>,
    /// Each worker whose tasks sent operations, and those of its tasks that
    /// have not ended: the submitter hears when they end.
    tasks: HashMap<u32, HashSet<u64>>,
}

impl Forwarder {
    /// Forwards to the submitter of `job`; call from the connection's
    /// runtime.
    pub(crate) async fn new(client: &Client, job: &str) -> Result<Forwarder, Error> {
        let inbox = client.new_inbox();
        let answers = client.subscribe(format!("{inbox}.*")).await?;
        let state = Arc::<Mutex<Forwarding>>::default();
        let (outbox, outgoing) = mpsc::unbounded_channel();
        let subject = subject(job);
        tokio::spawn(send_in_order(
            client.clone(),
            subject.clone(),
            inbox.clone(),
            outgoing,
            state.clone(),
        ));
        tokio::spawn(take_answers(answers, state.clone()));
        Ok(Forwarder {
            client: client.clone(),
            subject,
            agent: random_id(),
            outbox,
            state,
        })
    }

    fn encode(&self, what: What) -> Option<Bytes> {
        let forwarded = Forwarded {
            agent: self.agent,
            what,
        };
        postcard::to_stdvec(&forwarded).ok().map(Bytes::from)
    }

    fn publish(&self, what: What) {
        let Some(payload) = self.encode(what) else {
            return;
        };
        // With no submitter, nobody holds anything for it.
        let _ = self.outbox.send(Outgoing {
            operation: None,
            payload,
        });
    }

    /// Sends the heartbeat while tasks hold objects, forever. When it goes
    /// unanswered, the operations waiting are answered `closed`.
    pub(crate) async fn keep_alive(&self) {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            if lock(&self.state).tasks.is_empty() {
                continue;
            }
            let Some(alive) = self.encode(What::Alive) else {
                continue;
            };
            let request = Request::new().payload(alive).timeout(Some(LEASE));
            if self
                .client
                .send_request(self.subject.clone(), request)
                .await
                .is_err()
            {
                let waiting = std::mem::take(&mut lock(&self.state).waiting);
                for reply in waiting.into_values() {
                    answer(reply, Err(ObjectError::Closed));
                }
            }
        }
    }
}

impl Remote for Forwarder {
    fn request(&self, caller: Caller, op: Op, timeout: Option<Duration>, reply: Reply) {
        let what = What::Request {
            worker: caller.worker,
            task: caller.task,
            op,
            timeout,
        };
        let limit = self
            .client
            .server_info()
            .max_payload
            .saturating_sub(MESSAGE_OVERHEAD);
        let payload = match self.encode(what) {
            Some(payload) if payload.len() <= limit => payload,
            _ => return reply(Err(ObjectError::TooLarge(limit as u64))),
        };
        // Sent under the lock, so that operations leave in the order they
        // came: the submitter serves them in that order, and a task's
        // queue traffic streams as on a local worker.
        let mut state = lock(&self.state);
        let id = state.next;
        state.next += 1;
        state.waiting.insert(id, reply);
        let tasks = state.tasks.entry(caller.worker).or_default();
        tasks.insert(caller.task);
        let outgoing = Outgoing {
            operation: Some(id),
            payload,
        };
        // The sender ends only with the runtime: no submitter is reachable.
        // This thread is a worker's reader, off the runtime: it may answer.
        if self.outbox.send(outgoing).is_err()
            && let Some(reply) = state.waiting.remove(&id)
        {
            reply(Err(ObjectError::Closed));
        }
    }

    fn task_ended(&self, caller: Caller) {
        let ended = lock(&self.state)
            .tasks
            .get_mut(&caller.worker)
            .is_some_and(|tasks| tasks.remove(&caller.task));
        if ended {
            self.publish(What::TaskEnded {
                worker: caller.worker,
                task: caller.task,
            });
        }
    }

    fn worker_died(&self, _job: JobId, worker: u32) {
        if lock(&self.state).tasks.remove(&worker).is_some() {
            self.publish(What::WorkerDied { worker });
        }
    }
}

/// Publishes what the agent sends the submitter, one message after the
/// other, in the order it was sent: NATS delivers one connection's messages
/// to a subscriber in the order they were published. The answer to an
/// operation comes to `<inbox>.<number>` ([`take_answers`]). The operation
/// waits as long as the hub makes it: its timeout is the hub's to apply.
async fn send_in_order(
    client: Client,
    subject: String,
    inbox: String,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    state: Arc<Mutex<Forwarding>>,
) {
    let subject = Subject::from(subject);
    while let Some(Outgoing { operation, payload }) = outgoing.recv().await {
        let subject = subject.clone();
        let sent = match operation {
            Some(id) => {
                let reply = format!("{inbox}.{id}");
                client.publish_with_reply(subject, reply, payload).await
            }
            None => client.publish(subject, payload).await,
        };
        if let (Err(_), Some(id)) = (sent, operation) {
            settle(&state, id, Err(ObjectError::Closed));
        }
    }
}

/// Hands each answer to the operation it answers. With no submitter, NATS
/// answers an operation at once with an empty "no responders" message:
/// the submitter's objects are gone, and the operation gets `closed`.
async fn take_answers(mut answers: async_nats::Subscriber, state: Arc<Mutex<Forwarding>>) {
    while let Some(message) = answers.next().await {
        let Some(id) = message
            .subject
            .rsplit('.')
            .next()
            .and_then(|id| id.parse::<u64>().ok())
        else {
            continue;
        };
        let result = postcard::from_bytes(&message.payload).unwrap_or(Err(ObjectError::Closed));
        settle(&state, id, result);
    }
}

/// Answers operation `id` with `result`, unless it was answered `closed`
/// already (the heartbeat went unanswered). Call on the runtime.
fn settle(state: &Mutex<Forwarding>, id: u64, result: Result<Answer, ObjectError>) {
    if let Some(reply) = lock(state).waiting.remove(&id) {
        answer(reply, result);
    }
}

/// Calls `reply` off the runtime's thread: it writes to a worker's socket,
/// which may block.
fn answer(reply: Reply, result: Result<Answer, ObjectError>) {
    tokio::task::spawn_blocking(move || reply(result));
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding it; a poisoned one is still whole.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
