//! The wpool side of bench/run.sh's warm-pool rows: one `Pool` of 2 workers
//! maps `square` over `0..N` once (loading the task and starting its
//! workers), then ROUNDS
//! times more on the same pool, whose workers stay up between runs. Prints
//! the first run's wall time and the median of the others, in seconds, as
//! `first SECONDS` and `warm SECONDS`; every result is checked.
//!
//! usage: warm_pool SQUARE_WASM N ROUNDS (`bench/warm_pool.py` is the
//! Python side)

use std::time::{Duration, Instant};

use wpool::{Component, Pool, Task};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, wasm, n, rounds] = &args[..] else {
        return Err("usage: warm_pool SQUARE_WASM N ROUNDS".into());
    };
    let (n, rounds): (i64, usize) = (n.parse()?, rounds.parse()?);
    // The first run counts the task's loading and the workers' start.
    let started = Instant::now();
    let square = Component::from_file(wasm)?.task(None)?;
    let pool = Pool::builder().workers(2).build();
    squares(&pool, &square, n)?;
    let first = started.elapsed();
    let mut warm = (0..rounds)
        .map(|_| squares(&pool, &square, n))
        .collect::<Result<Vec<_>, _>>()?;
    warm.sort();
    println!("first {:.6}", first.as_secs_f64());
    println!("warm {:.6}", warm[warm.len() / 2].as_secs_f64());
    Ok(())
}

/// Maps `square` over `0..n` on `pool`, checks the results, and returns
/// how long it took.
fn squares(pool: &Pool, square: &Task, n: i64) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let inputs = (0..n)
        .map(|x| square.parse_input(&x.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = pool.map(square, inputs)?;
    let took = started.elapsed();
    for (x, output) in (0..n).zip(&outputs) {
        let value = output
            .result
            .as_ref()
            .map_err(|e| format!("square({x}): {e}"))?;
        if value.to_string() != (x * x).to_string() {
            return Err(format!("square({x}) = {value}").into());
        }
    }
    Ok(took)
}
