//! The CPU-heavy benchmark's native side: `native_primes N TASKS THREADS`
//! counts the primes below N, TASKS times, on a rayon pool of THREADS
//! threads, with the very code the `primes` guest runs.

#[path = "../../guest-examples/primes/src/count.rs"]
mod count;

use rayon::prelude::*;

fn main() {
    let arg = |i: usize, default: u64| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (below, tasks, threads) = (arg(1, 300_000), arg(2, 64), arg(3, 2));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads as usize)
        .build()
        .expect("a thread pool");
    let counts: Vec<u64> = pool.install(|| {
        (0..tasks)
            .into_par_iter()
            .map(|_| count::count_primes(std::hint::black_box(below)))
            .collect()
    });
    println!("{}", counts[0]);
}
