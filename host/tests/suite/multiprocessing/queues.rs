//! Queues and pipes between the host and tasks: each item delivered once,
//! in order, within its size limit, waits that end, a queue's `join` and a
//! pipe's `poll`.

use std::time::{Duration, Instant};

use wpool::{End, Limits, ObjectError, Pool, TaskError, TaskOutput};

use super::{LONG, SECOND, input, inputs, ok_bytes, pool, pool_with, task, wave};
use crate::util::{Guest, WPOOL, procfs};

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
    // It asks again each time the hub answers `timeout`: only its
    // deadline ends the wait.
    assert_eq!(
        outputs[0].result,
        Err(TaskError::Timeout(Duration::from_millis(300)))
    );
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
        String::from_utf8_lossy(output.stdout.bytes()),
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
fn item_put_after_a_waiting_task_was_terminated_is_not_lost() {
    // Workers started under a name of their own: this test's worker is
    // told apart from the other tests' (all children of this process).
    let dir = tempfile::tempdir().expect("a temporary directory");
    let program = dir.path().join("wpool-waited");
    std::os::unix::fs::symlink(WPOOL, &program).expect("a symlink");
    let pool = Pool::builder()
        .workers(1)
        .worker_program(&program)
        .retries(0)
        .build();
    let queue = pool.queue("waited", 0).expect("the queue opens");
    let await_item = task(Guest::Misbehave, Some("await-item"));
    let mut process = pool
        .spawn(&await_item, input(&await_item, r#""waited""#))
        .expect("it starts");
    // Let the task reach its get: its worker blocked in a host call.
    let started = Instant::now();
    let mut steady = 0;
    while steady < 5 {
        let blocked = procfs::children_of(std::process::id())
            .into_iter()
            .filter(|pid| procfs::argv0(*pid).is_some_and(|arg| program.as_os_str() == arg))
            .any(procfs::blocked_in_host_call);
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

#[test]
fn host_join_waits_until_a_spawned_consumer_marked_every_item_done() {
    let pool = pool(1);
    let queue = pool.queue("jobs", 0).expect("the queue opens");
    for item in [b"ab".as_slice(), b"cde", b"f"] {
        queue.put(item, SECOND).expect("the queue takes it");
    }
    assert_eq!(
        queue.join(Some(Duration::from_millis(50))),
        Err(ObjectError::Timeout)
    );
    let drain = task(Guest::Misbehave, Some("drain-queue"));
    let mut process = pool
        .spawn(&drain, input(&drain, r#"("jobs", 3)"#))
        .expect("it starts");
    assert_eq!(queue.join(LONG), Ok(()), "every item was marked done");
    assert!(queue.is_empty().expect("empty"));
    assert!(process.join(LONG));
    let output = process.output().expect("it ended");
    assert_eq!(wave(&output), "ok(6)");
    assert!(matches!(queue.task_done(), Err(ObjectError::Denied(_))));
}

#[test]
fn a_task_joining_a_queue_nobody_consumes_ends_by_its_deadline() {
    let limits = Limits {
        timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let pool = pool_with(1, limits);
    let queue = pool.queue("stuck", 0).expect("the queue opens");
    queue.put(b"x", SECOND).expect("the queue takes it");
    let join = task(Guest::Misbehave, Some("join-queue"));
    let started = Instant::now();
    let outputs = pool
        .map(&join, [input(&join, r#""stuck""#)])
        .expect("the run starts");
    // The guest sees `timeout` a tick before its deadline, and returns it.
    match &outputs[0].result {
        Err(TaskError::Returned(value)) => assert_eq!(value.as_wave(), r#"err("Error::Timeout")"#),
        other => panic!("expected a returned err, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_task_polls_a_pipe_until_the_host_sends() {
    let pool = pool(1);
    let poll = task(Guest::Misbehave, Some("poll-pipe"));
    let _quiet = pool.pipe("quiet", End::A).expect("the end opens");
    let outputs = pool
        .map(&poll, [input(&poll, r#"("quiet", 100)"#)])
        .expect("the run starts");
    assert_eq!(wave(&outputs[0]), "ok(false)", "nothing was sent");

    let talk = pool.pipe("talk", End::A).expect("the end opens");
    let started = Instant::now();
    let mut process = pool
        .spawn(&poll, input(&poll, r#"("talk", 20000)"#))
        .expect("it starts");
    std::thread::sleep(Duration::from_millis(300));
    talk.send(b"here", SECOND).expect("the pipe takes it");
    assert!(process.join(LONG));
    assert_eq!(wave(&process.output().expect("it ended")), "ok(true)");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the send woke it"
    );
}

/// The items of a task's `ok(list<list<u8>>)`, from its typed JSON.
#[track_caller]
fn ok_items(output: &TaskOutput) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let json = match &output.result {
        Ok(value) => value.to_json(),
        Err(error) => panic!("task {} failed: {error}", output.index),
    };
    let Some(items) = json["ok"].as_array() else {
        panic!("{json} is not ok([...])");
    };
    items
        .iter()
        .map(|item| {
            let text = item.as_str().expect("each item is base64");
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("valid base64")
        })
        .collect()
}

#[test]
fn items_a_waiting_task_took_ahead_come_back_to_the_others() {
    let pool = pool(2);
    let queue = pool.queue("ahead", 0).expect("the queue opens");
    for n in 0..100u8 {
        queue.put(&[n], SECOND).expect("the queue takes it");
    }
    queue.close().expect("the queue closes");
    let took = pool.queue("ahead-took", 0).expect("the queue opens");
    // Its two gets in a row take the items ahead, which it holds while it
    // waits for the event.
    let taker = task(Guest::Misbehave, Some("take-then-wait"));
    let mut taking = pool
        .spawn(&taker, input(&taker, r#"("ahead", 2)"#))
        .expect("it starts");
    took.get(LONG).expect("the taker took its items");
    let drainer = task(Guest::Misbehave, Some("stream-items"));
    let mut draining = pool
        .spawn(&drainer, input(&drainer, r#"("ahead", 0)"#))
        .expect("it starts");
    // The queue is closed: the drainer ends once it has every item, those
    // the waiting taker took ahead and put back included.
    assert!(
        draining.join(LONG),
        "the drainer ends while the taker waits"
    );
    assert!(taking.is_alive(), "the taker still waits");
    pool.event("ahead-go")
        .and_then(|event| event.set())
        .expect("the event is set");
    assert!(taking.join(LONG), "the taker ends");
    let mut all = ok_items(&taking.output().expect("it ended"));
    assert_eq!(all, [[0], [1]], "the taker got the first two items");
    all.extend(ok_items(&draining.output().expect("it ended")));
    all.sort();
    assert_eq!(all, (0..100u8).map(|n| vec![n]).collect::<Vec<_>>());
}

#[test]
fn tasks_draining_a_queue_get_every_item_once() {
    let pool = pool(1);
    let queue = pool.queue("drained", 0).expect("the queue opens");
    let drainer = task(Guest::Misbehave, Some("stream-items"));
    let mut drainers: Vec<_> = (0..3)
        .map(|_| {
            pool.spawn(&drainer, input(&drainer, r#"("drained", 0)"#))
                .expect("it starts")
        })
        .collect();
    let items: Vec<Vec<u8>> = (0..3000u32).map(|n| n.to_le_bytes().to_vec()).collect();
    for item in &items {
        queue.put(item, LONG).expect("the queue takes it");
    }
    queue.close().expect("the queue closes");
    let mut all = Vec::new();
    for drainer in &mut drainers {
        assert!(drainer.join(LONG), "each drainer ends");
        all.extend(ok_items(&drainer.output().expect("it ended")));
    }
    all.sort();
    let mut expected = items;
    expected.sort();
    assert_eq!(all.len(), expected.len(), "no item lost, none twice");
    assert_eq!(all, expected);
}

#[test]
fn a_put_answered_at_once_that_fails_later_is_reported() {
    let pool = pool(1);
    let queue = pool.queue("late", 0).expect("the queue opens");
    let putter = task(Guest::Misbehave, Some("put-after-event"));
    let mut process = pool
        .spawn(&putter, input(&putter, r#"("late", 5)"#))
        .expect("it starts");
    // Its first put waited for its answer, which said the queue has room:
    // its next puts are answered at once. They come after the close.
    assert_eq!(queue.get(LONG).expect("the first item comes"), b"first");
    queue.close().expect("the queue closes");
    pool.event("late-go")
        .and_then(|event| event.set())
        .expect("the event is set");
    assert!(process.join(LONG), "the putter ends");
    let output = process.output().expect("it ended");
    // The first put after the close was answered `ok` at once; its failure
    // is the answer of a later put, or fails the task if none came.
    match &output.result {
        Err(TaskError::Returned(value)) => {
            let wave = value.as_wave();
            assert!(
                wave.starts_with("err(\"put ")
                    && wave.ends_with(" after the event: Error::Closed\")"),
                "{wave}"
            );
            assert!(!wave.starts_with("err(\"put 0 "), "{wave}");
        }
        Err(TaskError::Trap(why)) => assert_eq!(
            why,
            "a queue put answered at once failed after the task's last put on that queue: closed"
        ),
        other => panic!("expected the late put's failure, got {other:?}"),
    }
    assert_eq!(queue.len(), Ok(0), "nothing was put after the close");
}

/// The numbers `0..count`, as `pipe-numbers` sends them.
fn numbers(count: u32) -> Vec<Vec<u8>> {
    (0..count).map(|n| n.to_le_bytes().to_vec()).collect()
}

#[test]
fn a_pipes_messages_stream_each_once_and_in_order_both_ways() {
    let pool = pool(2);
    // A task's sends, answered at once while the inbox has room.
    let up = pool.pipe("up", End::B).expect("the end opens");
    let numbers_task = task(Guest::Misbehave, Some("pipe-numbers"));
    let mut sender = pool
        .spawn(&numbers_task, input(&numbers_task, r#"("up", 3000, true)"#))
        .expect("it starts");
    let got: Vec<Vec<u8>> = (0..3000)
        .map(|_| up.recv(LONG).expect("each message comes"))
        .collect();
    assert_eq!(got, numbers(3000));
    assert_eq!(up.recv(LONG), Err(ObjectError::Closed), "then the close");
    assert!(sender.join(LONG));
    assert_eq!(wave(&sender.output().expect("it ended")), "ok([])");

    // A task's receives in a row take the messages ahead; its polls count
    // those it holds (else one would wait on an inbox left empty, the end
    // still open, until the task's deadline).
    let down = pool.pipe("down", End::A).expect("the end opens");
    let mut receiver = pool
        .spawn(
            &numbers_task,
            input(&numbers_task, r#"("down", 3000, false)"#),
        )
        .expect("it starts");
    for message in numbers(3000) {
        down.send(&message, LONG).expect("the pipe takes it");
    }
    assert!(receiver.join(LONG), "the receiver ends, the end still open");
    let output = receiver.output().expect("it ended");
    assert_eq!(ok_items(&output), numbers(3000));
}

#[test]
fn a_task_sending_to_an_end_that_closed_learns_it() {
    let pool = pool(1);
    let gone = pool.pipe("gone", End::B).expect("the end opens");
    let send = task(Guest::Misbehave, Some("pipe-numbers"));
    let mut sender = pool
        .spawn(&send, input(&send, r#"("gone", 1000000, true)"#))
        .expect("it starts");
    for message in numbers(10) {
        assert_eq!(gone.recv(LONG), Ok(message));
    }
    gone.close().expect("the end closes");
    assert!(sender.join(LONG), "the sender ends");
    // A send answered at once fails after; a later send, or the task's
    // end, reports it.
    let output = sender.output().expect("it ended");
    match &output.result {
        Err(TaskError::Returned(value)) => assert_eq!(value.as_wave(), r#"err("Error::Closed")"#),
        other => panic!("expected the send's `closed`, got {other:?}"),
    }
}

#[test]
fn a_send_answered_at_once_that_fails_after_the_last_fails_the_task() {
    let pool = pool(1);
    let late = pool.pipe("late", End::B).expect("the end opens");
    let sender = task(Guest::Misbehave, Some("send-after-event"));
    let mut process = pool
        .spawn(&sender, input(&sender, r#"("late", 1)"#))
        .expect("it starts");
    // Its first send waited for its answer, which said there is room: its
    // one send after the event is answered at once, and fails after it.
    assert_eq!(late.recv(LONG), Ok(b"first".to_vec()));
    late.close().expect("the end closes");
    pool.event("late-go")
        .and_then(|event| event.set())
        .expect("the event is set");
    assert!(process.join(LONG), "the sender ends");
    match process.output().map(|output| output.result) {
        Some(Err(TaskError::Trap(why))) => assert_eq!(
            why,
            "a pipe send answered at once failed after the task's last send on that pipe: closed"
        ),
        other => panic!("expected the late send's failure, got {other:?}"),
    }
}
