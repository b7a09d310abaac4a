//! One pool, many runs: every run shares the pool's worker processes,
//! those going on at once too, and idle workers stay up for the pool's
//! next run, until the pool is closed or dropped, or for its idle
//! timeout. Each test
//! counts the processes its pool started through a worker program that
//! records them (`CountedWorkers`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use wpool::{Component, Pool, Task, TaskOutput};

use crate::util::Guest;
use crate::util::procfs::{CountedWorkers, is_running, kill_9};

fn task(guest: Guest, func: Option<&str>) -> Task {
    Component::from_file(guest.wasm())
        .expect("the guest is a component")
        .task(func)
        .expect("the function exists")
}

/// Maps `square` over `0..n`, checks every result, and returns the ids of
/// the workers that ran them.
fn squares(pool: &Pool, square: &Task, n: i64) -> BTreeSet<u32> {
    let inputs = (0..n).map(|i| square.parse_input(&i.to_string()).expect("an s64"));
    let outputs: Vec<TaskOutput> = pool.map(square, inputs).expect("the run starts");
    for (i, output) in (0..n).zip(&outputs) {
        let value = output.result.as_ref().expect("square succeeds");
        assert_eq!(value.to_string(), (i * i).to_string());
    }
    outputs.iter().map(|o| o.worker.expect("ran")).collect()
}

/// Checks that the workers that ran a test's tasks (`ran`, their ids) and
/// the processes its pool started are the pool's 2 workers, no more.
fn assert_two_workers(counted: &CountedWorkers, ran: &BTreeSet<u32>) {
    assert!(ran.len() <= 2, "ran on the workers {ran:?}");
    assert_eq!(
        counted.pids().len(),
        2,
        "the pool started its 2 workers, no more"
    );
}

