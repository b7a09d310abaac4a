//! Printing a run: results on stdout (WAVE lines, typed JSON Lines, or
//! the files `--out-dir` wrote), failures and guest output on stderr, a
//! progress bar when stderr is a terminal and the run takes a while, and
//! the `--summary` at the end.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::{self, BufWriter, IsTerminal, StdoutLock, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::{TimeVal, TimeValLike as _};
use wpool::{Captured, Imap, Input, TaskError, TaskOutput, Value};

use super::out_dir::OutDir;

/// How long a run goes before it shows a progress bar.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

pub(crate) struct Report {
    json: bool,
    /// Where `--out-dir` writes results, if given.
    out_dir: Option<OutDir>,
    /// The counts `--summary` prints, if asked for.
    summary: Option<Summary>,
    stdout: BufWriter<StdoutLock<'static>>,
    total: Option<u64>,
    started: Instant,
    progress: Option<ProgressBar>,
    /// Whether stderr is a terminal, asked once: asking costs a system call,
    /// and `tick` runs for every output.
    stderr_is_terminal: bool,
}

/// What a task's output line shows: its value, the file its value was
/// written to, or why it failed (kind and message).
enum Shown<'a> {
    Value(&'a Value),
    File(PathBuf),
    Failed(&'static str, String),
}

impl Report {
    pub(crate) fn new(
        json: bool,
        out_dir: Option<OutDir>,
        summary: bool,
        total: Option<u64>,
    ) -> Report {
        Report {
            json,
            out_dir,
            summary: summary.then(Summary::default),
            stdout: BufWriter::new(io::stdout().lock()),
            total,
            started: Instant::now(),
            progress: None,
            stderr_is_terminal: io::stderr().is_terminal(),
        }
    }

    /// Prints every output; returns whether every task succeeded. Stops at
    /// the first error: the run's, or a write's (a closed stdout among
    /// them), and clears the progress bar either way.
    pub(crate) fn print<I: Iterator<Item = Input>>(
        &mut self,
        outputs: Imap<I>,
    ) -> anyhow::Result<bool> {
        let printed = self.print_all(outputs);
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        printed
    }

    /// Prints the summary on stderr, if `--summary` asked for one. Called
    /// once the run's workers are reaped, so that their CPU time counts.
    pub(crate) fn print_summary(&self) {
        if let Some(summary) = &self.summary {
            self.to_stderr(&format!("{summary}{}", Usage::now()));
        }
    }

    fn print_all<I: Iterator<Item = Input>>(
        &mut self,
        mut outputs: Imap<I>,
    ) -> anyhow::Result<bool> {
        let mut all_ok = true;
        let unwritten = "cannot write the results to stdout";
        while let Some(output) = outputs.next() {
            let output = output?;
            all_ok &= self.write(&output).context(unwritten)?;
            // Flush before waiting for the next result, so that each result
            // shows as soon as it is known.
            if !outputs.has_ready() {
                self.stdout.flush().context(unwritten)?;
            }
            self.tick();
        }
        self.stdout.flush().context(unwritten)?;
        Ok(all_ok)
    }

    /// Shows one output (its value written to `--out-dir` first, if
    /// given); returns whether its task succeeded.
    fn write(&mut self, output: &TaskOutput) -> io::Result<bool> {
        let shown = match (&output.result, &mut self.out_dir) {
            (Ok(value), Some(out_dir)) => {
                // `OutDir::create` checked that the function returns bytes.
                let bytes = value.as_bytes().unwrap_or_default();
                match out_dir.write(output, bytes) {
                    Ok(path) => Shown::File(path),
                    Err(message) => Shown::Failed("write", message),
                }
            }
            (Ok(value), None) => Shown::Value(value),
            (Err(error), _) => Shown::Failed(error.kind(), error.to_string()),
        };
        if let Some(summary) = &mut self.summary {
            summary.add(output, &shown);
        }
        let index = output.index;
        let mut notes = String::new();
        for (captured, stream) in [(&output.stdout, "stdout"), (&output.stderr, "stderr")] {
            prefix_lines(&mut notes, index, captured, stream);
        }
        if let Shown::Failed(_, message) = &shown {
            let _ = writeln!(
                notes,
                "wpool: task {index} (input {}) failed: {}",
                printable(&format!("{:#}", output.input)),
                printable(message)
            );
        }
        if !notes.is_empty() {
            self.to_stderr(&notes);
        }
        match self.json {
            true => writeln!(self.stdout, "{}", json_line(output, &shown)),
            false => match &shown {
                Shown::Value(value) => writeln!(self.stdout, "{value}"),
                Shown::File(path) => {
                    writeln!(self.stdout, "{}", printable(&path.display().to_string()))
                }
                Shown::Failed(..) => Ok(()),
            },
        }?;
        Ok(!matches!(shown, Shown::Failed(..)))
    }

    fn to_stderr(&self, text: &str) {
        let print = || {
            let _ = io::stderr().lock().write_all(text.as_bytes());
        };
        match &self.progress {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn tick(&mut self) {
        // The clock last: it is read for every output otherwise.
        if self.progress.is_none()
            && self.stderr_is_terminal
            && self.started.elapsed() >= PROGRESS_AFTER
        {
            let bar = ProgressBar::with_draw_target(self.total, ProgressDrawTarget::stderr());
            let template = match self.total {
                Some(_) => {
                    "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta} left)"
                }
                None => "{elapsed_precise} {spinner} {human_pos} done ({per_sec})",
            };
            bar.set_style(ProgressStyle::with_template(template).expect("the template is valid"));
            bar.set_position(0);
            self.progress = Some(bar);
        }
        if let Some(bar) = &self.progress {
            bar.inc(1);
        }
    }
}

/// One output as a JSON line: its index and input, its value (typed), the
/// file written or its error, its captured output (the first bytes, how
/// many were dropped past `--max-output`, and the last), and where and how
/// long it ran. A failed task's input is shortened when its JSON is long (one
/// that failed with kind `input`, a file's path or an invalid input's
/// text, is short already).
fn json_line(output: &TaskOutput, shown: &Shown) -> serde_json::Value {
    let mut input = output.input.to_json();
    let quoted_short = matches!(output.result, Err(TaskError::Input(_)));
    if let (Shown::Failed(..), false) = (shown, quoted_short) {
        let text = input.to_string();
        let short = wpool::shorten(&text);
        if short.len() < text.len() {
            input = short.into();
        }
    }
    let mut line = serde_json::json!({
        "index": output.index,
        "input": input,
        "stdout": String::from_utf8_lossy(output.stdout.bytes()),
        "stderr": String::from_utf8_lossy(output.stderr.bytes()),
        "stdout_dropped": output.stdout.dropped(),
        "stderr_dropped": output.stderr.dropped(),
        "stdout_tail": String::from_utf8_lossy(output.stdout.tail()),
        "stderr_tail": String::from_utf8_lossy(output.stderr.tail()),
        "worker": output.worker,
        "attempts": output.attempts,
        "time": output.time.map(|time| time.as_secs_f64()),
    });
    match shown {
        Shown::Value(value) => line["value"] = value.to_json(),
        Shown::File(path) => line["file"] = path.display().to_string().into(),
        Shown::Failed(kind, message) => {
            line["error"] = serde_json::json!({"kind": kind, "message": message});
        }
    }
    line
}

/// What `--summary` prints at the end: how many tasks succeeded and
/// failed, the failures by kind, the retries, and the task times.
#[derive(Default)]
struct Summary {
    succeeded: u64,
    /// Failures by kind, in the kinds' order.
    failed: BTreeMap<&'static str, u64>,
    /// Attempts past the first: tasks run again after their worker died.
    retries: u64,
    /// The run time of each task that ran in a worker, in nanoseconds: a
    /// tiny task takes less than a microsecond.
    times: Option<Histogram<u64>>,
}

impl Summary {
    fn add(&mut self, output: &TaskOutput, shown: &Shown) {
        match shown {
            Shown::Failed(kind, _) => *self.failed.entry(kind).or_default() += 1,
            _ => self.succeeded += 1,
        }
        self.retries += u64::from(output.attempts.saturating_sub(1));
        if let Some(time) = output.time {
            let nanos = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
            let times = self.times.get_or_insert_with(|| {
                Histogram::new(3).expect("3 significant figures are within the histogram's range")
            });
            // `record` grows the histogram to take the time (it fails only
            // where usize is too small); `saturating_record` never grows it
            // and clamped every time to the first one's range.
            let _ = times.record(nanos);
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed: u64 = self.failed.values().sum();
        let total = self.succeeded + failed;
        writeln!(
            f,
            "wpool: summary: {total} tasks, {} succeeded, {failed} failed",
            self.succeeded
        )?;
        if failed > 0 {
            let kinds: Vec<String> = self
                .failed
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            writeln!(f, "wpool: failed by kind: {}", kinds.join(", "))?;
        }
        writeln!(
            f,
            "wpool: retries: {} (tasks run again after their worker died)",
            self.retries
        )?;
        match &self.times {
            None => writeln!(f, "wpool: task time: no task ran in a worker"),
            Some(times) => {
                let shown = |nanos: u64| format!("{:?}", three_figures(nanos));
                writeln!(
                    f,
                    "wpool: task time in the workers ({} tasks): p50 {}, p90 {}, p99 {}, max {}",
                    times.len(),
                    shown(times.value_at_quantile(0.5)),
                    shown(times.value_at_quantile(0.9)),
                    shown(times.value_at_quantile(0.99)),
                    shown(times.max())
                )
            }
        }
    }
}

/// `nanos` to 3 significant figures, as the histogram keeps it: `215ns`,
/// `2.68ms`.
fn three_figures(nanos: u64) -> Duration {
    let scale = 10u64.pow(nanos.checked_ilog10().unwrap_or(0).saturating_sub(2));
    Duration::from_nanos(nanos.saturating_add(scale / 2) / scale * scale)
}

/// The CPU time (user + system) of this process, and of its child
/// processes that ended and were reaped: the workers, and the toolchain
/// that built a task directory; and this process's peak resident memory.
struct Usage {
    host: Duration,
    children: Duration,
    host_peak_kib: Option<u64>,
}

impl Usage {
    fn now() -> Usage {
        let used = |who| match getrusage(who) {
            Ok(usage) => seconds(usage.user_time()) + seconds(usage.system_time()),
            Err(_) => Duration::ZERO, // Linux fails neither
        };
        Usage {
            host: used(UsageWho::RUSAGE_SELF),
            children: used(UsageWho::RUSAGE_CHILDREN),
            host_peak_kib: peak_resident_kib(),
        }
    }
}

/// `VmHWM` of `/proc/self/status`: the most memory this process has held
/// at once. Not `getrusage`'s `ru_maxrss`, which also counts the memory of
/// the process that started this one, as it was when it did.
fn peak_resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

fn seconds(time: TimeVal) -> Duration {
    Duration::from_micros(u64::try_from(time.num_microseconds()).unwrap_or(0))
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wpool: CPU time (user + system): host {:.6} s, workers {:.6} s",
            self.host.as_secs_f64(),
            self.children.as_secs_f64()
        )?;
        match self.host_peak_kib {
            Some(kib) => writeln!(f, "wpool: peak resident memory of the host: {kib} KiB"),
            None => Ok(()),
        }
    }
}

/// Appends `captured`'s lines, each prefixed with the task index, with
/// control characters escaped so that a guest cannot drive the terminal.
pub(crate) fn prefix_lines(
    notes: &mut String,
    index: impl std::fmt::Display,
    captured: &Captured,
    stream: &str,
) {
    if captured.is_empty() {
        return;
    }
    let lines = |notes: &mut String, bytes: &[u8]| {
        for line in String::from_utf8_lossy(bytes).lines() {
            let _ = writeln!(notes, "[{index}] {}", printable(line));
        }
    };
    lines(notes, captured.bytes());
    if captured.dropped() > 0 {
        let _ = writeln!(
            notes,
            "[{index}] ({} more bytes of {stream} dropped here)",
            captured.dropped()
        );
    }
    lines(notes, captured.tail());
}

pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = c.is_control() && c != '\t';
            let escaped: Box<dyn Iterator<Item = char>> = match escape {
                true => Box::new(c.escape_default()),
                false => Box::new(std::iter::once(c)),
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::three_figures;

    #[test]
    fn task_times_show_three_significant_figures() {
        let shown = |nanos| format!("{:?}", three_figures(nanos));
        assert_eq!(shown(0), "0ns");
        assert_eq!(shown(215), "215ns");
        assert_eq!(shown(1_021), "1.02µs");
        assert_eq!(shown(15_564_800), "15.6ms");
        assert_eq!(shown(27_082_752), "27.1ms");
        assert_eq!(shown(2_000_000_000), "2s");
        assert!(shown(u64::MAX).ends_with('s'));
    }
}
