//! The `multiprocessing` counterparts: processes started with `wpool spawn`
//! and [`Pool::spawn`](wpool::Pool::spawn), queues, pipes, shared values,
//! locks and dicts seen by tasks on different worker processes and by the
//! host, jobs that scope them, and `apply_async`.

use std::time::{Duration, Instant};

use crate::util::{self, Guest, Output, kill_9, run, wpool};

/// `GUEST.wasm#FUNC`, with `=INPUT` when given: one `wpool spawn` process.
fn process(guest: Guest, func: &str, input: Option<&str>) -> String {
    let mut spec = format!("{}#{func}", guest.wasm().display());
    if let Some(input) = input {
        spec.push('=');
        spec.push_str(input);
    }
    spec
}

/// The integer `n` of a line `ok(n)`.
fn ok_int(line: &str) -> Option<i64> {
    line.strip_prefix("ok(")?.strip_suffix(')')?.parse().ok()
}

// ---------------------------------------------------------------------------
// The seed examples on the command line
// ---------------------------------------------------------------------------

#[test]
fn spawn_queue_writer_and_reader() {
    let out = wpool([
        "spawn".to_string(),
        process(Guest::QueueDemo, "writer", None),
        process(Guest::QueueDemo, "reader", None),
    ])
    .output();
    out.assert_success().assert_stdout_lines(&[
        "[0 writer] = 4",
        "[1 reader] got A",
        "[1 reader] got B",
        "[1 reader] got C",
        "[1 reader] got D",
        r#"[1 reader] = ok(["A", "B", "C", "D"])"#,
    ]);
}

#[test]
fn spawn_pipe_ping_pong() {
    let out = wpool([
        "spawn".to_string(),
        process(Guest::PipePingpong, "ping", Some("3")),
        process(Guest::PipePingpong, "pong", None),
    ])
    .output();
    // Pong returns once ping has closed its end of the pipe.
    out.assert_success().assert_stdout_lines(&[
        "[0 ping] pong 0",
        "[0 ping] pong 1",
        "[0 ping] pong 2",
        "[0 ping] = ok(3)",
        "[1 pong] ping 0",
        "[1 pong] ping 1",
        "[1 pong] ping 2",
        "[1 pong] = ok(3)",
    ]);
}

#[test]
fn counter_under_a_lock_is_exact_across_workers() {
    let out = run(
        Guest::SharedCounter,
        [
            "100", "100", "100", "100", "100", "100", "100", "100", "100", "100", "-j", "2",
        ],
    )
    .output();
    out.assert_success();
    let lines = out.stdout_lines();
    out.check(lines.len() == 10, "expected 10 results");
    let mut counts: Vec<i64> = lines
        .iter()
        .map(|line| ok_int(line).unwrap_or_else(|| out.fail(format!("{line:?} is not ok(n)"))))
        .collect();
    counts.sort_unstable();
    out.check(
        counts.last() == Some(&1000),
        "the largest count must be exactly 10 * 100",
    );
    // Each task leaves the counter at a different value, at least its own
    // 100 increments.
    counts.dedup();
    out.check(counts.len() == 10, "two tasks left the same count");
    out.check(counts[0] >= 100, "a task saw fewer than its own increments");
}

