//! The fault suite: components and guests that try to break out, hang, flood
//! or crash, workers and hosts that die, and the outcome each must have.

use std::io::{ErrorKind, Write as _};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{error_kind, json_by_index, squares};
use crate::util::{self, Guest, run, wpool};

/// Sends `signal` to `target`: a process id, or `-PGID` for a group.
fn send_signal(signal: &str, target: &str) {
    let status = Command::new("kill")
        .args([signal, "--", target])
        .status()
        .expect("cannot run kill");
    assert!(status.success(), "kill {signal} {target} failed");
}

/// Whether `pid` is gone or a zombie, that is, no longer running.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

// ---------------------------------------------------------------------------
// Components that must not run: exit 2, nothing runs
// ---------------------------------------------------------------------------

#[test]
fn truncated_component_is_refused() {
    let wasm = std::fs::read(Guest::Square.wasm()).expect("square is built");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("truncated.wasm");
    std::fs::write(&file, &wasm[..wasm.len() / 2]).unwrap();
    let name = file.display().to_string();
    wpool(["run", &name, "1"])
        .output()
        .assert_refused(&[&name, "is not a WebAssembly component"]);
}

#[test]
fn component_with_no_function_to_map_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty.wasm");
    // The smallest valid component: a header, and nothing in it.
    std::fs::write(&file, b"\0asm\x0d\0\x01\0").unwrap();
    let name = file.display().to_string();
    wpool(["run", &name, "1"])
        .output()
        .assert_refused(&[&name, "exports no function"]);
}

#[test]
fn oversized_component_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.wasm");
    // A sparse 200 MB file: cheap to make, and wpool must not read it.
    std::fs::File::create(&file)
        .and_then(|f| f.set_len(200_000_000))
        .unwrap();
    let name = file.display().to_string();
    let out = wpool(["run", &name, "1"]).output();
    out.assert_refused(&[&name, "190.7 MiB", "larger than the 128.0 MiB"]);
    out.check(
        out.elapsed < Duration::from_secs(5),
        "refusing a large file took long",
    );
}

#[test]
fn component_that_does_not_compile_in_time_is_refused() {
    let out = run(
        Guest::Square,
        ["--compile-timeout", "1s", "-j", "2", "1", "2"],
    )
    .env("WPOOL_TEST_HOOK", "slow-compile")
    .output();
    out.assert_refused(&["did not compile within 1s", "killed"]);
    out.check(
        out.elapsed < Duration::from_secs(10),
        "the compile deadline did not stop the run",
    );
}

// ---------------------------------------------------------------------------
// Tasks that fail alone while the others succeed
// ---------------------------------------------------------------------------

#[test]
fn huge_input_fails_alone_with_a_size_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inputs.txt");
    let huge = format!("\"{}\"", "y".repeat(2 << 20));
    std::fs::write(&file, format!("\"a\"\n{huge}\n\"b\"\n")).unwrap();
    let out = run(
        Guest::Misbehave,
        [
            "--func".as_ref(),
            "echo".as_ref(),
            "--max-value".as_ref(),
            "1MiB".as_ref(),
            "--json".as_ref(),
            "--input".as_ref(),
            file.as_os_str(),
        ],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 3);
    out.check(lines[&0]["value"] == "\"a\"", "echo \"a\" should succeed");
    out.check(lines[&2]["value"] == "\"b\"", "echo \"b\" should succeed");
    out.check(error_kind(&out, &lines[&1]) == "size", "expected kind size");
    out.assert_stderr_contains("input of 2.0 MiB exceeds the limit of 1.0 MiB");
}

