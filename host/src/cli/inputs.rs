//! Where a run's inputs come from: arguments (values, integer ranges, or
//! with `--files` file paths and glob patterns, all checked before the run
//! starts) or a file read line by line as the workers need them. A value
//! is WAVE or JSON text (`--input-format`); a file input is read when its
//! task is dispatched.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::iter::Peekable;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use clap::ValueEnum;
use wpool::{Input, InputStream, Task};

use super::interrupt::Interrupt;

/// What each input given is.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A WAVE value.
    Wave,
    /// A JSON value, typed as the README's table says.
    Json,
    /// A file path (or, as an argument, a glob pattern): the file's
    /// contents are the input (`--files`).
    #[value(skip)]
    Files,
}

/// How many bytes of WAVE text an input line may have per byte of
/// `--max-value`: a `list<u8>` takes up to five (`255, `) for each byte it
/// encodes to.
const LINE_PER_VALUE_BYTE: u64 = 8;

/// The shortest line limit, whatever `--max-value` is.
const MIN_LINE: u64 = 64 << 10;
/// The bytes of a line over the limit a failure quotes, before its length:
/// fewer than the 200 characters a quote keeps (`wpool::shorten`).
const OVERLONG_QUOTED: usize = 150;

pub(crate) enum InputSource {
    Args {
        task: Task,
        args: Vec<Arg>,
    },
    Lines {
        task: Task,
        format: Format,
        name: String,
        reader: Box<dyn BufRead + Send>,
        /// The longest line accepted, in bytes.
        max_line: u64,
        /// Whether reading may wait (stdin, a FIFO, a device), not a
        /// regular file's.
        may_wait: bool,
    },
}

pub(crate) enum Arg {
    Value(Input),
    /// The files a glob pattern matches, found as they are needed; at
    /// least one.
    Files(Peekable<Box<dyn Iterator<Item = glob::GlobResult>>>),
    /// `start..end`, end excluded, both within the parameter's type.
    Range {
        start: i128,
        end: i128,
    },
}

/// An error met while reading inputs lazily, kept until the run has finished
/// with the inputs before it.
pub(crate) type LateError = Arc<Mutex<Option<anyhow::Error>>>;

/// A run's inputs, lazily, each until SIGINT comes.
pub(crate) enum Inputs {
    /// Values, ranges and files from the command line, and lines of a
    /// regular file: the run reads them itself, never waiting long.
    Read(Box<dyn Iterator<Item = Input>>),
    /// Lines of stdin, a FIFO or a device, read on a thread of their own:
    /// a slow stream's results come while its next lines are awaited.
    Stream(InputStream),
}

