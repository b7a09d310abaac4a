//! Helpers for the `wpool` integration tests: run the real `wpool` binary,
//! and when an assertion about what it did fails, show the command, its
//! exit status, its stdout and its stderr.
//!
//! Guest components are built from their crates once per test binary.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `wpool` binary cargo built for these tests.
pub const WPOOL: &str = env!("CARGO_BIN_EXE_wpool");

/// How long any one `wpool` command may take before the test gives up on it.
const COMMAND_DEADLINE: Duration = Duration::from_secs(300);

/// The guest example crates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    Square,
    Wordstats,
    CheckedDiv,
    Primes,
    Misbehave,
    QueueDemo,
    PipePingpong,
    SharedCounter,
    SharedDict,
    ProcessBasics,
    PoolSquare,
}

impl Guest {
    const ALL: [Guest; 11] = [
        Guest::Square,
        Guest::Wordstats,
        Guest::CheckedDiv,
        Guest::Primes,
        Guest::Misbehave,
        Guest::QueueDemo,
        Guest::PipePingpong,
        Guest::SharedCounter,
        Guest::SharedDict,
        Guest::ProcessBasics,
        Guest::PoolSquare,
    ];

    /// The crate's directory name under `guest-examples`.
    pub fn crate_name(self) -> &'static str {
        match self {
            Guest::Square => "square",
            Guest::Wordstats => "wordstats",
            Guest::CheckedDiv => "checked-div",
            Guest::Primes => "primes",
            Guest::Misbehave => "misbehave",
            Guest::QueueDemo => "queue-demo",
            Guest::PipePingpong => "pipe-pingpong",
            Guest::SharedCounter => "shared-counter",
            Guest::SharedDict => "shared-dict",
            Guest::ProcessBasics => "process-basics",
            Guest::PoolSquare => "pool-square",
        }
    }

    /// The guest crate's directory.
    pub fn dir(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("guest-examples")
            .join(self.crate_name())
    }

    /// The component, built from source by [`wpool::build_guest`] the first
    /// time any test asks for it.
    pub fn wasm(self) -> &'static Path {
        static BUILT: [OnceLock<PathBuf>; Guest::ALL.len()] =
            [const { OnceLock::new() }; Guest::ALL.len()];
        let slot = Guest::ALL
            .iter()
            .position(|g| *g == self)
            .expect("every guest is listed");
        BUILT[slot].get_or_init(|| match wpool::build_guest(self.dir()) {
            Ok(path) => path,
            Err(error) => panic!("cannot build guest {}: {error}", self.crate_name()),
        })
    }
}

