//! Worker processes that die while they run tasks: killed workers, whose
//! tasks are retried or lost, workers that cannot start at all, and a soak
//! under random kills.

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use wpool::{Component, Error, Pool};

use crate::util::{Guest, Output, error_kind, json_by_index, procfs, run, squares};

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
    let workers = procfs::children_of(wpool_pid);
    // Prefer a worker that has compiled the component (it runs an epoch
    // ticker thread): it surely has tasks in flight.
    let victim = workers
        .iter()
        .copied()
        .find(|pid| procfs::thread_names(*pid).iter().any(|t| t == "epoch"))
        .or_else(|| workers.first().copied());
    let Some(victim) = victim else {
        running.finish().fail("found no worker process to kill");
    };
    procfs::kill_9(victim);
    let out = running.finish();
    out.check(
        !procfs::children_of(wpool_pid).contains(&victim),
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
        Err(Error::Pool(message)) => assert!(
            message.contains("workers died in a row") && message.contains("status 1"),
            "unexpected message: {message}"
        ),
        other => panic!("expected a pool error, got {other:?}"),
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