impl InputSource {
    /// Checks every argument against the task's parameter types, and that
    /// each glob pattern matches a file.
    pub(crate) fn args(
        texts: &[String],
        task: &Task,
        format: Format,
    ) -> anyhow::Result<InputSource> {
        if texts.is_empty() {
            bail!("no inputs: give values, a range such as 0..10, or --input FILE");
        }
        let args = texts
            .iter()
            .map(|text| match (format, parse_range(text)?) {
                (Format::Files, _) => files(text, task),
                (_, Some((start, end))) => check_range(text, start, end, task),
                (Format::Wave, None) => Ok(Arg::Value(task.parse_input(text)?)),
                (Format::Json, None) => Ok(Arg::Value(task.parse_input_json(text)?)),
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(InputSource::Args {
            task: task.clone(),
            args,
        })
    }

    /// Opens `path`, or stdin for `-`. A line may be as long as the WAVE
    /// text of an input of `max_value` bytes.
    pub(crate) fn file(
        path: &Path,
        task: &Task,
        format: Format,
        max_value: u64,
    ) -> anyhow::Result<InputSource> {
        let (name, reader, may_wait): (String, Box<dyn BufRead + Send>, bool) =
            if path == Path::new("-") {
                let stdin = std::io::stdin();
                ("stdin".into(), Box::new(BufReader::new(stdin)), true)
            } else {
                let file = File::open(path)
                    .with_context(|| format!("cannot open input file {}", path.display()))?;
                let regular = file.metadata().is_ok_and(|m| m.is_file());
                let name = path.display().to_string();
                (name, Box::new(BufReader::new(file)), !regular)
            };
        Ok(InputSource::Lines {
            task: task.clone(),
            format,
            name,
            reader,
            max_line: max_value.saturating_mul(LINE_PER_VALUE_BYTE).max(MIN_LINE),
            may_wait,
        })
    }

    /// How many inputs there are, when known before reading them.
    pub(crate) fn len(&self) -> Option<u64> {
        match self {
            InputSource::Args { args, .. } => count(args),
            InputSource::Lines { .. } => None,
        }
    }

    /// The inputs, lazily, each until SIGINT comes (`interrupt`), and where
    /// an error met while reading them lands.
    pub(crate) fn into_inputs(self, interrupt: &Interrupt) -> (Inputs, LateError) {
        let late = LateError::default();
        let inputs = match self {
            InputSource::Args { task, args } => {
                let inputs = args.into_iter().flat_map(move |arg| {
                    let task = task.clone();
                    let items: Box<dyn Iterator<Item = Input>> = match arg {
                        Arg::Value(input) => Box::new(std::iter::once(input)),
                        Arg::Files(paths) => Box::new(paths.map(move |path| match path {
                            Ok(path) => task.file_input(path).expect("the task takes bytes"),
                            Err(e) => {
                                let path = e.path().display().to_string();
                                let why = format!("cannot read {path}: {}", e.error());
                                task.invalid_input(&path, why)
                            }
                        })),
                        Arg::Range { start, end } => Box::new(
                            task.integer_inputs(start..end)
                                .expect("both ends of the range were checked against the type"),
                        ),
                    };
                    items
                });
                Inputs::Read(Box::new(interrupt.guard(inputs)))
            }
            InputSource::Lines {
                task,
                format,
                name,
                reader,
                max_line,
                may_wait,
            } => {
                let late = late.clone();
                let mut lines = Lines {
                    reader,
                    format,
                    name,
                    number: 0,
                    max_line,
                };
                let inputs = std::iter::from_fn(move || {
                    let result = lines.next_input(&task).with_context(|| lines.name.clone());
                    result.unwrap_or_else(|error| {
                        *late.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(error);
                        None
                    })
                });
                let inputs = interrupt.guard(inputs);
                match may_wait {
                    true => Inputs::Stream(InputStream::new(inputs)),
                    false => Inputs::Read(Box::new(inputs)),
                }
            }
        };
        (inputs, late)
    }
}

/// How many inputs `args` make; `None` past `u64::MAX` (`0..=u64::MAX` is
/// one more), where a run goes on without a known total.
fn count(args: &[Arg]) -> Option<u64> {
    args.iter().try_fold(0u64, |total, arg| {
        let len = match arg {
            Arg::Value(_) => 1,
            Arg::Files(_) => return None,
            Arg::Range { start, end } => u64::try_from(end - start).ok()?,
        };
        total.checked_add(len)
    })
}

struct Lines {
    reader: Box<dyn BufRead + Send>,
    format: Format,
    /// The file's name, or `stdin`.
    name: String,
    number: u64,
    max_line: u64,
}

impl Lines {
    /// The next non-blank line as an input; `Ok(None)` at the end.
    fn next_input(&mut self, task: &Task) -> anyhow::Result<Option<Input>> {
        let mut line = Vec::new();
        loop {
            line.clear();
            // Room for the longest line and its line break.
            let read = (&mut self.reader)
                .take(self.max_line.saturating_add(2))
                .read_until(b'\n', &mut line)
                .with_context(|| format!("cannot read line {}", self.number + 1))?;
            if read == 0 {
                return Ok(None);
            }
            self.number += 1;
            let ended = line.ends_with(b"\n");
            if (line.len() - usize::from(ended)) as u64 > self.max_line {
                // The rest of the line is read past, not kept; its start
                // is quoted with the whole line's length, short enough
                // that the failure's quote keeps it whole.
                let mut len = line.len() - usize::from(ended);
                if !ended {
                    len += skip_line(&mut self.reader)
                        .with_context(|| format!("cannot read line {}", self.number))?;
                }
                let why = format!(
                    "the line is longer than {} bytes (8 times --max-value, and at least {} KiB)",
                    self.max_line,
                    MIN_LINE >> 10
                );
                let start = String::from_utf8_lossy(&line[..OVERLONG_QUOTED]);
                let quoted = format!("{}… ({len} bytes)", start.trim_end_matches('\u{fffd}'));
                return Ok(Some(self.invalid(task, &quoted, &why)));
            }
            if self.format == Format::Files {
                // A path is taken as it is, whatever its bytes, but for
                // its line ending.
                let path = line.strip_suffix(b"\n").unwrap_or(&line);
                let path = path.strip_suffix(b"\r").unwrap_or(path);
                if !path.is_empty() {
                    let input = task
                        .file_input(OsStr::from_bytes(path))
                        .with_context(|| format!("line {}", self.number))?;
                    return Ok(Some(input));
                }
                continue;
            }
            // A line that makes no input (text that is not UTF-8, or no
            // value of the parameter types) fails its own task, naming the
            // line; the lines around it run.
            let fail =
                |text: &str, why: &dyn std::fmt::Display| Ok(Some(self.invalid(task, text, why)));
            let text = match std::str::from_utf8(&line) {
                Ok(text) => text.trim(),
                Err(e) => {
                    let why = format!("the line is not UTF-8: {e}");
                    return fail(&String::from_utf8_lossy(&line), &why);
                }
            };
            if text.is_empty() {
                continue;
            }
            let parsed = match self.format {
                Format::Json => task.parse_input_json(text),
                _ => task.parse_input(text),
            };
            return match parsed {
                Ok(input) => Ok(Some(input)),
                Err(e) => fail(text, &e),
            };
        }
    }

    /// The input of a line that makes none, failing its task: `text` is
    /// what is shown of it, `why` why it fails.
    fn invalid(&self, task: &Task, text: &str, why: &dyn std::fmt::Display) -> Input {
        let reason = format!("{} line {}: {why}", self.name, self.number);
        task.invalid_input(text.trim(), reason)
    }
}

/// Reads past the rest of a line, up to and with its line break, in
/// bounded memory; returns how many bytes it held before the line break.
fn skip_line(reader: &mut dyn BufRead) -> std::io::Result<usize> {
    let mut skipped = 0;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(skipped);
        }
        match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(skipped + at);
            }
            None => {
                let all = buffer.len();
                reader.consume(all);
                skipped += all;
            }
        }
    }
}