/// Waits until none of the processes `pids` runs any more.
fn wait_until_gone(what: &str, pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids.iter().any(|&pid| is_running(pid)) {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_map_on_a_warm_pool_starts_no_process() {
    let square = task(Guest::Square, None);
    let Warm { pool, counted, .. } = &warm_pool(2, std::slice::from_ref(&square));
    let mut ran = squares(pool, &square, 40);
    let started = counted.pids();
    assert_eq!(started.len(), 2, "the first run starts its 2 workers");
    assert!(started.iter().all(|&pid| is_running(pid)), "they stay up");
    for _ in 0..3 {
        ran.extend(squares(pool, &square, 40));
    }
    // Worker ids are unique in a pool: a third would be a new process.
    assert!(ran.len() <= 2, "the runs ran on the workers {ran:?}");
    let unordered: Vec<_> = pool
        .imap_unordered(&square, [square.parse_input("7").expect("an s64")])
        .expect("the run starts")
        .collect::<Result<_, _>>()
        .expect("it ends");
    assert_eq!(
        unordered[0].result.as_ref().map(ToString::to_string),
        Ok("49".into())
    );
    assert_eq!(
        counted.pids(),
        started,
        "no run after the first started a process"
    );
}

/// A run started from a thread that then ends leaves its workers up, warm
/// for the next run: they die with the host, not with the thread that
/// started them (the kernel's parent-death signal follows a thread). An
/// agent's workers, started from a tokio thread that ended after 10 s idle,
/// were killed mid-task, each of its tasks over 10 s run twice.
#[test]
fn workers_outlive_the_thread_whose_run_started_them() {
    let square = task(Guest::Square, None);
    let Warm { pool, counted, .. } = &warm_pool(2, std::slice::from_ref(&square));
    std::thread::scope(|scope| {
        scope.spawn(|| squares(pool, &square, 40));
    });
    let started = counted.first(2);
    // The parent-death signal, if any, comes as the thread ends.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        started.iter().all(|&pid| is_running(pid)),
        "the workers outlive the thread"
    );
    squares(pool, &square, 40);
    assert_eq!(counted.pids(), started, "the next run starts no process");
}

#[test]
fn workers_killed_while_idle_are_replaced_by_the_next_run() {
    let square = task(Guest::Square, None);
    let Warm { pool, counted, .. } = &warm_pool(2, std::slice::from_ref(&square));
    squares(pool, &square, 10);
    let idle = counted.pids();
    assert_eq!(idle.len(), 2);
    for &pid in &idle {
        kill_9(pid);
    }
    wait_until_gone("the idle workers are gone", &idle);
    squares(pool, &square, 10);
    assert_eq!(
        counted.pids().len(),
        4,
        "two new workers replaced the dead ones"
    );
}

#[test]
fn closing_or_dropping_the_pool_stops_its_idle_workers() {
    let square = task(Guest::Square, None);
    let Warm { pool, counted, .. } = &warm_pool(2, std::slice::from_ref(&square));
    squares(pool, &square, 10);
    let idle = counted.pids();
    pool.close();
    wait_until_gone("close stopped the idle workers", &idle);
    // A closed pool still maps, on workers of the run's own, which stop
    // with it. (Its second worker may be killed, the run over, before its
    // wrapper script has counted it.)
    squares(pool, &square, 10);
    let after_close = counted.pids();
    assert!((3..=4).contains(&after_close.len()), "{after_close:?}");
    assert!(after_close[2..].iter().all(|&pid| !is_running(pid)));

    let warm = warm_pool(2, std::slice::from_ref(&square));
    squares(&warm.pool, &square, 10);
    let idle = warm.counted.pids();
    drop(warm);
    wait_until_gone("dropping the pool stopped its idle workers", &idle);
}

#[test]
fn a_map_while_apply_async_tasks_run_shares_the_pools_workers() {
    let square = task(Guest::Square, None);
    let nap = task(Guest::Misbehave, Some("nap"));
    let Warm { pool, counted, .. } = &warm_pool(2, &[square.clone(), nap.clone()]);
    let naps: Vec<_> = (0..4)
        .map(|_| {
            let input = nap.parse_input("300").expect("a u32");
            pool.apply_async(&nap, input).expect("submitted")
        })
        .collect();
    // The map goes on while the naps run, on the same 2 workers.
    let mut ran = squares(pool, &square, 200);
    for handle in &naps {
        let output = handle.get(Some(Duration::from_secs(60))).expect("done");
        assert!(output.result.is_ok(), "{:?}", output.result);
        ran.extend(output.worker);
    }
    let again = pool
        .apply_async(&square, square.parse_input("12").expect("an s64"))
        .expect("submitted");
    let output = again.get(Some(Duration::from_secs(60))).expect("done");
    ran.extend(output.worker);
    assert_eq!(output.result.expect("square succeeds").to_string(), "144");
    assert_two_workers(counted, &ran);
}

#[test]
fn maps_from_two_threads_at_once_share_the_pools_workers() {
    let square = task(Guest::Square, None);
    let Warm { pool, counted, .. } = &warm_pool(2, std::slice::from_ref(&square));
    let workers: Vec<BTreeSet<u32>> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| (0..5).flat_map(|_| squares(pool, &square, 500)).collect()))
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("the thread ends"))
            .collect()
    });
    let all: BTreeSet<u32> = workers.iter().flatten().copied().collect();
    assert_two_workers(counted, &all);
}

/// Two runs pulled in turn by one thread: each goes on only while the
/// thread pulls it, and neither holds the workers the other needs.
#[test]
fn two_runs_pulled_in_turn_by_one_thread_share_the_pools_workers() {
    let square = task(Guest::Square, None);
    let nap = task(Guest::Misbehave, Some("nap"));
    let Warm { pool, counted, .. } = &warm_pool(2, &[square.clone(), nap.clone()]);
    let naps = (0..6).map(|_| nap.parse_input("100").expect("a u32"));
    let squares = (0..3000).map(|x| square.parse_input(&x.to_string()).expect("an s64"));
    let naps = pool.imap(&nap, naps).expect("the run starts");
    let squares = pool.imap(&square, squares).expect("the run starts");
    let (mut count, mut ran) = (0, BTreeSet::new());
    for (nap, square) in naps.zip(squares) {
        let nap = nap.expect("the run goes on");
        assert!(nap.result.is_ok());
        let square = square.expect("the run goes on");
        ran.extend(nap.worker.into_iter().chain(square.worker));
        assert_eq!(
            square.result.expect("square succeeds").to_string(),
            (square.index * square.index).to_string()
        );
        count += 1;
    }
    assert_eq!(count, 6);
    assert_two_workers(counted, &ran);
}

