//! The `multiprocessing` counterparts: processes started with `wpool spawn`
//! and [`Pool::spawn`](wpool::Pool::spawn), queues, pipes, shared values,
//! locks, conditions, dicts, lists and barriers seen by tasks on different
//! worker processes and by the host, jobs that scope them, and `apply_async`.

mod apply_async;
mod process;
mod queues;
mod shared;
mod spawn;

use std::time::Duration;

use wpool::{Component, Input, Limits, Pool, Task, TaskOutput};

use crate::util::{Guest, WPOOL};

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