/// A `wpool` command line being put together.
pub struct Cmd {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// `wpool` with `args`.
pub fn wpool<I, S>(args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(WPOOL);
    cmd.args(args);
    // Workers must be the binary under test, not one named in the
    // environment.
    cmd.env_remove("WPOOL_WORKER");
    // The compile cache stays in cargo's target directory, not the user's.
    cmd.env(
        "WPOOL_CACHE_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("wpool-cache"),
    );
    Cmd { cmd, stdin: None }
}

/// `wpool run GUEST.wasm` followed by `args`.
pub fn run<I, S>(guest: Guest, args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = wpool([OsStr::new("run"), guest.wasm().as_os_str()]);
    cmd.args(args);
    cmd
}

impl Cmd {
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Cmd {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable of the command.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Cmd {
        self.cmd.env(key, value);
        self
    }

    /// Starts the command in a process group of its own, as a shell starts
    /// a foreground job: a signal sent to the group reaches it (and any
    /// child left in its group), not the test harness.
    pub fn own_process_group(&mut self) -> &mut Cmd {
        std::os::unix::process::CommandExt::process_group(&mut self.cmd, 0);
        self
    }

    /// Feeds `bytes` to the command's stdin (otherwise stdin is empty).
    pub fn stdin(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    /// The command line, shell-quoted enough to be pasted.
    pub fn describe(&self) -> String {
        let mut words: Vec<OsString> = vec![self.cmd.get_program().to_owned()];
        words.extend(self.cmd.get_args().map(OsStr::to_owned));
        words
            .iter()
            .map(|w| {
                let w = w.to_string_lossy();
                if !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
                {
                    w.into_owned()
                } else {
                    format!("'{}'", w.replace('\'', r"'\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts the command with every stream piped.
    pub fn spawn(&mut self) -> Child {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match self.cmd.spawn() {
            Ok(child) => child,
            Err(e) => panic!("cannot start {}: {e}", self.describe()),
        }
    }

    /// Runs the command to its end and gathers what it did. Panics if it
    /// runs for longer than [`COMMAND_DEADLINE`].
    pub fn output(&mut self) -> Output {
        let started = Instant::now();
        let mut child = self.spawn();
        let mut stdin = child.stdin.take().expect("piped");
        let input = self.stdin.clone().unwrap_or_default();
        let writer = std::thread::spawn(move || {
            // The command may exit without reading all of it.
            let _ = stdin.write_all(&input);
        });
        let stdout = drain(child.stdout.take().expect("piped"));
        let stderr = drain(child.stderr.take().expect("piped"));
        let status = wait_with_deadline(&mut child, COMMAND_DEADLINE).unwrap_or_else(|| {
            panic!(
                "{} ran for more than {COMMAND_DEADLINE:?}; killed",
                self.describe()
            )
        });
        let _ = writer.join();
        Output {
            command: self.describe(),
            status,
            stdout: String::from_utf8_lossy(&stdout.join().expect("reader thread")).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.join().expect("reader thread")).into_owned(),
            elapsed: started.elapsed(),
        }
    }
}

fn drain(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits for `child` to exit; kills it and returns `None` after `deadline`.
pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if started.elapsed() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// What a finished command did.
pub struct Output {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Panics with `what` and everything about the command.
    #[track_caller]
    pub fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!("{what}\n{}", self.dump());
    }

    /// Panics with `what` and the command's dump unless `ok`.
    #[track_caller]
    pub fn check(&self, ok: bool, what: impl std::fmt::Display) -> &Output {
        if !ok {
            self.fail(what);
        }
        self
    }

    /// The command, its exit status, its stdout and its stderr.
    pub fn dump(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "\n---- command ----\n{}", self.command);
        let _ = writeln!(
            text,
            "---- status ----\n{} (after {:?})",
            self.status, self.elapsed
        );
        let _ = writeln!(text, "---- stdout ----\n{}", self.stdout);
        let _ = writeln!(text, "---- stderr ----\n{}", self.stderr);
        text
    }

    /// The exit code; a death by signal fails the test.
    #[track_caller]
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(code) => code,
            None => self.fail("wpool was killed by a signal"),
        }
    }

    /// Asserts the exit code, and that wpool never panicked.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Output {
        self.check(
            self.code() == code,
            format_args!("expected exit code {code}"),
        );
        // Guest output is shown prefixed with `[index] `; anything else
        // saying "panicked" is wpool's own panic.
        let own_panic = self
            .stderr
            .lines()
            .any(|line| !line.starts_with('[') && line.contains("panicked"));
        self.check(!own_panic, "wpool itself panicked");
        self
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Output {
        self.assert_code(0)
    }

    /// Asserts stdout, compared line by line.
    #[track_caller]
    pub fn assert_stdout_lines(&self, expected: &[&str]) -> &Output {
        let lines = self.stdout_lines();
        self.check(
            lines == expected,
            format_args!("expected stdout lines {expected:?}, got {lines:?}"),
        )
    }

    #[track_caller]
    pub fn assert_stdout_empty(&self) -> &Output {
        self.check(self.stdout.is_empty(), "expected nothing on stdout")
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Output {
        self.check(
            self.stderr.contains(needle),
            format_args!("expected stderr to contain {needle:?}"),
        )
    }

    #[track_caller]
    pub fn assert_stderr_lacks(&self, needle: &str) -> &Output {
        self.check(
            !self.stderr.contains(needle),
            format_args!("expected stderr not to contain {needle:?}"),
        )
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Output {
        self.check(
            self.stdout.contains(needle),
            format_args!("expected stdout to contain {needle:?}"),
        )
    }

    /// Asserts that the run was refused: exit code 2, nothing on stdout,
    /// and one line on stderr, `wpool: ...`, holding every one of `needles`
    /// and no panic.
    #[track_caller]
    pub fn assert_refused(&self, needles: &[&str]) -> &Output {
        self.assert_code(2).assert_stdout_empty();
        let lines: Vec<&str> = self.stderr.lines().collect();
        self.check(
            lines.len() == 1 && lines[0].starts_with("wpool: "),
            "expected exactly one line `wpool: ...` on stderr",
        );
        self.assert_stderr_lacks("panicked");
        for needle in needles {
            self.assert_stderr_contains(needle);
        }
        self
    }

    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Stdout as JSON Lines, one object per line.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(
                |line| match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(value) if value.is_object() => value,
                    Ok(_) => self.fail(format_args!("stdout line {line:?} is not a JSON object")),
                    Err(e) => self.fail(format_args!("stdout line {line:?} is not JSON: {e}")),
                },
            )
            .collect()
    }
}

/// A command that runs in the background while the test watches its stdout
/// line by line.
pub struct Running {
    pub command: String,
    pub child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
    started: Instant,
}

impl Cmd {
    /// Starts the command, with stdin closed at once.
    pub fn start(&mut self) -> Running {
        let (running, stdin) = self.start_with_stdin();
        drop(stdin);
        running
    }

    /// Starts the command, and hands back its stdin to write to.
    pub fn start_with_stdin(&mut self) -> (Running, std::process::ChildStdin) {
        let started = Instant::now();
        let mut child = self.spawn();
        let stdin = child.stdin.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = drain(child.stderr.take().expect("piped"));
        let running = Running {
            command: self.describe(),
            child,
            lines,
            seen: Vec::new(),
            stderr,
            started,
        };
        (running, stdin)
    }
}

impl Running {
    /// Waits for the next stdout line; `None` when stdout closes or after
    /// `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Waits for the command to end and gathers everything it printed.
    pub fn finish(mut self) -> Output {
        let status = wait_with_deadline(&mut self.child, COMMAND_DEADLINE).unwrap_or_else(|| {
            panic!(
                "{} ran for more than {COMMAND_DEADLINE:?}; killed",
                self.command
            )
        });
        let mut stdout: Vec<String> = std::mem::take(&mut self.seen);
        stdout.extend(self.lines.iter());
        let mut text = String::new();
        for line in stdout {
            text.push_str(&line);
            text.push('\n');
        }
        Output {
            command: self.command,
            status,
            stdout: text,
            stderr: String::from_utf8_lossy(&self.stderr.join().expect("reader thread"))
                .into_owned(),
            elapsed: self.started.elapsed(),
        }
    }
}

/// The process ids whose parent is `parent`, from `/proc/*/stat`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: Vec<u32> = dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parens.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            after
                .split_whitespace()
                .nth(1)
                .and_then(|ppid| ppid.parse::<u32>().ok())
                == Some(parent)
        })
        .collect();
    children.sort_unstable();
    children
}

/// The names of `pid`'s threads.
pub fn thread_names(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let path = entry.ok()?.path().join("comm");
        Some(std::fs::read_to_string(path).ok()?.trim().to_string())
    })
    .collect()
}

/// Sends SIGKILL to `pid`.
pub fn kill_9(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("cannot run kill");
    assert!(status.success(), "kill -9 {pid} failed");
}

/// The time `pid` started, in clock ticks since boot (`/proc/PID/stat`
/// field 22); `None` once it is gone.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // After the comm: state is field 3, starttime field 22.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the main thread of worker `pid` waits inside a task's host call
/// (a sleep, or a request to the hub): parked in `futex` with a timeout, as
/// the worker's tokio runtime parks while a task's deadline runs. A worker
/// waiting for its next batch parks in `futex` without a timeout.
pub fn blocked_in_host_call(pid: u32) -> bool {
    #[cfg(target_arch = "x86_64")]
    const FUTEX: &str = "202";
    #[cfg(target_arch = "aarch64")]
    const FUTEX: &str = "98";
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const FUTEX: &str = "?";
    let Ok(syscall) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/syscall")) else {
        return false;
    };
    // `number arg1 arg2 arg3 arg4 ...`: futex's fourth argument is its
    // timeout.
    let fields: Vec<&str> = syscall.split_whitespace().collect();
    fields.first() == Some(&FUTEX) && fields.get(4).is_some_and(|t| *t != "0x0")
}
