//! `--reuse N`: one instance runs up to N tasks, carrying its state over,
//! unless a task traps.

use crate::util::{Guest, run};

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
    out.assert_code(2)
        .assert_stdout_empty()
        .assert_stderr_contains("invalid value '0'")
        .assert_stderr_contains("--reuse");
}
