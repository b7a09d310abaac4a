//! Command-line arguments, the user-facing subcommands, and how each of
//! them ends: [`main`] runs one and maps its [`Outcome`], or its error, to
//! the exit status, in [`exit_code`] alone.

mod agent;
mod doctor;
mod inputs;
mod interrupt;
mod new;
mod out_dir;
mod report;
mod spawn;

use std::fmt::Display;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use wpool::{Cluster, Component, Imap, IntoInputs, Limits, MAX_MEMORY, MAX_TIMEOUT, Pool, Task};

use self::inputs::{Format, InputSource, Inputs};
use self::interrupt::Interrupt;
use self::out_dir::OutDir;
use self::report::{Report, printable};

/// Run WebAssembly components as tasks on a pool of isolated worker
/// processes: Python's multiprocessing.Pool, for wasm.
#[derive(Parser)]
#[command(name = "wpool", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    Run(Box<RunArgs>),
    /// Print a component's imports and exports as WIT, and the functions
    /// `wpool run --func` can map.
    Inspect {
        /// A component (.wasm file), or a task project directory to build
        /// (a Rust crate, a Python app.py, a JavaScript app.js).
        task: PathBuf,
    },
    Spawn(spawn::SpawnArgs),
    New(new::NewArgs),
    Agent(agent::AgentArgs),
    /// Show which layers of the worker lockdown this machine applies
    /// (namespaces, Landlock, rlimits, seccomp); exit 1 when one is missing.
    Doctor,
    /// Serve as a worker of the pool whose process id is PARENT, a wpool of
    /// version HOST_VERSION (internal).
    #[command(name = wpool::entry::WORKER_ARG, hide = true)]
    Worker {
        parent: u32,
        host_version: String,
    },
    /// Lock down as a worker does and report each layer (internal).
    #[command(name = wpool::entry::PROBE_ARG, hide = true)]
    Probe {
        parent: u32,
    },
}