#[test]
fn huge_result_fails_alone_with_a_size_error() {
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "big-string",
            "--max-value",
            "4MiB",
            "--json",
            "8",
            "0",
            "1",
        ],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 3);
    out.check(
        error_kind(&out, &lines[&0]) == "size",
        "expected kind size for 8 MiB",
    );
    out.check(lines[&1]["value"] == "\"\"", "big-string 0 should succeed");
    out.check(
        lines[&2]["value"].as_str().map(str::len) == Some((1 << 20) + 2),
        "big-string 1 should return 1 MiB",
    );
    out.assert_stderr_contains("result of 8.0 MiB exceeds the limit of 4.0 MiB");
}

#[test]
fn memory_bomb_is_capped_and_the_worker_survives() {
    // One worker: the task after the bomb runs in the same process.
    let out = run(
        Guest::Misbehave,
        ["--func", "hog", "-j", "1", "--json", "100000", "1"],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    out.check(
        error_kind(&out, &lines[&0]) == "memory",
        "expected kind memory for a 100 GiB hog",
    );
    out.assert_stderr_contains("memory limit of 512.0 MiB exceeded");
    out.check(
        lines[&1]["value"] == "1048576",
        "the next task should run normally",
    );
}

#[test]
fn fuel_exhaustion_is_deterministic_and_not_retried() {
    // What the task printed before its fuel ran out is part of the JSON
    // line: the same fuel must stop it at the same instruction.
    let args = [
        "--func",
        "chatter",
        "--fuel",
        "3000000",
        "--max-output",
        "1MiB",
        "--retries",
        "3",
        "--json",
        "1000000",
        "10",
    ];
    let first = run(Guest::Misbehave, args).output();
    first.assert_code(1);
    let lines = json_by_index(&first, 2);
    first.check(
        error_kind(&first, &lines[&0]) == "fuel",
        "expected kind fuel, not a retried worker-lost",
    );
    first.check(
        lines[&0]["stdout"].as_str().is_some_and(|s| s.len() > 1000),
        "the task printed before it ran out",
    );
    first.check(lines[&1]["value"] == "10", "chatter 10 fits its fuel");
    let second = run(Guest::Misbehave, args).output();
    second.check(
        second.stdout == first.stdout,
        "a second run with the same fuel gave a different outcome",
    );
}

#[test]
fn guest_flooding_stdout_is_bounded_and_escaped() {
    let mut running = run(Guest::Misbehave, ["--func", "flood", "4096"]).start();
    // The peak resident memory of wpool and of its workers, sampled until
    // the run ends.
    let mut peak_kib = 0;
    while running.child.try_wait().ok().flatten().is_none() {
        let host = running.child.id();
        for pid in util::children_of(host).into_iter().chain([host]) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = running.finish();
    out.assert_success()
        .assert_stderr_contains("more bytes of stdout dropped");
    let written: u64 = out.stdout.trim().parse().unwrap_or(0);
    out.check(written >= 4 << 30, "the guest wrote less than 4 GiB");
    out.check(peak_kib > 0, "no memory sample was taken");
    out.check(
        peak_kib < 200 << 10,
        format_args!("a process of the run peaked at {peak_kib} KiB"),
    );
    // The default cap keeps 64 KiB, shown escaped.
    out.check(
        out.stderr.len() < 256 << 10,
        "more than the cap of guest output was shown",
    );
    out.check(
        !out.stderr.contains(['\x1b', '\x07']),
        "a raw escape sequence reached the terminal",
    );
    out.assert_stderr_contains(r"\u{1b}[2J");
}

#[test]
fn guest_cannot_reach_a_loopback_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let out = run(
        Guest::Misbehave,
        ["--func", "connect", "--json", &format!("\"{addr}\"")],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 1);
    out.check(
        error_kind(&out, &lines[&0]) == "err",
        "the connection should fail inside the guest",
    );
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => out.fail(format_args!("the listener saw a connection from {peer}")),
        Err(e) => out.fail(format_args!("accept failed: {e}")),
    }
}

// ---------------------------------------------------------------------------
// The worker's own lockdown
// ---------------------------------------------------------------------------

