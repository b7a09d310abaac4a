//! In-process benchmarks of a pool, with criterion: a 16 MiB `list<u8>`,
//! and a 16 MiB `string`, through a task next to the same bytes through a
//! raw OS pipe. `bench/run.sh` reads their medians into its table.

use std::io::{Read, Write};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_main};
use wpool::{Component, Limits, Pool, Task, Value};

const WPOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
const PAYLOAD: usize = 16 << 20;

fn guest(name: &str, func: Option<&str>) -> Task {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/");
    let wasm = wpool::build_guest(format!("{dir}{name}")).expect("the guest builds");
    Component::from_file(wasm)
        .and_then(|c| c.task(func))
        .expect("the guest has the function")
}

/// 16 MiB into a task (`len`), into it and back (`echo`), and as a string
/// into it and back (`echo-text`), against 16 MiB through an OS pipe
/// between two threads. Each input is parsed once, outside the
/// measurement: what is measured is the way to the worker and back, not
/// WAVE text. Every result is checked: a failed task cannot be a fast one.
fn payload(c: &mut Criterion) {
    let bytes: Vec<u8> = (0..PAYLOAD).map(|i| (i % 251) as u8).collect();
    let list = format!(
        "[{}]",
        bytes
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let text: String = (0..PAYLOAD)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut group = c.benchmark_group("payload");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
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
    let (len, quoted) = (PAYLOAD.to_string(), format!("{text:?}"));
    let cases: [(&str, &str, &[u8]); 3] = [
        ("len", &list, len.as_bytes()),
        ("echo", &list, &bytes),
        ("echo-text", &quoted, text.as_bytes()),
    ];
    for (func, wave, expected) in cases {
        let task = guest("payload", Some(func));
        let input = task.parse_input(wave).expect("the input parses");
        let run = || -> Value {
            let mut out = pool.map(&task, [input.clone()]).expect("the run");
            match out.remove(0).result {
                Ok(value) => value,
                Err(error) => panic!("{func} failed: {error}"),
            }
        };
        // The whole result checked once, its length every time.
        let result = |value: &Value| match value.as_bytes() {
            Some(bytes) => bytes.to_vec(),
            None => value.as_wave().into_bytes(),
        };
        assert!(result(&run()) == expected, "{func} gave a wrong result");
        group.bench_function(func, |b| {
            b.iter(|| {
                let value = run();
                let size = value
                    .as_bytes()
                    .map_or_else(|| value.as_wave().len(), <[u8]>::len);
                assert_eq!(size, expected.len(), "{func} gave a wrong result");
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
    criterion::criterion_group!(benches, super::payload);
}
criterion_main!(group::benches);