/// Map a task over inputs in parallel, printing one result per line, in
/// input order.
///
/// Every input is a WAVE value typed by the function's WIT parameter: 7,
/// "text", [1, 2], {x: 1, y: 2}, some(3), ok(4). A function of several
/// parameters takes one tuple per input: (1, "a"). A function of one integer
/// parameter also takes ranges: 0..10 (10 excluded) and 0..=10. Inputs that
/// start with '-' other than plain numbers go after '--': -- -5..5.
///
/// With --input-format json, inputs are JSON values instead, typed as the
/// README's table says (records as objects, list<u8> as base64, ...); a
/// function of several parameters takes an array, or an object by
/// parameter name. With --files, inputs are files (paths, or glob patterns
/// wpool expands), each passed whole as the function's one list<u8> or
/// string parameter, read when its task is dispatched.
///
/// Results are printed in WAVE on stdout (typed JSON with --json), or with
/// --out-dir written to files, whose paths are printed. A task that fails
/// (a trap, a timeout, a memory or fuel limit, an `err` result, a worker
/// that died, an unreadable file) fails alone: its error goes to stderr in
/// place of its result, and the run goes on. What tasks write to their
/// stdout and stderr is shown on stderr, each line prefixed with the task's
/// index.
///
/// Exit status: 0 when every task succeeded, 1 when some task failed, 2 when
/// the run could not start or go on (bad option, bad component, unknown
/// function, bad input, workers that cannot start or keep dying), 130 when
/// interrupted: a first Ctrl-C lets the tasks handed to workers finish (a
/// worker holds a few milliseconds of tasks queued behind the one it runs
/// only while tasks take under 20 ms), a second one stops at once. A stdout
/// closed early (| head -1) ends the run quietly, with 0.
///
/// Examples:
///
///   wpool run guest-examples/square 0..10
///
///   wpool run square.wasm 3 -4 5 --json
///
///   seq 1 1000 | wpool run primes.wasm --input - --unordered
///
///   wpool run wordstats.wasm '("a b a", insensitive, 2)'
///
///   wpool run wordstats.wasm --input-format json '{"text": "a b a", "case": "insensitive", "top": 2}'
///
///   wpool run guest-examples/gzip --func compress --files 'logs/*.txt' --out-dir logs.gz
///
///   find logs -name '*.txt' | wpool run gzip.wasm --func compress --files --input - --out-dir gz --out-name '{name}.gz'
///
///   wpool run primes.wasm 0..1000 --nats nats://127.0.0.1:4222
///
///   wpool run primes.wasm 0..1000 --nats nats://127.0.0.1:4222 --job primes --resume
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct RunArgs {
    /// The task: a component (.wasm file), or a task project directory
    /// that is built first (a Rust crate, a Python app.py or a JavaScript
    /// app.js with its world in wit/, as `wpool new` writes them).
    task: PathBuf,

    /// Inputs: values (WAVE, or JSON with --input-format json), ranges A..B
    /// and A..=B, or with --files paths and glob patterns.
    #[arg(allow_negative_numbers = true, conflicts_with = "input")]
    inputs: Vec<String>,

    /// Read inputs from FILE, one per line ('-' for stdin). Lines are read
    /// as workers need them; blank lines are skipped. Each result of a slow
    /// stream (stdin, a FIFO) shows while its next lines are awaited. A
    /// line that makes no input fails its own task, naming the line; the
    /// others run.
    #[arg(long, short, value_name = "FILE")]
    input: Option<PathBuf>,

    /// How inputs are written: wave, or json (typed JSON values, JSON
    /// Lines with --input).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "wave")]
    input_format: Format,

    /// The inputs are files: each argument is a path or a glob pattern
    /// ('photos/*.jpg', expanded by wpool, sorted; a pattern that matches
    /// nothing stops the run before it starts), each --input line a path.
    /// The function's one list<u8> or string parameter gets a file's
    /// contents, read when its task is dispatched. A file that cannot be
    /// read fails its task, and one larger than --max-value fails with a
    /// size error without being read.
    #[arg(long, conflicts_with = "input_format")]
    files: bool,

    /// Write each result to a file in DIR (made if missing) instead of
    /// printing it, and print the file's path: the function must return
    /// list<u8> or string, or a result whose ok is one (an err fails the
    /// task). A file is named as --out-name says: by default as the input
    /// file (photos/a.jpg -> DIR/a.jpg), an input that is not a file by its
    /// task index (DIR/0). Written under a temporary name and renamed; an
    /// existing file fails the task, unless --force.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,

    /// With --out-dir, how each result's file is named: {name} is the
    /// input file's name (a.tar.gz), {stem} that name without its last
    /// extension (a.tar), {ext} that extension (gz), {index} the task's
    /// index; {name} and {stem} are the index for an input that is not a
    /// file. No '/': '{name}.gz', '{stem}.png', '{index}-{name}'.
    #[arg(
        long,
        value_name = "TEMPLATE",
        default_value = "{name}",
        requires = "out_dir"
    )]
    out_name: String,

    /// With --out-dir, replace files that exist.
    #[arg(long, requires = "out_dir")]
    force: bool,

    /// Print a summary on stderr at the end: tasks succeeded and failed,
    /// failures by kind, retries, percentiles of the tasks' run times, and
    /// the CPU time (user + system) of this process (host) and of the
    /// worker processes it ran, once they ended (workers; a task directory's
    /// build counts there too; a --nats run's agents do not), and the peak
    /// resident memory of the host.
    #[arg(long)]
    summary: bool,

    /// The function to map: its name, or its full name (iface#name) where
    /// two interfaces export the same name. Needed when the component
    /// exports several functions.
    #[arg(long, short)]
    func: Option<String>,

    /// Worker processes [default: the number of cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "nats")]
    workers: Option<u16>,

    /// Submit the job to the agents (wpool agent) of the NATS JetStream
    /// server at URL (nats://HOST:PORT, tls://..., USER:PASSWORD@ when it
    /// asks) instead of running it here. Inputs and results larger than one
    /// message travel through the server's object store.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,

    /// With --nats: connect with this NATS credentials file (.creds).
    #[arg(long, value_name = "FILE", requires = "nats")]
    nats_creds: Option<PathBuf>,

    /// With --nats: name the job (letters, digits, '-', '_'), so that it
    /// can be resumed should this command die; a job of that name must not
    /// be on the server.
    #[arg(long, value_name = "NAME", requires = "nats")]
    job: Option<String>,

    /// With --job: take up the job NAME, whose submitter died, and print
    /// every result once, running again only the inputs without one. Give
    /// the task, inputs and options the job was started with.
    #[arg(long, requires = "job")]
    resume: bool,

    /// With --nats: how long an agent may hold a task without acknowledging
    /// it before another agent gets it (how long a dead agent's tasks wait).
    #[arg(long, value_name = "TIME", default_value = "30s", value_parser = parse_timeout, requires = "nats")]
    ack_wait: Duration,

    #[command(flatten)]
    limits: LimitArgs,

    /// How many times a task is retried when its worker process dies; each
    /// retry is announced on stderr. The result counts once, but what the
    /// earlier attempts did to shared objects stays done.
    #[arg(long, value_name = "N", default_value_t = 1)]
    retries: u32,

    /// Print results as tasks finish, not in input order.
    #[arg(long)]
    unordered: bool,

    /// Print JSON Lines: {"index", "input", "value" (or "file" with
    /// --out-dir, or "error": {"kind", "message"}), "stdout", "stderr",
    /// "worker", "attempts", "time" (seconds the task ran in its worker)},
    /// with input and value as typed JSON.
    #[arg(long)]
    json: bool,
}

