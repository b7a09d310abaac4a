//! `wpool spawn`: start several tasks at once, each on a worker process of
//! its own, sharing one set of named objects, like a `multiprocessing`
//! program starting `Process`es and joining them.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use wpool::{Component, Task};

use super::report::{prefix_lines, printable};
use super::{LimitArgs, Outcome, warn};

/// Start tasks as processes that share queues, pipes and shared state, wait
/// for all of them, and print what each returned and wrote.
///
/// Each PROCESS is TASK[#FUNC][=INPUT]: a component or guest crate
/// directory, the function to run when it exports several (its bare or full
/// name), and its input in WAVE ('()' when omitted, as for a command
/// component's `run`). All processes start together and see the same named
/// objects: a queue one of them opens by name is the queue another opens.
///
/// Each process's output is printed when it ends, each line prefixed with
/// [N FUNC]; its returned value goes to stdout as [N FUNC] = VALUE.
///
/// Exit status: 0 when every process succeeded, 1 when one failed, 2 when
/// they could not start; 0 when stdout is closed early.
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
}

pub(crate) fn spawn(args: SpawnArgs) -> anyhow::Result<Outcome> {
    let mut components: HashMap<PathBuf, Component> = HashMap::new();
    let mut planned = Vec::new();
    for spec in &args.processes {
        let (target, input) = match spec.split_once('=') {
            Some((target, input)) => (target, input),
            None => (spec.as_str(), "()"),
        };
        let (path, func) = match target.split_once('#') {
            Some((path, func)) => (PathBuf::from(path), Some(func)),
            None => (PathBuf::from(target), None),
        };
        let component = match components.get(&path) {
            Some(component) => component.clone(),
            None => {
                let component = super::load(&path)?;
                components.insert(path, component.clone());
                component
            }
        };
        let task: Task = component.task(func)?;
        let input = task.parse_input(input)?;
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
    let pool = args.limits.pool()?.build();
    let mut running = Vec::new();
    for (name, task, input) in planned {
        running.push((name, pool.spawn(&task, input)?));
    }
    let mut all_ok = true;
    let mut stdout = std::io::stdout().lock();
    for (name, mut process) in running {
        process.join(None);
        let Some(output) = process.output() else {
            warn(format_args!("[{name}] stopped before it finished"));
            all_ok = false;
            continue;
        };
        let mut out = String::new();
        prefix_lines(&mut out, &name, &output.stdout, "stdout");
        let mut err = String::new();
        prefix_lines(&mut err, &name, &output.stderr, "stderr");
        match &output.result {
            Ok(value) => out.push_str(&format!("[{name}] = {value}\n")),
            Err(error) => {
                all_ok = false;
                let error = printable(&error.to_string());
                err.push_str(&format!("wpool: [{name}] failed: {error}\n"));
            }
        }
        stdout.write_all(out.as_bytes())?;
        stdout.flush()?;
        let _ = std::io::stderr().write_all(err.as_bytes());
    }
    Ok(Outcome::of(all_ok))
}