/// Waits until `wpool` (pid `parent`) has `count` workers, each blocked in
/// a task's host call, and stays so for a few polls; returns them in the
/// order they started. Panics after `deadline`.
fn workers_blocked_in_host_calls(parent: u32, count: usize, deadline: Duration) -> Vec<u32> {
    let started = Instant::now();
    let mut steady = 0;
    loop {
        let mut workers = util::children_of(parent);
        let blocked =
            workers.len() == count && workers.iter().all(|pid| util::blocked_in_host_call(*pid));
        steady = if blocked { steady + 1 } else { 0 };
        // A request to the hub that is answered at once blocks only for a
        // moment: wait until the state holds over several polls.
        if steady == 5 {
            workers.sort_by_key(|pid| (util::start_time(*pid), *pid));
            return workers;
        }
        assert!(
            started.elapsed() < deadline,
            "after {deadline:?}, wpool {parent} has workers {workers:?}, not {count} blocked in host calls"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn killed_lock_holder_abandons_the_lock_to_its_waiter() {
    let running = wpool([
        "spawn".to_string(),
        process(Guest::Misbehave, "hold-lock", Some(r#"("L", 5000)"#)),
        process(Guest::Misbehave, "try-lock", Some(r#"("L", 10000)"#)),
        "--retries".to_string(),
        "0".to_string(),
    ])
    .start();
    let parent = running.child.id();
    // The holder sleeps with the lock; the other waits for it.
    let workers = workers_blocked_in_host_calls(parent, 2, Duration::from_secs(30));
    // Processes start in order: the first worker runs hold-lock.
    kill_9(workers[0]);
    let out = running.finish();
    out.assert_code(1)
        .assert_stderr_contains(r#"[1 try-lock] failed: returned err("Error::Abandoned")"#)
        .assert_stderr_contains("[0 hold-lock] failed: worker lost")
        .assert_stderr_contains("signal 9");
    out.check(
        out.elapsed < Duration::from_millis(4500),
        "the waiter should be answered when the holder dies, not when the hold ends",
    );
}

#[test]
fn task_waiting_on_an_empty_queue_ends_at_its_deadline() {
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "await-item",
            "--timeout",
            "500ms",
            "--json",
            r#""q""#,
        ],
    )
    .output();
    out.assert_code(1);
    let lines = out.json_lines();
    out.check(lines.len() == 1, "expected one JSON line");
    // The hub answers the get `timeout` at the task's deadline and the task
    // returns it; on a loaded machine the answer can come after the worker
    // has stopped the task at its deadline, which is then the error.
    let error = &lines[0]["error"];
    let (kind, message) = (&error["kind"], &error["message"]);
    if kind == "err" {
        out.check(
            message == r#"returned err("Error::Timeout")"#,
            "expected the task's err(Error::Timeout)",
        );
        out.assert_stderr_contains(r#"task 0 (input "q") failed: returned err("Error::Timeout")"#);
    } else {
        out.check(
            kind == "timeout",
            "expected err(Error::Timeout) or the task's timeout",
        );
        out.assert_stderr_contains("timed out after 500ms");
    }
    out.check(
        out.elapsed < Duration::from_secs(5),
        "the 500ms deadline should end the wait",
    );
}

fn assert_ran_at_least(out: &Output, least: Duration) {
    out.check(
        out.elapsed >= least,
        format_args!("expected the run to take at least {least:?}"),
    );
}

#[test]
fn queue_reader_waits_for_the_writer() {
    // The writer puts a letter every 500 ms: the reader's gets block until
    // each one comes, so the run takes the writer's 2 s.
    let out = wpool([
        "spawn".to_string(),
        process(Guest::QueueDemo, "reader", None),
        process(Guest::QueueDemo, "writer", None),
    ])
    .output();
    out.assert_success().assert_stdout_lines(&[
        "[0 reader] got A",
        "[0 reader] got B",
        "[0 reader] got C",
        "[0 reader] got D",
        r#"[0 reader] = ok(["A", "B", "C", "D"])"#,
        "[1 writer] = 4",
    ]);
    assert_ran_at_least(&out, Duration::from_secs(2));
}

// ---------------------------------------------------------------------------
// The library: the host takes part
// ---------------------------------------------------------------------------

mod library {
    use std::collections::BTreeMap;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use wpool::{
        AsyncError, Callbacks, Component, End, Error, Input, Limits, ObjectError, Pool, Scalar,
        Task, TaskError, TaskOutput,
    };

    use crate::util::{Guest, WPOOL};

    fn task(guest: Guest, func: Option<&str>) -> Task {
        Component::from_file(guest.wasm())
            .expect("the guest is a component")
            .task(func)
            .expect("the function exists")
    }

    fn pool_with(workers: usize, limits: Limits) -> Pool {
        Pool::builder()
            .workers(workers)
            .worker_program(WPOOL)
            .limits(limits)
            .retries(0)
            .build()
    }

    fn pool(workers: usize) -> Pool {
        pool_with(workers, Limits::default())
    }

    fn input(task: &Task, text: &str) -> Input {
        task.parse_input(text).expect("valid input")
    }

    fn inputs(task: &Task, texts: impl IntoIterator<Item = String>) -> Vec<Input> {
        texts.into_iter().map(|t| input(task, &t)).collect()
    }

    /// The WAVE of a successful task.
    #[track_caller]
    fn wave(output: &TaskOutput) -> String {
        match &output.result {
            Ok(value) => value.as_wave().to_string(),
            Err(error) => panic!("task {} failed: {error}", output.index),
        }
    }

    /// The bytes of a WAVE `ok([b, ...])` of a `result<list<u8>, _>`.
    #[track_caller]
    fn ok_bytes(wave: &str) -> Vec<u8> {
        let Some(list) = wave.strip_prefix("ok([").and_then(|w| w.strip_suffix("])")) else {
            panic!("{wave:?} is not ok([...])");
        };
        list.split(", ")
            .filter(|b| !b.is_empty())
            .map(|b| b.parse().unwrap_or_else(|_| panic!("{b:?} in {wave:?}")))
            .collect()
    }

    const SECOND: Option<Duration> = Some(Duration::from_secs(1));
    const LONG: Option<Duration> = Some(Duration::from_secs(30));

    #[test]
    fn host_puts_and_each_waiting_task_gets_exactly_one_item() {
        let pool = pool(2);
        let queue = pool.queue("q", 0).expect("the queue opens");
        let items: Vec<String> = (0..8).map(|i| format!("item {i}")).collect();
        for item in &items {
            queue
                .put(item.as_bytes(), SECOND)
                .expect("the queue takes it");
        }
        assert_eq!(queue.len(), Ok(8));
        let await_item = task(Guest::Misbehave, Some("await-item"));
        let outputs = pool
            .map(
                &await_item,
                inputs(&await_item, (0..8).map(|_| "\"q\"".into())),
            )
            .expect("the run starts");
        let mut got: Vec<String> = outputs
            .iter()
            .map(|o| String::from_utf8(ok_bytes(&wave(o))).expect("utf-8"))
            .collect();
        got.sort();
        assert_eq!(got, items, "every item delivered exactly once");
        assert_eq!(queue.len(), Ok(0));
    }

    #[test]
    fn one_worker_gets_items_in_the_order_they_were_put() {
        let pool = pool(1);
        let queue = pool.queue("fifo", 0).expect("the queue opens");
        for i in 0..5u8 {
            queue.put(&[i], SECOND).expect("the queue takes it");
        }
        let await_item = task(Guest::Misbehave, Some("await-item"));
        let outputs = pool
            .map(
                &await_item,
                inputs(&await_item, (0..5).map(|_| "\"fifo\"".into())),
            )
            .expect("the run starts");
        let got: Vec<Vec<u8>> = outputs.iter().map(|o| ok_bytes(&wave(o))).collect();
        assert_eq!(got, (0..5u8).map(|i| vec![i]).collect::<Vec<_>>());
    }

    #[test]
    fn host_reads_what_a_spawned_writer_puts_in_order() {
        let pool = pool(1);
        let queue = pool.queue("letters", 16).expect("the queue opens");
        let writer = task(Guest::QueueDemo, Some("writer"));
        let mut process = pool
            .spawn(&writer, input(&writer, "()"))
            .expect("it starts");
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(queue.get(LONG).expect("the writer puts 5 items"));
        }
        let expected: Vec<&[u8]> = vec![b"A", b"B", b"C", b"D", b""];
        assert_eq!(got, expected);
        assert!(process.join(LONG), "the writer ends");
        assert_eq!(process.exit_code(), Some(0));
        assert_eq!(process.output().map(|o| wave(&o)), Some("4".to_string()));
    }

    #[test]
    fn host_get_on_an_empty_queue_times_out() {
        let pool = pool(1);
        let queue = pool.queue("empty", 0).expect("the queue opens");
        let started = Instant::now();
        assert_eq!(
            queue.get(Some(Duration::from_millis(150))),
            Err(ObjectError::Timeout)
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
            "waited {waited:?} for a 150ms timeout"
        );
    }

    #[test]
    fn task_waiting_on_a_queue_nobody_fills_ends_at_its_deadline() {
        let limits = Limits {
            timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let pool = pool_with(1, limits);
        let await_item = task(Guest::Misbehave, Some("await-item"));
        let started = Instant::now();
        let outputs = pool
            .map(&await_item, [input(&await_item, "\"nobody\"")])
            .expect("the run starts");
        // As on the command line: the get's `timeout`, or the task's own
        // timeout when the hub's answer comes late.
        match &outputs[0].result {
            Err(TaskError::Returned(value)) => {
                assert_eq!(value.as_wave(), r#"err("Error::Timeout")"#)
            }
            Err(TaskError::Timeout(after)) => assert_eq!(*after, Duration::from_millis(300)),
            other => panic!("expected err(Error::Timeout), got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn messages_over_one_mib_are_refused() {
        let pool = pool(1);
        let limit = 1u64 << 20;
        let queue = pool.queue("big", 0).expect("the queue opens");
        assert_eq!(
            queue.put(&vec![7; (1 << 20) + 1], SECOND),
            Err(ObjectError::TooLarge(limit))
        );
        assert_eq!(queue.len(), Ok(0), "a refused item is not queued");
        queue
            .put(&vec![7; 1 << 20], SECOND)
            .expect("exactly 1 MiB is allowed");
        assert_eq!(queue.get(SECOND).map(|item| item.len()), Ok(1 << 20));

        // A name belongs to one kind of object.
        assert!(matches!(
            pool.pipe("big", End::A),
            Err(ObjectError::Denied(_))
        ));
        let a = pool.pipe("big pipe", End::A).expect("end a opens");
        let b = pool.pipe("big pipe", End::B).expect("end b opens");
        assert_eq!(
            a.send(&vec![7; (1 << 20) + 1], SECOND),
            Err(ObjectError::TooLarge(limit))
        );
        a.send(b"small", SECOND).expect("a small message goes");
        assert_eq!(b.recv(SECOND), Ok(b"small".to_vec()));
    }

    #[test]
    fn pong_ends_when_the_host_closes_its_end() {
        let pool = pool(1);
        let table = pool.pipe("table", End::A).expect("end a opens");
        let pong = task(Guest::PipePingpong, Some("pong"));
        let mut process = pool.spawn(&pong, input(&pong, "()")).expect("it starts");
        for round in 0..4 {
            table
                .send(format!("ping {round}").as_bytes(), SECOND)
                .expect("pong's end is open");
            assert_eq!(table.recv(LONG), Ok(format!("pong {round}").into_bytes()));
        }
        table.close().expect("the end closes");
        assert!(process.join(LONG));
        let output = process.output().expect("pong finished");
        assert_eq!(wave(&output), "ok(4)");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout.bytes),
            "ping 0\nping 1\nping 2\nping 3\n"
        );
    }

    #[test]
    fn host_sees_the_pipe_closed_after_ping_ends() {
        let pool = pool(1);
        let table = pool.pipe("table", End::B).expect("end b opens");
        let ping = task(Guest::PipePingpong, Some("ping"));
        let mut process = pool.spawn(&ping, input(&ping, "2")).expect("it starts");
        for round in 0..2 {
            assert_eq!(table.recv(LONG), Ok(format!("ping {round}").into_bytes()));
            table
                .send(format!("pong {round}").as_bytes(), SECOND)
                .expect("ping's end is open");
        }
        assert_eq!(table.recv(LONG), Err(ObjectError::Closed));
        assert!(process.join(LONG));
        assert_eq!(
            process.output().map(|o| wave(&o)),
            Some("ok(2)".to_string())
        );
    }

    #[test]
    fn counter_under_a_lock_is_exact_and_the_host_reads_it() {
        let pool = pool(2);
        let increment = task(Guest::SharedCounter, None);
        let outputs = pool
            .map(
                &increment,
                inputs(&increment, (0..10).map(|_| "100".into())),
            )
            .expect("the run starts");
        let counts: Vec<Option<i64>> = outputs.iter().map(|o| super::ok_int(&wave(o))).collect();
        assert_eq!(counts.iter().max(), Some(&Some(1000)), "{counts:?}");
        let counter = pool.value("counter", Scalar::Int(0)).expect("it exists");
        assert_eq!(counter.get(), Ok(Scalar::Int(1000)));
        // The host increments it too, under the same lock.
        let lock = pool.lock("counter-lock", false).expect("it exists");
        lock.acquire(SECOND).expect("nobody holds it now");
        counter.set(Scalar::Int(1001)).expect("the host sets it");
        lock.release().expect("the host holds it");
        let outputs = pool
            .map(&increment, [input(&increment, "1")])
            .expect("the run starts");
        assert_eq!(wave(&outputs[0]), "ok(1002)");
    }

    #[test]
    fn host_reads_the_dict_tasks_filled_and_tasks_read_the_host_entries() {
        let pool = pool(2);
        let record = task(Guest::SharedDict, Some("record"));
        let outputs = pool
            .map(&record, inputs(&record, (0..10).map(|n| n.to_string())))
            .expect("the run starts");
        let sizes: Vec<Option<i64>> = outputs.iter().map(|o| super::ok_int(&wave(o))).collect();
        assert_eq!(sizes.iter().max(), Some(&Some(10)), "{sizes:?}");

        let dict = pool.dict("squares").expect("it exists");
        let mut keys = dict.keys().expect("keys");
        keys.sort_by_key(|k| k.parse::<u32>().ok());
        assert_eq!(keys, (0..10).map(|n| n.to_string()).collect::<Vec<_>>());
        for n in 0..10u64 {
            assert_eq!(
                dict.get(&n.to_string()),
                Ok(Some((n * n).to_le_bytes().to_vec()))
            );
        }
        dict.set("12", &144u64.to_le_bytes())
            .expect("the host sets");
        assert_eq!(dict.remove("0"), Ok(Some(0u64.to_le_bytes().to_vec())));

        let entries = task(Guest::SharedDict, Some("entries"));
        let outputs = pool
            .map(&entries, [input(&entries, "()")])
            .expect("the run starts");
        let expected: Vec<String> = (1..10u64)
            .chain([12])
            .map(|n| format!("(\"{n}\", {})", n * n))
            .collect();
        assert_eq!(wave(&outputs[0]), format!("ok([{}])", expected.join(", ")));
    }

    #[test]
    fn jobs_do_not_see_each_others_objects() {
        let pool = pool(1);
        let other = pool.job();
        let record = task(Guest::SharedDict, Some("record"));
        let entries = task(Guest::SharedDict, Some("entries"));
        let outputs = pool
            .map(&record, [input(&record, "3")])
            .expect("the run starts");
        assert_eq!(wave(&outputs[0]), "ok(1)");

        let outputs = other
            .map(&entries, [input(&entries, "()")])
            .expect("the run starts");
        assert_eq!(wave(&outputs[0]), "ok([])", "the other job's dict is empty");
        assert_eq!(other.dict("squares").and_then(|d| d.len()), Ok(0));
        let outputs = other
            .map(&record, [input(&record, "4")])
            .expect("the run starts");
        assert_eq!(wave(&outputs[0]), "ok(1)", "the other job has its own dict");

        let outputs = pool
            .map(&entries, [input(&entries, "()")])
            .expect("the run starts");
        assert_eq!(wave(&outputs[0]), r#"ok([("3", 9)])"#);

        // Host handles are scoped the same way.
        let mine = pool.queue("q", 0).expect("opens");
        mine.put(b"x", SECOND).expect("puts");
        assert_eq!(other.queue("q", 0).and_then(|q| q.len()), Ok(0));
        assert_eq!(pool.queue("q", 0).and_then(|q| q.len()), Ok(1));
    }

    #[test]
    fn terminated_lock_holder_leaves_the_lock_free() {
        let pool = pool(1);
        let lock = pool.lock("held", false).expect("the lock opens");
        let hold = task(Guest::Misbehave, Some("hold-lock"));
        let mut process = pool
            .spawn(&hold, input(&hold, r#"("held", 20000)"#))
            .expect("it starts");
        // Wait until the task holds the lock: the host cannot take it.
        let started = Instant::now();
        loop {
            match lock.acquire(Some(Duration::ZERO)) {
                Err(ObjectError::Timeout) => break,
                Ok(()) => lock.release().expect("the host holds it"),
                Err(other) => panic!("unexpected {other}"),
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the task never took the lock"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let killed = Instant::now();
        process.terminate();
        assert!(process.join(LONG));
        assert_eq!(process.exit_code(), Some(-9));
        // The holder is gone once joined: the lock is free (only a waiter
        // at the time of the death would hear `abandoned`).
        assert_eq!(lock.acquire(Some(Duration::from_secs(10))), Ok(()));
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the lock should be freed when its holder dies"
        );
        lock.release().expect("the host holds it");
    }

    #[test]
    fn item_put_after_a_waiting_task_was_terminated_is_not_lost() {
        let pool = pool(1);
        let queue = pool.queue("waited", 0).expect("the queue opens");
        let await_item = task(Guest::Misbehave, Some("await-item"));
        let before = crate::util::children_of(std::process::id());
        let mut process = pool
            .spawn(&await_item, input(&await_item, r#""waited""#))
            .expect("it starts");
        // Let the task reach its get: a new worker blocked in a host call
        // (another test's worker may be taken for it; then this test
        // checks less, but never fails wrongly).
        let started = Instant::now();
        let mut steady = 0;
        while steady < 5 {
            let blocked = crate::util::children_of(std::process::id())
                .into_iter()
                .filter(|pid| !before.contains(pid))
                .any(crate::util::blocked_in_host_call);
            steady = if blocked { steady + 1 } else { 0 };
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the task never waited"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        process.terminate();
        assert!(process.join(LONG));
        assert_eq!(process.exit_code(), Some(-9));
        // Joined, the task is gone: its get must not take the next item.
        queue.put(b"x", SECOND).expect("the queue takes it");
        assert_eq!(
            queue.get(Some(Duration::from_secs(2))),
            Ok(b"x".to_vec()),
            "the item went to the dead task"
        );
    }

    // -----------------------------------------------------------------------
    // apply_async
    // -----------------------------------------------------------------------

    #[test]
    fn apply_async_results_are_collected_later_in_order() {
        let pool = pool(2);
        let square = task(Guest::Square, None);
        let results: Vec<_> = (0..12)
            .map(|i| {
                pool.apply_async(&square, input(&square, &i.to_string()))
                    .expect("submitted")
            })
            .collect();
        for (i, result) in results.iter().enumerate().rev() {
            let output = result.get(LONG).expect("finished");
            assert_eq!(output.input.to_string(), i.to_string());
            assert_eq!(wave(&output), (i * i).to_string());
            // Again: the same output.
            assert_eq!(
                result.get(Some(Duration::ZERO)).map(|o| wave(&o)),
                Ok(wave(&output))
            );
        }
        pool.join();
    }

    #[test]
    fn apply_async_ready_and_wait() {
        let pool = pool(1);
        let nap = task(Guest::Misbehave, Some("nap"));
        let result = pool
            .apply_async(&nap, input(&nap, "400"))
            .expect("submitted");
        assert!(!result.ready(), "a 400 ms nap is not done at once");
        assert!(!result.wait(Some(Duration::from_millis(50))));
        assert_eq!(
            result.get(Some(Duration::from_millis(10))).err(),
            Some(AsyncError::NotReady)
        );
        assert!(result.wait(LONG));
        assert!(result.ready());
        assert_eq!(result.get(None).map(|o| wave(&o)), Ok("400".to_string()));
        pool.join();
    }

    #[test]
    fn apply_async_calls_the_callbacks() {
        let pool = pool(2);
        let div = task(Guest::CheckedDiv, None);
        let (tx, rx) = mpsc::channel::<(usize, Result<String, String>)>();
        let mut results = Vec::new();
        for (n, text) in ["(6, 3)", "(1, 0)", "(10, 5)"].into_iter().enumerate() {
            let (ok, err) = (tx.clone(), tx.clone());
            let callbacks = Callbacks::default()
                .on_success(move |value| {
                    let _ = ok.send((n, Ok(value.as_wave().to_string())));
                })
                .on_error(move |error| {
                    let _ = err.send((n, Err(error.to_string())));
                });
            results.push(
                pool.apply_async_with(&div, input(&div, text), callbacks)
                    .expect("submitted"),
            );
        }
        drop(tx);
        pool.join();
        let called: BTreeMap<usize, Result<String, String>> = rx.iter().collect();
        assert_eq!(called.len(), 3, "one call per task: {called:?}");
        assert_eq!(called[&0], Ok("ok(2)".to_string()));
        assert_eq!(
            called[&1],
            Err(r#"returned err("cannot divide 1 by zero")"#.to_string())
        );
        assert_eq!(called[&2], Ok("ok(2)".to_string()));
        assert!(results.iter().all(|r| r.ready()));
    }

    #[test]
    fn close_refuses_new_tasks_and_join_waits_for_the_submitted_ones() {
        let pool = pool(2);
        let nap = task(Guest::Misbehave, Some("nap"));
        let results: Vec<_> = (0..4)
            .map(|_| {
                pool.apply_async(&nap, input(&nap, "200"))
                    .expect("submitted")
            })
            .collect();
        pool.close();
        match pool.apply_async(&nap, input(&nap, "1")) {
            Err(Error::Closed { input }) => assert_eq!(input.to_string(), "1"),
            Err(other) => panic!("expected a closed pool, got {other}"),
            Ok(_) => panic!("a closed pool took a task"),
        }
        pool.join();
        for result in &results {
            assert!(result.ready(), "join returned before a task finished");
            assert_eq!(result.get(None).map(|o| wave(&o)), Ok("200".to_string()));
        }
    }

    #[test]
    fn terminate_fails_unfinished_tasks() {
        let pool = pool(2);
        let nap = task(Guest::Misbehave, Some("nap"));
        let started = Instant::now();
        let results: Vec<_> = (0..4)
            .map(|_| {
                pool.apply_async(&nap, input(&nap, "10000"))
                    .expect("submitted")
            })
            .collect();
        pool.terminate();
        for result in &results {
            let output = result.get(LONG).expect("an output");
            assert_eq!(output.result, Err(TaskError::Terminated));
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "terminate should not wait for the naps"
        );
        assert!(pool.apply_async(&nap, input(&nap, "1")).is_err());
        pool.join();
    }

    // -----------------------------------------------------------------------
    // Process
    // -----------------------------------------------------------------------

    #[test]
    fn process_runs_and_is_joined() {
        let pool = pool(1);
        let worker = task(Guest::ProcessBasics, None);
        let mut process = pool.spawn(&worker, input(&worker, "1")).expect("it starts");
        assert!(process.is_alive(), "a 1 s task is alive right after start");
        assert_eq!(process.exit_code(), None);
        assert!(process.output().is_none());
        assert!(!process.join(Some(Duration::from_millis(20))));
        assert!(process.is_alive());
        assert!(process.join(None));
        assert!(!process.is_alive());
        assert_eq!(process.exit_code(), Some(0));
        let output = process.output().expect("finished");
        assert_eq!(wave(&output), r#""worker 1 done""#);
        let stdout = String::from_utf8_lossy(&output.stdout.bytes).into_owned();
        assert!(stdout.contains("Worker 1 started"), "{stdout:?}");
        assert!(stdout.contains("Worker 1 finished"), "{stdout:?}");
    }

    #[test]
    fn terminated_process_exits_with_minus_nine() {
        let pool = pool(1);
        let worker = task(Guest::ProcessBasics, None);
        let started = Instant::now();
        let mut process = pool
            .spawn(&worker, input(&worker, "20"))
            .expect("it starts");
        assert!(process.is_alive());
        process.terminate();
        assert!(process.join(LONG), "a terminated process ends");
        assert!(!process.is_alive());
        assert_eq!(process.exit_code(), Some(-9));
        assert_eq!(
            process.output().map(|o| o.result),
            Some(Err(TaskError::Terminated))
        );
        assert!(started.elapsed() < Duration::from_secs(15));
    }
}