#[test]
fn idle_workers_stop_once_idle_for_the_idle_timeout() {
    let square = task(Guest::Square, None);
    let cache = tempfile::tempdir().expect("a cache directory");
    precompile(cache.path(), std::slice::from_ref(&square));
    let counted = CountedWorkers::new();
    let timeout = Duration::from_secs(2);
    let pool = Pool::builder()
        .workers(2)
        .worker_program(counted.program())
        .compile_cache(Some(cache.path().to_path_buf()))
        .idle_timeout(timeout)
        .build();
    squares(&pool, &square, 10);
    let first = counted.first(2);
    squares(&pool, &square, 10);
    assert_eq!(
        counted.pids(),
        first,
        "a run within the timeout starts none"
    );
    let idle = Instant::now();
    wait_until_gone("the idle timeout stopped the idle workers", &first);
    // They were handed back a little before `idle` (well within a second
    // of it even on a loaded machine), and stop the timeout after that.
    assert!(
        idle.elapsed() >= timeout / 4,
        "stopped after {:?} idle, before the timeout",
        idle.elapsed()
    );
    squares(&pool, &square, 10);
    let after = counted.pids();
    assert_eq!(after.len(), 4, "the next run starts 2 workers again");
    assert!(after[2..].iter().all(|&pid| is_running(pid)));
}

/// `n` components that are `square` with a custom section of their own
/// appended: the same function, distinct bytes, so each is a task of its
/// own to the pool (compiled apart, hosted apart).
fn distinct_squares(n: usize) -> Vec<Task> {
    let wasm = std::fs::read(Guest::Square.wasm()).expect("square is built");
    (0..n)
        .map(|i| {
            let name = format!("variant-{i}");
            let mut bytes = wasm.clone();
            // A custom section: id 0, its size, its name, no payload.
            bytes.push(0);
            bytes.push(1 + name.len() as u8);
            bytes.push(name.len() as u8);
            bytes.extend_from_slice(name.as_bytes());
            Component::from_bytes(name, bytes)
                .and_then(|c| c.task(None))
                .expect("a square variant is a component")
        })
        .collect()
}

/// Compiles every task into the cache at `dir`, with a pool of its own, so
/// that a counted pool using that cache starts only its workers.
fn precompile(dir: &std::path::Path, tasks: &[Task]) {
    let pool = Pool::builder()
        .workers(1)
        .worker_program(crate::util::WPOOL)
        .compile_cache(Some(dir.to_path_buf()))
        .build();
    for task in tasks {
        let input = task.parse_input("1").expect("an s64");
        pool.map(task, [input]).expect("the task runs");
    }
}

fn cached_pool(workers: usize, counted: &CountedWorkers, dir: &std::path::Path) -> Pool {
    Pool::builder()
        .workers(workers)
        .worker_program(counted.program())
        .compile_cache(Some(dir.to_path_buf()))
        .build()
}

/// A counted pool of `workers` on a cache of its own, where `tasks` are
/// compiled already: the processes it counts are its workers alone.
struct Warm {
    pool: Pool,
    counted: CountedWorkers,
    _cache: tempfile::TempDir,
}

fn warm_pool(workers: usize, tasks: &[Task]) -> Warm {
    let cache = tempfile::tempdir().expect("a cache directory");
    precompile(cache.path(), tasks);
    let counted = CountedWorkers::new();
    Warm {
        pool: cached_pool(workers, &counted, cache.path()),
        counted,
        _cache: cache,
    }
}

#[test]
fn apply_async_of_100_different_tasks_runs_on_the_pools_2_workers() {
    let tasks = distinct_squares(100);
    let Warm { pool, counted, .. } = &warm_pool(2, &tasks);
    let pending: Vec<_> = tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            let input = task.parse_input(&i.to_string()).expect("an s64");
            pool.apply_async(task, input).expect("submitted")
        })
        .collect();
    let mut workers = BTreeSet::new();
    for (i, result) in pending.iter().enumerate() {
        let output = result
            .get(Some(Duration::from_secs(120)))
            .expect("finished");
        let value = output.result.as_ref().expect("square succeeds");
        assert_eq!(value.to_string(), (i * i).to_string());
        workers.insert(output.worker.expect("ran on a worker"));
    }
    pool.join();
    assert_two_workers(counted, &workers);
}

#[test]
fn runs_of_different_tasks_share_the_warm_workers() {
    let tasks = distinct_squares(3);
    let Warm { pool, counted, .. } = &warm_pool(2, &tasks);
    let mut seen = BTreeSet::new();
    for task in tasks.iter().chain(&tasks) {
        seen.extend(squares(pool, task, 20));
    }
    assert_two_workers(counted, &seen);
}

