//! The host process stopped from outside: killed, or interrupted with
//! Ctrl-C (SIGINT), once to drain or twice to stop at once.

use std::time::{Duration, Instant};

use crate::util::{Guest, procfs, run};

#[test]
fn no_worker_outlives_a_killed_host_by_a_second() {
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
    while !workers.iter().all(|pid| procfs::is_dead(*pid)) {
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "workers {workers:?} outlived the host by a second"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts 20 naps of `ms` on two workers, in a process group of their own,
/// and waits for the first result.
fn start_naps(ms: &str) -> crate::util::Running {
    let mut naps = vec!["--func", "nap", "-j", "2"];
    naps.extend(std::iter::repeat_n(ms, 20));
    let mut running = run(Guest::Misbehave, &naps).own_process_group().start();
    if running.next_line(Duration::from_secs(60)).is_none() {
        running.finish().fail("no first result");
    }
    running
}

#[test]
fn sigint_lets_started_tasks_finish_and_exits_130() {
    let running = start_naps("400");
    let group = format!("-{}", running.child.id());
    // As a terminal's Ctrl-C does: to the whole foreground group.
    procfs::send_signal("-INT", &group);
    let out = running.finish();
    out.assert_code(130)
        .assert_stderr_contains("wpool: interrupted");
    let lines = out.stdout_lines();
    out.check(
        lines.len() < 20 && lines.iter().all(|l| *l == "400"),
        "expected fewer than 20 results, each a finished nap",
    );
}

#[test]
fn second_sigint_stops_at_once() {
    let running = start_naps("20000");
    let group = format!("-{}", running.child.id());
    let started = Instant::now();
    procfs::send_signal("-INT", &group);
    std::thread::sleep(Duration::from_millis(100));
    procfs::send_signal("-INT", &group);
    let out = running.finish();
    out.assert_code(130);
    out.check(
        started.elapsed() < Duration::from_secs(5),
        "the second SIGINT did not stop the run at once",
    );
}
