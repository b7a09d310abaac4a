//! `wpool spawn`: start several tasks at once, each on a worker process of
//! its own, sharing one set of named objects, like a `multiprocessing`
//! program starting `Process`es and joining them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use wpool::{Component, Input, Process, ProcessOptions, Stream, Task, TaskError};

use super::interrupt::Interrupt;
use super::report::printable;
use super::{LimitArgs, Outcome, warn};

/// Start tasks as processes that share queues, pipes and shared state, wait
/// for all of them, and print what each returned and wrote.
///
/// Each PROCESS is TASK[#FUNC][=INPUT]: a component or guest crate
/// directory, the function to run when it exports several (its bare or full
/// name), and its input in WAVE ('()' when omitted, as for a command
/// component's `run`). A TASK path may hold '#' and '=': TASK is the
/// longest part before one of them that names a file or directory. All
/// processes start together and see the same named objects: a queue one of
/// them opens by name is the queue another opens.
///
/// What each process writes is printed as it writes it, line by line, each
/// line prefixed with [N FUNC], on stdout or stderr as the process wrote it.
/// When a process ends, its returned value goes to stdout as
/// [N FUNC] = VALUE, or its failure to stderr with its exit code (as
/// Python's Process.exitcode: -9 for a worker killed by SIGKILL). One that
/// exits with status 0 (Python's sys.exit(0)) succeeds.
///
/// A process whose worker dies is not started again (Python never restarts
/// a process), unless --retries says so; each new start is announced on
/// stderr.
///
/// Ctrl-C stops the processes still running (each fails as terminated,
/// exit code -9) and exits 130; a second Ctrl-C exits at once.
///
/// Exit status: 0 when every process succeeded, 1 when one failed (a
/// killed one among them), 2 when they could not start, 130 when
/// interrupted; 0 when stdout is closed early.
///
/// Example:
///
///   wpool spawn guest-examples/queue-demo#writer guest-examples/queue-demo#reader
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct SpawnArgs {
    /// The processes: TASK[#FUNC][=INPUT].
    #[arg(required = true, value_name = "PROCESS")]
    processes: Vec<String>,

    #[command(flatten)]
    limits: LimitArgs,

    /// How many times a process is started again when its worker process
    /// dies; what it did before stays done, and its output shows again.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u32,
}

