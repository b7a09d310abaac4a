//! A plugin that misbehaves on purpose, one export per kind of fault.

use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "wpool-examples:misbehave/misbehave",
    generate_all,
});

use wpool::task::context;
use wpool::task::pipe::{Connection, End};
use wpool::task::queue::Queue;
use wpool::task::shared::{Dict, Lock, SharedList, Value};
use wpool::task::sync::{Barrier, Event};
use wpool::task::types::{Error, Scalar};

struct Misbehave;

impl Guest for Misbehave {
    fn spin() {
        let mut n = 0u64;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }

    fn hog(mib: u32) -> u64 {
        let mut held: Vec<Vec<u8>> = Vec::new();
        for _ in 0..mib {
            held.push(vec![1u8; 1 << 20]);
        }
        black_box(&held).iter().map(|v| v.len() as u64).sum()
    }

    fn crash(message: String) {
        panic!("{message}");
    }

    fn recurse(depth: u64) -> u64 {
        if depth == 0 {
            0
        } else {
            1 + Self::recurse(black_box(depth - 1))
        }
    }

    fn chatter(lines: u32) -> u32 {
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        for i in 0..lines {
            let _ = writeln!(out, "out {i}");
            let _ = writeln!(err, "err {i}");
        }
        lines
    }

    fn nap(ms: u32) -> u32 {
        std::thread::sleep(std::time::Duration::from_millis(ms.into()));
        ms
    }

    fn attempt(ms: u32) -> i64 {
        let name = format!("attempts-{}", context::task_index());
        let count = Value::open(&name, &Scalar::Int(0))
            .and_then(|attempts| attempts.add(&Scalar::Int(1)))
            .expect("the attempts value");
        std::thread::sleep(std::time::Duration::from_millis(ms.into()));
        match count {
            Scalar::Int(n) => n,
            other => panic!("attempts-N holds {other:?}"),
        }
    }

    fn read_file(path: String) -> Result<String, String> {
        std::fs::read_to_string(&path).map_err(|e| e.to_string())
    }

    fn env_var(name: String) -> Option<String> {
        std::env::var(name).ok()
    }

    fn whoami() -> (u32, u64) {
        (context::worker_id(), context::task_index())
    }

    fn hold_lock(name: String, ms: u32) -> Result<(), String> {
        let lock = Lock::open(&name, false).map_err(|e| format!("{e:?}"))?;
        lock.acquire(None).map_err(|e| format!("{e:?}"))?;
        println!("holding {name}");
        std::thread::sleep(std::time::Duration::from_millis(ms.into()));
        lock.release().map_err(|e| format!("{e:?}"))
    }

    fn try_lock(name: String, timeout_ms: u64) -> Result<(), String> {
        let lock = Lock::open(&name, false).map_err(|e| format!("{e:?}"))?;
        lock.acquire(Some(timeout_ms))
            .map_err(|e| format!("{e:?}"))?;
        lock.release().map_err(|e| format!("{e:?}"))
    }

