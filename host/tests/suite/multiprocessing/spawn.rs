//! `wpool spawn` and `wpool run` of the multiprocessing examples: processes
//! that talk through queues, pipes and locks on the command line.

use std::time::Duration;

use super::{ok_int, process, workers_blocked_in_host_calls};
use crate::util::{Guest, Output, procfs, run, wpool};

#[test]
fn spawn_queue_writer_and_reader() {
    let out = wpool([
        "spawn".to_string(),
        process(Guest::QueueDemo, "writer", None),
        process(Guest::QueueDemo, "reader", None),
    ])
    .output();
    out.assert_success().assert_stdout_lines(&[
        "[0 writer] = 4",
        "[1 reader] got A",
        "[1 reader] got B",
        "[1 reader] got C",
        "[1 reader] got D",
        r#"[1 reader] = ok(["A", "B", "C", "D"])"#,
    ]);
}

#[test]
fn spawn_pipe_ping_pong() {
    let out = wpool([
        "spawn".to_string(),
        process(Guest::PipePingpong, "ping", Some("3")),
        process(Guest::PipePingpong, "pong", None),
    ])
    .output();
    // Pong returns once ping has closed its end of the pipe.
    out.assert_success().assert_stdout_lines(&[
        "[0 ping] pong 0",
        "[0 ping] pong 1",
        "[0 ping] pong 2",
        "[0 ping] = ok(3)",
        "[1 pong] ping 0",
        "[1 pong] ping 1",
        "[1 pong] ping 2",
        "[1 pong] = ok(3)",
    ]);
}

#[test]
fn counter_under_a_lock_is_exact_across_workers() {
    let out = run(
        Guest::SharedCounter,
        [
            "100", "100", "100", "100", "100", "100", "100", "100", "100", "100", "-j", "2",
        ],
    )
    .output();
    out.assert_success();
    let lines = out.stdout_lines();
    out.check(lines.len() == 10, "expected 10 results");
    let mut counts: Vec<i64> = lines
        .iter()
        .map(|line| ok_int(line).unwrap_or_else(|| out.fail(format!("{line:?} is not ok(n)"))))
        .collect();
    counts.sort_unstable();
    out.check(
        counts.last() == Some(&1000),
        "the largest count must be exactly 10 * 100",
    );
    // Each task leaves the counter at a different value, at least its own
    // 100 increments.
    counts.dedup();
    out.check(counts.len() == 10, "two tasks left the same count");
    out.check(counts[0] >= 100, "a task saw fewer than its own increments");
}

#[test]
fn killed_lock_holder_abandons_the_lock_to_its_waiter() {
    let running = wpool([
        "spawn".to_string(),
        process(Guest::Misbehave, "hold-lock", Some(r#"("L", 5000)"#)),
        process(Guest::Misbehave, "try-lock", Some(r#"("L", 10000)"#)),
        "--retries".to_string(),
        "0".to_string(),
    ])
    .start();
    let parent = running.child.id();
    // The holder sleeps with the lock; the other waits for it.
    let workers = workers_blocked_in_host_calls(parent, 2, Duration::from_secs(30));
    // Processes start in order: the first worker runs hold-lock.
    procfs::kill_9(workers[0]);
    let out = running.finish();
    out.assert_code(1)
        .assert_stderr_contains(r#"[1 try-lock] failed: returned err("Error::Abandoned")"#)
        .assert_stderr_contains("[0 hold-lock] failed: worker lost")
        .assert_stderr_contains("signal 9");
    out.check(
        out.elapsed < Duration::from_millis(4500),
        "the waiter should be answered when the holder dies, not when the hold ends",
    );
}

#[test]
fn task_waiting_on_an_empty_queue_ends_at_its_deadline() {
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "await-item",
            "--timeout",
            "500ms",
            "--json",
            r#""q""#,
        ],
    )
    .output();
    out.assert_code(1);
    let lines = out.json_lines();
    out.check(lines.len() == 1, "expected one JSON line");
    // The hub answers the get `timeout` at the task's deadline and the task
    // returns it; on a loaded machine the answer can come after the worker
    // has stopped the task at its deadline, which is then the error.
    let error = &lines[0]["error"];
    let (kind, message) = (&error["kind"], &error["message"]);
    if kind == "err" {
        out.check(
            message == r#"returned err("Error::Timeout")"#,
            "expected the task's err(Error::Timeout)",
        );
        out.assert_stderr_contains(r#"task 0 (input "q") failed: returned err("Error::Timeout")"#);
    } else {
        out.check(
            kind == "timeout",
            "expected err(Error::Timeout) or the task's timeout",
        );
        out.assert_stderr_contains("timed out after 500ms");
    }
    out.check(
        out.elapsed < Duration::from_secs(5),
        "the 500ms deadline should end the wait",
    );
}

fn assert_ran_at_least(out: &Output, least: Duration) {
    out.check(
        out.elapsed >= least,
        format_args!("expected the run to take at least {least:?}"),
    );
}

#[test]
fn queue_reader_waits_for_the_writer() {
    // The writer puts a letter every 500 ms: the reader's gets block until
    // each one comes, so the run takes the writer's 2 s.
    let out = wpool([
        "spawn".to_string(),
        process(Guest::QueueDemo, "reader", None),
        process(Guest::QueueDemo, "writer", None),
    ])
    .output();
    out.assert_success().assert_stdout_lines(&[
        "[0 reader] got A",
        "[0 reader] got B",
        "[0 reader] got C",
        "[0 reader] got D",
        r#"[0 reader] = ok(["A", "B", "C", "D"])"#,
        "[1 writer] = 4",
    ]);
    assert_ran_at_least(&out, Duration::from_secs(2));
}
