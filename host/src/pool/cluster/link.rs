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
//!   bytes;
//! - object store `wpool_values_<job>`, made when a job first needs it:
//!   the job's inputs and replies too large for one message, deleted with
//!   the job.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store, stream};
use async_nats::{Client, ConnectOptions, HeaderMap};
use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;

use crate::pool::error::Error;

pub(super) const TASKS: &str = "WPOOL_TASKS";
pub(super) const RESULTS: &str = "WPOOL_RESULTS";
pub(super) const JOBS: &str = "wpool_jobs";
pub(super) const COMPONENTS: &str = "wpool_components";
/// The header that carries a task's input index.
pub(super) const INDEX_HEADER: &str = "Wpool-Index";
/// The header of a task, and of its reply, that carries the SHA-256 of the
/// task's arguments: what a resumed job checks its inputs against.
pub(super) const INPUT_HEADER: &str = "Wpool-Input";
/// The header of a message whose payload is too large for one: it names
/// the object, in the job's values store, that holds the payload.
pub(super) const OBJECT_HEADER: &str = "Wpool-Object";
/// Bytes of a message beyond its payload: headers and framing.
pub(super) const MESSAGE_OVERHEAD: usize = 4 << 10;

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

/// The id of the reply to a job's task `index`: a reply published twice is
/// stored once.
pub(super) fn message_id(job: &str, index: u64) -> String {
    format!("{job}.{index}")
}

/// The id of task `index` as the job's `epoch`th submitter publishes it (a
/// resumed job publishes its unanswered tasks again, under new ids).
pub(super) fn task_message_id(job: &str, epoch: u32, index: u64) -> String {
    format!("{job}.{epoch}.{index}")
}

/// The object store of a job's values too large for one message.
pub(super) fn values_store(job: &str) -> String {
    format!("wpool_values_{job}")
}

/// The SHA-256 of `bytes`, in hex.
pub(super) fn digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A number from the system's random numbers.
pub(super) fn random_id() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    u64::from_ne_bytes(bytes)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of header `name` of `message`, if it has one.
pub(super) fn header<'a>(headers: Option<&'a HeaderMap>, name: &str) -> Option<&'a str> {
    headers?.get(name).map(async_nats::HeaderValue::as_str)
}

/// Stores `payload` as object `name` of `job`'s values store, which is made
/// if missing.
pub(super) async fn put_value(
    js: &jetstream::Context,
    job: &str,
    name: &str,
    payload: &[u8],
) -> Result<(), async_nats::Error> {
    let bucket = values_store(job);
    let store = match js.get_object_store(&bucket).await {
        Ok(store) => store,
        Err(_) => {
            js.create_object_store(object_store::Config {
                bucket,
                ..Default::default()
            })
            .await?
        }
    };
    store.put(name, &mut &payload[..]).await?;
    Ok(())
}

/// A message's payload: its own, or the object its [`OBJECT_HEADER`] names
/// in `job`'s values store.
pub(super) async fn payload(
    js: &jetstream::Context,
    job: &str,
    headers: Option<&HeaderMap>,
    payload: &Bytes,
) -> Result<Bytes, async_nats::Error> {
    let Some(name) = header(headers, OBJECT_HEADER) else {
        return Ok(payload.clone());
    };
    let store = js.get_object_store(values_store(job)).await?;
    let mut object = store.get(name).await?;
    let mut bytes = Vec::new();
    object.read_to_end(&mut bytes).await?;
    Ok(bytes.into())
}

/// A connection to the server, on a runtime of its own.
#[derive(Clone)]
pub(crate) struct Link {
    /// The server's URL as given, its password hidden: for messages.
    pub(super) url: String,
    /// Runs the connection and every exchange with the server; the caller's
    /// thread waits on it with `block_on`.
    pub(super) runtime: Arc<tokio::runtime::Runtime>,
    pub(super) client: Client,
    pub(super) js: jetstream::Context,
}

