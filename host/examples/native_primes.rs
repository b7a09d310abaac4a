//! The CPU-heavy benchmark's native side: `native_primes N TASKS THREADS`
//! counts the primes below N, TASKS times, on a rayon pool of THREADS
//! threads, with the very code the `primes` guest runs.

#[path = "../../guest-examples/primes/src/count.rs"]
mod count;

use std::sync::atomic::{AtomicU64, Ordering};

fn main() {
    let arg = |i: usize, default: u64| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (below, tasks, threads) = (arg(1, 560_000), arg(2, 64), arg(3, 2));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads as usize)
        .build()
        .expect("a thread pool");
    let total = AtomicU64::new(0);
    // One spawned job per task, as a pool of workers takes them.
    pool.scope(|scope| {
        for _ in 0..tasks {
            scope.spawn(|_| {
                let count = count::count_primes(std::hint::black_box(below));
                total.fetch_add(count, Ordering::Relaxed);
            });
        }
    });
    println!("{}", total.into_inner() / tasks.max(1));
}
