//! Seed example 3, `multiprocessing.Queue`: a writer puts letters and then
//! an end signal (here, an empty item, as Python's `None`); a reader gets
//! items until it sees the signal.

use std::time::Duration;

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "wpool-examples:queue-demo/queue-demo",
    generate_all,
});

use wpool::task::queue::Queue;
use wpool::task::types::Error;

struct QueueDemo;

const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

fn letters() -> Result<Queue, String> {
    Queue::open("letters", 16).map_err(describe)
}

fn describe(error: Error) -> String {
    format!("queue letters: {error:?}")
}

impl Guest for QueueDemo {
    fn writer() -> u32 {
        let queue = letters().expect("the queue opens");
        for letter in LETTERS {
            queue
                .put(letter.as_bytes(), None)
                .expect("the queue takes the letter");
            std::thread::sleep(Duration::from_millis(500));
        }
        queue
            .put(&[], None)
            .expect("the queue takes the end signal");
        LETTERS.len() as u32
    }

    fn reader() -> Result<Vec<String>, String> {
        let queue = letters()?;
        let mut got = Vec::new();
        loop {
            let item = queue.get(None).map_err(describe)?;
            if item.is_empty() {
                return Ok(got);
            }
            let letter = String::from_utf8_lossy(&item).into_owned();
            println!("got {letter}");
            got.push(letter);
        }
    }
}

export!(QueueDemo);
