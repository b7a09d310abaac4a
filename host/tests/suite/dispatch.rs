//! The dispatcher under stress: one admission for every kind of run,
//! workers that cannot be written to or that answer for tasks they were not
//! given, results waited on from several threads, the task index of spawned
//! processes, and the test hooks themselves. Real worker processes run
//! guests built from source; the faults a guest cannot cause come from the
//! workers' test hooks (`WPOOL_TEST_HOOK`), compiled into the test build.

use std::io::Read;
use std::sync::{Barrier, mpsc};
use std::time::{Duration, Instant};

use crate::util::{self, Guest, Output, as_strs, run, squares, wpool};
use wpool::{Callbacks, Component, Input, Limits, Pool, Task, TaskError, TaskOutput};

/// Longer than any of these runs takes when it works.
const DEADLINE: Duration = Duration::from_secs(120);

fn task(guest: Guest, func: Option<&str>) -> Task {
    Component::from_file(guest.wasm())
        .expect("the guest is a component")
        .task(func)
        .expect("the function exists")
}

fn input(task: &Task, text: &str) -> Input {
    task.parse_input(text).expect("valid input")
}

fn pool(workers: usize, limits: Limits) -> Pool {
    Pool::builder()
        .workers(workers)
        .worker_program(util::WPOOL)
        .limits(limits)
        .build()
}

/// Runs `cmd` to its end, failing the test if it runs past [`DEADLINE`]:
/// a run that hangs is the defect some of these tests catch.
fn finish(cmd: &mut util::Cmd) -> Output {
    let started = Instant::now();
    let mut child = cmd.spawn();
    drop(child.stdin.take());
    let stdout = read_all(child.stdout.take().expect("piped"));
    let stderr = read_all(child.stderr.take().expect("piped"));
    let status = util::wait_with_deadline(&mut child, DEADLINE);
    Output {
        command: cmd.describe(),
        status: status.unwrap_or_else(|| panic!("{} hung; killed", cmd.describe())),
        stdout: stdout.join().expect("reader thread"),
        stderr: stderr.join().expect("reader thread"),
        elapsed: started.elapsed(),
    }
}

fn read_all(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}

// ---------------------------------------------------------------------------
// Admission
// ---------------------------------------------------------------------------

#[track_caller]
fn assert_input_too_large(output: &TaskOutput) {
    match &output.result {
        Err(TaskError::TooLarge {
            what: "input",
            size: Some(2048),
            limit: 1024,
        }) => {}
        other => panic!("expected the input to be refused as too large, got {other:?}"),
    }
}

#[test]
fn apply_async_refuses_an_input_over_max_value() {
    let limits = Limits {
        max_value: 1024,
        ..Limits::default()
    };
    let pool = pool(1, limits);
    let echo = task(Guest::Misbehave, Some("echo"));
    let huge = format!("\"{}\"", "y".repeat(2046));
    let refused = pool
        .apply_async(&echo, input(&echo, &huge))
        .expect("submitted");
    let fine = pool
        .apply_async(&echo, input(&echo, "\"a\""))
        .expect("submitted");
    assert_input_too_large(&refused.get(Some(DEADLINE)).expect("an output"));
    let fine = fine.get(Some(DEADLINE)).expect("an output");
    assert_eq!(
        fine.result.map(|v| v.as_wave().to_string()).ok(),
        Some("\"a\"".into())
    );
    pool.join();
}

#[test]
fn spawn_refuses_an_input_over_max_value() {
    let limits = Limits {
        max_value: 1024,
        ..Limits::default()
    };
    let pool = pool(1, limits);
    let echo = task(Guest::Misbehave, Some("echo"));
    let huge = format!("\"{}\"", "y".repeat(2046));
    let mut process = pool.spawn(&echo, input(&echo, &huge)).expect("it starts");
    assert!(process.join(Some(DEADLINE)), "the process did not end");
    assert_input_too_large(&process.output().expect("an output"));
    assert_eq!(process.exit_code(), Some(1));
}

// ---------------------------------------------------------------------------
// Workers that break the protocol
// ---------------------------------------------------------------------------

#[test]
fn worker_that_cannot_be_written_to_is_replaced() {
    // Worker 0 stops reading its pipe once set up, and stays alive: the
    // host's first batch cannot be written to it.
    let out = finish(run(Guest::Square, ["-j", "1", "1", "2", "3"]).env("WPOOL_TEST_HOOK", "deaf"));
    out.assert_success().assert_stdout_lines(&["1", "4", "9"]);
}

