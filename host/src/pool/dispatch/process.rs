//! One worker process as the host sees it: the child, the socket that is its
//! stdin, and a thread that reads its stdout. That thread serves the
//! worker's requests to the hub itself, hands the output its tasks stream
//! to the sink, and turns everything else into [`WorkerEvent`]s for the
//! dispatcher that owns the worker.

use std::io::{self, BufReader, BufWriter, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use crossbeam_channel::Sender;

use crate::pool::hub::{Caller, Hub, JobId};
use crate::protocol::artifact::{self, Artifact};
use crate::protocol::shared_memory::Arena;
use crate::protocol::{
    CallResult, Export, FromWorker, OTHER_VERSION, Setup, Stream, ToWorker, VERSION, WORKER_ARG,
    linger, read_frame, write_frame,
};

/// The size asked for the pipe a worker writes its frames to: 1 MiB, the
/// most Linux gives an unprivileged process by default
/// (`/proc/sys/fs/pipe-max-size`), against 64 KiB otherwise.
const PIPE_SIZE: usize = 1 << 20;

/// Where the tasks' output goes as they write it, when it streams: called
/// on the worker's reader thread with each chunk (whole lines, unless a
/// line outgrows [`LINE_CHUNK`], or the rest when the task ends or its
/// worker dies).
pub(crate) type OutputSink = Arc<dyn Fn(Stream, &[u8]) + Send + Sync>;

/// Bytes of a line without its end that a sink is given at once.
const LINE_CHUNK: usize = 16 << 10;

/// What a worker's reader thread posts to its dispatcher: `kind`, from
/// the worker in `slot`, of `generation` (a slot's worker is replaced when
/// it dies).
pub(crate) struct WorkerEvent {
    pub slot: usize,
    pub generation: u64,
    pub kind: EventKind,
}

pub(crate) enum EventKind {
    /// The component compiled and links: tasks may come. The compiled
    /// artifact comes along when the setup asked for it, for the cache.
    Ready { artifact: Option<Bytes> },
    /// The component cannot run; the worker exits.
    SetupFailed(String),
    /// The worker cannot host a task (in the memory its lockdown allows,
    /// or on its engine); it exits, having run nothing more.
    Unfit,
    /// The results of one batch, their values in one buffer (see
    /// [`FromWorker::Done`]).
    Done {
        busy: std::time::Duration,
        results: Vec<CallResult>,
        values: Bytes,
    },
    /// The worker's stdout closed: it exited or was killed.
    Exited,
}

/// Where a worker process is in its pool: which slot of which job's run.
pub(crate) struct Place {
    pub job: JobId,
    pub worker_id: u32,
    pub slot: usize,
    pub generation: u64,
}

/// The socket that is a worker's stdin, shared by the dispatcher (batches)
/// and the reader thread (hub replies). A socket, not a pipe, so that an
/// artifact's descriptor can go with a frame ([`artifact::send_with`]).
type Stdin = Arc<Mutex<BufWriter<UnixStream>>>;

/// A running worker process. Dropping it kills and reaps the process.
pub(crate) struct WorkerProcess {
    child: Child,
    stdin: Stdin,
    hub: Hub,
    job: JobId,
    worker_id: u32,
    /// Why its stdout was not read to its end: a frame that does not decode.
    broken: Arc<Mutex<Option<String>>>,
}

impl WorkerProcess {
    /// Starts `program` as a worker and sends it `setup`, with `artifact`
    /// when the setup's code is [`Code::Compiled`](crate::protocol::Code).
    /// The output its tasks stream, if the setup asks them to, goes to
    /// `output`.
    pub(crate) fn spawn(
        program: &Path,
        setup: &Setup,
        artifact: Option<&Artifact>,
        place: Place,
        hub: Hub,
        events: Sender<WorkerEvent>,
        output: Option<OutputSink>,
    ) -> io::Result<WorkerProcess> {
        let (ours, theirs) = UnixStream::pair()?;
        let mut command = Command::new(program);
        command
            .arg(WORKER_ARG)
            .arg(std::process::id().to_string())
            .arg(VERSION)
            .env_clear()
            // Out of the terminal's process group: a Ctrl-C reaches the host
            // alone, which lets running tasks finish.
            .process_group(0)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        #[cfg(feature = "test-hooks")]
        if let Some(hook) = std::env::var_os(crate::protocol::TEST_HOOK_VAR) {
            command.env(crate::protocol::TEST_HOOK_VAR, hook);
        }
        // The worker's end of the socket, held by `command`, closes once
        // it is started.
        let mut child = spawn_from_lasting_thread(command)?;
        let stdout = child.stdout.take().expect("stdout is piped");
        // A large result crosses in fewer turns of the two processes with
        // room for more of it in the pipe. The pipe works at any size, so a
        // refusal (a user over their pipe quota) is no error.
        let _ = rustix::pipe::fcntl_setpipe_size(&stdout, PIPE_SIZE);
        let stdin: Stdin = Arc::new(Mutex::new(BufWriter::new(ours)));
        let broken = Arc::default();
        let mut worker = WorkerProcess {
            child,
            stdin: stdin.clone(),
            hub: hub.clone(),
            job: place.job,
            worker_id: place.worker_id,
            broken: Arc::clone(&broken),
        };
        let worker_id = place.worker_id;
        let post = move |kind| {
            let event = WorkerEvent {
                slot: place.slot,
                generation: place.generation,
                kind,
            };
            // A dispatcher that has ended has no use for it.
            let _ = events.send(event);
        };
        let reader = Reader {
            job: place.job,
            worker_id,
            broken,
            hub: hub.clone(),
            stdin: stdin.clone(),
            output,
        };
        std::thread::Builder::new()
            .name(format!("worker-{worker_id}"))
            .spawn(move || reader.serve(stdout, post))?;
        // A worker that dies before reading its setup reports itself through
        // `Exited`, like any other death; one that is alive and cannot be
        // written to is killed, so that its `Exited` comes too.
        // The job's shared memory goes with the setup, after the artifact.
        let shared = worker.hub.shared_memory(place.job);
        let setup = Setup {
            shared_cells: shared.as_ref().map(|arena| arena.cells()),
            ..setup.clone()
        };
        let fds: Vec<BorrowedFd<'_>> = artifact
            .map(Artifact::as_fd)
            .into_iter()
            .chain(shared.as_deref().map(Arena::as_fd))
            .collect();
        if send(&worker.stdin, &ToWorker::Setup(setup), &fds).is_err() {
            worker.kill();
        }
        Ok(worker)
    }

    /// The operating system's id of the process.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends one request. An error means the worker is gone or cannot take
    /// the request: the caller kills it, and its `Exited` event follows.
    pub(crate) fn send(&self, request: &ToWorker) -> io::Result<()> {
        send(&self.stdin, request, &[])
    }

    /// Sends task `export` to host, its compiled code `artifact` with it;
    /// errors as [`WorkerProcess::send`].
    pub(crate) fn load(&self, export: Export, artifact: &Artifact) -> io::Result<()> {
        let load = ToWorker::Load(export, artifact.len());
        send(&self.stdin, &load, &[artifact.as_fd()])
    }

    /// The hub learns that the worker's tasks `indexes` ended: their waiters
    /// go. Called once the dispatcher has checked that the worker ran them.
    pub(crate) fn tasks_ended(&self, indexes: &[u64]) {
        self.hub.tasks_ended(self.job, self.worker_id, indexes);
    }

    /// Kills the process; its `Exited` event follows. The hub learns at
    /// once that the worker's tasks are gone, so that a lock they held is
    /// free, and an item is not handed to a dead task, by the time the
    /// caller goes on.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        self.hub.worker_died(self.job, self.worker_id);
    }

    /// Waits for the process to end and says how it ended. Called once its
    /// stdout is done with: closed (its exit status is then set, and a kill
    /// changes nothing), or not read any more because it sent a frame that
    /// does not decode, in which case it is killed, or it would be waited
    /// for forever.
    pub(crate) fn reap(&mut self) -> Ended {
        let _ = self.child.kill();
        let status = self.child.wait();
        if let Some(broken) = lock(&self.broken).take() {
            let reason = format!("worker {broken} and was killed");
            return Ended::Died {
                reason,
                signal: None,
            };
        }
        let signal = status.as_ref().ok().and_then(|status| status.signal());
        let reason = match status {
            Ok(status) if status.code() == Some(OTHER_VERSION.into()) => {
                return Ended::OtherVersion;
            }
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => format!("worker exited with status {code}"),
                (None, Some(signal)) if signal == libc::SIGSYS => format!(
                    "worker killed by signal {signal} (SIGSYS: a system call its seccomp filter forbids)"
                ),
                (None, Some(signal)) => match signal_name(signal) {
                    Some(name) => format!("worker killed by signal {signal} ({name})"),
                    None => format!("worker killed by signal {signal}"),
                },
                (None, None) => format!("worker ended: {status}"),
            },
            Err(e) => format!("worker lost: {e}"),
        };
        Ended::Died { reason, signal }
    }
}

