//! `wpool run` as a user runs it: inputs on the command line, result order,
//! JSON lines, functions and their WIT types, failed tasks, guest output
//! tagged with its task, `inspect` and `--help`.

use serde_json::json;

use crate::util::{Guest, as_strs, error_kind, json_by_index, run, squares, wpool};

#[test]
fn range_prints_squares_in_order() {
    run(Guest::Square, ["0..10"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["0", "1", "4", "9", "16", "25", "36", "49", "64", "81"]);
}

#[test]
fn inclusive_range_negative_values_and_literals() {
    run(Guest::Square, ["0..=3"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["0", "1", "4", "9"]);
    run(Guest::Square, ["-3"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["9"]);
    // A range that starts with '-' must follow `--`, or clap takes it for
    // an option.
    run(Guest::Square, ["7", "-12", "1000000", "--", "-3..=-1"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["49", "144", "1000000000000", "9", "4", "1"]);
}

/// A range's inputs are made a few thousand at a time, sharing a buffer:
/// one that crosses several of those chunks, from below zero, still gives
/// every square in order.
#[test]
fn a_long_range_gives_every_input_in_order() {
    let expected = squares(-5000..5000);
    run(Guest::Square, ["-j", "2", "--", "-5000..5000"])
        .output()
        .assert_success()
        .assert_stdout_lines(&as_strs(&expected));
}

#[test]
fn empty_range_runs_nothing() {
    run(Guest::Square, ["3..3"])
        .output()
        .assert_success()
        .assert_stdout_empty();
}

#[test]
fn crate_directory_as_task_is_built_and_run() {
    let dir = Guest::Square.dir();
    wpool(["run".as_ref(), dir.as_os_str(), "0..4".as_ref()])
        .output()
        .assert_success()
        .assert_stdout_lines(&["0", "1", "4", "9"]);
}

/// A task directory whose crate does not compile: the compiler's own
/// report is shown as it wrote it, line by line, and nothing runs.
#[test]
fn a_crate_that_does_not_build_shows_the_compiler_output() {
    let dir = tempfile::tempdir().unwrap();
    let manifest =
        "[package]\nname = \"broken\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n";
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "fn broken( {\n").unwrap();
    let out = wpool(["run".as_ref(), dir.path().as_os_str(), "1".as_ref()]).output();
    out.assert_code(2)
        .assert_stdout_empty()
        .assert_stderr_contains("cargo build failed:\n")
        .assert_stderr_contains("\nerror: this file contains an unclosed delimiter\n")
        .assert_stderr_lacks("\\n");
}

#[test]
fn unordered_prints_the_same_results() {
    let expected = squares(0..300);
    let ordered = run(Guest::Square, ["0..300", "-j", "2"]).output();
    ordered
        .assert_success()
        .assert_stdout_lines(&as_strs(&expected));

    let unordered = run(Guest::Square, ["0..300", "-j", "2", "--unordered"]).output();
    unordered.assert_success();
    let mut got: Vec<&str> = unordered.stdout_lines();
    got.sort_unstable();
    let mut want = as_strs(&expected);
    want.sort_unstable();
    unordered.check(
        got == want,
        "--unordered printed a different multiset of lines",
    );
}

#[test]
fn json_lines_carry_index_input_and_value() {
    let out = run(Guest::Square, ["--json", "--", "-2..=2"]).output();
    out.assert_success();
    let lines = out.json_lines();
    out.check(lines.len() == 5, "expected 5 JSON lines");
    for (i, line) in lines.iter().enumerate() {
        let x = i as i64 - 2;
        out.check(
            line["index"] == i as u64,
            format_args!("line {i} has index {}", line["index"]),
        );
        out.check(
            line["input"] == x,
            format_args!("line {i} has input {}", line["input"]),
        );
        out.check(
            line["value"] == x * x,
            format_args!("line {i} has value {}", line["value"]),
        );
        out.check(
            line.get("error").is_none(),
            format_args!("line {i} has an error"),
        );
    }
}

#[test]
fn json_errors_carry_their_kind() {
    let out = run(Guest::CheckedDiv, ["(6, 3)", "(1, 0)", "--json"]).output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    out.check(
        lines[&0]["value"] == json!({"ok": 2}),
        "expected {\"ok\": 2} for (6, 3)",
    );
    out.check(lines[&0]["input"] == json!([6, 3]), "expected input [6, 3]");
    out.check(
        error_kind(&out, &lines[&1]) == "err",
        "expected kind err for (1, 0)",
    );
    out.check(lines[&1]["input"] == json!([1, 0]), "expected input [1, 0]");
    out.check(
        lines[&1].get("value").is_none(),
        "a failed task has no value",
    );
    let message = lines[&1]["error"]["message"].as_str().unwrap_or_default();
    out.check(
        message.contains("cannot divide 1 by zero"),
        "expected the err payload in the error message",
    );
}

#[test]
fn multi_parameter_function_takes_tuples() {
    run(Guest::CheckedDiv, ["(7, 2)", "(-9, 3)", "(0, 5)"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["ok(3)", "ok(-3)", "ok(0)"]);
}

#[test]
fn interface_function_with_records_enums_options_and_lists() {
    let expected = r#"{words: 3, lines: 1, longest: some("the"), top: [("the", 2)]}"#;
    run(Guest::Wordstats, [r#"("the cat the", insensitive, 1)"#])
        .output()
        .assert_success()
        .assert_stdout_lines(&[expected]);
    // Case-sensitive counting, no words at all, several lines.
    run(
        Guest::Wordstats,
        [
            r#"("The cat the", sensitive, 5)"#,
            r#"("", insensitive, 3)"#,
            r#"("a b\nb", insensitive, 0)"#,
        ],
    )
    .output()
    .assert_success()
    .assert_stdout_lines(&[
        r#"{words: 3, lines: 1, longest: some("The"), top: [("The", 1), ("cat", 1), ("the", 1)]}"#,
        // WAVE leaves out record fields that are `none`.
        r#"{words: 0, lines: 0, top: []}"#,
        r#"{words: 3, lines: 2, longest: some("a"), top: []}"#,
    ]);
}

#[test]
fn func_by_bare_and_full_name() {
    let input = r#"("b a b", insensitive, 1)"#;
    let expected = r#"{words: 3, lines: 1, longest: some("b"), top: [("b", 2)]}"#;
    for func in ["analyze", "wpool-examples:wordstats/text#analyze"] {
        run(Guest::Wordstats, ["--func", func, input])
            .output()
            .assert_success()
            .assert_stdout_lines(&[expected]);
    }
    run(Guest::Square, ["--func", "square", "5"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["25"]);
}

#[test]
fn failed_task_exits_1_and_the_others_still_print() {
    let out = run(
        Guest::CheckedDiv,
        ["(6, 3)", "(1, 0)", "(10, 5)", "(-2147483648, -1)"],
    )
    .output();
    out.assert_code(1)
        .assert_stdout_lines(&["ok(2)", "ok(2)"])
        .assert_stderr_contains("task 1")
        .assert_stderr_contains("(1, 0)")
        .assert_stderr_contains("cannot divide 1 by zero")
        .assert_stderr_contains("task 3")
        .assert_stderr_contains("overflows");
}

#[test]
fn small_guest_output_goes_to_stderr_with_its_index() {
    let out = run(Guest::Misbehave, ["--func", "chatter", "2", "0", "1"]).output();
    out.assert_success()
        .assert_stdout_lines(&["2", "0", "1"])
        .assert_stderr_contains("[0] out 0\n")
        .assert_stderr_contains("[0] out 1\n")
        .assert_stderr_contains("[0] err 1\n")
        .assert_stderr_contains("[2] out 0\n")
        .assert_stderr_lacks("[1]")
        .assert_stderr_lacks("dropped");
}

#[test]
fn whoami_knows_its_task_index() {
    let out = run(Guest::Misbehave, ["--func", "whoami", "()", "()", "()"]).output();
    out.assert_success();
    let lines = out.stdout_lines();
    out.check(lines.len() == 3, "expected 3 lines");
    for (index, line) in lines.iter().enumerate() {
        let parts: Option<(u32, u64)> = line
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .and_then(|l| l.split_once(", "))
            .and_then(|(w, i)| Some((w.parse().ok()?, i.parse().ok()?)));
        match parts {
            Some((_worker, i)) => out.check(
                i == index as u64,
                format_args!("line {index} reports index {i}"),
            ),
            None => out.fail(format_args!("line {line:?} is not a (worker, index) tuple")),
        };
    }
}

#[test]
fn inspect_prints_wit() {
    let wasm = Guest::Wordstats.wasm();
    wpool(["inspect".as_ref(), wasm.as_os_str()])
        .output()
        .assert_success()
        .assert_stdout_contains("analyze: func(")
        .assert_stdout_contains("record stats")
        .assert_stdout_contains("enum case")
        .assert_stdout_contains(
            "wpool-examples:wordstats/text#analyze: takes tuple<string, case, u32>",
        );
}

#[test]
fn inspect_refuses_what_is_not_a_component() {
    wpool(["inspect", "/nonexistent/task.wasm"])
        .output()
        .assert_refused(&["cannot read /nonexistent/task.wasm"]);
}

#[test]
fn run_help_documents_the_timeout() {
    let out = wpool(["run", "--help"]).output();
    out.assert_success().assert_stdout_contains("--timeout");
    let after = &out.stdout[out.stdout.find("--timeout").unwrap_or(0)..];
    let default = after.find("[default: ").map(|i| &after[i..]);
    out.check(
        default.is_some_and(|d| d.starts_with("[default: 30s]")),
        "expected --timeout to show [default: 30s]",
    );
}