/// The limits every task runs under, and how workers run them, for `run`
/// and `spawn`.
#[derive(Args)]
pub(crate) struct LimitArgs {
    /// Wall-clock time each task may run (e.g. 500ms, 30s, 2m), at most
    /// 1year.
    #[arg(long, value_name = "TIME", default_value = "30s", value_parser = parse_timeout)]
    timeout: Duration,

    /// Fuel each task may burn, about one unit per wasm instruction; off by
    /// default (fuel accounting slows tasks down).
    #[arg(long, value_name = "UNITS")]
    fuel: Option<u64>,

    /// Linear memory each task may hold (e.g. 64MiB, 2GiB; at most 4GiB,
    /// all a 32-bit memory can address).
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_memory)]
    max_memory: u64,

    /// Bytes of stdout, and of stderr, kept per task (its first bytes and
    /// its last), or shown per process by `spawn`; the rest is dropped and
    /// counted.
    #[arg(long, value_name = "SIZE", default_value = "64KiB", value_parser = parse_size)]
    max_output: u64,

    /// Bytes of each input, and of each result, as they cross to and from
    /// the workers (a list<u8> or string of n bytes is about n bytes; WAVE
    /// text is up to five times larger); a task with a larger one fails
    /// with a size error. An --input line may be 8 times this long (and
    /// at least 64 KiB); a longer one fails its task.
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = parse_size)]
    max_value: u64,

    /// How long a worker may take to compile the component before the run
    /// stops, at most 1year.
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = parse_timeout)]
    compile_timeout: Duration,

    /// Memory a worker may use to compile the component (e.g. 512MiB, 4GiB);
    /// a component that needs more is refused.
    #[arg(long, value_name = "SIZE", default_value = "2GiB", value_parser = parse_size)]
    compile_memory: u64,

    /// Bytes the job's shared objects (queues, pipes, values, arrays,
    /// dicts, lists) may hold in the host, each item counted with 128 bytes
    /// of overhead; a store past it is denied.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    max_shared: u64,

    /// Let one instance serve up to N tasks in a row before it is replaced
    /// (like maxtasksperchild). State in the instance's memory carries over
    /// between those tasks; a task that traps or times out always discards
    /// its instance. 1 runs every task in a fresh instance.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    reuse: u32,

    /// Do not use the compile cache ($WPOOL_CACHE_DIR, else
    /// $XDG_CACHE_HOME/wpool, else ~/.cache/wpool).
    #[arg(long)]
    no_cache: bool,
}

impl LimitArgs {
    fn pool(&self) -> anyhow::Result<wpool::PoolBuilder> {
        let limits = Limits {
            timeout: self.timeout,
            fuel: self.fuel,
            max_memory: self.max_memory,
            max_output: usize::try_from(self.max_output).context("--max-output is too large")?,
            max_value: usize::try_from(self.max_value).context("--max-value is too large")?,
        };
        let mut pool = Pool::builder()
            .reuse(self.reuse)
            .limits(limits)
            .compile_timeout(self.compile_timeout)
            .compile_memory(self.compile_memory)
            .max_shared(usize::try_from(self.max_shared).context("--max-shared is too large")?);
        if self.no_cache {
            pool = pool.compile_cache(None);
        }
        Ok(pool)
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    text.parse::<bytesize::ByteSize>().map(|size| size.as_u64())
}

/// A size of at most [`MAX_MEMORY`], which a pool would take a larger
/// memory limit for.
fn parse_memory(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        size if size <= MAX_MEMORY => Ok(size),
        _ => Err("more than a task's memory can hold, 4 GiB".to_string()),
    }
}

