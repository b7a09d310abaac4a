//! `Pool::spawn`: a task run as a process, joined, or terminated.

use std::time::{Duration, Instant};

use wpool::{Pool, ProcessOptions, Scalar, Stream, TaskError};

use super::{LONG, input, pool, task, wave};
use crate::util::{Guest, procfs};

#[test]
fn process_runs_and_is_joined() {
    let pool = pool(1);
    let worker = task(Guest::ProcessBasics, None);
    let mut process = pool.spawn(&worker, input(&worker, "1")).expect("it starts");
    assert!(process.is_alive(), "a 1 s task is alive right after start");
    assert_eq!(process.exit_code(), None);
    assert!(process.output().is_none());
    assert!(!process.join(Some(Duration::from_millis(20))));
    assert!(process.is_alive());
    assert!(process.join(None));
    assert!(!process.is_alive());
    assert_eq!(process.exit_code(), Some(0));
    let output = process.output().expect("finished");
    assert_eq!(wave(&output), r#""worker 1 done""#);
    let stdout = String::from_utf8_lossy(output.stdout.bytes()).into_owned();
    assert!(stdout.contains("Worker 1 started"), "{stdout:?}");
    assert!(stdout.contains("Worker 1 finished"), "{stdout:?}");
}

#[test]
fn terminated_process_exits_with_minus_nine() {
    let pool = pool(1);
    let worker = task(Guest::ProcessBasics, None);
    let started = Instant::now();
    let mut process = pool
        .spawn(&worker, input(&worker, "20"))
        .expect("it starts");
    assert!(process.is_alive());
    process.terminate();
    assert!(process.join(LONG), "a terminated process ends");
    assert!(!process.is_alive());
    assert_eq!(process.exit_code(), Some(-9));
    assert_eq!(
        process.output().map(|o| o.result),
        Some(Err(TaskError::Terminated))
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn command_components_exit_with_their_status() {
    let pool = pool(2);
    let hello = task(Guest::HelloCommand, None);
    let fail = task(Guest::ExitCommand, None);
    let mut processes = [
        pool.spawn(&hello, input(&hello, "()")).expect("it starts"),
        pool.spawn(&fail, input(&fail, "()")).expect("it starts"),
    ];
    for process in &mut processes {
        assert!(process.join(LONG), "a command ends");
    }
    assert_eq!(processes[0].exit_code(), Some(0));
    let output = processes[0].output().expect("finished");
    assert_eq!(wave(&output), "ok");
    assert_eq!(
        String::from_utf8_lossy(output.stdout.bytes()),
        "hello from a command component\n"
    );
    assert_eq!(processes[1].exit_code(), Some(1));
    let output = processes[1].output().expect("finished");
    assert_eq!(output.result, Err(TaskError::Exit(1)));
    assert_eq!(
        String::from_utf8_lossy(output.stdout.bytes()),
        "exiting with status 1\n"
    );
}

/// Waits until the shared value `name` of `pool` holds `n`.
fn await_value(pool: &Pool, name: &str, n: i64) {
    let value = pool.value(name, Scalar::Int(0)).expect("the value opens");
    let started = Instant::now();
    while value.get() != Ok(Scalar::Int(n)) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{name} never reached {n}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn killed_process_exits_minus_nine_and_is_not_started_again() {
    let pool = pool(1);
    let attempt = task(Guest::Misbehave, Some("attempt"));
    let mut process = pool
        .spawn(&attempt, input(&attempt, "60000"))
        .expect("it starts");
    // The process counted its attempt and sleeps.
    await_value(&pool, "attempts-0", 1);
    procfs::kill_9(process.pid());
    assert!(process.join(LONG), "a killed process ends");
    assert_eq!(process.exit_code(), Some(-9));
    let output = process.output().expect("finished");
    assert_eq!(output.attempts, 1);
    match output.result {
        Err(TaskError::WorkerLost {
            attempts: 1,
            signal: Some(9),
            ..
        }) => {}
        other => panic!("expected the worker lost to SIGKILL, got {other:?}"),
    }
    // Its effects on shared objects happened once.
    let attempts = pool.value("attempts-0", Scalar::Int(0)).expect("it opens");
    assert_eq!(attempts.get(), Ok(Scalar::Int(1)));
}

#[test]
fn a_killed_process_s_unfinished_line_is_shown() {
    let pool = pool(1);
    let half = task(Guest::Misbehave, Some("half-line-and-await"));
    let (lines, written) = std::sync::mpsc::channel();
    let options = ProcessOptions::default().on_output(move |stream, bytes| {
        let _ = lines.send((stream, String::from_utf8_lossy(bytes).into_owned()));
    });
    let mut process = pool
        .spawn_with(&half, input(&half, r#""go""#), options)
        .expect("it starts");
    // Its stderr line comes after its unfinished stdout line was written.
    let line = written.recv_timeout(LONG.unwrap()).expect("a line");
    assert_eq!(line, (Stream::Stderr, "go is empty\n".to_string()));
    procfs::kill_9(process.pid());
    assert!(process.join(LONG), "a killed process ends");
    let rest: Vec<_> = written.try_iter().collect();
    assert_eq!(rest, [(Stream::Stdout, "waiting on go".to_string())]);
}

#[test]
fn a_process_with_retries_starts_again_when_killed() {
    let pool = pool(1);
    let attempt = task(Guest::Misbehave, Some("attempt"));
    let options = ProcessOptions::default().retries(1);
    let mut process = pool
        .spawn_with(&attempt, input(&attempt, "3000"), options)
        .expect("it starts");
    await_value(&pool, "attempts-0", 1);
    let first = process.pid();
    procfs::kill_9(first);
    assert!(process.join(LONG), "the second attempt ends");
    assert_ne!(process.pid(), first, "the retry runs on a new worker");
    assert_eq!(process.exit_code(), Some(0));
    let output = process.output().expect("finished");
    // The task counted both attempts: the first one's effects stay.
    assert_eq!(wave(&output), "2");
    assert_eq!(output.attempts, 2);
}

#[test]
fn process_output_streams_before_it_ends() {
    let pool = pool(1);
    let announce = task(Guest::Misbehave, Some("announce-and-await"));
    let (lines, written) = std::sync::mpsc::channel();
    let options = ProcessOptions::default().on_output(move |stream, bytes| {
        let _ = lines.send((stream, String::from_utf8_lossy(bytes).into_owned()));
    });
    let mut process = pool
        .spawn_with(&announce, input(&announce, r#""go""#), options)
        .expect("it starts");
    // The process waits for an item on "go" until the test puts one, which
    // it does only once it has the line.
    let mut got = vec![written.recv_timeout(LONG.unwrap()).expect("a line")];
    got.push(written.recv_timeout(LONG.unwrap()).expect("a second line"));
    assert!(process.is_alive(), "the process waits for its item");
    got.sort_by_key(|(stream, _)| *stream == Stream::Stderr);
    assert_eq!(
        got,
        [
            (Stream::Stdout, "waiting on go\n".to_string()),
            (Stream::Stderr, "go is empty\n".to_string()),
        ]
    );
    pool.queue("go", 0)
        .expect("the queue opens")
        .put(b"x", None)
        .expect("put");
    assert!(process.join(LONG));
    let output = process.output().expect("finished");
    assert_eq!(wave(&output), "ok([120])");
    // Streamed output is not captured as well.
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
}
