//! Worker processes that die while they run tasks: killed workers, whose
//! tasks are retried or lost, workers that cannot start at all, and a soak
//! under random kills.

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use wpool::{Component, Error, Pool};

use crate::util::{Guest, Output, error_kind, json_by_index, procfs, run, squares};

/// What a run with a killed worker did: its output, and the workers wpool
/// started after the kill.
struct Killed {
    out: Output,
    new_workers: Vec<u32>,
}

/// Runs 16 tasks that count their attempts and sleep 300 ms on two workers
/// (JSON lines), and kills one worker with SIGKILL while it sleeps inside a
/// task, after that task counted its attempt.
fn run_and_kill_a_worker(extra: &[&str]) -> Killed {
    let mut args = vec!["--func", "attempt", "-j", "2", "--json", "--unordered"];
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
    // A worker asleep in a task over several polls: past the task's
    // request to the hub, which is answered at once.
    let started = Instant::now();
    let mut steady = (0, 0);
    let victim = loop {
        let sleeping = procfs::children_of(wpool_pid)
            .into_iter()
            .find(|pid| procfs::blocked_in_host_call(*pid));
        steady = match sleeping {
            Some(pid) if steady.0 == pid => (pid, steady.1 + 1),
            Some(pid) => (pid, 1),
            None => (0, 0),
        };
        if steady.1 == 5 {
            break steady.0;
        }
        if started.elapsed() > Duration::from_secs(60) {
            running.finish().fail("found no worker asleep in a task");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let before = procfs::children_of(wpool_pid);
    procfs::kill_9(victim);
    // The workers started after the kill, watched until the run ends.
    let mut new_workers = Vec::new();
    while running.child.try_wait().ok().flatten().is_none() {
        for pid in procfs::children_of(wpool_pid) {
            if !before.contains(&pid) && !new_workers.contains(&pid) {
                new_workers.push(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Killed {
        out: running.finish(),
        new_workers,
    }
}

/// The attempt count each task returned, by index (`None` for a failure).
fn attempts(out: &Output) -> Vec<Option<i64>> {
    json_by_index(out, 16)
        .values()
        .map(|line| line["value"].as_i64())
        .collect()
}

#[test]
fn killed_worker_tasks_are_retried() {
    let Killed { out, new_workers } = run_and_kill_a_worker(&[]);
    out.assert_success();
    let attempts = attempts(&out);
    // The task the killed worker was running counted a first attempt and
    // then ran again, to success, on another worker; every other task ran
    // once.
    let twice = attempts.iter().filter(|a| **a == Some(2)).count();
    out.check(
        twice == 1 && attempts.iter().all(|a| *a == Some(1) || *a == Some(2)),
        format_args!("expected one task run twice, the others once: {attempts:?}"),
    );
    // The dispatcher's count of attempts agrees with the tasks' own.
    for line in json_by_index(&out, 16).values() {
        out.check(
            line["attempts"] == line["value"],
            format_args!("{line}: attempts should be the count the task made"),
        );
    }
    out.check(
        !new_workers.is_empty(),
        "wpool started no worker in place of the killed one",
    );
    // The retry was announced, naming the task, its input and the signal.
    let retried = attempts
        .iter()
        .position(|a| *a == Some(2))
        .unwrap_or_default();
    out.assert_stderr_contains(&format!(
        "wpool: task {retried} (input 300): worker killed by signal 9 (SIGKILL), retrying (attempt 2 of 2)"
    ));
}

#[test]
fn killed_worker_without_retries_loses_its_tasks() {
    let Killed { out, .. } = run_and_kill_a_worker(&["--retries", "0"]);
    out.assert_code(1);
    let lines = json_by_index(&out, 16);
    let mut lost = 0;
    for line in lines.values() {
        if line.get("value").is_some() {
            // No task ran twice.
            out.check(
                line["value"] == 1,
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
    out.check(lost == 1, "expected the killed worker's task to be lost");
    out.assert_stderr_contains("worker lost")
        .assert_stderr_lacks("retrying");
}

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

/// 100 000 tasks while workers are killed at random: every input yields
/// exactly one line, with the right value, in order. The inputs are fed
/// over about 5 s, so that the kills land while tasks run.
#[test]
fn soak_with_workers_killed_at_random() {
    let count = 100_000;
    let (mut running, mut stdin) = run(
        Guest::Square,
        ["-j", "2", "--retries", "1000", "--input", "-"],
    )
    .start_with_stdin();
    let feeder = std::thread::spawn(move || {
        for chunk in 0..100 {
            let lines: String = (chunk * 1000..(chunk + 1) * 1000)
                .map(|i| format!("{i}\n"))
                .collect();
            if stdin.write_all(lines.as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut kills = 0;
    let started = Instant::now();
    while running.child.try_wait().ok().flatten().is_none()
        && started.elapsed() < Duration::from_secs(60)
    {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(100 + seed % 200));
        // Only workers that have compiled the component (they run an epoch
        // ticker): killing one still compiling would be a crash loop.
        let workers: Vec<u32> = procfs::children_of(running.child.id())
            .into_iter()
            .filter(|pid| procfs::thread_names(*pid).iter().any(|t| t == "epoch"))
            .collect();
        if let Some(victim) = workers.get(seed as usize % workers.len().max(1)) {
            let _ = Command::new("kill")
                .args(["-9", &victim.to_string()])
                .status();
            kills += 1;
        }
    }
    let _ = feeder.join();
    let out = running.finish();
    out.assert_success();
    out.check(
        kills >= 10,
        format_args!("only {kills} workers were killed"),
    );
    let expected = squares(0..count);
    let lines = out.stdout_lines();
    out.check(
        lines == expected,
        format_args!("{} lines, not the {count} squares in order", lines.len()),
    );
    eprintln!("soak: {kills} workers killed");
}
