//! Helpers for the integration tests: run the real `wpool` binary, and
//! when an assertion about what it did fails, show the command, its exit
//! status, its stdout and its stderr.

mod guest;
pub mod nats;
pub mod procfs;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

pub use guest::Guest;

/// The `wpool` binary cargo built for these tests.
pub const WPOOL: &str = env!("CARGO_BIN_EXE_wpool");

/// How long any one `wpool` command may take before the test gives up on it.
const COMMAND_DEADLINE: Duration = Duration::from_secs(300);

/// Lines of `i * i` for every `i` in `range`.
pub fn squares(range: std::ops::Range<i64>) -> Vec<String> {
    range.map(|i| (i * i).to_string()).collect()
}

pub fn as_strs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

/// `GUEST.wasm#FUNC`, with `=INPUT` when given: one `wpool spawn` process.
pub fn process(guest: Guest, func: &str, input: Option<&str>) -> String {
    let mut spec = format!("{}#{func}", guest.wasm().display());
    if let Some(input) = input {
        spec.push('=');
        spec.push_str(input);
    }
    spec
}

/// The JSON line of each index; fails unless every index in `0..count`
/// has exactly one line.
#[track_caller]
pub fn json_by_index(out: &Output, count: u64) -> BTreeMap<u64, Json> {
    let mut by_index = BTreeMap::new();
    for line in out.json_lines() {
        let Some(index) = line["index"].as_u64() else {
            out.fail(format_args!("JSON line without an integer index: {line}"));
        };
        if by_index.insert(index, line).is_some() {
            out.fail(format_args!("index {index} printed twice"));
        }
    }
    let indexes: Vec<u64> = by_index.keys().copied().collect();
    out.check(
        indexes == (0..count).collect::<Vec<_>>(),
        format_args!("expected one line for each index 0..{count}, got indexes {indexes:?}"),
    );
    by_index
}

/// The integer `n` of a line `ok(n)`.
pub fn ok_int(line: &str) -> Option<i64> {
    line.strip_prefix("ok(")?.strip_suffix(')')?.parse().ok()
}

/// The integer of each line of `out`'s stdout, `ok(n)`; fails on any other
/// line.
#[track_caller]
pub fn ok_ints(out: &Output) -> Vec<i64> {
    let lines = out.stdout_lines();
    let int =
        |line: &&str| ok_int(line).unwrap_or_else(|| out.fail(format_args!("not ok(N): {line}")));
    lines.iter().map(int).collect()
}

/// The kind of the error of a JSON line; fails if it has none.
#[track_caller]
pub fn error_kind<'a>(out: &Output, line: &'a Json) -> &'a str {
    match line["error"]["kind"].as_str() {
        Some(kind) => kind,
        None => out.fail(format_args!("expected an error with a kind, got {line}")),
    }
}

/// A `wpool` command line being put together.
pub struct Cmd {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    /// Send stdout to `/dev/null` instead of gathering it.
    discard_stdout: bool,
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
    Cmd {
        cmd,
        stdin: None,
        discard_stdout: false,
    }
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
    pub fn args<I, S>(&mut self, args: I) -> &mut Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Runs the command under `program` and its `args`, as in
    /// `unshare --user wpool run ...`, with the same environment.
    pub fn under(&mut self, program: &str, args: &[&str]) -> &mut Cmd {
        let mut under = Command::new(program);
        under
            .args(args)
            .arg(self.cmd.get_program())
            .args(self.cmd.get_args());
        for (key, value) in self.cmd.get_envs() {
            match value {
                Some(value) => under.env(key, value),
                None => under.env_remove(key),
            };
        }
        self.cmd = under;
        self
    }

    /// Sets an environment variable of the command.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Cmd {
        self.cmd.env(key, value);
        self
    }

    /// Runs the command in `dir`.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Cmd {
        self.cmd.current_dir(dir);
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

    /// Sends the command's stdout to `/dev/null`: for runs that print
    /// more than a test should hold.
    pub fn discard_stdout(&mut self) -> &mut Cmd {
        self.discard_stdout = true;
        self
    }

    /// Starts the command with every stream piped (stdout to `/dev/null`
    /// after [`Cmd::discard_stdout`]).
    pub fn spawn(&mut self) -> Child {
        let stdout = match self.discard_stdout {
            true => Stdio::null(),
            false => Stdio::piped(),
        };
        self.cmd
            .stdin(Stdio::piped())
            .stdout(stdout)
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
        let stdout = child.stdout.take().map(drain);
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
            stdout: stdout
                .map(|reader| reader.join().expect("reader thread"))
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default(),
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

/// The first 64 KiB of `text`, and how much more there is: what a failing
/// test shows of a command's output (a test may print 70 MB).
fn clip(text: &str) -> String {
    let end = text.floor_char_boundary(64 << 10);
    match end < text.len() {
        true => format!("{}... ({} more bytes)", &text[..end], text.len() - end),
        false => text.to_string(),
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

    /// The peak resident memory, in KiB, of wpool's own process, from the
    /// line `--summary` prints (its `VmHWM`, which holds its whole life).
    #[track_caller]
    pub fn host_peak_kib(&self) -> u64 {
        let prefix = "wpool: peak resident memory of the host: ";
        let Some(line) = self.stderr.lines().find_map(|l| l.strip_prefix(prefix)) else {
            self.fail("no peak memory in the summary (run with --summary)");
        };
        line.strip_suffix(" KiB")
            .and_then(|kib| kib.parse().ok())
            .unwrap_or_else(|| self.fail(format_args!("{line:?} is no size in KiB")))
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
        let _ = writeln!(text, "---- stdout ----\n{}", clip(&self.stdout));
        let _ = writeln!(text, "---- stderr ----\n{}", clip(&self.stderr));
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
        // Guest output is shown prefixed with `[index] `, and a guest's
        // panic named after `failed: trap: `: a line as Rust's panic hook
        // begins one is wpool's own panic.
        let own_panic = self
            .stderr
            .lines()
            .any(|line| line.starts_with("thread '") && line.contains("panicked"));
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

    /// The stdout lines of process `name` (such as `0 writer`) of a
    /// `wpool spawn`, prefix included. Processes print as they go, so only
    /// each one's own lines come in a known order.
    pub fn process_lines(&self, name: &str) -> Vec<&str> {
        let prefix = format!("[{name}] ");
        self.stdout
            .lines()
            .filter(|line| line.starts_with(&prefix))
            .collect()
    }

    /// Asserts the stdout lines of each process of a `wpool spawn`, and
    /// that stdout holds nothing else.
    #[track_caller]
    pub fn assert_process_lines(&self, expected: &[(&str, &[&str])]) -> &Output {
        for (name, lines) in expected {
            let got = self.process_lines(name);
            self.check(
                got == *lines,
                format_args!("expected process {name}'s lines {lines:?}, got {got:?}"),
            );
        }
        let total: usize = expected.iter().map(|(_, lines)| lines.len()).sum();
        self.check(
            self.stdout_lines().len() == total,
            "expected no other stdout lines",
        )
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
    /// The highest peak resident memory (`VmHWM`, in KiB) of wpool's worker
    /// processes, sampled every 20 ms until the command ends (a worker's
    /// own figure is gone once it is reaped).
    pub fn workers_peak_kib(&mut self) -> u64 {
        let mut peak = 0;
        while self.child.try_wait().ok().flatten().is_none() {
            for pid in procfs::children_of(self.child.id()) {
                peak = peak.max(procfs::peak_resident_kib(pid).unwrap_or(0));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    }

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