/// A duration of at most [`MAX_TIMEOUT`], which the pool would clamp to.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    match timeout <= MAX_TIMEOUT {
        true => Ok(timeout),
        false => Err(format!(
            "longer than the longest timeout, {}",
            humantime::format_duration(MAX_TIMEOUT)
        )),
    }
}

/// How a command ended when nothing stopped it.
pub(crate) enum Outcome {
    /// Everything it did succeeded.
    Success,
    /// A task failed (for `doctor`: a lockdown layer is missing).
    Failed,
    /// SIGINT stopped it; the tasks already handed to workers were finished.
    Interrupted,
}

impl Outcome {
    /// [`Outcome::Success`] when `all_ok`, else [`Outcome::Failed`].
    pub(crate) fn of(all_ok: bool) -> Outcome {
        match all_ok {
            true => Outcome::Success,
            false => Outcome::Failed,
        }
    }
}

/// Runs `command` and gives the status `wpool` exits with. The hidden
/// worker and probe modes have statuses of their own.
pub(crate) fn main(command: Command) -> ExitCode {
    let ended = match command {
        Command::Run(args) => run(*args),
        Command::Spawn(args) => spawn::spawn(args),
        Command::New(args) => new::new(args),
        Command::Agent(args) => agent::agent(args),
        Command::Inspect { task } => inspect(&task),
        Command::Doctor => doctor::doctor(),
        Command::Worker {
            parent,
            host_version,
        } => return wpool::entry::worker(parent, &host_version),
        Command::Probe { parent } => return wpool::entry::probe(parent),
    };
    exit_code(ended)
}

/// The one place a command's exit status is chosen: 0 when all it did
/// succeeded, 1 when a task failed, 130 when interrupted, 2 when it could
/// not start or stopped on an error, which is printed here, once, with its
/// causes. A closed stdout (`wpool run ... | head -1`) is no error: the
/// reader has what it wanted, so the command ends quietly with 0, as `grep`
/// and `rg` do, whatever the tasks it ran did.
fn exit_code(ended: anyhow::Result<Outcome>) -> ExitCode {
    match ended {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(interrupt::EXIT_INTERRUPTED),
        Err(error) if stdout_closed(&error) => ExitCode::SUCCESS,
        Err(error) => {
            warn(causes(&error));
            ExitCode::from(2)
        }
    }
}

