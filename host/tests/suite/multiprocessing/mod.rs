//! The `multiprocessing` counterparts: processes started with `wpool spawn`
//! and [`Pool::spawn`](wpool::Pool::spawn), queues, pipes, shared values,
//! locks, conditions, dicts, lists and barriers seen by tasks on different
//! worker processes and by the host, jobs that scope them, and `apply_async`.

mod apply_async;
mod process;
mod queues;
mod shared;
mod spawn;

use std::time::{Duration, Instant};

use wpool::{Component, Input, Limits, Pool, Task, TaskOutput};

use crate::util::{Guest, WPOOL, procfs};

/// The integer `n` of a line `ok(n)`.
fn ok_int(line: &str) -> Option<i64> {
    line.strip_prefix("ok(")?.strip_suffix(')')?.parse().ok()
}

/// Waits until `wpool` (pid `parent`) has `count` workers, each blocked in
/// a task's host call, and stays so for a few polls; returns them in the
/// order they started. Panics after `deadline`.
fn workers_blocked_in_host_calls(parent: u32, count: usize, deadline: Duration) -> Vec<u32> {
    let started = Instant::now();
    let mut steady = 0;
    loop {
        let mut workers = procfs::children_of(parent);
        let blocked =
            workers.len() == count && workers.iter().all(|pid| procfs::blocked_in_host_call(*pid));
        steady = if blocked { steady + 1 } else { 0 };
        // A request to the hub that is answered at once blocks only for a
        // moment: wait until the state holds over several polls.
        if steady == 5 {
            workers.sort_by_key(|pid| (procfs::start_time(*pid), *pid));
            return workers;
        }
        assert!(
            started.elapsed() < deadline,
            "after {deadline:?}, wpool {parent} has workers {workers:?}, not {count} blocked in host calls"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn task(guest: Guest, func: Option<&str>) -> Task {
    Component::from_file(guest.wasm())
        .expect("the guest is a component")
        .task(func)
        .expect("the function exists")
}

fn pool_with(workers: usize, limits: Limits) -> Pool {
    Pool::builder()
        .workers(workers)
        .worker_program(WPOOL)
        .limits(limits)
        .retries(0)
        .build()
}

fn pool(workers: usize) -> Pool {
    pool_with(workers, Limits::default())
}

fn input(task: &Task, text: &str) -> Input {
    task.parse_input(text).expect("valid input")
}

fn inputs(task: &Task, texts: impl IntoIterator<Item = String>) -> Vec<Input> {
    texts.into_iter().map(|t| input(task, &t)).collect()
}

/// The WAVE of a successful task.
#[track_caller]
fn wave(output: &TaskOutput) -> String {
    match &output.result {
        Ok(value) => value.as_wave().to_string(),
        Err(error) => panic!("task {} failed: {error}", output.index),
    }
}

/// The bytes of a WAVE `ok([b, ...])` of a `result<list<u8>, _>`.
#[track_caller]
fn ok_bytes(wave: &str) -> Vec<u8> {
    let Some(list) = wave.strip_prefix("ok([").and_then(|w| w.strip_suffix("])")) else {
        panic!("{wave:?} is not ok([...])");
    };
    list.split(", ")
        .filter(|b| !b.is_empty())
        .map(|b| b.parse().unwrap_or_else(|_| panic!("{b:?} in {wave:?}")))
        .collect()
}

const SECOND: Option<Duration> = Some(Duration::from_secs(1));

const LONG: Option<Duration> = Some(Duration::from_secs(30));
