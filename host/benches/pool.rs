//! In-process benchmarks of a pool, with criterion: the cost of a tiny task
//! in a fresh instance and in a reused one, and a 16 MiB `list<u8>` through
//! a task next to the same bytes through a raw OS pipe. `bench/run.sh` reads
//! their medians into its table.

use std::io::{Read, Write};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_main};
use wpool::{Component, Input, Limits, Pool, Task};

const WPOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
const TINY_TASKS: u64 = 20_000;
const PAYLOAD: usize = 16 << 20;

fn guest(name: &str, func: Option<&str>) -> Task {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/");
    let wasm = wpool::build_guest(format!("{dir}{name}")).expect("the guest builds");
    Component::from_file(wasm)
        .and_then(|c| c.task(func))
        .expect("the guest has the function")
}

fn pool(reuse: u32) -> Pool {
    Pool::builder()
        .workers(1)
        .reuse(reuse)
        .worker_program(WPOOL)
        .build()
}

/// One worker runs 20 000 squares: the time per element is the worker's
/// time per task (the host's work overlaps it), plus one worker start
/// spread over them.
fn tiny(c: &mut Criterion) {
    let square = guest("square", None);
    let inputs: Vec<Input> = (0..TINY_TASKS)
        .map(|i| square.parse_input(&i.to_string()).expect("an s64"))
        .collect();
    let mut group = c.benchmark_group("tiny");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(TINY_TASKS));
    for (name, reuse) in [("fresh", 1), ("reuse", 1_000_000)] {
        let pool = pool(reuse);
        group.bench_function(name, |b| {
            b.iter(|| pool.map(&square, inputs.iter().cloned()).expect("the run"))
        });
    }
    group.finish();
}

/// 16 MiB into a task (`len`) and into it and back (`echo`), against 16 MiB
/// through an OS pipe between two threads. The input is parsed once,
/// outside the measurement: what is measured is the way to the worker and
/// back, not WAVE text.
fn payload(c: &mut Criterion) {
    let bytes: Vec<String> = (0..PAYLOAD).map(|i| (i % 251).to_string()).collect();
    let wave = format!("[{}]", bytes.join(","));
    let mut group = c.benchmark_group("payload");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(PAYLOAD as u64));
    // 16 MiB and its length prefix.
    let limits = Limits {
        max_value: PAYLOAD + 8,
        ..Limits::default()
    };
    let pool = Pool::builder()
        .workers(1)
        .limits(limits)
        .worker_program(WPOOL)
        .build();
    for func in ["len", "echo"] {
        let task = guest("payload", Some(func));
        let input = task.parse_input(&wave).expect("a list<u8>");
        group.bench_function(func, |b| {
            b.iter(|| {
                let out = pool.map(&task, [input.clone()]).expect("the run");
                if let Err(error) = &out[0].result {
                    panic!("{func} failed: {error}");
                }
            })
        });
    }
    group.bench_function("pipe", |b| {
        let block = vec![7u8; 1 << 16];
        b.iter(|| {
            let (mut reader, mut writer) = std::io::pipe().expect("a pipe");
            let block = block.clone();
            let write = std::thread::spawn(move || {
                for _ in 0..PAYLOAD / block.len() {
                    writer.write_all(&block).expect("the reader is there");
                }
            });
            let mut sink = vec![0u8; 1 << 16];
            let mut total = 0;
            while total < PAYLOAD {
                total += reader.read(&mut sink).expect("a read");
            }
            write.join().expect("the writer");
        })
    });
    group.finish();
}

/// The benchmarks, as criterion runs them.
mod group {
    #![allow(missing_docs, reason = "criterion_group! makes an undocumented fn")]
    criterion::criterion_group!(benches, super::tiny, super::payload);
}
criterion_main!(group::benches);