/// A `--files` argument: a path, or a glob pattern (one with `*`, `?` or
/// `[`) that must match at least one path; one that matches none but names
/// a file (`b[1].txt`) is that path. As in a shell, a wildcard does not
/// match a leading dot, nor `.` and `..`.
fn files(text: &str, task: &Task) -> anyhow::Result<Arg> {
    if !text.contains(['*', '?', '[']) {
        return Ok(Arg::Value(task.file_input(text)?));
    }
    let bad = || format!("bad glob pattern {text:?}");
    // The leading-dot rule is applied to each path found, not by the
    // directory walk: glob 0.3's walk then drops every hidden name, even
    // one the pattern spells out, and panics on a name that is not UTF-8.
    // The walk gives `./a/b` as `a/b`.
    let relative = |path: &str| path.trim_start_matches("./").to_owned();
    let pattern = glob::Pattern::new(&relative(text)).with_context(bad)?;
    let as_shell = glob::MatchOptions {
        require_literal_leading_dot: true,
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    let found = glob::glob_with(text, glob::MatchOptions::new()).with_context(bad)?;
    let visible = found.filter(move |found| {
        let Ok(path) = found else {
            return true;
        };
        let path = relative(&path.to_string_lossy());
        let special = [".", ".."]
            .iter()
            .any(|dot| path.rsplit('/').next() == Some(dot));
        !special && pattern.matches_with(&path, as_shell)
    });
    let mut paths = (Box::new(visible) as Box<dyn Iterator<Item = _>>).peekable();
    if paths.peek().is_none() {
        if Path::new(text).exists() {
            return Ok(Arg::Value(task.file_input(text)?));
        }
        bail!("no file matches {text:?}");
    }
    Ok(Arg::Files(paths))
}

/// `A..B` or `A..=B` as a half-open range; `None` when `text` is not meant
/// as a range at all.
fn parse_range(text: &str) -> anyhow::Result<Option<(i128, i128)>> {
    let Some((start, rest)) = text.split_once("..") else {
        return Ok(None);
    };
    if !start.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        return Ok(None);
    }
    let (inclusive, end) = match rest.strip_prefix('=') {
        Some(end) => (true, end),
        None => (false, rest),
    };
    let bad = || format!("bad range {text:?}: write A..B or A..=B with integers A and B");
    let start: i128 = start.parse().with_context(bad)?;
    let end: i128 = end.parse().with_context(bad)?;
    let end = match inclusive {
        true => end.checked_add(1).with_context(bad)?,
        false => end,
    };
    if end < start {
        bail!("bad range {text:?}: it ends before it starts");
    }
    Ok(Some((start, end)))
}

