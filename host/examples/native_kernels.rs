//! The CPU-heavy benchmarks' native side: `native_kernels KERNEL ARG TASKS
//! THREADS` runs KERNEL(ARG) TASKS times on a rayon pool of THREADS
//! threads, with the very code the guests run (`count-primes` from the
//! `primes` guest, `sha256`, `gzip` and `json` from the `kernels` guest),
//! and prints each task's result, one a line, as `wpool run` prints them.

#[path = "../../guest-examples/primes/src/count.rs"]
mod count;
#[path = "../../guest-examples/kernels/src/work.rs"]
mod kernels;

use std::process::ExitCode;
use std::sync::Mutex;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kernel, arg, tasks, threads] = &args[..] else {
        eprintln!("usage: native_kernels count-primes|sha256|gzip|json ARG TASKS THREADS");
        return ExitCode::from(2);
    };
    let kernel: fn(u64) -> String = match kernel.as_str() {
        "count-primes" => |n| count::count_primes(n).to_string(),
        // `wpool run` prints a string in WAVE, quoted.
        "sha256" => |mib| format!("{:?}", kernels::sha256(narrow(mib))),
        "gzip" => |mib| kernels::gzip(narrow(mib)).to_string(),
        "json" => |records| kernels::json(narrow(records)).to_string(),
        other => {
            eprintln!("native_kernels: no kernel named {other:?}");
            return ExitCode::from(2);
        }
    };
    let number = |text: &str| text.parse::<u64>().map_err(|e| format!("{text:?}: {e}"));
    let (arg, tasks, threads) = match (number(arg), number(tasks), number(threads)) {
        (Ok(arg), Ok(tasks), Ok(threads)) => (arg, tasks, threads),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => {
            eprintln!("native_kernels: not a number: {e}");
            return ExitCode::from(2);
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads as usize)
        .build()
        .expect("a thread pool");
    let results = Mutex::new(vec![String::new(); tasks as usize]);
    // One spawned job per task, as a pool of workers takes them.
    pool.scope(|scope| {
        for task in 0..tasks as usize {
            let results = &results;
            scope.spawn(move |_| {
                let result = kernel(std::hint::black_box(arg));
                results.lock().expect("no task panicked")[task] = result;
            });
        }
    });
    for result in results.into_inner().expect("no task panicked") {
        println!("{result}");
    }
    ExitCode::SUCCESS
}

/// The kernels' `u32` argument, as the guest's WIT types it.
fn narrow(arg: u64) -> u32 {
    u32::try_from(arg).expect("the argument fits a u32")
}
