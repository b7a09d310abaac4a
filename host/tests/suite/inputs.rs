//! Where inputs come from (a file, stdin) and the runs refused before any
//! task starts: inputs that do not parse as the function's parameter type,
//! bad ranges, no inputs. A refused run exits 2 with one line on stderr and
//! nothing on stdout.

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

#[test]
fn bad_line_in_input_file_stops_the_run_after_earlier_results() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inputs.txt");
    std::fs::write(&file, "1\n\n2\n3\nfour\n5\n").unwrap();
    let out = run(Guest::Square, ["--input".as_ref(), file.as_os_str()]).output();
    out.assert_code(2)
        .assert_stdout_lines(&["1", "4", "9"])
        .assert_stderr_contains("line 5")
        .assert_stderr_contains("\"four\"")
        .assert_stderr_contains("s64")
        .assert_stderr_lacks("panicked");
    out.check(
        out.stderr.lines().count() == 1,
        "expected one line on stderr",
    );
}

#[test]
fn bad_line_on_stdin_names_its_line() {
    run(Guest::Square, ["--input", "-"])
        .stdin("7\n\"x\"\n")
        .output()
        .assert_code(2)
        .assert_stdout_lines(&["49"])
        .assert_stderr_contains("stdin line 2");
}

#[test]
fn missing_input_file() {
    run(Guest::Square, ["--input", "/nonexistent/inputs.txt"])
        .output()
        .assert_refused(&["/nonexistent/inputs.txt", "No such file"]);
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
