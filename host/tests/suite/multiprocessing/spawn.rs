//! `wpool spawn` and `wpool run` of the multiprocessing examples: processes
//! that talk through queues, pipes and locks on the command line.

use std::time::{Duration, Instant};

use crate::util::ok_int;
use crate::util::{Guest, error_kind, json_by_index, process, procfs, run, wpool};

#[test]
fn spawn_queue_writer_and_reader() {
    let out = wpool([
        "spawn".to_string(),
        process(Guest::QueueDemo, "writer", None),
        process(Guest::QueueDemo, "reader", None),
    ])
    .output();
    out.assert_success().assert_process_lines(&[
        ("0 writer", &["[0 writer] = 4"]),
        (
            "1 reader",
            &[
                "[1 reader] got A",
                "[1 reader] got B",
                "[1 reader] got C",
                "[1 reader] got D",
                r#"[1 reader] = ok(["A", "B", "C", "D"])"#,
            ],
        ),
    ]);
}

/// A process of a function that takes parameters needs its `=INPUT`.
#[test]
fn spawn_without_the_input_a_function_needs_says_so() {
    let square = process(Guest::Square, "square", None);
    wpool(["spawn".to_string(), square.clone()])
        .output()
        .assert_refused(&[&format!(
            "{square}: square takes s64: give its input as {square}=INPUT"
        )]);
}

