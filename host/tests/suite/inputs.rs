//! Where inputs come from (a file, stdin) and the runs refused before any
//! task starts: inputs given as arguments that do not parse as the
//! function's parameter type, bad ranges, no inputs. A refused run exits 2
//! with one line on stderr and nothing on stdout. A streamed line that
//! does not parse (or is not UTF-8) fails its own task, and the others run.

use std::io::Write as _;
use std::time::Duration;

use crate::util::{Guest, run};

#[test]
fn input_file_skips_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inputs.txt");
    std::fs::write(&file, "1\n\n2\n   \n-3\n\n").unwrap();
    run(Guest::Square, ["--input".as_ref(), file.as_os_str()])
        .output()
        .assert_success()
        .assert_stdout_lines(&["1", "4", "9"]);
}

#[test]
fn input_from_stdin() {
    run(Guest::Square, ["--input", "-"])
        .stdin("4\n\n5\r\n6")
        .output()
        .assert_success()
        .assert_stdout_lines(&["16", "25", "36"]);
}

/// Feeds `wpool run square --input -` (with `args`) one line at a time,
/// and checks that each line's result comes before the next line is
/// written: lines past the first, once the run reads a batch at a time,
/// included.
pub(crate) fn each_result_of_stdin_comes_before_its_next_line(args: &[&str]) {
    let (mut running, mut stdin) = run(Guest::Square, ["--input", "-"])
        .args(args)
        .start_with_stdin();
    for x in 1..=4 {
        writeln!(stdin, "{x}").expect("wpool reads stdin");
        let line = running.next_line(Duration::from_secs(60));
        assert_eq!(
            line,
            Some((x * x).to_string()),
            "the result of {x}, with no line after it yet"
        );
    }
    drop(stdin);
    running.finish().assert_success();
}

#[test]
fn each_result_of_a_slow_stdin_comes_before_its_next_line() {
    each_result_of_stdin_comes_before_its_next_line(&[]);
}

#[test]
fn a_bad_line_in_an_input_file_fails_alone_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inputs.txt");
    std::fs::write(&file, "1\n\n2\n3\nfour\n5\n").unwrap();
    let out = run(Guest::Square, ["--input".as_ref(), file.as_os_str()]).output();
    out.assert_code(1)
        .assert_stdout_lines(&["1", "4", "9", "25"])
        .assert_stderr_contains("task 3 (input four) failed: ")
        .assert_stderr_contains("inputs.txt line 5")
        .assert_stderr_contains("s64")
        .assert_stderr_lacks("panicked");
    out.check(
        out.stderr.lines().count() == 1,
        "expected one line on stderr",
    );
}

#[test]
fn a_line_that_is_not_utf8_fails_alone_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inputs.txt");
    std::fs::write(&file, b"3\n\xff\xfe\n5\n").unwrap();
    let out = run(Guest::Square, ["--input".as_ref(), file.as_os_str()]).output();
    out.assert_code(1)
        .assert_stdout_lines(&["9", "25"])
        .assert_stderr_contains("task 1 (input")
        .assert_stderr_contains("inputs.txt line 2: the line is not UTF-8")
        .assert_stderr_lacks("panicked");
}

/// A line over the limit (8 times `--max-value`, at least 64 KiB) fails
/// its own task, read past rather than kept, quoted by its start and its
/// whole length; the lines after it run, and a line of exactly the limit
/// is read.
#[test]
fn a_line_over_the_limit_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inputs.txt");
    let over = format!("[{}1]", "1, ".repeat(25_000));
    // Trailing blanks count towards the limit.
    let limit = format!("[7, 7]{}", " ".repeat((64 << 10) - 6));
    std::fs::write(&file, format!("[1]\n{over}\n[1, 2, 3]\n{limit}\n")).unwrap();
    let out = run(
        Guest::Payload,
        [
            "--func".as_ref(),
            "len".as_ref(),
            "--max-value".as_ref(),
            "1KiB".as_ref(),
            "--input".as_ref(),
            file.as_os_str(),
        ],
    )
    .output();
    out.assert_code(1)
        .assert_stdout_lines(&["1", "3", "2"])
        .assert_stderr_contains(&format!(
            "(input {}… ({} bytes)) failed",
            &over[..150],
            over.len()
        ))
        .assert_stderr_contains(
            "inputs.txt line 2: the line is longer than 65536 bytes (8 times --max-value, and at least 64 KiB)",
        );
    out.check(
        out.stderr.lines().count() == 1,
        "one line on stderr: the long line's",
    );
}

#[test]
fn a_bad_line_on_stdin_fails_alone_in_the_json_log() {
    let out = run(Guest::Square, ["--input", "-", "--json"])
        .stdin("7\n\"x\"\n8\n")
        .output();
    out.assert_code(1).assert_stderr_contains("stdin line 2");
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    out.check(lines.len() == 3, "a JSON line for each input");
    out.check(
        lines[0]["value"] == 49 && lines[2]["value"] == 64,
        "the lines around the bad one run",
    );
    out.check(
        lines[1]["error"]["kind"] == "input" && lines[1]["attempts"] == 0,
        "the bad line fails with kind input, never sent to a worker",
    );
}

#[test]
fn missing_input_file() {
    run(Guest::Square, ["--input", "/nonexistent/inputs.txt"])
        .output()
        .assert_refused(&["/nonexistent/inputs.txt", "No such file"]);
    let dir = tempfile::tempdir().unwrap();
    run(Guest::Square, ["--input".as_ref(), dir.path().as_os_str()])
        .output()
        .assert_refused(&[": cannot read line 1: Is a directory"]);
}

#[test]
fn input_that_does_not_parse() {
    run(Guest::Square, ["1", r#""seven""#])
        .output()
        .assert_refused(&[r#"input "\"seven\"""#, "s64"]);
    run(Guest::CheckedDiv, ["(1, 2, 3)"])
        .output()
        .assert_refused(&["(1, 2, 3)", "tuple<s32, s32>"]);
    run(Guest::Wordstats, [r#"("text", loud, 1)"#])
        .output()
        .assert_refused(&["loud", "tuple<string, case, u32>"]);
    run(Guest::Misbehave, ["--func", "hog", "-1"])
        .output()
        .assert_refused(&["\"-1\"", "u32"]);
    // A record field the type lacks (a misspelt one) is refused, not dropped.
    run(
        Guest::Payload,
        [
            "--func",
            "echo-blob",
            r#"{name: "a", data: [1], nmae: "b"}"#,
        ],
    )
    .output()
    .assert_refused(&[r#"unknown field "nmae"; the fields are name, data"#]);
}

#[test]
fn bad_ranges() {
    run(Guest::Square, ["1..x"])
        .output()
        .assert_refused(&["bad range \"1..x\""]);
    run(Guest::Square, ["5..3"])
        .output()
        .assert_refused(&["bad range \"5..3\"", "ends before it starts"]);
    // Both ends must fit the parameter type.
    run(Guest::Misbehave, ["--func", "nap", "--", "-1..3"])
        .output()
        .assert_refused(&["\"-1\"", "u32"]);
    run(Guest::Misbehave, ["--func", "nap", "1..5000000000"])
        .output()
        .assert_refused(&["\"4999999999\"", "u32"]);
}

#[test]
fn range_for_non_integer_function() {
    run(Guest::Wordstats, ["1..3"]).output().assert_refused(&[
        "range \"1..3\"",
        "one integer parameter",
        "tuple<string, case, u32>",
    ]);
}

#[test]
fn no_inputs() {
    run(Guest::Square, std::iter::empty::<&str>())
        .output()
        .assert_refused(&["no inputs"]);
}
