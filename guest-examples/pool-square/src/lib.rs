//! Seed example 2, `multiprocessing.Pool`: a slow square that says which
//! worker process handled it, so a run shows a few workers reused across
//! many tasks.

use std::time::Duration;

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "wpool-examples:pool-square/pool-square",
    generate_all,
});

use wpool::task::context;

struct PoolSquare;

impl Guest for PoolSquare {
    fn square(x: i64) -> i64 {
        println!("worker {} handles {x}", context::worker_id());
        std::thread::sleep(Duration::from_millis(200));
        x.wrapping_mul(x)
    }
}

export!(PoolSquare);
