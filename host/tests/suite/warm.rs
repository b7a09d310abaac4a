//! One pool, many runs: the worker processes a run leaves idle stay up for
//! the pool's next run, until the pool is closed or dropped. Each test
//! counts the processes its pool started through a worker program that
//! records them (`CountedWorkers`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use wpool::{Component, Pool, Task, TaskOutput};

use crate::util::Guest;
use crate::util::procfs::{CountedWorkers, is_running, kill_9};

fn task(guest: Guest, func: Option<&str>) -> Task {
    Component::from_file(guest.wasm())
        .expect("the guest is a component")
        .task(func)
        .expect("the function exists")
}

fn pool(workers: usize, counted: &CountedWorkers) -> Pool {
    Pool::builder()
        .workers(workers)
        .worker_program(counted.program())
        .build()
}

/// Maps `square` over `0..n`, checks every result, and returns the ids of
/// the workers that ran them.
fn squares(pool: &Pool, square: &Task, n: i64) -> BTreeSet<u32> {
    let inputs = (0..n).map(|i| square.parse_input(&i.to_string()).expect("an s64"));
    let outputs: Vec<TaskOutput> = pool.map(square, inputs).expect("the run starts");
    for (i, output) in (0..n).zip(&outputs) {
        let value = output.result.as_ref().expect("square succeeds");
        assert_eq!(value.to_string(), (i * i).to_string());
    }
    outputs.iter().map(|o| o.worker.expect("ran")).collect()
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_map_on_a_warm_pool_starts_no_process() {
    let counted = CountedWorkers::new();
    let pool = pool(2, &counted);
    let square = task(Guest::Square, None);
    let mut ran = squares(&pool, &square, 40);
    let started = counted.pids();
    assert_eq!(started.len(), 2, "the first run starts its 2 workers");
    assert!(started.iter().all(|&pid| is_running(pid)), "they stay up");
    for _ in 0..3 {
        ran.extend(squares(&pool, &square, 40));
    }
    // Worker ids are unique in a pool: a third would be a new process.
    assert!(ran.len() <= 2, "the runs ran on the workers {ran:?}");
    let unordered: Vec<_> = pool
        .imap_unordered(&square, [square.parse_input("7").expect("an s64")])
        .expect("the run starts")
        .collect::<Result<_, _>>()
        .expect("it ends");
    assert_eq!(
        unordered[0].result.as_ref().map(ToString::to_string),
        Ok("49".into())
    );
    assert_eq!(
        counted.pids(),
        started,
        "no run after the first started a process"
    );
}

#[test]
fn workers_killed_while_idle_are_replaced_by_the_next_run() {
    let counted = CountedWorkers::new();
    let pool = pool(2, &counted);
    let square = task(Guest::Square, None);
    squares(&pool, &square, 10);
    let idle = counted.pids();
    assert_eq!(idle.len(), 2);
    for &pid in &idle {
        kill_9(pid);
    }
    wait_until("the idle workers are gone", || {
        idle.iter().all(|&pid| !is_running(pid))
    });
    squares(&pool, &square, 10);
    assert_eq!(
        counted.pids().len(),
        4,
        "two new workers replaced the dead ones"
    );
}

#[test]
fn closing_or_dropping_the_pool_stops_its_idle_workers() {
    let counted = CountedWorkers::new();
    let square = task(Guest::Square, None);
    let pool = pool(2, &counted);
    squares(&pool, &square, 10);
    let idle = counted.pids();
    pool.close();
    wait_until("close stopped the idle workers", || {
        idle.iter().all(|&pid| !is_running(pid))
    });
    // A closed pool still maps, on workers of the run's own.
    squares(&pool, &square, 10);
    let after_close = counted.pids();
    assert_eq!(after_close.len(), 4);
    assert!(after_close[2..].iter().all(|&pid| !is_running(pid)));

    let counted = CountedWorkers::new();
    let pool = self::pool(2, &counted);
    squares(&pool, &square, 10);
    let idle = counted.pids();
    drop(pool);
    wait_until("dropping the pool stopped its idle workers", || {
        idle.iter().all(|&pid| !is_running(pid))
    });
}
