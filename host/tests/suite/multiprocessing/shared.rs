//! Shared values, locks (and their conditions), dicts, lists and barriers,
//! seen by tasks and by the host, and the jobs that scope them.

use std::time::{Duration, Instant};

use wpool::{Condition, Lock, ObjectError, Pool, Scalar, SharedValue};

use super::{LONG, SECOND, input, inputs, pool, task, wave};
use crate::util::{Guest, ok_int};

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
    let counts: Vec<Option<i64>> = outputs.iter().map(|o| ok_int(&wave(o))).collect();
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
fn a_task_that_ends_holding_a_lock_hands_it_to_the_next_task_of_its_batch() {
    // On one worker, quick tasks go in batches, and the hub hears that a
    // task ended only with its batch's results: the worker lets go of a
    // lock its task still holds as the task ends, or the next task's
    // acquire would time out after a second.
    let pool = pool(1);
    let keep = task(Guest::Misbehave, Some("keep-lock"));
    let keeps = (0..21).map(|n| (n % 3 != 1).to_string());
    let outputs = pool
        .map(&keep, inputs(&keep, keeps))
        .expect("the run starts");
    let results: Vec<String> = outputs.iter().map(wave).collect();
    assert!(results.iter().all(|r| r == "ok"), "{results:?}");
    // The last task kept it: the host takes it once the run is over.
    let lock = pool.lock("kept", false).expect("it exists");
    assert_eq!(lock.acquire(SECOND), Ok(()));
    assert_eq!(lock.locked(), Ok(true));
    lock.release().expect("the host holds it");
}

#[test]
fn a_value_set_after_streamed_puts_is_seen_after_them() {
    // The task's puts return at once and reach the hub a moment later; its
    // set of the value, in shared memory, waits for them first. The host,
    // watching the value, finds every item queued once it is set.
    let pool = pool(1);
    let publish = task(Guest::Misbehave, Some("publish"));
    let published = pool.value("published", Scalar::Int(0)).expect("opens");
    let items = pool.queue("published-items", 0).expect("opens");
    let mut process = pool
        .spawn(&publish, input(&publish, "20000"))
        .expect("it starts");
    let started = Instant::now();
    while published.get() != Ok(Scalar::Int(20000)) {
        assert!(started.elapsed() < LONG.unwrap(), "never published");
    }
    assert_eq!(items.len(), Ok(20000));
    assert!(process.join(LONG));
    assert_eq!(process.exit_code(), Some(0));
}

