//! `Pool::spawn`: a task run as a process, joined, or terminated.

use std::time::{Duration, Instant};

use wpool::TaskError;

use super::{LONG, input, pool, task, wave};
use crate::util::Guest;

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
    let stdout = String::from_utf8_lossy(&output.stdout.bytes).into_owned();
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
        String::from_utf8_lossy(&output.stdout.bytes),
        "hello from a command component\n"
    );
    assert_eq!(processes[1].exit_code(), Some(1));
    let output = processes[1].output().expect("finished");
    assert_eq!(output.result, Err(TaskError::Exit(1)));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout.bytes),
        "exiting with status 1\n"
    );
}