#[test]
fn forbidden_syscall_kills_the_worker_and_the_task_fails_after_its_retries() {
    // Task 1 makes every worker that runs it call outside the allowlist: a
    // poison input.
    let out = run(Guest::Square, ["--retries", "2", "--json", "0..4"])
        .env("WPOOL_TEST_HOOK", "forbidden-syscall=1")
        .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 4);
    for (index, square) in [(0, "0"), (2, "4"), (3, "9")] {
        out.check(
            lines[&index]["value"] == square,
            format_args!("task {index} should succeed"),
        );
    }
    out.check(
        error_kind(&out, &lines[&1]) == "worker-lost",
        "expected kind worker-lost",
    );
    let message = lines[&1]["error"]["message"].as_str().unwrap_or_default();
    out.check(
        message.contains("after 3 attempt(s)") && message.contains("SIGSYS"),
        "expected three attempts, each ended by seccomp",
    );
}

#[test]
fn workers_run_locked_down() {
    let mut running = run(Guest::Misbehave, ["--func", "nap", "-j", "1", "300", "300"]).start();
    if running.next_line(Duration::from_secs(60)).is_none() {
        running.finish().fail("no first result");
    }
    let workers = util::children_of(running.child.id());
    let status = workers
        .first()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .unwrap_or_default();
    let limits = workers
        .first()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/limits")).ok())
        .unwrap_or_default();
    let network = workers
        .first()
        .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok());
    let open_files: Vec<String> = workers
        .first()
        .and_then(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).ok())
        .into_iter()
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .map(|target| target.display().to_string())
        .collect();
    let out = running.finish();
    out.assert_success();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    out.check(
        field("Seccomp:") == "2",
        format_args!("no seccomp filter:\n{status}"),
    );
    out.check(field("NoNewPrivs:") == "1", "no_new_privs is not set");
    let limit = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    out.check(
        limit("Max core file size").contains("size 0 0"),
        format_args!("core dumps are not off:\n{limits}"),
    );
    out.check(
        limit("Max file size").contains("size 0 0"),
        "file size is not 0",
    );
    out.check(
        limit("Max open files").contains("files 64 64"),
        "open files are not capped",
    );
    // 512 MiB of linear memory and 1 GiB of headroom.
    out.check(
        limit("Max data size").contains("size 1610612736 1610612736"),
        format_args!("data size is not capped:\n{limits}"),
    );
    // The lockdown keeps the pooling allocator's page scan: the worker holds
    // its pagemap open (a reset would otherwise clear whole memories).
    if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() {
        out.check(
            open_files.iter().any(|f| f.ends_with("/pagemap")),
            format_args!("the worker has no pagemap open: {open_files:?}"),
        );
    }
    // Where the kernel allows it (doctor says so), no shared network.
    let doctor = wpool(["doctor"]).output();
    if doctor.stdout.contains("namespaces         applied") {
        out.check(
            network.is_some() && network != std::fs::read_link("/proc/self/ns/net").ok(),
            "the worker shares the host's network namespace",
        );
    }
}

#[test]
fn doctor_reports_every_layer() {
    let out = wpool(["doctor"]).output();
    for layer in [
        "die with parent",
        "namespaces",
        "no new privileges",
        "landlock",
        "rlimits",
        "seccomp",
    ] {
        out.assert_stdout_contains(layer);
    }
    out.assert_stdout_contains("check              passed");
    let all_applied = !out.stdout.contains("NOT applied");
    out.check(
        out.code() == if all_applied { 0 } else { 1 },
        "doctor exits 0 exactly when every layer is applied",
    );
}

// ---------------------------------------------------------------------------
// The host: killed, interrupted
// ---------------------------------------------------------------------------

