//! The guest examples not covered by a topic of their own, run as the README
//! shows them: primes, the benchmark kernels, pool-square, payload's bytes,
//! command components, queue-bench and condition-demo; and a check that the
//! suite knows every guest example.

use std::collections::BTreeSet;

use crate::util::{Guest, as_strs, process, run, squares, wpool};

#[test]
fn every_guest_example_is_built_by_the_suite() {
    let manifest = Guest::Square.dir().join("../Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("the guest workspace manifest");
    let members: BTreeSet<&str> = text
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .expect("a members list")
        .0
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    // The Rust crates are the workspace's members; the Python and
    // JavaScript tasks stand beside them.
    let crates: BTreeSet<&str> = Guest::ALL
        .iter()
        .filter(|g| g.dir().join("Cargo.toml").is_file())
        .map(|g| g.crate_name())
        .collect();
    assert_eq!(
        members, crates,
        "the guest workspace and the suite's guests differ"
    );
    let known: BTreeSet<&str> = Guest::ALL.iter().map(|g| g.crate_name()).collect();
    let dirs = std::fs::read_dir(Guest::Square.dir().join("..")).expect("guest-examples");
    for dir in dirs.map(|entry| entry.expect("a directory entry").path()) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if dir.is_dir() && name != "target" {
            assert!(
                known.contains(name.as_str()),
                "the suite does not know guest example {name}"
            );
        }
    }
    // Each builds into a component.
    for guest in Guest::ALL {
        assert!(guest.wasm().is_file(), "{guest:?} built no component");
    }
}

#[test]
fn primes_counts_the_primes_below_a_bound() {
    run(Guest::Primes, ["0", "2", "3", "10", "100", "10000"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["0", "0", "1", "4", "25", "1229"]);
}

/// The benchmark kernels, built natively here as
/// `host/examples/native_kernels.rs` builds them.
#[path = "../../../guest-examples/kernels/src/work.rs"]
mod kernels;

#[test]
fn kernels_give_the_answers_of_the_same_code_built_natively() {
    let cases = [
        ("sha256", 2, format!("{:?}", kernels::sha256(2))),
        ("gzip", 1, kernels::gzip(1).to_string()),
        ("json", 1000, kernels::json(1000).to_string()),
    ];
    for (func, arg, native) in cases {
        run(Guest::Kernels, ["--func", func, &arg.to_string()])
            .output()
            .assert_success()
            .assert_stdout_lines(&[&native]);
    }
    // Not a constant: the generated input differs with the size.
    assert_ne!(kernels::sha256(1), kernels::sha256(2));
}

#[test]
fn pool_square_says_which_worker_ran_each_input() {
    let out = run(Guest::PoolSquare, ["0..6", "-j", "2"]).output();
    out.assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..6)));
    // `[index] worker W handles index`, for every index, from at most the
    // two workers of the pool.
    let mut workers = BTreeSet::new();
    for index in 0..6 {
        let prefix = format!("[{index}] worker ");
        let suffix = format!(" handles {index}");
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with(&prefix) && l.ends_with(&suffix));
        let Some(line) = line else {
            out.fail(format_args!("no line says who handled {index}"));
        };
        let worker = &line[prefix.len()..line.len() - suffix.len()];
        match worker.parse::<u32>() {
            Ok(worker) => workers.insert(worker),
            Err(_) => out.fail(format_args!("{line:?} names no worker")),
        };
    }
    out.check(
        workers.len() <= 2,
        format_args!("six inputs on two workers ran on workers {workers:?}"),
    );
}