/// How a worker process ended ([`WorkerProcess::reap`]).
pub(crate) enum Ended {
    /// How it died, as the operating system reported it, and by which
    /// signal if one killed it.
    Died { reason: String, signal: Option<i32> },
    /// It is another version of wpool than the host, and ran nothing
    /// (its status was [`OTHER_VERSION`]).
    OtherVersion,
}

/// The name of the signals that end a worker: killed by a person or the
/// host, or crashed.
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGABRT => "SIGABRT",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return None,
    })
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` with the descriptors `fds` (an artifact's, the job's
/// shared memory) attached, in their order.
fn send(stdin: &Stdin, request: &ToWorker, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let mut stdin = lock(stdin);
    if fds.is_empty() {
        return write_frame(&mut *stdin, request);
    }
    stdin.flush()?;
    artifact::send_with(stdin.get_ref(), request, fds)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one is still whole.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// What a worker's reader thread needs besides the stream it reads and
/// where it posts events.
struct Reader {
    job: JobId,
    worker_id: u32,
    broken: Arc<Mutex<Option<String>>>,
    hub: Hub,
    stdin: Stdin,
    output: Option<OutputSink>,
}

impl Reader {
    /// The reader thread: hub requests are served here, in the order the
    /// worker sent them, so a task's last request reaches the hub before
    /// the dispatcher, reading its result, tells the hub that the task
    /// ended. Every other frame becomes an event, `post`ed.
    fn serve(self, stdout: std::process::ChildStdout, post: impl Fn(EventKind)) {
        let Reader {
            job,
            worker_id,
            broken,
            hub,
            stdin,
            output,
        } = self;
        let mut stdout = BufReader::new(stdout);
        let mut lines = Lines::default();
        loop {
            let message = match read_frame::<FromWorker>(&mut stdout) {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(error) => {
                    *lock(&broken) = Some(format!("sent a frame that does not decode ({error})"));
                    break;
                }
            };
            let kind = match message {
                FromWorker::Request {
                    id,
                    task,
                    op,
                    timeout,
                } => {
                    let stdin = stdin.clone();
                    let caller = Caller {
                        job,
                        worker: worker_id,
                        task,
                    };
                    let reply = move |result| {
                        // A worker gone meanwhile reports itself through `Exited`.
                        let _ = send(&stdin, &ToWorker::Reply { id, result }, &[]);
                    };
                    hub.request(caller, op, timeout, Box::new(reply));
                    // A task that sent a request often sends another as soon
                    // as it is answered.
                    linger(&stdout);
                    continue;
                }
                // Only workers asked to stream send output; any other's is
                // dropped.
                FromWorker::Output { stream, bytes } => {
                    if let Some(output) = &output {
                        lines.write(stream, &bytes, output);
                    }
                    continue;
                }
                // The dispatcher checks the indexes before the hub hears of
                // them (see `WorkerProcess::tasks_ended`).
                FromWorker::Done {
                    busy,
                    results,
                    values,
                } => {
                    if let Some(output) = &output {
                        lines.end(output);
                    }
                    EventKind::Done {
                        busy,
                        results,
                        values,
                    }
                }
                FromWorker::Ready { artifact } => EventKind::Ready { artifact },
                FromWorker::SetupFailed(message) => EventKind::SetupFailed(message),
                FromWorker::Unfit(_) => EventKind::Unfit,
            };
            post(kind);
        }
        // What a killed task wrote last, without its line's end, is shown too.
        if let Some(output) = &output {
            lines.end(output);
        }
        hub.worker_died(job, worker_id);
        post(EventKind::Exited);
    }
}

/// Starts `command` from a thread that lasts as long as the process. A
/// worker asks the kernel for SIGKILL when its parent dies
/// (`PR_SET_PDEATHSIG`), and the kernel takes for that parent the *thread*
/// that started it: a worker started from a thread that ends (a tokio
/// blocking thread ends after 10 s idle; a caller's thread may end while
/// its run's workers stay warm in the pool) would be killed with it,
/// however busy. When no such thread can be started, the caller's starts
/// it.
fn spawn_from_lasting_thread(mut command: Command) -> io::Result<Child> {
    type Spawn = (Command, Sender<io::Result<Child>>);
    static SPAWNER: LazyLock<Option<Sender<Spawn>>> = LazyLock::new(|| {
        let (spawner, commands) = crossbeam_channel::unbounded::<Spawn>();
        let thread = std::thread::Builder::new()
            .name("wpool-spawner".into())
            .spawn(move || {
                for (mut command, started) in commands {
                    let _ = started.send(command.spawn());
                }
            });
        thread.ok().map(|_| spawner)
    });
    let Some(spawner) = SPAWNER.as_ref() else {
        return command.spawn();
    };
    let (started, child) = crossbeam_channel::bounded(1);
    let gone = || io::Error::other("the thread that starts workers is gone");
    spawner.send((command, started)).map_err(|_| gone())?;
    child.recv().map_err(|_| gone())?
}

/// A streaming task's output, cut into lines for its sink: what follows a
/// stream's last line end waits for the next write, or the task's end.
#[derive(Default)]
struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Lines {
    fn held(&mut self, stream: Stream) -> &mut Vec<u8> {
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }

    /// Gives `sink` the whole lines `bytes` ends (a line held past
    /// [`LINE_CHUNK`] as it is), and holds the rest.
    fn write(&mut self, stream: Stream, bytes: &[u8], sink: &OutputSink) {
        let held = self.held(stream);
        held.extend_from_slice(bytes);
        let end = match held.len() >= LINE_CHUNK {
            true => held.len(),
            false => held.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1),
        };
        if end > 0 {
            sink(stream, &held[..end]);
            held.drain(..end);
        }
    }

    /// Gives `sink` what is held: the task ended.
    fn end(&mut self, sink: &OutputSink) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let held = self.held(stream);
            if !held.is_empty() {
                sink(stream, held);
                held.clear();
            }
        }
    }
}
