//! Queue latency and throughput between two tasks, for the benchmarks:
//! `bounce` with `echo` measures round trips, `produce` with `consume`
//! pipelined throughput, and `send-stream` with `recv-stream` a pipe's.

use std::time::Instant;

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "wpool-examples:queue-bench/queue-bench",
    generate_all,
});

use wpool::task::pipe::{Connection, End};
use wpool::task::queue::Queue;
use wpool::task::types::Error;

struct QueueBench;

fn open(name: &str) -> Result<Queue, String> {
    Queue::open(name, 1024).map_err(describe)
}

fn describe(error: Error) -> String {
    format!("{error:?}")
}

impl Guest for QueueBench {
    fn bounce(rounds: u32, size: u32) -> Result<u64, String> {
        let (ping, pong) = (open("ping")?, open("pong")?);
        let message = vec![7u8; size as usize];
        let round = || -> Result<(), String> {
            ping.put(&message, None).map_err(describe)?;
            pong.get(None).map(drop).map_err(describe)
        };
        // The first round waits for `echo` to start: it is not timed, as
        // Python's side of the benchmark warms up with one round too.
        if rounds > 0 {
            round()?;
        }
        let start = Instant::now();
        for _ in 1..rounds {
            round()?;
        }
        Ok(start.elapsed().as_nanos() as u64 / u64::from(rounds.saturating_sub(1).max(1)))
    }

    fn echo(rounds: u32) -> Result<u32, String> {
        let (ping, pong) = (open("ping")?, open("pong")?);
        for _ in 0..rounds {
            let message = ping.get(None).map_err(describe)?;
            pong.put(&message, None).map_err(describe)?;
        }
        Ok(rounds)
    }

    fn produce(count: u32, size: u32) -> Result<u32, String> {
        let stream = open("stream")?;
        let message = vec![7u8; size as usize];
        for _ in 0..count {
            stream.put(&message, None).map_err(describe)?;
        }
        Ok(count)
    }

    fn consume(count: u32) -> Result<u64, String> {
        let stream = open("stream")?;
        stream.get(None).map_err(describe)?;
        let start = Instant::now();
        for _ in 1..count {
            stream.get(None).map_err(describe)?;
        }
        Ok(rate(count, start))
    }

    fn send_stream(count: u32, size: u32) -> Result<u32, String> {
        let end = Connection::open("stream", End::A).map_err(describe)?;
        let message = vec![7u8; size as usize];
        for _ in 0..count {
            end.send(&message, None).map_err(describe)?;
        }
        end.close().map_err(describe)?;
        Ok(count)
    }

    fn recv_stream(count: u32) -> Result<u64, String> {
        let end = Connection::open("stream", End::B).map_err(describe)?;
        end.recv(None).map_err(describe)?;
        let start = Instant::now();
        for _ in 1..count {
            end.recv(None).map_err(describe)?;
        }
        Ok(rate(count, start))
    }
}

/// Messages a second: `count` of them, the first untimed, since `start`.
fn rate(count: u32, start: Instant) -> u64 {
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    (f64::from(count.saturating_sub(1)) / seconds) as u64
}

export!(QueueBench);
