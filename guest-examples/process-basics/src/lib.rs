//! Seed example 1, `multiprocessing.Process`: each process prints that it
//! started (with the id of the worker process running it), sleeps, and
//! prints that it finished.

use std::time::Duration;

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "wpool-examples:process-basics/process-basics",
    generate_all,
});

use wpool::task::context;

struct ProcessBasics;

impl Guest for ProcessBasics {
    fn worker(n: u32) -> String {
        println!(
            "Worker {n} started (worker process {})",
            context::worker_id()
        );
        std::thread::sleep(Duration::from_secs(n.into()));
        println!("Worker {n} finished");
        format!("worker {n} done")
    }
}

export!(ProcessBasics);