#[test]
fn no_worker_outlives_a_killed_host_by_a_second() {
    let mut naps = vec!["--func", "nap", "-j", "2"];
    naps.extend(std::iter::repeat_n("300", 20));
    let mut running = run(Guest::Misbehave, &naps).start();
    if running.next_line(Duration::from_secs(60)).is_none() {
        running.finish().fail("no first result");
    }
    let workers = util::children_of(running.child.id());
    assert!(!workers.is_empty(), "wpool has no workers");
    util::kill_9(running.child.id());
    let killed = Instant::now();
    let _ = running.child.wait();
    while !workers.iter().all(|pid| is_dead(*pid)) {
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "workers {workers:?} outlived the host by a second"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts 20 naps of `ms` on two workers, in a process group of their own,
/// and waits for the first result.
fn start_naps(ms: &str) -> util::Running {
    let mut naps = vec!["--func", "nap", "-j", "2"];
    naps.extend(std::iter::repeat_n(ms, 20));
    let mut running = run(Guest::Misbehave, &naps).own_process_group().start();
    if running.next_line(Duration::from_secs(60)).is_none() {
        running.finish().fail("no first result");
    }
    running
}

#[test]
fn sigint_lets_started_tasks_finish_and_exits_130() {
    let running = start_naps("400");
    let group = format!("-{}", running.child.id());
    // As a terminal's Ctrl-C does: to the whole foreground group.
    send_signal("-INT", &group);
    let out = running.finish();
    out.assert_code(130)
        .assert_stderr_contains("wpool: interrupted");
    let lines = out.stdout_lines();
    out.check(
        lines.len() < 20 && lines.iter().all(|l| *l == "400"),
        "expected fewer than 20 results, each a finished nap",
    );
}

#[test]
fn second_sigint_stops_at_once() {
    let running = start_naps("20000");
    let group = format!("-{}", running.child.id());
    let started = Instant::now();
    send_signal("-INT", &group);
    std::thread::sleep(Duration::from_millis(100));
    send_signal("-INT", &group);
    let out = running.finish();
    out.assert_code(130);
    out.check(
        started.elapsed() < Duration::from_secs(5),
        "the second SIGINT did not stop the run at once",
    );
}

// ---------------------------------------------------------------------------
// Soak
// ---------------------------------------------------------------------------

/// 100 000 tasks while workers are killed at random: every input yields
/// exactly one line, with the right value, in order. The inputs are fed
/// over about 5 s, so that the kills land while tasks run.
#[test]
fn soak_with_workers_killed_at_random() {
    let count = 100_000;
    let (mut running, mut stdin) = run(
        Guest::Square,
        ["-j", "2", "--retries", "1000", "--input", "-"],
    )
    .start_with_stdin();
    let feeder = std::thread::spawn(move || {
        for chunk in 0..100 {
            let lines: String = (chunk * 1000..(chunk + 1) * 1000)
                .map(|i| format!("{i}\n"))
                .collect();
            if stdin.write_all(lines.as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut kills = 0;
    let started = Instant::now();
    while running.child.try_wait().ok().flatten().is_none()
        && started.elapsed() < Duration::from_secs(60)
    {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(100 + seed % 200));
        // Only workers that have compiled the component (they run an epoch
        // ticker): killing one still compiling would be a crash loop.
        let workers: Vec<u32> = util::children_of(running.child.id())
            .into_iter()
            .filter(|pid| util::thread_names(*pid).iter().any(|t| t == "epoch"))
            .collect();
        if let Some(victim) = workers.get(seed as usize % workers.len().max(1)) {
            let _ = Command::new("kill")
                .args(["-9", &victim.to_string()])
                .status();
            kills += 1;
        }
    }
    let _ = feeder.join();
    let out = running.finish();
    out.assert_success();
    out.check(
        kills >= 10,
        format_args!("only {kills} workers were killed"),
    );
    let expected = squares(0..count);
    let lines = out.stdout_lines();
    out.check(
        lines == expected,
        format_args!("{} lines, not the {count} squares in order", lines.len()),
    );
    eprintln!("soak: {kills} workers killed");
}
