//! Printing a run: results on stdout (WAVE lines or JSON Lines), failures
//! and guest output on stderr, and a progress bar when stderr is a terminal
//! and the run takes a while.

use std::fmt::Write as _;
use std::io::{self, BufWriter, IsTerminal, StdoutLock, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wpool::{Captured, Imap, Input, TaskOutput};

/// How long a run goes before it shows a progress bar.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

pub(crate) struct Report {
    json: bool,
    stdout: BufWriter<StdoutLock<'static>>,
    total: Option<u64>,
    started: Instant,
    progress: Option<ProgressBar>,
    /// Whether stderr is a terminal, asked once: asking costs a system call,
    /// and `tick` runs for every output.
    stderr_is_terminal: bool,
}

impl Report {
    pub(crate) fn new(json: bool, total: Option<u64>) -> Report {
        Report {
            json,
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

    fn print_all<I: Iterator<Item = Input>>(
        &mut self,
        mut outputs: Imap<I>,
    ) -> anyhow::Result<bool> {
        let mut all_ok = true;
        while let Some(output) = outputs.next() {
            let output = output?;
            all_ok &= output.result.is_ok();
            self.write(&output)?;
            // Flush before waiting for the next result, so that each result
            // shows as soon as it is known.
            if !outputs.has_ready() {
                self.stdout.flush()?;
            }
            self.tick();
        }
        self.stdout.flush()?;
        Ok(all_ok)
    }

    fn write(&mut self, output: &TaskOutput) -> io::Result<()> {
        let TaskOutput {
            index,
            input,
            result,
            stdout,
            stderr,
            ..
        } = output;
        let mut notes = String::new();
        for (captured, stream) in [(stdout, "stdout"), (stderr, "stderr")] {
            prefix_lines(&mut notes, index, captured, stream);
        }
        if let Err(error) = result {
            let _ = writeln!(
                notes,
                "wpool: task {index} (input {}) failed: {}",
                printable(&input.to_string()),
                printable(&error.to_string())
            );
        }
        if !notes.is_empty() {
            self.to_stderr(&notes);
        }
        if self.json {
            let mut line = serde_json::json!({
                "index": index,
                "input": input.to_string(),
                "stdout": String::from_utf8_lossy(&stdout.bytes),
                "stderr": String::from_utf8_lossy(&stderr.bytes),
            });
            match result {
                Ok(value) => line["value"] = value.as_wave().into(),
                Err(error) => {
                    line["error"] =
                        serde_json::json!({"kind": error.kind(), "message": error.to_string()});
                }
            }
            writeln!(self.stdout, "{line}")
        } else {
            match result {
                Ok(value) => writeln!(self.stdout, "{value}"),
                Err(_) => Ok(()),
            }
        }
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
        if self.progress.is_none()
            && self.started.elapsed() >= PROGRESS_AFTER
            && self.stderr_is_terminal
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
    let text = String::from_utf8_lossy(&captured.bytes);
    for line in text.lines() {
        let _ = writeln!(notes, "[{index}] {}", printable(line));
    }
    if captured.dropped > 0 {
        let _ = writeln!(
            notes,
            "[{index}] ({} more bytes of {stream} dropped)",
            captured.dropped
        );
    }
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