impl Link {
    /// Connects to the server at `url` (`nats://`, `tls://`, with
    /// `user:password@` if it asks for them), with the NATS credentials
    /// file `credentials` when given, checks that it has JetStream, and
    /// makes the shared streams, bucket and store if they are missing.
    ///
    /// # Errors
    /// [`Error::Cluster`] naming the URL and what failed.
    pub(crate) fn connect(url: &str, credentials: Option<&Path>) -> Result<Link, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wpool-nats")
            .enable_all()
            .build()
            .map_err(|source| Error::Thread { source })?;
        let shown = hide_password(url);
        let failed = |what: &str| {
            let what = what.to_string();
            let url = shown.clone();
            move |source| Error::Cluster { url, what, source }
        };
        let (servers, user) = split_user(url);
        let options = match credentials {
            Some(file) => runtime
                .block_on(ConnectOptions::with_credentials_file(file))
                .map_err(|e| {
                    failed(&format!("cannot read credentials {}", file.display()))(e.into())
                })?,
            None => ConnectOptions::new(),
        };
        let options = match user {
            Some(User::Password(user, password)) => options.user_and_password(user, password),
            Some(User::Token(token)) => options.token(token),
            None => options,
        };
        let client = runtime
            .block_on(
                options
                    .name("wpool")
                    .connection_timeout(Duration::from_secs(5))
                    .connect(servers),
            )
            .map_err(|e| {
                // rustls's words for a server certificate it cannot trust.
                let what = match e.to_string().contains("invalid peer certificate") {
                    true => {
                        "cannot connect (a server certificate from a private authority is \
                             trusted with SSL_CERT_FILE=its-certificate.pem)"
                    }
                    false => "cannot connect",
                };
                failed(what)(e.into())
            })?;
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
            url: shown,
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

/// Who connects, as a server URL says: `user:password@` or `token@`.
#[derive(Debug, PartialEq)]
enum User {
    Password(String, String),
    Token(String),
}

/// One server of a URL list: its scheme (with `://`, or empty), the user
/// part before `@` if any, and the rest.
fn parts(server: &str) -> (&str, Option<&str>, &str) {
    let (scheme, rest) = match server.find("://") {
        Some(at) => server.split_at(at + 3),
        None => ("", server),
    };
    match rest.rsplit_once('@') {
        Some((user, host)) => (scheme, Some(user), host),
        None => (scheme, None, rest),
    }
}

/// The server list `url` without its user parts, which the client does not
/// read, and the first user part, as written (not percent-decoded).
fn split_user(url: &str) -> (Vec<String>, Option<User>) {
    let mut user = None;
    let servers = url
        .split(',')
        .map(|server| {
            let (scheme, part, host) = parts(server);
            if let (None, Some(part)) = (&user, part) {
                user = Some(match part.split_once(':') {
                    Some((name, password)) => User::Password(name.into(), password.into()),
                    None => User::Token(part.into()),
                });
            }
            format!("{scheme}{host}")
        })
        .collect();
    (servers, user)
}

/// `url` with the secret of each user part (a password, a token) replaced
/// by `***`, so that messages can show it.
fn hide_password(url: &str) -> String {
    let hide = |server: &str| {
        let (scheme, part, host) = parts(server);
        match part.map(|part| part.split_once(':').map_or("", |(user, _)| user)) {
            Some(user) => format!("{scheme}{user}:***@{host}"),
            None => server.to_string(),
        }
    };
    url.split(',').map(hide).collect::<Vec<_>>().join(",")
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

#[cfg(test)]
mod tests {
    use super::{User, hide_password, split_user};

    #[test]
    fn passwords_are_hidden_from_messages() {
        assert_eq!(
            hide_password("nats://ann:secret@host:4222"),
            "nats://ann:***@host:4222"
        );
        assert_eq!(hide_password("tls://host:4222"), "tls://host:4222");
        assert_eq!(hide_password("ann:p@ss@host"), "ann:***@host");
        assert_eq!(hide_password("nats://t0ken@host"), "nats://:***@host");
        assert_eq!(
            hide_password("nats://a:x@h1,nats://h2"),
            "nats://a:***@h1,nats://h2"
        );
    }

    #[test]
    fn the_user_part_of_a_url_is_taken_out_for_the_client() {
        let (servers, user) = split_user("nats://ann:p@ss:w@h1:4222,tls://h2");
        assert_eq!(servers, ["nats://h1:4222", "tls://h2"]);
        assert_eq!(user, Some(User::Password("ann".into(), "p@ss:w".into())));
        let (servers, user) = split_user("tok@h1");
        assert_eq!(servers, ["h1"]);
        assert_eq!(user, Some(User::Token("tok".into())));
        assert_eq!(split_user("nats://h1").1, None);
    }
}
