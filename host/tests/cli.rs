//! Integration tests of `wpool`: the `wpool` binary as a user runs it, and
//! the library API driving the same binary as its workers.
//!
//! The guest components are built from the crates in `guest-examples`.

#[path = "cli/faults.rs"]
mod faults;
mod multiprocessing;
#[path = "cli/props.rs"]
mod props;
mod util;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;
use util::{Guest, Output, kill_9, run, wpool};

/// Lines of `i * i` for every `i` in `range`.
fn squares(range: std::ops::Range<i64>) -> Vec<String> {
    range.map(|i| (i * i).to_string()).collect()
}

fn as_strs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

/// The JSON line of each index; fails unless every index in `0..count`
/// has exactly one line.
#[track_caller]
fn json_by_index(out: &Output, count: u64) -> BTreeMap<u64, Json> {
    let mut by_index = BTreeMap::new();
    for line in out.json_lines() {
        let Some(index) = line["index"].as_u64() else {
            out.fail(format_args!("JSON line without an integer index: {line}"));
        };
        if by_index.insert(index, line).is_some() {
            out.fail(format_args!("index {index} printed twice"));
        }
    }
    let indexes: Vec<u64> = by_index.keys().copied().collect();
    out.check(
        indexes == (0..count).collect::<Vec<_>>(),
        format_args!("expected one line for each index 0..{count}, got indexes {indexes:?}"),
    );
    by_index
}

#[track_caller]
fn error_kind<'a>(out: &Output, line: &'a Json) -> &'a str {
    match line["error"]["kind"].as_str() {
        Some(kind) => kind,
        None => out.fail(format_args!("expected an error with a kind, got {line}")),
    }
}

// ---------------------------------------------------------------------------
// Inputs on the command line
// ---------------------------------------------------------------------------

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
            line["input"].as_str() == Some(x.to_string().as_str()),
            format_args!("line {i} has input {}", line["input"]),
        );
        out.check(
            line["value"].as_str() == Some((x * x).to_string().as_str()),
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
    out.check(lines[&0]["value"] == "ok(2)", "expected ok(2) for (6, 3)");
    out.check(lines[&0]["input"] == "(6, 3)", "expected input (6, 3)");
    out.check(
        error_kind(&out, &lines[&1]) == "err",
        "expected kind err for (1, 0)",
    );
    out.check(lines[&1]["input"] == "(1, 0)", "expected input (1, 0)");
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

// ---------------------------------------------------------------------------
// Inputs from a file or stdin
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Functions and types
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Refused runs: exit 2, one line on stderr, nothing on stdout
// ---------------------------------------------------------------------------

#[test]
fn missing_component_file() {
    wpool(["run", "/nonexistent/task.wasm", "1"])
        .output()
        .assert_refused(&["cannot read /nonexistent/task.wasm", "No such file"]);
}

#[test]
fn file_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("task.wasm");
    std::fs::write(&file, "not wasm at all\n").unwrap();
    let name = file.display().to_string();
    wpool(["run", &name, "1"]).output().assert_refused(&[
        &name,
        "is not a WebAssembly component",
        "magic",
    ]);
}

#[test]
fn core_module_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("core.wasm");
    std::fs::write(&file, b"\0asm\x01\0\0\0").unwrap();
    let name = file.display().to_string();
    wpool(["run", &name, "1"]).output().assert_refused(&[
        &name,
        "is not a WebAssembly component",
        "core wasm module",
    ]);
}

#[test]
fn unknown_func() {
    run(Guest::Square, ["--func", "cube", "1"])
        .output()
        .assert_refused(&["no exported function \"cube\"", "it exports: square"]);
}

