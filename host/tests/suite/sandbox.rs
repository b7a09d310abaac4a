//! The sandbox: what a guest cannot reach (host files, the environment, the
//! network), the lockdown every worker applies to itself, and
//! `wpool doctor`, which reports it.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use crate::util::{Guest, error_kind, json_by_index, procfs, run, wpool};

#[test]
fn guest_cannot_read_host_files() {
    let out = run(
        Guest::Misbehave,
        ["--func", "read-file", "--json", r#""/etc/passwd""#],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 1);
    out.check(
        error_kind(&out, &lines[&0]) == "err",
        "expected the err result",
    );
    out.assert_stderr_contains("returned err(")
        .assert_stderr_lacks("root:");
    out.check(
        !out.stdout.contains("root:"),
        "/etc/passwd leaked to stdout",
    );
}

#[test]
fn guest_sees_no_environment() {
    run(
        Guest::Misbehave,
        ["--func", "env-var", r#""PATH""#, r#""HOME""#],
    )
    .output()
    .assert_success()
    .assert_stdout_lines(&["none", "none"]);
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
    let workers = procfs::children_of(running.child.id());
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
