//! Seed example 2, the asynchronous half: submit `square` for ten inputs
//! with `apply_async`, which returns at once, then collect each result in
//! order with `get`; `close` and `join` shut the pool down. The host also
//! takes part: it reads the dict `squares` that the tasks of a second job
//! fill.
//!
//! Run with `cargo run --release --example apply_async` after
//! `cargo build --release` (the pool's workers are the `wpool` binary).

use std::time::Instant;

use wpool::{Component, Pool};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples");
    let square =
        Component::from_file(wpool::build_guest(format!("{dir}/pool-square"))?)?.task(None)?;
    let pool = Pool::builder().workers(3).build();

    let started = Instant::now();
    let handles = (0..10)
        .map(|x| pool.apply_async(&square, square.parse_input(&x.to_string())?))
        .collect::<Result<Vec<_>, wpool::Error>>()?;
    println!("submitted 10 tasks in {:?}", started.elapsed());
    for handle in &handles {
        let output = handle.get(None)?;
        print!("{}", String::from_utf8_lossy(output.stdout.bytes()));
        let value = output.result?;
        println!("square({}) = {value}", output.input);
    }
    pool.close();
    pool.join();
    println!("all 10 results in {:?} on 3 workers", started.elapsed());

    // A second job, whose tasks fill a dict the host reads afterwards.
    let job = pool.job();
    let record = Component::from_file(wpool::build_guest(format!("{dir}/shared-dict"))?)?
        .task(Some("record"))?;
    let inputs = (1..=5)
        .map(|n| record.parse_input(&n.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    job.map(&record, inputs)?;
    let squares = job.dict("squares")?;
    let mut keys = squares.keys()?;
    keys.sort();
    for key in keys {
        let bytes = squares.get(&key)?.unwrap_or_default();
        let value = u64::from_le_bytes(bytes.try_into().map_err(|_| "a value is not 8 bytes")?);
        println!("squares[{key}] = {value}");
    }
    Ok(())
}
