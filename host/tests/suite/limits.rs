//! The limits of one task: its deadline, fuel, memory and stack. A task
//! over a limit fails alone, with the error kind of that limit, and the
//! others still run.

use std::time::{Duration, Instant};

use crate::util::{Guest, Output, error_kind, json_by_index, run};

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
fn a_task_that_imports_nothing_meets_its_deadline_and_its_fuel() {
    // `primes` imports nothing, so its calls run on the worker's thread,
    // not on a fiber: the epoch deadline and the fuel stop them there too,
    // and the task after a stopped one runs in a fresh instance.
    for (limit, kind) in [("--timeout", "timeout"), ("--fuel", "fuel")] {
        let value = if kind == "timeout" { "200ms" } else { "100000" };
        let out = run(
            Guest::Primes,
            [
                "--func",
                "count-primes",
                limit,
                value,
                "--reuse",
                "10",
                "-j",
                "1",
                "--json",
                "4000000000",
                "10",
            ],
        )
        .output();
        out.assert_code(1);
        let lines = json_by_index(&out, 2);
        out.check(
            error_kind(&out, &lines[&0]) == kind,
            format!("expected kind {kind}"),
        );
        out.check(lines[&1]["value"] == 4, "the next task should succeed");
        out.check(
            out.elapsed < Duration::from_secs(10),
            "the stopped task took far longer than its limit",
        );
    }
}

#[test]
fn timeout_stops_a_task_blocked_in_a_host_call() {
    // One worker: a 1 ms nap, then a 20 s nap with a 200 ms deadline.
    let mut running = run(
        Guest::Misbehave,
        [
            "--func",
            "nap",
            "--timeout",
            "200ms",
            "--json",
            "-j",
            "1",
            "1",
            "20000",
        ],
    )
    .start();
    let first = running.next_line(Duration::from_secs(60));
    let first_done = Instant::now();
    let out = running.finish();
    out.assert_code(1);
    out.check(first.is_some(), "no first result");
    let lines = json_by_index(&out, 2);
    out.check(lines[&0]["value"] == 1, "the 1 ms nap should succeed");
    out.check(
        error_kind(&out, &lines[&1]) == "timeout",
        "the sleeping task should fail with kind timeout",
    );
    out.check(
        first_done.elapsed() < Duration::from_secs(10),
        "the task should be stopped at its deadline, not when the sleep ends",
    );
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
fn fuel_exhaustion_is_deterministic_and_not_retried() {
    // What the task printed before its fuel ran out is part of the JSON
    // line: the same fuel must stop it at the same instruction.
    let args = [
        "--func",
        "chatter",
        "--fuel",
        "3000000",
        "--max-output",
        "1MiB",
        "--retries",
        "3",
        "--json",
        "1000000",
        "10",
    ];
    let first = run(Guest::Misbehave, args).output();
    first.assert_code(1);
    let lines = json_by_index(&first, 2);
    first.check(
        error_kind(&first, &lines[&0]) == "fuel",
        "expected kind fuel, not a retried worker-lost",
    );
    first.check(
        lines[&0]["stdout"].as_str().is_some_and(|s| s.len() > 1000),
        "the task printed before it ran out",
    );
    first.check(lines[&1]["value"] == 10, "chatter 10 fits its fuel");
    let second = run(Guest::Misbehave, args).output();
    // The same outcome, but for where and how long the tasks ran.
    let outcome = |out: &Output| {
        let mut lines = json_by_index(out, 2);
        for line in lines.values_mut().filter_map(|line| line.as_object_mut()) {
            line.remove("time");
            line.remove("worker");
        }
        lines
    };
    second.check(
        outcome(&second) == outcome(&first),
        "a second run with the same fuel gave a different outcome",
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
        lines[&1]["value"] == 1048576,
        "expected hog 1 to hold 1048576 bytes",
    );
}

/// A memory limit a 32-bit memory cannot reach is refused as the option is
/// read; one below the memory a component starts with stops the run,
/// naming the limit.
#[test]
fn a_memory_limit_out_of_range_is_named() {
    run(Guest::Square, ["--max-memory", "5GiB", "3"])
        .output()
        .assert_code(2)
        .assert_stderr_contains("invalid value '5GiB' for '--max-memory <SIZE>': more than a task's memory can hold, 4 GiB");
    run(Guest::Square, ["--max-memory", "64KiB", "3"])
        .output()
        .assert_refused(&[
            "cannot run: its memory starts larger than the memory limit of 64.0 KiB (--max-memory)",
        ]);
    run(Guest::Square, ["--max-memory", "4GiB", "3"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["9"]);
}

#[test]
fn memory_bomb_is_capped_and_the_worker_survives() {
    // One worker: the task after the bomb runs in the same process.
    let out = run(
        Guest::Misbehave,
        ["--func", "hog", "-j", "1", "--json", "100000", "1"],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    out.check(
        error_kind(&out, &lines[&0]) == "memory",
        "expected kind memory for a 100 GiB hog",
    );
    out.assert_stderr_contains("memory limit of 512.0 MiB exceeded");
    out.check(
        lines[&1]["value"] == 1048576,
        "the next task should run normally",
    );
}

#[test]
fn panic_is_a_trap_and_its_message_is_shown() {
    let out = run(Guest::Misbehave, ["--func", "crash", r#""boom""#]).output();
    out.assert_code(1)
        .assert_stdout_empty()
        .assert_stderr_contains("[0] boom")
        .assert_stderr_contains(
            "wpool: task 0 (input \"boom\") failed: trap: panicked at misbehave/src/lib.rs:",
        );

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
    out.check(lines[&1]["value"] == 10, "recurse 10 should return 10");
}