#[test]
fn worker_answering_for_tasks_outside_its_batch_is_replaced() {
    // Worker 0 reports each result under the next index: another worker's
    // task, or one not handed out. Its results are refused, it is killed,
    // and its tasks run again elsewhere: every input gets exactly one
    // output, its own.
    squares_despite("wrong-index");
}

#[test]
fn worker_answering_with_a_value_that_does_not_decode_is_replaced() {
    // Worker 0 sends every result as a byte that does not decode as the
    // function's s64 (the host would print it as `<undecodable>`): its
    // results are refused, it is killed, and its tasks run again elsewhere.
    squares_despite("corrupt-result");
}

#[test]
fn worker_sending_a_frame_that_does_not_decode_is_killed_and_replaced() {
    // Worker 0 sends garbage where its first results are due, and stays
    // alive: the host stops reading it, kills it (or it would wait for its
    // end forever), and its tasks run again elsewhere.
    squares_despite("garbage-frame");
}

/// Squares `0..10` on two workers while worker 0 misbehaves as the test
/// hook `hook` says: every input still yields exactly one output, its own.
fn squares_despite(hook: &str) {
    let out = finish(run(Guest::Square, ["-j", "2", "0..10"]).env("WPOOL_TEST_HOOK", hook));
    out.assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..10)));
}

// ---------------------------------------------------------------------------
// AsyncResult from several threads
// ---------------------------------------------------------------------------

#[test]
fn ready_answers_while_another_thread_waits_in_get() {
    let pool = pool(1, Limits::default());
    let nap = task(Guest::Misbehave, Some("nap"));
    let result = pool
        .apply_async(&nap, input(&nap, "3000"))
        .expect("submitted");
    let waiting = Barrier::new(2);
    std::thread::scope(|scope| {
        let getter = scope.spawn(|| {
            waiting.wait();
            result.get(None)
        });
        waiting.wait();
        // Lets the other thread enter `get` and block there.
        std::thread::sleep(Duration::from_millis(200));
        let asked = Instant::now();
        assert!(!result.ready(), "a 3 s nap is not done yet");
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "ready() waited {:?} for the other thread's get",
            asked.elapsed()
        );
        let output = getter.join().expect("no panic").expect("an output");
        assert_eq!(
            output.result.map(|v| v.as_wave().to_string()).ok(),
            Some("3000".into())
        );
    });
    assert!(result.ready());
    pool.join();
}

#[test]
fn a_callback_may_submit_another_task() {
    let pool = pool(1, Limits::default());
    let square = task(Guest::Square, None);
    let (submitted, from_callback) = mpsc::channel();
    let (inner_pool, inner_square) = (pool.clone(), square.clone());
    let callbacks = Callbacks::default().on_success(move |_| {
        let next = inner_pool.apply_async(&inner_square, input(&inner_square, "3"));
        let _ = submitted.send(next);
    });
    pool.apply_async_with(&square, input(&square, "2"), callbacks)
        .expect("submitted");
    let next = from_callback
        .recv_timeout(DEADLINE)
        .expect("the callback returned")
        .expect("the callback submitted");
    let output = next.get(Some(DEADLINE)).expect("an output");
    assert_eq!(
        output.result.map(|v| v.as_wave().to_string()).ok(),
        Some("9".into())
    );
    pool.join();
}

// ---------------------------------------------------------------------------
// Task index
// ---------------------------------------------------------------------------

#[test]
fn spawned_processes_each_see_their_own_task_index() {
    let whoami = format!("{}#whoami", Guest::Misbehave.wasm().display());
    let out = finish(&mut wpool(["spawn", &whoami, &whoami, &whoami]));
    out.assert_success();
    // Processes print their results as they end, in any order.
    let mut indexes: Vec<&str> = out
        .stdout_lines()
        .iter()
        .map(|line| {
            let Some(tuple) = line.split_once("] = (").map(|(_, t)| t) else {
                out.fail(format_args!("{line:?} is not `[N whoami] = (W, I)`"));
            };
            tuple
                .trim_end_matches(')')
                .rsplit(", ")
                .next()
                .unwrap_or_default()
        })
        .collect();
    indexes.sort_unstable();
    out.check(
        indexes == ["0", "1", "2"],
        format_args!("expected task indexes 0, 1, 2, got {indexes:?}"),
    );
}

// ---------------------------------------------------------------------------
// The test hooks themselves
// ---------------------------------------------------------------------------