    fn keep_lock(keep: bool) -> Result<(), String> {
        let lock = Lock::open("kept", false).map_err(|e| format!("{e:?}"))?;
        lock.acquire(Some(1000)).map_err(|e| format!("{e:?}"))?;
        if !keep {
            lock.release().map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    }

    fn publish(items: u32) -> Result<(), String> {
        let describe = |e: Error| format!("{e:?}");
        let queue = Queue::open("published-items", 0).map_err(describe)?;
        let published = Value::open("published", &Scalar::Int(0)).map_err(describe)?;
        for n in 0..items {
            queue.put(&n.to_le_bytes(), None).map_err(describe)?;
        }
        published.set(&Scalar::Int(items.into())).map_err(describe)?;
        std::thread::sleep(std::time::Duration::from_millis(500));
        Ok(())
    }

    fn probe_lock(name: String) -> Result<(bool, bool), String> {
        let lock = Lock::open(&name, false).map_err(|e| format!("{e:?}"))?;
        let locked = lock.locked().map_err(|e| format!("{e:?}"))?;
        let took = lock.try_acquire().map_err(|e| format!("{e:?}"))?;
        if took {
            lock.release().map_err(|e| format!("{e:?}"))?;
        }
        Ok((locked, took))
    }

    fn answered_at_once(name: String, trap: bool) -> Result<Vec<String>, String> {
        let describe = |e: Error| format!("{e:?}");
        let value = Value::open(&name, &Scalar::Int(0)).map_err(describe)?;
        let lock = Lock::open(&format!("{name}-lock"), false).map_err(describe)?;
        value.get().map_err(describe)?;
        lock.acquire(None).map_err(describe)?;
        value.set(&Scalar::Int(41)).map_err(describe)?;
        lock.release().map_err(describe)?;
        if trap {
            panic!("after the release");
        }
        Ok(vec![
            format!("{:?}", value.set(&Scalar::Float(1.0))),
            format!("{:?}", lock.release()),
            format!("{:?}", value.get()),
        ])
    }

    fn drain_queue(name: String, count: u32) -> Result<u64, String> {
        let queue = Queue::open(&name, 0).map_err(|e| format!("{e:?}"))?;
        let mut bytes = 0;
        for _ in 0..count {
            bytes += queue.get(None).map_err(|e| format!("{e:?}"))?.len() as u64;
            queue.task_done().map_err(|e| format!("{e:?}"))?;
        }
        Ok(bytes)
    }

    fn join_queue(name: String) -> Result<(), String> {
        let queue = Queue::open(&name, 0).map_err(|e| format!("{e:?}"))?;
        queue.join(None).map_err(|e| format!("{e:?}"))
    }

    fn quit(status: u8) {
        std::process::exit(status.into());
    }

    fn poll_pipe(name: String, timeout_ms: u64) -> Result<bool, String> {
        let end = Connection::open(&name, End::B).map_err(|e| format!("{e:?}"))?;
        end.poll(Some(timeout_ms)).map_err(|e| format!("{e:?}"))
    }

    fn pipe_numbers(name: String, count: u32, send: bool) -> Result<Vec<Vec<u8>>, String> {
        let end = match send {
            true => End::A,
            false => End::B,
        };
        let end = Connection::open(&name, end).map_err(|e| format!("{e:?}"))?;
        let mut messages = Vec::new();
        for n in 0..count {
            if send {
                end.send(&n.to_le_bytes(), None)
                    .map_err(|e| format!("{e:?}"))?;
                continue;
            }
            if !end.poll(None).map_err(|e| format!("{e:?}"))? {
                return Err(format!("poll found no message {n}"));
            }
            messages.push(end.recv(None).map_err(|e| format!("{e:?}"))?);
        }
        if send {
            end.close().map_err(|e| format!("{e:?}"))?;
        }
        Ok(messages)
    }

    fn await_barrier(name: String, parties: u32) -> Result<u32, String> {
        let barrier = Barrier::open(&name, parties).map_err(|e| format!("{e:?}"))?;
        barrier.wait(None).map_err(|e| format!("{e:?}"))
    }

    fn append_to_list(name: String, item: Vec<u8>) -> Result<Vec<Vec<u8>>, String> {
        let list = SharedList::open(&name).map_err(|e| format!("{e:?}"))?;
        list.append(&item).map_err(|e| format!("{e:?}"))?;
        list.slice(None, None).map_err(|e| format!("{e:?}"))
    }

    fn await_item(name: String) -> Result<Vec<u8>, String> {
        let queue = Queue::open(&name, 0).map_err(|e| format!("{e:?}"))?;
        loop {
            match queue.get(None) {
                Err(Error::Timeout) => continue,
                other => return other.map_err(|e| format!("{e:?}")),
            }
        }
    }

    fn announce_and_await(name: String) -> Result<Vec<u8>, String> {
        println!("waiting on {name}");
        eprintln!("{name} is empty");
        Self::await_item(name)
    }

    fn half_line_and_await(name: String) -> Result<Vec<u8>, String> {
        print!("waiting on {name}");
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        eprintln!("{name} is empty");
        Self::await_item(name)
    }

    fn await_item_within(name: String, timeout_ms: u64) -> Result<Vec<u8>, String> {
        let queue = Queue::open(&name, 0).map_err(|e| format!("{e:?}"))?;
        queue.get(Some(timeout_ms)).map_err(|e| format!("{e:?}"))
    }

    fn take_then_wait(name: String, count: u32) -> Result<Vec<Vec<u8>>, String> {
        let queue = Queue::open(&name, 0).map_err(|e| format!("{e:?}"))?;
        let items = (0..count)
            .map(|_| queue.get(None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{e:?}"))?;
        let took = Queue::open(&format!("{name}-took"), 0).map_err(|e| format!("{e:?}"))?;
        took.put(&[], None).map_err(|e| format!("{e:?}"))?;
        let event = Event::open(&format!("{name}-go")).map_err(|e| format!("{e:?}"))?;
        event.wait(None).map_err(|e| format!("{e:?}"))?;
        Ok(items)
    }

    fn stream_items(name: String, count: u32) -> Result<Vec<Vec<u8>>, String> {
        let queue = Queue::open(&name, 0).map_err(|e| format!("{e:?}"))?;
        if count > 0 {
            for n in 0..count {
                queue.put(&n.to_le_bytes(), None).map_err(|e| format!("{e:?}"))?;
            }
            queue.close().map_err(|e| format!("{e:?}"))?;
            return Ok(Vec::new());
        }
        let mut items = Vec::new();
        loop {
            match queue.get(None) {
                Ok(item) => items.push(item),
                Err(Error::Closed) => return Ok(items),
                Err(e) => return Err(format!("{e:?}")),
            }
        }
    }

    fn put_after_event(name: String, count: u32) -> Result<u32, String> {
        let queue = Queue::open(&name, 0).map_err(|e| format!("{e:?}"))?;
        queue.put(b"first", None).map_err(|e| format!("{e:?}"))?;
        let event = Event::open(&format!("{name}-go")).map_err(|e| format!("{e:?}"))?;
        event.wait(None).map_err(|e| format!("{e:?}"))?;
        for n in 0..count {
            queue
                .put(b"more", None)
                .map_err(|e| format!("put {n} after the event: {e:?}"))?;
        }
        Ok(count + 1)
    }

    fn send_after_event(name: String, count: u32) -> Result<u32, String> {
        let end = Connection::open(&name, End::A).map_err(|e| format!("{e:?}"))?;
        end.send(b"first", None).map_err(|e| format!("{e:?}"))?;
        let event = Event::open(&format!("{name}-go")).map_err(|e| format!("{e:?}"))?;
        event.wait(None).map_err(|e| format!("{e:?}"))?;
        for n in 0..count {
            end.send(b"more", None)
                .map_err(|e| format!("send {n} after the event: {e:?}"))?;
        }
        Ok(count + 1)
    }

    fn hoard(kind: String) -> Result<u64, String> {
        const PER_OBJECT: u64 = 50_000;
        let mut stored = 0u64;
        loop {
            let name = format!("hoard-{kind}-{}", stored / PER_OBJECT);
            // Stores up to `n` items in the object `name`; false once denied.
            let outcome = match kind.as_str() {
                "queue" => Queue::open(&name, 0).and_then(|queue| {
                    for _ in 0..PER_OBJECT {
                        queue.put(&[], None)?;
                        stored += 1;
                    }
                    Ok(())
                }),
                "dict" => Dict::open(&name).and_then(|dict| {
                    for _ in 0..PER_OBJECT {
                        dict.set(&stored.to_string(), &[])?;
                        stored += 1;
                    }
                    Ok(())
                }),
                "list" => SharedList::open(&name).and_then(|list| {
                    let batch = vec![Vec::new(); 1000];
                    for _ in 0..PER_OBJECT / 1000 {
                        list.extend(&batch)?;
                        stored += 1000;
                    }
                    Ok(())
                }),
                other => return Err(format!("no kind {other}")),
            };
            match outcome {
                Ok(()) => {}
                Err(Error::Denied(_)) => return Ok(stored),
                Err(e) => return Err(format!("{e:?}")),
            }
        }
    }

    fn flood(mib: u32) -> u64 {
        // Clear the screen, ring the bell, set a window title, go red.
        let line = "\x1b[2J\x07\x1b]0;pwned\x07\x1b[31mred\x1b[0m\n".repeat(1024);
        let mut out = std::io::stdout().lock();
        let mut written = 0u64;
        while written < u64::from(mib) << 20 {
            let _ = out.write_all(line.as_bytes());
            written += line.len() as u64;
        }
        written
    }

    fn big_string(mib: u32) -> String {
        "x".repeat((mib as usize) << 20)
    }

    fn big_bytes(mib: u32) -> Vec<u8> {
        vec![7; (mib as usize) << 20]
    }

    fn echo(text: String) -> String {
        text
    }

    fn connect(addr: String) -> Result<(), String> {
        std::net::TcpStream::connect(addr.as_str())
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn tally(trap: bool) -> u32 {
        static CALLS: AtomicU32 = AtomicU32::new(0);
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        if trap {
            panic!("trap after call {calls}");
        }
        calls
    }
}

export!(Misbehave);
