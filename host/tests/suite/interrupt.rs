//! The host process stopped from outside: killed, or interrupted with
//! Ctrl-C (SIGINT), once to drain (or stop a spawn's processes) or twice to
//! stop at once.

use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::util::{Guest, Running, process, procfs, run, wpool};

#[test]
fn no_worker_outlives_a_killed_host() {
    let mut naps = vec!["--func", "nap", "-j", "2"];
    naps.extend(std::iter::repeat_n("300", 20));
    let mut running = run(Guest::Misbehave, &naps).start();
    if running.next_line(Duration::from_secs(60)).is_none() {
        running.finish().fail("no first result");
    }
    let workers = procfs::children_of(running.child.id());
    assert!(!workers.is_empty(), "wpool has no workers");
    procfs::kill_9(running.child.id());
    let killed = Instant::now();
    let _ = running.child.wait();
    // The kernel kills them as the host exits: one still alive seconds
    // later lives on by itself.
    while !workers.iter().all(|pid| procfs::is_dead(*pid)) {
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "workers {workers:?} outlived the host by 3 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts naps of `ms` on two workers, in a process group of their own.
fn start_naps(ms: &[&str]) -> Running {
    let mut naps = vec!["--func", "nap", "-j", "2"];
    naps.extend_from_slice(ms);
    run(Guest::Misbehave, &naps).own_process_group().start()
}

/// Sends SIGINT to the process group of `running`, as a terminal's Ctrl-C
/// does.
fn ctrl_c(running: &Running) {
    procfs::send_signal("-INT", &format!("-{}", running.child.id()));
}

#[test]
fn sigint_lets_started_tasks_finish_and_exits_130() {
    // A short nap and a long one start together, one on each worker: when
    // the short one's result comes, the long one has 2.7 s left, whether
    // or not the first worker had its next task yet.
    let mut naps = vec!["300", "3000"];
    naps.extend(["1500"; 18]);
    let mut running = start_naps(&naps);
    if running.next_line(Duration::from_secs(60)).is_none() {
        running.finish().fail("no first result");
    }
    ctrl_c(&running);
    let interrupted = Instant::now();
    let mut after = Vec::new();
    while let Some(line) = running.next_line(Duration::from_secs(60)) {
        after.push((interrupted.elapsed(), line));
    }
    let out = running.finish();
    out.assert_code(130)
        .assert_stderr_contains("wpool: interrupted");
    let lines = out.stdout_lines();
    out.check(
        lines.len() < 20 && lines.iter().all(|l| naps.contains(l)),
        "expected fewer than 20 results, each a finished nap",
    );
    // A nap still running at the Ctrl-C printed its result.
    out.check(
        after
            .iter()
            .any(|(when, _)| *when > Duration::from_millis(500)),
        format_args!("no result came after the Ctrl-C: {after:?}"),
    );
}

#[test]
fn sigint_waits_for_a_long_task_running_and_none_queued_behind_it() {
    // One worker. Once the first nap has shown that tasks are long, the
    // worker is given one at a time: a Ctrl-C during the second nap ends
    // the run when that nap ends, and no third one had been handed to it.
    let args = ["--func", "nap", "-j", "1", "300", "2000", "2000", "2000"];
    let mut running = run(Guest::Misbehave, args).own_process_group().start();
    if running.next_line(Duration::from_secs(60)).as_deref() != Some("300") {
        running.finish().fail("expected the first nap's result");
    }
    procfs::workers_blocked_in_host_calls(running.child.id(), 1, Duration::from_secs(60));
    ctrl_c(&running);
    let out = running.finish();
    out.assert_code(130)
        .assert_stderr_contains("wpool: interrupted");
    out.check(
        out.stdout_lines() == ["300", "2000"],
        "expected the first two naps only: the one running at the Ctrl-C finished, no other",
    );
}

#[test]
fn second_sigint_stops_at_once() {
    // Until task cost is known, each worker takes one nap: one of 20 s and
    // one of 3 s. Unordered, so the 3 s result is not held behind the 20 s
    // one.
    let mut args = vec!["--func", "nap", "-j", "2", "--unordered", "20000", "3000"];
    args.extend(std::iter::repeat_n("20000", 18));
    let mut running = run(Guest::Misbehave, &args).own_process_group().start();
    // Both naps have started: both workers sleep in a host call.
    procfs::workers_blocked_in_host_calls(running.child.id(), 2, Duration::from_secs(60));
    ctrl_c(&running);
    // The 3 s nap, started before the Ctrl-C, printed after it: wpool
    // drains the started tasks.
    if running.next_line(Duration::from_secs(60)).as_deref() != Some("3000") {
        running
            .finish()
            .fail("expected the 3 s nap after the first Ctrl-C");
    }
    ctrl_c(&running);
    let second = Instant::now();
    let out = running.finish();
    out.assert_code(130);
    out.check(
        second.elapsed() < Duration::from_secs(10),
        "the second SIGINT did not stop the run at once",
    );
    out.check(
        !out.stdout.contains("20000"),
        "a 20 s nap finished: the second SIGINT did not stop the run",
    );
}

#[test]
fn sigint_stops_the_processes_of_a_spawn_and_says_so() {
    let long = process(Guest::Misbehave, "nap", Some("20000"));
    let short = process(Guest::Misbehave, "nap", Some("300"));
    let mut running = wpool(["spawn", &long, &short]).own_process_group().start();
    if running.next_line(Duration::from_secs(60)).as_deref() != Some("[1 nap] = 300") {
        running.finish().fail("expected the short nap's result");
    }
    ctrl_c(&running);
    let interrupted = Instant::now();
    let out = running.finish();
    out.assert_code(130)
        .assert_stderr_contains("wpool: [0 nap] failed: terminated (exit code -9)")
        .assert_stderr_contains("wpool: interrupted; the processes still running were stopped");
    out.check(
        interrupted.elapsed() < Duration::from_secs(10),
        "the Ctrl-C did not stop the 20 s nap",
    );
}

/// `--input -` with stdin left open: the run waits for a line that may
/// never come. Ctrl-C ends it there; the nap started finishes and is
/// printed, and the lines read ahead of it never start.
#[test]
fn sigint_ends_a_stream_of_inputs_that_waits_for_its_next_line() {
    let (running, mut stdin) = run(Guest::Misbehave, ["--func", "nap", "--input", "-"])
        .args(["-j", "1"])
        .own_process_group()
        .start_with_stdin();
    for _ in 0..20 {
        writeln!(stdin, "1500").expect("wpool reads stdin");
    }
    procfs::workers_blocked_in_host_calls(running.child.id(), 1, Duration::from_secs(60));
    ctrl_c(&running);
    let interrupted = Instant::now();
    let out = running.finish();
    drop(stdin);
    out.assert_code(130)
        .assert_stderr_contains("wpool: interrupted")
        .assert_stdout_lines(&["1500"]);
    out.check(
        interrupted.elapsed() < Duration::from_secs(10),
        "the run went on after the Ctrl-C",
    );
}