#[test]
fn payload_measures_and_echoes_bytes() {
    run(
        Guest::Payload,
        ["--func", "len", "[]", "[1, 2, 3]", "[0, 255]"],
    )
    .output()
    .assert_success()
    .assert_stdout_lines(&["0", "3", "2"]);
    run(Guest::Payload, ["--func", "echo", "[]", "[1, 2, 255]"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["[]", "[1, 2, 255]"]);
    // A byte is a u8.
    run(Guest::Payload, ["--func", "len", "[256]"])
        .output()
        .assert_refused(&["[256]", "list<u8>"]);
}

#[test]
fn command_component_runs_as_a_process_and_exits_0() {
    wpool(["spawn".as_ref(), Guest::HelloCommand.wasm().as_os_str()])
        .output()
        .assert_success()
        .assert_stdout_lines(&["[0 run] hello from a command component", "[0 run] = ok"]);
}

#[test]
fn command_component_that_exits_1_fails_its_process() {
    wpool([
        "spawn".as_ref(),
        Guest::HelloCommand.wasm().as_os_str(),
        Guest::ExitCommand.wasm().as_os_str(),
    ])
    .output()
    .assert_code(1)
    .assert_process_lines(&[
        (
            "0 run",
            &["[0 run] hello from a command component", "[0 run] = ok"],
        ),
        ("1 run", &["[1 run] exiting with status 1"]),
    ])
    .assert_stderr_contains("[1 run] this command fails on purpose")
    .assert_stderr_contains("wpool: [1 run] failed: exited with status 1 (exit code 1)");
}

#[test]
fn queue_bench_bounces_messages_between_two_processes() {
    let out = wpool([
        "spawn".to_string(),
        process(Guest::QueueBench, "bounce", Some("(50, 16)")),
        process(Guest::QueueBench, "echo", Some("50")),
    ])
    .output();
    out.assert_success();
    let (bounce, echo) = (out.process_lines("0 bounce"), out.process_lines("1 echo"));
    out.check(
        bounce.len() == 1 && echo.len() == 1 && out.stdout_lines().len() == 2,
        "expected one result per process",
    );
    // The mean round trip in nanoseconds: more than nothing, less than a
    // second.
    let mean = bounce[0]
        .strip_prefix("[0 bounce] = ok(")
        .and_then(|l| l.strip_suffix(')'))
        .and_then(|n| n.parse::<u64>().ok());
    out.check(
        mean.is_some_and(|ns| ns > 0 && ns < 1_000_000_000),
        "expected bounce to return its mean round trip",
    );
    out.check(
        echo[0] == "[1 echo] = ok(50)",
        "expected echo to answer 50 times",
    );
}

#[test]
fn queue_bench_streams_messages_from_a_producer_to_a_consumer() {
    let out = wpool([
        "spawn".to_string(),
        process(Guest::QueueBench, "produce", Some("(100, 8)")),
        process(Guest::QueueBench, "consume", Some("100")),
    ])
    .output();
    out.assert_success();
    out.check(
        out.process_lines("0 produce") == ["[0 produce] = ok(100)"],
        "expected the producer to put 100 messages",
    );
    let rate = out
        .process_lines("1 consume")
        .first()
        .and_then(|l| l.strip_prefix("[1 consume] = ok("))
        .and_then(|l| l.strip_suffix(')'))
        .and_then(|n| n.parse::<u64>().ok());
    out.check(
        rate.is_some_and(|per_second| per_second > 0),
        "expected the consumer to return a rate",
    );
}

#[test]
fn condition_demo_consumers_wait_for_the_producer() {
    let out = wpool([
        "spawn".to_string(),
        process(Guest::ConditionDemo, "consumer", Some("(3, 20000)")),
        process(Guest::ConditionDemo, "consumer", Some("(3, 20000)")),
        process(Guest::ConditionDemo, "producer", Some("6")),
    ])
    .output();
    out.assert_success();
    let lines = out.stdout_lines();
    for expected in [
        "[0 consumer] took item 3",
        "[0 consumer] = ok(3)",
        "[1 consumer] = ok(3)",
        "[2 producer] = ok(6)",
    ] {
        out.check(
            lines.contains(&expected),
            format!("expected the line {expected:?}"),
        );
    }
}