#[test]
fn several_exports_need_func() {
    run(Guest::Misbehave, ["1"]).output().assert_refused(&[
        "exports several functions",
        "spin",
        "whoami",
    ]);
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

// ---------------------------------------------------------------------------
// The sandbox and its limits
// ---------------------------------------------------------------------------

#[test]
fn timeout_stops_a_spinning_task() {
    let out = run(
        Guest::Misbehave,
        ["--func", "spin", "--timeout", "200ms", "--json", "()"],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 1);
    out.check(
        error_kind(&out, &lines[&0]) == "timeout",
        "expected kind timeout",
    );
    out.assert_stderr_contains("timed out after 200ms");
    out.check(
        out.elapsed < Duration::from_secs(10),
        "a 200ms timeout took far longer than 200ms",
    );
}

#[test]
fn memory_cap_fails_only_the_hog() {
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "hog",
            "--max-memory",
            "32MiB",
            "--json",
            "100",
            "1",
        ],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    out.check(
        error_kind(&out, &lines[&0]) == "memory",
        "expected kind memory for hog 100",
    );
    out.check(
        lines[&1]["value"] == "1048576",
        "expected hog 1 to hold 1048576 bytes",
    );
}

#[test]
fn panic_is_a_trap_and_its_message_is_shown() {
    let out = run(Guest::Misbehave, ["--func", "crash", r#""boom""#]).output();
    out.assert_code(1)
        .assert_stdout_empty()
        .assert_stderr_contains("[0] boom")
        .assert_stderr_contains("wpool: task 0 (input \"boom\") failed: trap");

    let out = run(Guest::Misbehave, ["--func", "crash", "--json", r#""boom""#]).output();
    out.assert_code(1);
    let lines = json_by_index(&out, 1);
    out.check(error_kind(&out, &lines[&0]) == "trap", "expected kind trap");
    out.check(
        lines[&0]["stderr"]
            .as_str()
            .is_some_and(|s| s.contains("boom")),
        "expected the panic message in the JSON stderr",
    );
}

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let out = run(
        Guest::Misbehave,
        ["--func", "recurse", "--json", "100000000", "10"],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    out.check(
        error_kind(&out, &lines[&0]) == "stack-overflow",
        "expected kind stack-overflow",
    );
    out.check(lines[&1]["value"] == "10", "recurse 10 should return 10");
}

#[test]
fn fuel_limit_stops_a_spinning_task() {
    let out = run(
        Guest::Misbehave,
        ["--func", "spin", "--fuel", "100000", "--json", "()"],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 1);
    out.check(error_kind(&out, &lines[&0]) == "fuel", "expected kind fuel");
    out.assert_stderr_contains("out of fuel after 100000 units");
}

#[test]
fn guest_cannot_read_host_files() {
    let out = run(
        Guest::Misbehave,
        ["--func", "read-file", "--json", r#""/etc/passwd""#],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 1);
    out.check(
        error_kind(&out, &lines[&0]) == "err",
        "expected the err result",
    );
    out.assert_stderr_contains("returned err(")
        .assert_stderr_lacks("root:");
    out.check(
        !out.stdout.contains("root:"),
        "/etc/passwd leaked to stdout",
    );
}

#[test]
fn guest_sees_no_environment() {
    run(
        Guest::Misbehave,
        ["--func", "env-var", r#""PATH""#, r#""HOME""#],
    )
    .output()
    .assert_success()
    .assert_stdout_lines(&["none", "none"]);
}

#[test]
fn guest_output_is_capped_and_kept_off_stdout() {
    let out = run(
        Guest::Misbehave,
        ["--func", "chatter", "--max-output", "1KiB", "100000"],
    )
    .output();
    out.assert_success()
        .assert_stdout_lines(&["100000"])
        .assert_stderr_contains("[0] out 0")
        .assert_stderr_contains("[0] err 0")
        .assert_stderr_contains("more bytes of stdout dropped")
        .assert_stderr_contains("more bytes of stderr dropped")
        .assert_stderr_lacks("out 99999");
    out.check(
        out.stderr.len() < 16 << 10,
        "more than the cap of guest output was shown",
    );
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

// ---------------------------------------------------------------------------
// Workers that die
// ---------------------------------------------------------------------------

/// Runs 16 naps of 300 ms on two workers and kills one worker with SIGKILL
/// while tasks run.
fn run_and_kill_a_worker(extra: &[&str]) -> Output {
    let mut args = vec!["--func", "nap", "-j", "2", "--unordered"];
    args.extend_from_slice(extra);
    args.extend(std::iter::repeat_n("300", 16));
    let mut running = run(Guest::Misbehave, &args).start();
    // A first result means a worker is running tasks, with more queued.
    if running.next_line(Duration::from_secs(60)).is_none() {
        let pid = running.child.id();
        running
            .finish()
            .fail(format_args!("wpool (pid {pid}) printed no result"));
    }
    let wpool_pid = running.child.id();
    let workers = util::children_of(wpool_pid);
    // Prefer a worker that has compiled the component (it runs an epoch
    // ticker thread): it surely has tasks in flight.
    let victim = workers
        .iter()
        .copied()
        .find(|pid| util::thread_names(*pid).iter().any(|t| t == "epoch"))
        .or_else(|| workers.first().copied());
    let Some(victim) = victim else {
        running.finish().fail("found no worker process to kill");
    };
    kill_9(victim);
    let out = running.finish();
    out.check(
        !util::children_of(wpool_pid).contains(&victim),
        "the killed worker is still a child of wpool",
    );
    out
}

#[test]
fn killed_worker_tasks_are_retried() {
    let out = run_and_kill_a_worker(&[]);
    out.assert_success();
    let lines = out.stdout_lines();
    out.check(lines.len() == 16, "expected 16 results");
    out.check(
        lines.iter().all(|l| *l == "300"),
        "expected every result to be 300",
    );
}

#[test]
fn killed_worker_without_retries_loses_its_tasks() {
    let out = run_and_kill_a_worker(&["--retries", "0", "--json"]);
    out.assert_code(1);
    let lines = json_by_index(&out, 16);
    let mut lost = 0;
    for line in lines.values() {
        if line.get("value").is_some() {
            out.check(
                line["value"] == "300",
                format_args!("unexpected value in {line}"),
            );
            continue;
        }
        out.check(
            error_kind(&out, line) == "worker-lost",
            format_args!("unexpected error in {line}"),
        );
        let message = line["error"]["message"].as_str().unwrap_or_default();
        out.check(
            message.contains("1 attempt") && message.contains("signal 9"),
            format_args!("{line} should say its one attempt ended by signal 9"),
        );
        lost += 1;
    }
    out.check(lost >= 1, "expected at least one worker-lost task");
    out.assert_stderr_contains("worker lost");
}

// ---------------------------------------------------------------------------
// inspect and help
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The library API
// ---------------------------------------------------------------------------

mod library {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use wpool::{Component, Error, Input, Limits, Pool, Task, TaskError};

    use super::util::{Guest, WPOOL};

    fn task(guest: Guest, func: Option<&str>) -> Task {
        Component::from_file(guest.wasm())
            .expect("the guest is a component")
            .task(func)
            .expect("the function exists")
    }

    fn pool(limits: Limits) -> Pool {
        Pool::builder()
            .workers(2)
            .worker_program(WPOOL)
            .limits(limits)
            .build()
    }

    fn inputs(task: &Task, texts: impl IntoIterator<Item = String>) -> Vec<Input> {
        texts
            .into_iter()
            .map(|t| task.parse_input(&t).expect("valid input"))
            .collect()
    }

    #[test]
    fn map_returns_results_in_order() {
        let square = task(Guest::Square, None);
        assert_eq!(square.name(), "square");
        assert_eq!(square.input_type(), "s64");
        let outputs = pool(Limits::default())
            .map(
                &square,
                inputs(&square, (-5..40).map(|i: i64| i.to_string())),
            )
            .expect("the run starts");
        assert_eq!(outputs.len(), 45);
        for (n, (out, i)) in outputs.iter().zip(-5i64..).enumerate() {
            assert_eq!(out.index, n as u64);
            assert_eq!(out.input.to_string(), i.to_string());
            let value = out.result.as_ref().expect("square never fails");
            assert_eq!(value.as_wave(), (i * i).to_string());
        }
    }

    #[test]
    fn imap_unordered_yields_every_index_once() {
        let square = task(Guest::Square, None);
        let count = 200u64;
        let run = pool(Limits::default())
            .imap_unordered(&square, inputs(&square, (0..count).map(|i| i.to_string())))
            .expect("the run starts");
        let mut seen = BTreeSet::new();
        for out in run {
            let out = out.expect("no pool error");
            assert!(seen.insert(out.index), "index {} yielded twice", out.index);
            let i = out.index as i64;
            assert_eq!(out.input.to_string(), i.to_string());
            assert_eq!(
                out.result.expect("square never fails").to_string(),
                (i * i).to_string()
            );
        }
        assert_eq!(seen, (0..count).collect::<BTreeSet<_>>());
    }

    #[test]
    fn errors_of_each_task_are_typed() {
        let crash = task(Guest::Misbehave, Some("crash"));
        let outputs = pool(Limits::default())
            .map(&crash, inputs(&crash, ["\"boom\"".to_string()]))
            .expect("the run starts");
        assert_eq!(outputs.len(), 1);
        assert!(
            matches!(&outputs[0].result, Err(TaskError::Trap(_))),
            "expected a trap, got {:?}",
            outputs[0].result
        );
        assert_eq!(outputs[0].result.as_ref().unwrap_err().kind(), "trap");
        assert!(String::from_utf8_lossy(&outputs[0].stderr.bytes).contains("boom"));

        let spin = task(Guest::Misbehave, Some("spin"));
        let limits = Limits {
            timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let outputs = pool(limits)
            .map(&spin, inputs(&spin, ["()".to_string()]))
            .expect("the run starts");
        assert_eq!(
            outputs[0].result,
            Err(TaskError::Timeout(Duration::from_millis(200)))
        );

        let div = task(Guest::CheckedDiv, None);
        let outputs = pool(Limits::default())
            .map(
                &div,
                inputs(&div, ["(1, 0)".to_string(), "(4, 2)".to_string()]),
            )
            .expect("the run starts");
        match &outputs[0].result {
            Err(TaskError::Returned(value)) => {
                assert_eq!(value.as_wave(), r#"err("cannot divide 1 by zero")"#)
            }
            other => panic!("expected a returned err, got {other:?}"),
        }
        assert_eq!(outputs[1].result.as_ref().map(|v| v.as_wave()), Ok("ok(2)"));
    }

    #[test]
    fn parse_input_rejects_a_wrongly_typed_value() {
        let square = task(Guest::Square, None);
        assert_eq!(
            square.parse_input(" -7 ").expect("an s64").to_string(),
            "-7"
        );
        match square.parse_input("\"seven\"") {
            Err(Error::BadInput {
                input, expected, ..
            }) => {
                assert_eq!(input, "\"seven\"");
                assert_eq!(expected, "s64");
            }
            other => panic!("expected BadInput, got {other:?}"),
        }
        let div = task(Guest::CheckedDiv, None);
        assert_eq!(
            div.parse_input("(1, 2)").expect("a tuple").to_string(),
            "(1, 2)"
        );
        assert!(matches!(div.parse_input("1"), Err(Error::BadInput { .. })));
    }

    #[test]
    fn choosing_a_function() {
        let misbehave = Component::from_file(Guest::Misbehave.wasm()).expect("a component");
        assert!(matches!(
            misbehave.task(None),
            Err(Error::AmbiguousFunc { .. })
        ));
        assert!(matches!(
            misbehave.task(Some("fly")),
            Err(Error::UnknownFunc { .. })
        ));
        let wordstats = Component::from_file(Guest::Wordstats.wasm()).expect("a component");
        let analyze = wordstats.task(Some("analyze")).expect("by bare name");
        assert_eq!(analyze.name(), "wpool-examples:wordstats/text#analyze");
        assert_eq!(analyze.input_type(), "tuple<string, case, u32>");
    }
}

#[test]
fn timeout_stops_a_task_blocked_in_a_host_call() {
    let started = std::time::Instant::now();
    let out = run(
        Guest::Misbehave,
        ["--func", "nap", "--timeout", "200ms", "--json", "5000"],
    )
    .output();
    out.assert_code(1);
    let lines = out.json_lines();
    out.check(
        lines.len() == 1 && error_kind(&out, &lines[0]) == "timeout",
        "the sleeping task should fail with kind timeout",
    );
    out.check(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the task should be stopped at its deadline, not when the sleep ends",
    );
}

mod crash_loop {
    use wpool::{Component, Error, Pool};

    use super::util::Guest;

    #[test]
    fn workers_that_keep_dying_stop_the_run_with_an_error() {
        let task = Component::from_file(Guest::Square.wasm())
            .and_then(|c| c.task(None))
            .expect("square loads");
        let pool = Pool::builder()
            .workers(1)
            .worker_program("/bin/false")
            .build();
        let inputs = vec![task.parse_input("1").expect("valid input")];
        match pool.map(&task, inputs) {
            Err(error @ Error::CrashLoop { deaths, .. }) => assert!(
                deaths > 1 && error.to_string().contains("status 1"),
                "unexpected error: {error}"
            ),
            other => panic!("expected a crash loop, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Instance reuse
// ---------------------------------------------------------------------------

#[test]
fn without_reuse_every_task_gets_a_fresh_instance() {
    let out = run(Guest::Misbehave, ["--func", "tally", "-j", "1"])
        .args(["false"; 4])
        .output();
    out.assert_success()
        .assert_stdout_lines(&["1", "1", "1", "1"]);
}

#[test]
fn reuse_carries_state_over_up_to_n_tasks() {
    let out = run(
        Guest::Misbehave,
        ["--func", "tally", "-j", "1", "--reuse", "3"],
    )
    .args(["false"; 7])
    .output();
    out.assert_success()
        .assert_stdout_lines(&["1", "2", "3", "1", "2", "3", "1"]);
}

#[test]
fn reuse_drops_the_instance_of_a_task_that_trapped() {
    let out = run(
        Guest::Misbehave,
        ["--func", "tally", "-j", "1", "--reuse", "100"],
    )
    .args(["false", "false", "true", "false", "false"])
    .output();
    out.assert_code(1)
        .assert_stdout_lines(&["1", "2", "1", "2"])
        .assert_stderr_contains("trap after call 3");
}

#[test]
fn reuse_of_zero_is_refused() {
    let out = run(Guest::Square, ["--reuse", "0", "1"]).output();
    out.assert_code(2).assert_stdout_empty();
}

// ---------------------------------------------------------------------------
// The compile cache
// ---------------------------------------------------------------------------

/// The cached artifacts (`*.cwasm`) in `dir`.
fn cached(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn run_cached(dir: &std::path::Path, extra: &[&str]) -> Output {
    let mut cmd = run(Guest::Square, ["0..4", "-j", "1"]);
    cmd.args(extra).env("WPOOL_CACHE_DIR", dir);
    let out = cmd.output();
    out.assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..4)));
    out
}

#[test]
fn compile_cache_is_written_once_then_loaded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    run_cached(dir.path(), &[]);
    let files = cached(dir.path());
    assert_eq!(files.len(), 1, "expected one cached artifact: {files:?}");
    let key = std::fs::metadata(dir.path().join("key")).expect("a key file");
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let written = std::fs::metadata(&files[0]).and_then(|m| m.modified());
    run_cached(dir.path(), &[]);
    let again = std::fs::metadata(&files[0]).and_then(|m| m.modified());
    assert_eq!(
        written.ok(),
        again.ok(),
        "a hit must not rewrite the artifact"
    );
}

#[test]
fn tampered_cache_file_is_rejected_and_recompiled() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    run_cached(dir.path(), &[]);
    let file = cached(dir.path()).pop().expect("a cached artifact");
    let good = std::fs::read(&file).expect("readable");
    // Flip bytes in the artifact (after the 32-byte tag), and separately
    // a valid artifact under a forged tag.
    for at in [good.len() / 2, 0] {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        std::fs::write(&file, &bad).expect("writable");
        run_cached(dir.path(), &[]);
        assert!(
            std::fs::read(&file).expect("readable") == good,
            "the tampered file (byte {at} flipped) must be replaced by a fresh compile"
        );
    }
    std::fs::write(&file, b"short").expect("writable");
    run_cached(dir.path(), &[]);
}

#[test]
fn cache_with_a_key_others_can_read_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = dir.path().join("key");
    std::fs::write(&key, [7u8; 32]).expect("writable");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    run_cached(dir.path(), &[]);
    assert!(cached(dir.path()).is_empty(), "nothing may be cached");
}

#[test]
fn no_cache_writes_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    run_cached(dir.path(), &["--no-cache"]);
    assert!(
        std::fs::read_dir(dir.path())
            .expect("a dir")
            .next()
            .is_none()
    );
}