fn check_range(text: &str, start: i128, end: i128, task: &Task) -> anyhow::Result<Arg> {
    if !task.takes_one_integer() {
        bail!(
            "range {text:?} needs a function of one integer parameter; {} takes {}",
            task.name(),
            task.input_type()
        );
    }
    if start < end {
        for n in [start, end - 1] {
            task.integer_input(n)
                .with_context(|| format!("range {text:?} does not fit {}", task.input_type()))?;
        }
    }
    Ok(Arg::Range { start, end })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Arg, count, parse_range};

    #[test]
    fn counts_past_u64_as_unknown() {
        let span = |start: i128, end: i128| Arg::Range { start, end };
        assert_eq!(count(&[span(0, 10), span(-5, 5)]), Some(20));
        let s64 = span(i64::MIN.into(), i64::MAX.into());
        assert_eq!(count(&[s64]), Some(u64::MAX));
        assert_eq!(count(&[span(i64::MIN.into(), 1 << 63)]), None);
        assert_eq!(count(&[span(0, 1 << 64)]), None);
        assert_eq!(count(&[span(2, 1 << 64), span(0, 1)]), Some(u64::MAX));
        assert_eq!(count(&[span(1, 1 << 64), span(0, 1)]), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_text_parses_or_errs_without_panicking(text in ".*") {
            let _ = parse_range(&text);
        }

        #[test]
        fn ranges_of_any_integers(start in any::<i64>(), end in any::<i64>(), inclusive in any::<bool>()) {
            let text = format!("{start}..{}{end}", if inclusive { "=" } else { "" });
            let (start, end) = (i128::from(start), i128::from(end) + i128::from(inclusive));
            match parse_range(&text) {
                Ok(Some(range)) => prop_assert_eq!(range, (start, end)),
                Ok(None) => prop_assert!(false, "{text} not taken for a range"),
                Err(e) => {
                    prop_assert!(end < start, "{text} refused: {e}");
                    prop_assert!(e.to_string().contains("ends before it starts"));
                }
            }
        }

        #[test]
        fn extreme_inclusive_end_is_refused(start in any::<i128>()) {
            let text = format!("{start}..={}", i128::MAX);
            prop_assert!(parse_range(&text).is_err());
        }
    }
}