/// Each refusal names the process it is about, before any starts.
#[test]
fn spawn_names_the_process_a_refusal_is_about() {
    let good = process(Guest::Square, "square", Some("3"));
    let bad = process(Guest::Square, "square", Some(r#""three""#));
    wpool(["spawn", &good, &bad])
        .output()
        .assert_refused(&[&format!(r#"{bad}: input "\"three\"" is not a valid s64"#)]);
    wpool(["spawn", &good, "#square=1"])
        .output()
        .assert_refused(&["#square=1: no task before '#' or '='"]);
}

/// A task's path may hold '#' and '=': the spec's TASK is the longest part
/// before one of them that names a file.
#[test]
fn spawn_takes_a_path_that_holds_hash_and_equals() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("v=2#x");
    std::fs::create_dir(&odd).unwrap();
    let square = odd.join("sq#1=a.wasm");
    std::fs::copy(Guest::Square.wasm(), &square).unwrap();
    let square = square.display().to_string();
    wpool([
        "spawn".to_string(),
        format!("{square}#square=7"),
        format!("{square}=8"),
    ])
    .output()
    .assert_success()
    .assert_process_lines(&[
        ("0 square", &["[0 square] = 49"]),
        ("1 square", &["[1 square] = 64"]),
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
    out.assert_success().assert_process_lines(&[
        (
            "0 ping",
            &[
                "[0 ping] pong 0",
                "[0 ping] pong 1",
                "[0 ping] pong 2",
                "[0 ping] = ok(3)",
            ],
        ),
        (
            "1 pong",
            &[
                "[1 pong] ping 0",
                "[1 pong] ping 1",
                "[1 pong] ping 2",
                "[1 pong] = ok(3)",
            ],
        ),
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
    // Each task returns the count its own last increment left. The task
    // that made the very last increment, whichever it is (tasks on two
    // workers finish in any order), returns the exact total.
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
        process(Guest::Misbehave, "hold-lock", Some(r#"("L", 20000)"#)),
        process(Guest::Misbehave, "try-lock", Some(r#"("L", 25000)"#)),
        "--retries".to_string(),
        "0".to_string(),
    ])
    .start();
    let parent = running.child.id();
    // The holder sleeps with the lock; the other waits for it.
    let workers = procfs::workers_blocked_in_host_calls(parent, 2, Duration::from_secs(30));
    // Processes start in order: the first worker runs hold-lock.
    procfs::kill_9(workers[0]);
    let killed = Instant::now();
    let out = running.finish();
    out.assert_code(1)
        .assert_stderr_contains(r#"[1 try-lock] failed: returned err("Error::Abandoned")"#)
        .assert_stderr_contains("[0 hold-lock] failed: worker lost")
        .assert_stderr_contains("signal 9");
    out.check(
        killed.elapsed() < Duration::from_secs(10),
        "the waiter should be answered when the holder dies, not when the hold ends",
    );
}

#[test]
fn task_waiting_on_an_empty_queue_ends_at_its_deadline() {
    // The task asks again each time the hub answers `timeout`: only its
    // deadline ends the wait.
    let mut running = run(
        Guest::Misbehave,
        [
            "--func",
            "await-item",
            "--timeout",
            "500ms",
            "--json",
            r#""q""#,
            r#""q""#,
            "-j",
            "1",
        ],
    )
    .start();
    let first = running.next_line(Duration::from_secs(60));
    let first_done = Instant::now();
    let out = running.finish();
    out.assert_code(1);
    out.check(first.is_some(), "no first result");
    let lines = json_by_index(&out, 2);
    for line in lines.values() {
        out.check(
            error_kind(&out, line) == "timeout",
            format_args!("expected the task's timeout, got {line}"),
        );
    }
    out.assert_stderr_contains("timed out after 500ms");
    // The second task's wait, on the same worker, took its 500 ms deadline
    // and not much more.
    out.check(
        first_done.elapsed() < Duration::from_secs(5),
        "the 500ms deadline should end the wait",
    );
}

#[test]
fn get_with_a_timeout_on_an_empty_queue_returns_timeout() {
    // The hub answers the get `timeout` after its 200 ms, long before the
    // task's deadline: the task returns the error.
    let out = run(
        Guest::Misbehave,
        ["--func", "await-item-within", "--json", r#"("q", 200)"#],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 1);
    out.check(
        error_kind(&out, &lines[&0]) == "err"
            && lines[&0]["error"]["message"] == r#"returned err("Error::Timeout")"#,
        "expected the task's err(Error::Timeout)",
    );
}

#[test]
fn queue_reader_waits_for_the_writer() {
    // The reader starts first, on an empty queue; the writer puts a letter
    // every 500 ms. Each get of the reader blocks until its letter comes:
    // its worker stays parked in the hub request for most of those 500 ms.
    let mut running = wpool([
        "spawn".to_string(),
        process(Guest::QueueDemo, "reader", None),
        process(Guest::QueueDemo, "writer", None),
    ])
    .start();
    let parent = running.child.id();
    let mut reader = None;
    let mut waiting_since: Option<Instant> = None;
    let mut longest_wait = Duration::ZERO;
    while running.child.try_wait().ok().flatten().is_none() {
        if reader.is_none() {
            let mut workers = procfs::children_of(parent);
            if workers.len() == 2 {
                // Processes start in order: the first worker runs the reader.
                workers.sort_by_key(|pid| (procfs::start_time(*pid), *pid));
                reader = Some(workers[0]);
            }
        }
        if let Some(pid) = reader {
            if procfs::blocked_in_host_call(pid) {
                let since = *waiting_since.get_or_insert_with(Instant::now);
                longest_wait = longest_wait.max(since.elapsed());
            } else {
                waiting_since = None;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = running.finish();
    out.assert_success().assert_process_lines(&[
        (
            "0 reader",
            &[
                "[0 reader] got A",
                "[0 reader] got B",
                "[0 reader] got C",
                "[0 reader] got D",
                r#"[0 reader] = ok(["A", "B", "C", "D"])"#,
            ],
        ),
        ("1 writer", &["[1 writer] = 4"]),
    ]);
    out.check(
        longest_wait >= Duration::from_millis(300),
        format_args!("the reader never waited long for a letter: at most {longest_wait:?}"),
    );
}

#[test]
fn killed_process_is_not_started_again_and_exits_minus_nine() {
    // The process counts its attempt in a shared value, then sleeps.
    let running = wpool([
        "spawn".to_string(),
        process(Guest::Misbehave, "attempt", Some("60000")),
        "--timeout".to_string(),
        "2m".to_string(),
    ])
    .start();
    let parent = running.child.id();
    let workers = procfs::workers_blocked_in_host_calls(parent, 1, Duration::from_secs(30));
    procfs::kill_9(workers[0]);
    let killed = Instant::now();
    // Any worker started after the kill would be the process run again.
    let mut new_workers = Vec::new();
    let mut running = running;
    while running.child.try_wait().ok().flatten().is_none() {
        for pid in procfs::children_of(parent) {
            if pid != workers[0] && !new_workers.contains(&pid) {
                new_workers.push(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = running.finish();
    out.assert_code(1)
        .assert_stdout_empty()
        .assert_stderr_contains("[0 attempt] failed: worker lost after 1 attempt(s)")
        .assert_stderr_contains("killed by signal 9 (SIGKILL)")
        .assert_stderr_contains("(exit code -9)")
        .assert_stderr_lacks("retrying");
    out.check(
        new_workers.is_empty(),
        format_args!("a worker started after the kill: {new_workers:?}"),
    );
    out.check(
        killed.elapsed() < Duration::from_secs(20),
        "the run should end when its process is killed",
    );
}

#[test]
fn spawn_streams_output_live_and_prints_each_result_as_its_process_ends() {
    // Process 0 writes a line to stdout and one to stderr, then waits on a
    // queue nobody fills; process 1 returns at once.
    let mut running = wpool([
        "spawn".to_string(),
        process(Guest::Misbehave, "announce-and-await", Some(r#""go""#)),
        process(Guest::Misbehave, "echo", Some(r#""hi""#)),
        "--timeout".to_string(),
        "2m".to_string(),
    ])
    .start();
    let parent = running.child.id();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match running.next_line(Duration::from_secs(60)) {
            Some(line) => seen.push(line),
            None => running.finish().fail(format_args!(
                "expected two lines while process 0 waits, got {seen:?}"
            )),
        }
    }
    seen.sort();
    // Process 0's line, before it ends; process 1's result, not held
    // behind process 0.
    let expected = [
        r#"[0 announce-and-await] waiting on go"#,
        r#"[1 echo] = "hi""#,
    ];
    if seen != expected {
        running
            .finish()
            .fail(format_args!("expected {expected:?} first, got {seen:?}"));
    }
    // Process 0 still waits: its worker is the one left, blocked in the
    // hub. Killed, it ends with what it wrote already shown.
    let workers = procfs::workers_blocked_in_host_calls(parent, 1, Duration::from_secs(30));
    procfs::kill_9(workers[0]);
    let out = running.finish();
    out.assert_code(1)
        .assert_process_lines(&[
            (
                "0 announce-and-await",
                &["[0 announce-and-await] waiting on go"],
            ),
            ("1 echo", &[r#"[1 echo] = "hi""#]),
        ])
        .assert_stderr_contains("[0 announce-and-await] go is empty")
        .assert_stderr_contains("[0 announce-and-await] failed: worker lost")
        .assert_stderr_contains("(exit code -9)");
}

#[test]
fn spawn_retries_a_killed_process_only_when_asked_and_says_so() {
    let running = wpool([
        "spawn".to_string(),
        process(Guest::Misbehave, "attempt", Some("3000")),
        "--retries".to_string(),
        "1".to_string(),
    ])
    .start();
    let workers =
        procfs::workers_blocked_in_host_calls(running.child.id(), 1, Duration::from_secs(30));
    procfs::kill_9(workers[0]);
    let out = running.finish();
    // The second attempt counted the first one's increment too.
    out.assert_success()
        .assert_process_lines(&[("0 attempt", &["[0 attempt] = 2"])])
        .assert_stderr_contains(
            "wpool: [0 attempt] worker killed by signal 9 (SIGKILL), starting it again (attempt 2 of 2)",
        );
}

/// A process that exits with status 0 succeeds, as Python's `sys.exit(0)`
/// gives `Process.exitcode` 0; another status fails it (WASI carries only
/// success or failure: 1).
#[test]
fn a_process_that_exits_with_status_0_succeeds() {
    let zero = process(Guest::Misbehave, "quit", Some("0"));
    wpool(["spawn", &zero])
        .output()
        .assert_success()
        .assert_stdout_lines(&["[0 quit] exited with status 0"]);
    let three = process(Guest::Misbehave, "quit", Some("3"));
    wpool(["spawn", &zero, &three])
        .output()
        .assert_code(1)
        .assert_stderr_contains("wpool: [1 quit] failed: exited with status 1 (exit code 1)");
}

/// `--max-output` bounds what a process shows, as it bounds what a task
/// of `run` keeps: its first bytes stream, the rest is counted at its end.
#[test]
fn a_process_shows_its_output_up_to_max_output_and_counts_the_rest() {
    let chatter = process(Guest::Misbehave, "chatter", Some("100000"));
    let out = wpool(["spawn", &chatter, "--max-output", "1KiB"]).output();
    let written: usize = (0..100_000).map(|i| format!("out {i}\n").len()).sum();
    // The first 1 KiB is "out 0\n" to "out 140\n" and "out 14" of the next.
    out.assert_success()
        .assert_stdout_contains("[0 chatter] out 0\n")
        .assert_stdout_contains(&format!(
            "[0 chatter] ({} more bytes of stdout dropped past --max-output)\n[0 chatter] = 100000\n",
            written - 1024
        ))
        .assert_stdout_contains("[0 chatter] out 140\n[0 chatter] out 14\n[0 chatter] (")
        .assert_stderr_contains("more bytes of stderr dropped past --max-output)\n");
}