pub(crate) fn spawn(args: SpawnArgs) -> anyhow::Result<Outcome> {
    let mut components: HashMap<PathBuf, Component> = HashMap::new();
    let mut planned = Vec::new();
    for spec in &args.processes {
        let (task, input) = plan(spec, &mut components).with_context(|| spec.clone())?;
        let name = format!(
            "{} {}",
            planned.len(),
            task.name().rsplit('#').next().unwrap_or_default()
        );
        planned.push((name, task, input));
    }
    if planned.is_empty() {
        bail!("no processes to spawn");
    }
    // The processes are the job's submissions 0, 1, 2, ...: a retry's index
    // names its process.
    let names: Vec<String> = planned.iter().map(|(name, ..)| name.clone()).collect();
    let pool = args
        .limits
        .pool()?
        .on_retry(move |retry| {
            let name = usize::try_from(retry.index)
                .ok()
                .and_then(|i| names.get(i))
                .map_or("?", String::as_str);
            warn(format_args!(
                "[{name}] {}, starting it again (attempt {} of {})",
                retry.reason, retry.attempt, retry.attempts
            ))
        })
        .build();
    let interrupt = Interrupt::install().context("cannot handle SIGINT")?;
    // Each process says when it ends: results are printed in that order.
    let (ended, ends) = std::sync::mpsc::channel();
    let mut running = Vec::new();
    for (i, (name, task, input)) in planned.into_iter().enumerate() {
        let prefix = name.clone();
        let ended = ended.clone();
        let options = ProcessOptions::default()
            .retries(args.retries)
            .on_output(move |stream, bytes| print_output(&prefix, stream, bytes))
            .on_exit(move |_| {
                let _ = ended.send(i);
            });
        running.push((name, Some(pool.spawn_with(&task, input, options)?)));
    }
    drop(ended);
    let mut all_ok = true;
    loop {
        match ends.recv_timeout(Duration::from_millis(50)) {
            Ok(i) => {
                if let Some(process) = running[i].1.take() {
                    all_ok &= report(&running[i].0, process)?;
                }
            }
            Err(RecvTimeoutError::Timeout) if interrupt.requested() => break,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Ctrl-C reaches every process, as Python's KeyboardInterrupt does.
    if interrupt.requested() {
        for process in running.iter().filter_map(|(_, process)| process.as_ref()) {
            process.terminate();
        }
    }
    // A process stopped by Ctrl-C, or whose run stopped as a whole, never
    // said it ended.
    for (name, process) in running {
        if let Some(process) = process {
            all_ok &= report(&name, process)?;
        }
    }
    if interrupt.requested() {
        warn("interrupted; the processes still running were stopped");
        return Ok(Outcome::Interrupted);
    }
    Ok(Outcome::of(all_ok))
}

/// The task and input of the process `spec` (TASK[#FUNC][=INPUT]), its
/// component loaded once for all the processes of the same TASK.
fn plan(spec: &str, components: &mut HashMap<PathBuf, Component>) -> anyhow::Result<(Task, Input)> {
    let (path, rest) = spec.split_at(task_end(spec));
    let (func, input) = match rest.split_once('=') {
        Some((func, input)) => (func, Some(input)),
        None => (rest, None),
    };
    let func = func.strip_prefix('#');
    if path.is_empty() {
        bail!("no task before '#' or '=': give a process as TASK[#FUNC][=INPUT]");
    }
    let path = PathBuf::from(path);
    let component = match components.get(&path) {
        Some(component) => component.clone(),
        None => {
            let component = super::load(&path)?;
            components.insert(path, component.clone());
            component
        }
    };
    let task: Task = component.task(func)?;
    let input = match input {
        Some(input) => task.parse_input(input)?,
        // Without `=INPUT`, a function of no parameters.
        None => task.parse_input("()").map_err(|_| {
            anyhow::anyhow!(
                "{} takes {}: give its input as {spec}=INPUT",
                task.name(),
                task.input_type()
            )
        })?,
    };
    Ok((task, input))
}

/// Where the TASK of `spec` (TASK[#FUNC][=INPUT]) ends: at the last '#' or
/// '=' (or the end) before which the spec names a file or directory, so
/// that a path may hold either; at the first one when none does, for the
/// error to name.
fn task_end(spec: &str) -> usize {
    let ends = spec
        .match_indices(['#', '='])
        .map(|(at, _)| at)
        .chain([spec.len()]);
    let named = ends
        .clone()
        .rev()
        .find(|&end| end > 0 && Path::new(&spec[..end]).exists());
    named.unwrap_or_else(|| ends.min().unwrap_or(spec.len()))
}

/// Prints what process `name` wrote to `stream`, each line prefixed, with
/// control characters escaped so that a guest cannot drive the terminal.
/// Called on the pool's threads as the process writes.
fn print_output(name: &str, stream: Stream, bytes: &[u8]) {
    let mut text = String::new();
    for line in String::from_utf8_lossy(bytes).lines() {
        let _ = writeln!(text, "[{name}] {}", printable(line));
    }
    // A closed stdout ends the run when its results are printed.
    let _ = match stream {
        Stream::Stdout => io::stdout().lock().write_all(text.as_bytes()),
        Stream::Stderr => io::stderr().lock().write_all(text.as_bytes()),
    };
}

/// Waits for process `name` to end and prints its result, or its failure
/// and exit code; returns whether it succeeded.
fn report(name: &str, mut process: Process) -> anyhow::Result<bool> {
    process.join(None);
    let Some(output) = process.output() else {
        warn(format_args!("[{name}] stopped before it finished"));
        return Ok(false);
    };
    let streams = [
        (&output.stdout, Stream::Stdout, "stdout"),
        (&output.stderr, Stream::Stderr, "stderr"),
    ];
    for (captured, stream, what) in streams {
        if captured.dropped() > 0 {
            let dropped = captured.dropped();
            let line = format!("({dropped} more bytes of {what} dropped past --max-output)\n");
            print_output(name, stream, line.as_bytes());
        }
    }
    let ended = match &output.result {
        Ok(value) => format!("= {value}"),
        // As Python's `sys.exit(0)` in a process: exit code 0, a success.
        Err(TaskError::Exit(0)) => "exited with status 0".to_string(),
        Err(error) => {
            let code = error.exit_code();
            warn(format_args!("[{name}] failed: {error} (exit code {code})"));
            return Ok(false);
        }
    };
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "[{name}] {ended}")?;
    stdout.flush()?;
    Ok(true)
}