#[test]
fn host_reads_the_dict_tasks_filled_and_tasks_read_the_host_entries() {
    let pool = pool(2);
    let record = task(Guest::SharedDict, Some("record"));
    let outputs = pool
        .map(&record, inputs(&record, (0..10).map(|n| n.to_string())))
        .expect("the run starts");
    let sizes: Vec<Option<i64>> = outputs.iter().map(|o| ok_int(&wave(o))).collect();
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
fn a_task_sees_whether_the_host_holds_a_lock_without_waiting() {
    let pool = pool(1);
    let lock = pool.lock("probed", false).expect("the lock opens");
    let probe = task(Guest::Misbehave, Some("probe-lock"));
    lock.acquire(SECOND).expect("nobody holds it");
    let outputs = pool
        .map(&probe, [input(&probe, r#""probed""#)])
        .expect("the run starts");
    assert_eq!(wave(&outputs[0]), "ok((true, false))", "held by the host");
    lock.release().expect("the host holds it");
    let outputs = pool
        .map(&probe, [input(&probe, r#""probed""#)])
        .expect("the run starts");
    assert_eq!(wave(&outputs[0]), "ok((false, true))", "free, so taken");
    assert_eq!(lock.locked(), Ok(false), "the task released it");
    assert_eq!(lock.try_acquire(), Ok(true));
}

/// A task's `set` of a value whose kind it has seen, and its `release` of
/// a lock it acquired, go without waiting for the hub's answer. They still
/// arrive, in order, before the task ends, even when it traps; what could
/// fail (a set of another kind, a release of a lock it no longer holds)
/// still waits, and fails at once.
#[test]
fn sets_and_releases_sent_at_once_arrive_and_what_could_fail_still_waits() {
    let pool = pool(1);
    let task = task(Guest::Misbehave, Some("answered-at-once"));
    let outputs = pool
        .map(
            &task,
            [
                input(&task, r#"("kept", false)"#),
                input(&task, r#"("trapped", true)"#),
            ],
        )
        .expect("the run starts");
    let outcomes = [
        r#""Err(Error::Denied(\"this holds int, not float\"))""#,
        r#""Err(Error::Denied(\"this task does not hold the lock\"))""#,
        r#""Ok(Scalar::Int(41))""#,
    ];
    assert_eq!(wave(&outputs[0]), format!("ok([{}])", outcomes.join(", ")));
    let trap = outputs[1].result.as_ref().expect_err("it panics");
    assert!(trap.to_string().contains("after the release"), "{trap}");
    for name in ["kept", "trapped"] {
        let value = pool.value(name, Scalar::Int(0)).expect("it exists");
        assert_eq!(value.get(), Ok(Scalar::Int(41)), "{name}");
        let lock = pool
            .lock(&format!("{name}-lock"), false)
            .expect("it exists");
        assert_eq!(lock.try_acquire(), Ok(true), "{name}: released");
    }
}

/// The `condition-demo` guest's shelf, opened by the host: its lock, the
/// condition consumers wait on, and its stock.
fn shelf(pool: &Pool) -> (Lock, Condition, SharedValue) {
    let lock = pool.lock("shelf", false).expect("the lock opens");
    let restocked = pool.condition("restocked", "shelf").expect("it opens");
    let stock = pool.value("stock", Scalar::Int(0)).expect("it opens");
    (lock, restocked, stock)
}

#[test]
fn the_host_notifies_a_task_waiting_on_a_condition() {
    let pool = pool(1);
    let (lock, restocked, stock) = shelf(&pool);
    let consumer = task(Guest::ConditionDemo, Some("consumer"));
    let mut process = pool
        .spawn(&consumer, input(&consumer, "(2, 20000)"))
        .expect("it starts");
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..2 {
        lock.acquire(LONG).expect("the waiting consumer gave it up");
        stock.add(Scalar::Int(1)).expect("an int");
        restocked.notify(1).expect("the host holds the lock");
        lock.release().expect("the host holds it");
    }
    assert!(process.join(LONG));
    assert_eq!(wave(&process.output().expect("it ended")), "ok(2)");
    assert_eq!(stock.get(), Ok(Scalar::Int(0)));
}

#[test]
fn the_host_waits_for_stock_a_task_produces() {
    let pool = pool(1);
    let (lock, restocked, stock) = shelf(&pool);
    let producer = task(Guest::ConditionDemo, Some("producer"));
    lock.acquire(LONG).expect("the lock is free");
    let mut process = pool
        .spawn(&producer, input(&producer, "3"))
        .expect("it starts");
    // Each wait gives the lock to the producer, which adds one and notifies.
    let three = || Ok(stock.get()? == Scalar::Int(3));
    assert_eq!(restocked.wait_for(three, LONG), Ok(true));
    assert!(process.join(LONG));
    assert_eq!(wave(&process.output().expect("it ended")), "ok(3)");
    // Nobody adds a fourth: the wait ends at its timeout, the lock held.
    let started = Instant::now();
    let four = || Ok(stock.get()? == Scalar::Int(4));
    let short = Duration::from_millis(200);
    assert_eq!(restocked.wait_for(four, Some(short)), Ok(false));
    assert!(started.elapsed() >= short, "gave up early");
    assert_eq!(lock.release(), Ok(()), "the host held the lock again");
}

#[test]
fn a_condition_wait_nobody_notifies_times_out_with_the_lock_back() {
    let pool = pool(1);
    let consumer = task(Guest::ConditionDemo, Some("consumer"));
    let outputs = pool
        .map(&consumer, [input(&consumer, "(1, 200)")])
        .expect("the run starts");
    match &outputs[0].result {
        Err(wpool::TaskError::Returned(value)) => assert_eq!(
            value.as_wave(),
            r#"err("no stock within 200 ms after 0 items")"#
        ),
        other => panic!("expected a returned err, got {other:?}"),
    }
    // The consumer had the lock back after its wait, and released it.
    let lock = pool.lock("shelf", false).expect("the lock exists");
    assert_eq!(lock.try_acquire(), Ok(true));
}

#[test]
fn the_host_aborting_a_barrier_sends_its_waiting_task_away() {
    let pool = pool(1);
    let barrier = pool.barrier("meet", 2).expect("the barrier opens");
    let wait = task(Guest::Misbehave, Some("await-barrier"));
    let mut process = pool
        .spawn(&wait, input(&wait, r#"("meet", 2)"#))
        .expect("it starts");
    let started = Instant::now();
    while barrier.n_waiting() != Ok(1) {
        assert!(started.elapsed() < Duration::from_secs(30), "nobody waits");
        std::thread::sleep(Duration::from_millis(10));
    }
    barrier.abort().expect("the host aborts");
    assert!(process.join(LONG));
    match process.output().map(|o| o.result) {
        Some(Err(wpool::TaskError::Returned(value))) => {
            assert_eq!(value.as_wave(), r#"err("Error::Abandoned")"#)
        }
        other => panic!("expected a returned err, got {other:?}"),
    }
    assert_eq!(barrier.broken(), Ok(true));
    barrier.reset().expect("the host resets");
    // Mended: a task and the host meet there.
    let mut process = pool
        .spawn(&wait, input(&wait, r#"("meet", 2)"#))
        .expect("it starts");
    assert!(barrier.wait(LONG).is_ok());
    assert!(process.join(LONG));
    assert!(wave(&process.output().expect("it ended")).starts_with("ok("));
}

#[test]
fn tasks_count_in_a_dict_by_compare_and_set_without_losing_updates() {
    let pool = pool(2);
    let tally = task(Guest::SharedDict, Some("tally"));
    let words = (0..40).map(|n| format!("\"{}\"", ["a", "b"][n % 2]));
    let outputs = pool
        .map(&tally, inputs(&tally, words))
        .expect("the run starts");
    let mut counts: Vec<Option<i64>> = outputs.iter().map(|o| ok_int(&wave(o))).collect();
    counts.sort();
    // Each word's tasks saw each count from 1 to 20 once.
    let expected: Vec<Option<i64>> = (1..=20).flat_map(|n| [Some(n), Some(n)]).collect();
    assert_eq!(counts, expected);
    let dict = pool.dict("counts").expect("it exists");
    for word in ["a", "b"] {
        assert_eq!(dict.get(word), Ok(Some(20u64.to_le_bytes().to_vec())));
    }
}

#[test]
fn tasks_append_to_a_shared_list_the_host_reads() {
    let pool = pool(2);
    let list = pool.list("log").expect("the list opens");
    list.append(b"host").expect("the host appends");
    let append = task(Guest::Misbehave, Some("append-to-list"));
    let outputs = pool
        .map(
            &append,
            inputs(&append, (0..10).map(|n| format!("(\"log\", [{n}])"))),
        )
        .expect("the run starts");
    for (n, output) in outputs.iter().enumerate() {
        // Each task saw the host's item first, and its own among the rest.
        let seen = wave(output);
        assert!(seen.starts_with("ok([[104, 111, 115, 116], "), "{seen}");
        assert!(seen.contains(&format!("[{n}]")), "{seen}");
    }
    assert_eq!(list.get(0), Ok(b"host".to_vec()));
    let mut items = list.slice(Some(1), None).expect("a slice");
    items.sort();
    assert_eq!(items, (0..10u8).map(|n| vec![n]).collect::<Vec<_>>());
    assert_eq!(list.len(), Ok(11));
}

#[test]
fn a_task_killed_waiting_on_a_condition_leaves_the_lock_and_the_others_free() {
    let pool = pool(2);
    let (lock, restocked, stock) = shelf(&pool);
    let consumer = task(Guest::ConditionDemo, Some("consumer"));
    let mut doomed = pool
        .spawn(&consumer, input(&consumer, "(1, 20000)"))
        .expect("it starts");
    let mut survivor = pool
        .spawn(&consumer, input(&consumer, "(1, 20000)"))
        .expect("it starts");
    // Both wait on the condition once neither holds the lock.
    std::thread::sleep(Duration::from_millis(500));
    doomed.terminate();
    assert!(doomed.join(LONG));
    assert_eq!(doomed.exit_code(), Some(-9));
    // The lock is free, and the one notify goes to the task still waiting.
    assert_eq!(lock.acquire(SECOND), Ok(()));
    stock.add(Scalar::Int(1)).expect("an int");
    restocked.notify(1).expect("the host holds the lock");
    lock.release().expect("the host holds it");
    assert!(survivor.join(LONG));
    assert_eq!(wave(&survivor.output().expect("it ended")), "ok(1)");
    assert_eq!(stock.get(), Ok(Scalar::Int(0)));
}

/// A task storing empty items in queues, in dicts or in lists until the
/// job's budget denies them grows the host by no more than the budget:
/// each item is charged what holding it costs, not just its (zero) bytes.
#[test]
fn shared_objects_stay_within_their_budget() {
    const BUDGET_MIB: u64 = 24;
    let hoard = |kind: &str, budget: &str| {
        let kind = format!("{kind:?}");
        let args = [
            "--summary",
            "--func",
            "hoard",
            "--max-shared",
            budget,
            &kind,
        ];
        let out = crate::util::run(Guest::Misbehave, args).output();
        (out.host_peak_kib(), out)
    };
    for kind in ["queue", "dict", "list"] {
        // The same run with room for nothing: the host's own memory.
        let (base_kib, empty) = hoard(kind, "1KiB");
        empty.assert_success();
        let (full_kib, out) = hoard(kind, &format!("{BUDGET_MIB}MiB"));
        out.assert_success();
        let line = out.stdout.trim();
        let stored: u64 = line
            .strip_prefix("ok(")
            .and_then(|v| v.strip_suffix(')'))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| out.fail(format_args!("the task answered {line}")));
        out.check(
            stored > 50_000,
            format_args!("only {stored} {kind} items were stored"),
        );
        let grown_mib = full_kib.saturating_sub(base_kib) / 1024;
        out.check(
            grown_mib <= BUDGET_MIB + 4,
            format_args!(
                "the host grew by {grown_mib} MiB ({base_kib} KiB to {full_kib} KiB) \
                 holding {stored} empty {kind} items under a budget of {BUDGET_MIB} MiB"
            ),
        );
    }
}