#[test]
fn test_hooks_are_compiled_into_the_test_build() {
    // `forbidden-syscall=0` makes the worker running task 0 start a process,
    // which its seccomp filter punishes with SIGSYS: without the hook, task 0
    // would simply succeed.
    let out = finish(
        run(Guest::Square, ["--retries", "0", "--json", "5"])
            .env("WPOOL_TEST_HOOK", "forbidden-syscall=0"),
    );
    out.assert_code(1);
    let lines = out.json_lines();
    out.check(lines.len() == 1, "expected one output line");
    out.check(
        lines[0]["error"]["kind"] == "worker-lost",
        "expected task 0's worker to be lost",
    );
    let message = lines[0]["error"]["message"].as_str().unwrap_or_default();
    out.check(
        message.contains("SIGSYS"),
        "expected seccomp to end the worker",
    );
}

/// Until task cost is known, a worker holds one task at a time: two long
/// tasks on two workers run side by side, not one after the other on the
/// first worker to be ready. Measured between the two results, so that
/// worker start-up does not count.
#[test]
fn long_tasks_spread_over_the_workers() {
    let nap = Component::from_file(Guest::Misbehave.wasm())
        .and_then(|c| c.task(Some("nap")))
        .expect("the guest loads");
    let pool = Pool::builder()
        .workers(2)
        .worker_program(util::WPOOL)
        .build();
    let inputs = vec![
        nap.parse_input("4000").unwrap(),
        nap.parse_input("4000").unwrap(),
    ];
    let finished: Vec<Instant> = pool
        .imap_unordered(&nap, inputs)
        .expect("the run starts")
        .map(|output| {
            let output = output.expect("the run goes on");
            assert!(output.result.is_ok(), "{output:?}");
            Instant::now()
        })
        .collect();
    let gap = finished[1] - finished[0];
    assert!(
        gap < Duration::from_secs(2),
        "the second 4 s task ended {gap:?} after the first: they ran one after the other"
    );
}

/// A run whose only input is refused at admission ends, with that input's
/// size error, instead of waiting for a worker result that never comes.
#[test]
fn map_of_a_single_input_over_max_value_ends() {
    let limits = Limits {
        max_value: 1024,
        ..Limits::default()
    };
    let echo = task(Guest::Misbehave, Some("echo"));
    let huge = input(&echo, &format!("\"{}\"", "y".repeat(2046)));
    let (done, outputs) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(pool(1, limits).map(&echo, vec![huge]));
    });
    let outputs = outputs
        .recv_timeout(DEADLINE)
        .expect("map returned")
        .expect("the run starts");
    assert_eq!(outputs.len(), 1);
    assert_input_too_large(&outputs[0]);
}

/// An ordered run stops reading inputs while the outputs waiting behind a
/// slow first task hold `max_waiting_output` bytes: the host does not grow
/// with them. Without the bound the second worker would work through
/// hundreds of 1 ms naps in the first task's 3 s.
#[test]
fn outputs_waiting_behind_a_slow_task_bound_what_is_read() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let nap = task(Guest::Misbehave, Some("nap"));
    let pool = Pool::builder()
        .workers(2)
        .worker_program(util::WPOOL)
        .max_waiting_output(1)
        .build();
    let read = Arc::new(AtomicUsize::new(0));
    let counted = read.clone();
    let parser = nap.clone();
    let inputs = (0..1000).map(move |i| {
        counted.fetch_add(1, Ordering::Relaxed);
        input(&parser, if i == 0 { "3000" } else { "1" })
    });
    let mut outputs = pool.imap(&nap, inputs).expect("the run starts");
    let first = outputs.next().expect("an output").expect("the run goes on");
    assert_eq!(first.index, 0);
    let before = read.load(Ordering::Relaxed);
    assert!(
        before < 50,
        "{before} inputs were read while the first task ran"
    );
    assert_eq!(outputs.count(), 999, "every other input yields its output");
}

/// A batch whose results together pass the frame limit (1 GiB): cheap
/// tasks make batches of 1024, then each of the same batch's tasks returns
/// 1 MiB. The worker answers in parts, and every task succeeds; a worker
/// sending one frame for the batch died trying.
#[test]
fn a_batch_of_large_results_is_answered_in_parts() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs.txt");
    let lines = std::iter::repeat_n("0\n", 3000).chain(std::iter::repeat_n("1\n", 1100));
    std::fs::write(&inputs, lines.collect::<String>()).unwrap();
    let out = run(
        Guest::Misbehave,
        [
            "--func".as_ref(),
            "big-string".as_ref(),
            "--reuse".as_ref(),
            "100000".as_ref(),
            "--retries".as_ref(),
            "0".as_ref(),
            "-j".as_ref(),
            "1".as_ref(),
            "--input".as_ref(),
            inputs.as_os_str(),
        ],
    )
    .discard_stdout()
    .output();
    out.assert_success().assert_stderr_lacks("failed");
}