/// How many regions of compiled code worker `pid` holds, from
/// `/proc/PID/maps`: readable and executable mappings, anonymous (code
/// copied out of its artifact) or of an artifact itself (a compile cache
/// file, or a `memfd`, which wasmtime maps for a worker's first task). Each
/// task a worker hosts adds its component's code, and unloading it unmaps it.
fn code_regions(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("the worker's maps");
    maps.lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let artifact = match fields.get(5) {
                None => true,
                Some(path) => path.ends_with(".cwasm") || path.starts_with("/memfd:wpool-artifact"),
            };
            fields.get(1) == Some(&"r-xp") && artifact
        })
        .count()
}

#[test]
fn a_task_evicted_past_the_cap_is_loaded_again() {
    let tasks = distinct_squares(12);
    let Warm { pool, counted, .. } = &warm_pool(1, &tasks);
    for task in &tasks[..4] {
        squares(pool, task, 5);
    }
    let pid = counted.pids()[0];
    let four = code_regions(pid);
    for task in &tasks[4..8] {
        squares(pool, task, 5);
    }
    let eight = code_regions(pid);
    assert!(
        eight > four,
        "loading tasks maps their code: {four} then {eight}"
    );
    for task in &tasks[8..] {
        squares(pool, task, 5);
    }
    assert_eq!(
        code_regions(pid),
        eight,
        "past 8 tasks, one is unloaded for each loaded"
    );
    // The first task was evicted: it is loaded again, on the same worker.
    squares(pool, &tasks[0], 5);
    assert_eq!(code_regions(pid), eight);
    assert_eq!(counted.pids(), [pid], "one worker ran every task");
}

#[test]
fn a_worker_that_dies_hosting_several_tasks_is_replaced() {
    let tasks = distinct_squares(6);
    let nap = task(Guest::Misbehave, Some("nap"));
    let all: Vec<Task> = tasks.iter().chain([&nap]).cloned().collect();
    let Warm { pool, counted, .. } = &warm_pool(2, &all);
    for task in &tasks {
        squares(pool, task, 4);
    }
    let naps: Vec<_> = (0..2)
        .map(|_| {
            let input = nap.parse_input("1500").expect("a u32");
            pool.apply_async(&nap, input).expect("submitted")
        })
        .collect();
    let later: Vec<_> = tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            let input = task.parse_input(&i.to_string()).expect("an s64");
            pool.apply_async(task, input).expect("submitted")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    kill_9(counted.pids()[0]);
    for result in &naps {
        let output = result.get(Some(Duration::from_secs(60))).expect("finished");
        assert_eq!(
            output.result.as_ref().map(ToString::to_string),
            Ok("1500".into())
        );
    }
    for (i, result) in later.iter().enumerate() {
        let output = result.get(Some(Duration::from_secs(60))).expect("finished");
        let value = output.result.as_ref().expect("square succeeds");
        assert_eq!(value.to_string(), (i * i).to_string());
    }
    pool.join();
    assert_eq!(counted.pids().len(), 3, "one worker replaced the dead one");
}

/// A worker's data limit is sized for its first task: `square`'s values are
/// small, `payload`'s `len` takes a `list<u8>` held as wasmtime values. A
/// worker sealed for `square` cannot host `len`: a worker sealed for `len`
/// takes its place, and hosts `square` too.
#[test]
fn a_task_too_large_for_a_worker_gets_a_worker_of_its_own() {
    let cache = tempfile::tempdir().expect("a cache directory");
    let square = task(Guest::Square, None);
    let len = task(Guest::Payload, Some("len"));
    precompile(cache.path(), std::slice::from_ref(&square));
    let input = len.parse_input("[1, 2, 3]").expect("a list<u8>");
    let precompiled = Pool::builder()
        .workers(1)
        .worker_program(crate::util::WPOOL)
        .compile_cache(Some(cache.path().to_path_buf()))
        .build();
    precompiled.map(&len, [input.clone()]).expect("len runs");
    let counted = CountedWorkers::new();
    let pool = cached_pool(1, &counted, cache.path());
    squares(&pool, &square, 5);
    assert_eq!(counted.pids().len(), 1);
    let outputs = pool.map(&len, [input]).expect("the run starts");
    assert_eq!(
        outputs[0].result.as_ref().map(ToString::to_string),
        Ok("3".into())
    );
    assert_eq!(
        outputs[0].attempts, 1,
        "the worker that could not host it ran nothing"
    );
    assert_eq!(
        counted.pids().len(),
        2,
        "a worker sealed for len replaced it"
    );
    squares(&pool, &square, 5);
    assert_eq!(
        counted.pids().len(),
        2,
        "the worker sealed for len hosts square too"
    );
}