/// `error` and its causes, joined by `: `, leaving out a cause that the
/// text before it ends with already (a client library's error often
/// repeats its own source).
fn causes(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.is_empty() {
            text = cause;
        } else if !text.ends_with(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

/// Whether `error` comes from a write into a pipe nobody reads any more.
fn stdout_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Prints `wpool: {message}` on stderr, its control characters escaped (it
/// may quote a component's names) but for its line breaks: a message of
/// several lines (a failed build's compiler output) shows as it is. Unlike
/// `eprintln!`, it does not panic when stderr is closed: the message is
/// then lost.
pub(crate) fn warn(message: impl Display) {
    let lines: Vec<String> = message.to_string().lines().map(printable).collect();
    let _ = writeln!(io::stderr().lock(), "wpool: {}", lines.join("\n"));
}

/// `wpool inspect`: the component's WIT, and what each function takes.
fn inspect(task: &Path) -> anyhow::Result<Outcome> {
    let component = load(task)?;
    let mut out = io::stdout().lock();
    // The WIT and the names in it are the component's: escaped, as guest
    // output is, so that they cannot drive the terminal.
    for line in component.wit().lines() {
        writeln!(out, "{}", printable(line))?;
    }
    writeln!(out)?;
    if let Err(error) = component.check_imports() {
        writeln!(
            out,
            "// wpool cannot run it: {}",
            printable(&error.to_string())
        )?;
        return Ok(Outcome::Success);
    }
    writeln!(out, "// functions wpool can map:")?;
    for func in component.functions() {
        let mut note = match component.task(Some(func)) {
            Ok(task) => format!("takes {}", task.input_type()),
            Err(e) => e.to_string(),
        };
        if let Some(whose) = component.hook(func) {
            note = format!("{whose}, not mapped unless named; {note}");
        }
        writeln!(out, "//   {}: {}", printable(func), printable(&note))?;
    }
    Ok(Outcome::Success)
}

/// Reads a component, building it first when `path` is a project directory.
pub(crate) fn load(path: &Path) -> anyhow::Result<Component> {
    let file = match path.is_dir() {
        true => wpool::build_guest(path)?,
        false => path.to_path_buf(),
    };
    Ok(Component::from_file(file)?)
}

fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let task: Task = load(&args.task)?.task(args.func.as_deref())?;
    let format = match args.files {
        true if !task.takes_bytes() => anyhow::bail!(
            "--files needs a function of one list<u8> or string parameter; {} takes {}",
            task.name(),
            task.input_type()
        ),
        true => Format::Files,
        false => args.input_format,
    };
    let source = match &args.input {
        Some(file) => InputSource::file(file, &task, format, args.limits.max_value)?,
        None => InputSource::args(&args.inputs, &task, format)?,
    };
    let out_dir = match &args.out_dir {
        Some(dir) => Some(OutDir::create(dir, &args.out_name, args.force, &task)?),
        None => None,
    };
    let mut pool = args.limits.pool()?.retries(args.retries).on_retry(|retry| {
        warn(format_args!(
            "task {} (input {}): {}, retrying (attempt {} of {})",
            retry.index, retry.input, retry.reason, retry.attempt, retry.attempts
        ))
    });
    if let Some(n) = args.workers {
        pool = pool.workers(n.into());
    }
    if let Some(file) = &args.nats_creds {
        pool = pool.nats_credentials(file);
    }
    let cluster = match &args.nats {
        Some(url) => {
            let cluster = pool.clone().cluster(url)?.ack_wait(args.ack_wait);
            Some(match (&args.job, args.resume) {
                (Some(name), true) => cluster.resume(name),
                (Some(name), false) => cluster.job(name),
                (None, _) => cluster,
            })
        }
        None => None,
    };
    let pool = pool.build();
    let total = source.len();
    let interrupt = Interrupt::install().context("cannot handle SIGINT")?;
    let (inputs, input_error) = source.into_inputs(&interrupt);
    // A stream may wait long for its next line: Ctrl-C ends it there.
    if let Inputs::Stream(stream) = &inputs {
        let closer = stream.closer();
        interrupt
            .on_signal(move || closer.close())
            .context("cannot handle SIGINT")?;
    }
    /// The run of `task` over `inputs`: on the cluster if there is one.
    fn start<I: IntoInputs>(
        (pool, cluster): (&Pool, Option<&Cluster>),
        task: &Task,
        unordered: bool,
        inputs: I,
    ) -> Result<Imap<I::Iter>, wpool::Error> {
        match (cluster, unordered) {
            (Some(cluster), true) => cluster.imap_unordered(task, inputs),
            (Some(cluster), false) => cluster.imap(task, inputs),
            (None, true) => pool.imap_unordered(task, inputs),
            (None, false) => pool.imap(task, inputs),
        }
    }
    let on = (&pool, cluster.as_ref());
    let mut report = Report::new(args.json, out_dir, args.summary, total);
    let printed = match inputs {
        Inputs::Read(inputs) => report.print(start(on, &task, args.unordered, inputs)?),
        Inputs::Stream(inputs) => report.print(start(on, &task, args.unordered, inputs)?),
    };
    // The pool keeps its idle workers: stopping and reaping them first lets
    // the summary count their CPU time.
    drop(pool);
    report.print_summary();
    let all_ok = printed?;
    if interrupt.requested() {
        warn("interrupted; the tasks already handed to workers were finished");
        return Ok(Outcome::Interrupted);
    }
    let late = input_error
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .take();
    if let Some(error) = late {
        return Err(error);
    }
    Ok(Outcome::of(all_ok))
}
