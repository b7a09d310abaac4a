//! Naming a guest's uncaught exception. An interpreted guest (Python built
//! by componentize-py, JavaScript by componentize-js or jco's QuickJS
//! backend) that does not catch
//! an exception prints a report on its stderr, then traps; the task then
//! fails with the exception, read from the report, rather than the trap.
//! A Rust guest's panic prints its place and message, then traps: the trap
//! is named by them.

/// The exception the captured `stderr` of a task that trapped reports, if
/// it reports one:
///
/// - Python's traceback, `Traceback (most recent call last):` and indented
///   frames, ends with the exception: `ValueError: no real square root`;
/// - StarlingMonkey (componentize-js) prints the error's message, then
///   `Stack:` and indented frames;
/// - jco's QuickJS builds panic with the error's message in Rust's debug
///   form: `Failed to call 'root': Exception(Exception { message:
///   Some("no real square root of -1"), stack: ...`.
///
/// The last report wins (a Python exception raised while handling another
/// prints both).
pub(crate) fn uncaught(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    let indented = |line: &&str| line.starts_with(char::is_whitespace);
    let python = lines
        .iter()
        .rposition(|line| *line == "Traceback (most recent call last):")
        .and_then(|start| {
            let after = &lines[start + 1..];
            let end = after.iter().position(|line| !indented(line))?;
            Some((start, after[end].to_string()))
        });
    let js = (1..lines.len())
        .rev()
        .find(|&i| lines[i] == "Stack:" && lines.get(i + 1).is_none_or(indented))
        .map(|i| (i, lines[i - 1].to_string()));
    let quickjs = lines
        .iter()
        .rposition(|line| line.starts_with("Failed to call '"))
        .and_then(|i| {
            let (_, message) = lines[i].split_once("Exception { message: Some(\"")?;
            let (message, _) = message
                .rsplit_once("\"), stack: ")
                .or_else(|| message.rsplit_once("\") })"))?;
            Some((i, unescape_debug(message)))
        });
    let (_, exception) = [python, js, quickjs]
        .into_iter()
        .flatten()
        .max_by_key(|(at, _)| *at)?;
    let exception = exception.trim();
    (!exception.is_empty()).then(|| exception.to_string())
}

/// The last Rust panic `stderr` reports, as the standard library's hook
/// prints it (`thread '<unnamed>' panicked at src/lib.rs:39:9:`, the
/// message on the lines after it, then a note on `RUST_BACKTRACE`), in one
/// line: `panicked at src/lib.rs:39:9: boom`. A Rust guest's panic traps;
/// this says where and why.
pub(crate) fn panic(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    let (at, location) = lines.iter().enumerate().rev().find_map(|(i, line)| {
        let (thread, location) = line.split_once(" panicked at ")?;
        let location = location.strip_suffix(':')?;
        thread.starts_with("thread '").then_some((i, location))
    })?;
    let message: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|line| !line.starts_with("note: run with `RUST_BACKTRACE="))
        .copied()
        .collect();
    Some(format!(
        "panicked at {location}: {}",
        message.join("\n").trim()
    ))
}

/// `text` as it was before Rust's `{:?}` escaped its quotes, backslashes
/// and line breaks.
fn unescape_debug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(escaped) => out.push(escaped),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{panic, uncaught};

    #[test]
    fn a_python_traceback_names_its_exception() {
        // As componentize-py 0.25 prints it, its runtime's panic after it.
        let stderr = b"starting\nTraceback (most recent call last):\n  File \"/0/app.py\", line 31, in root\nValueError: no real square root of -1.0\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\nPython function threw an unexpected exception\n";
        assert_eq!(
            uncaught(stderr).as_deref(),
            Some("ValueError: no real square root of -1.0")
        );
    }

    #[test]
    fn a_javascript_stack_names_its_error() {
        // As componentize-js 0.23 prints it.
        let stderr = b"no real square root of -1\nStack:\n  root@app.js:27:11\n  export_root@/tmp/x/sources/initializer.js:6744:15\n\nRedirecting call to abort() to mozalloc_abort\n\n";
        assert_eq!(
            uncaught(stderr).as_deref(),
            Some("no real square root of -1")
        );
    }

    #[test]
    fn a_quickjs_panic_names_its_error() {
        // As jco 1.35's QuickJS backend (componentize-qjs 0.4) prints it.
        let stderr = b"\nthread '<unnamed>' (1) panicked at crates/runtime/src/interpreter.rs:51:31:\nFailed to call 'root': Exception(Exception { message: Some(\"no \\\"real\\\" root of -1\"), stack: Some(\"    at root (/app.js:11:52)\\n\") })\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(uncaught(stderr).as_deref(), Some("no \"real\" root of -1"));
    }

    #[test]
    fn output_without_a_report_names_nothing() {
        assert_eq!(uncaught(b"just a line\n"), None);
        assert_eq!(uncaught(b"Stack:\n  frame\n"), None);
        assert_eq!(uncaught(b""), None);
        assert_eq!(panic(b"just a line\n"), None);
        assert_eq!(panic(b"it panicked at noon:\n"), None);
    }

    #[test]
    fn a_rust_panic_says_where_and_why() {
        // As Rust 1.95's standard library prints it, after other output.
        let stderr = b"working\nthread '<unnamed>' (1) panicked at misbehave/src/lib.rs:39:9:\nboom\nhere\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic(stderr).as_deref(),
            Some("panicked at misbehave/src/lib.rs:39:9: boom\nhere")
        );
    }
}
