//! The sandbox: what a guest cannot reach (host files, the environment, the
//! network), the lockdown every worker applies to itself, and
//! `wpool doctor`, which reports it.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use crate::util::{Guest, Output, error_kind, json_by_index, procfs, run, wpool};

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
    for (index, square) in [(0, 0), (2, 4), (3, 9)] {
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

/// What `/proc` shows of a worker while it runs a task.
struct Worker {
    status: String,
    limits: String,
    network: Option<std::path::PathBuf>,
    open_files: Vec<String>,
}

impl Worker {
    /// Runs two naps on one worker and reads its `/proc` entries while the
    /// second runs, after the first result (the worker is sealed by then).
    fn observe() -> (Worker, Output) {
        let mut running = run(Guest::Misbehave, ["--func", "nap", "-j", "1", "300", "300"]).start();
        if running.next_line(Duration::from_secs(60)).is_none() {
            running.finish().fail("no first result");
        }
        let workers = procfs::children_of(running.child.id());
        let Some(pid) = workers.first() else {
            running.finish().fail("wpool has no worker");
        };
        let read = |entry: &str| std::fs::read_to_string(format!("/proc/{pid}/{entry}"));
        let worker = Worker {
            status: read("status").unwrap_or_default(),
            limits: read("limits").unwrap_or_default(),
            network: std::fs::read_link(format!("/proc/{pid}/ns/net")).ok(),
            open_files: std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .map(|target| target.display().to_string())
                .collect(),
        };
        let out = running.finish();
        out.assert_success();
        (worker, out)
    }

    /// A field of `/proc/PID/status`, such as `Seccomp:`.
    fn field(&self, name: &str) -> &str {
        self.status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
    }

    /// The line of `/proc/PID/limits` of a limit, its spaces squeezed.
    fn limit(&self, name: &str) -> String {
        self.limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    /// Whether it has a network namespace of its own.
    fn has_own_network(&self) -> bool {
        self.network.is_some() && self.network != std::fs::read_link("/proc/self/ns/net").ok()
    }
}

/// The Landlock ABI version this kernel offers, 0 for none.
#[allow(unsafe_code)]
fn landlock_abi() -> i64 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with this flag the call reads no attribute (a null pointer of
    // size 0 is how the kernel documents it) and only returns the version.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    version.max(0)
}

#[test]
fn workers_run_locked_down() {
    let (worker, out) = Worker::observe();
    out.check(
        worker.field("Seccomp:") == "2",
        format_args!("no seccomp filter:\n{}", worker.status),
    );
    out.check(
        worker.field("NoNewPrivs:") == "1",
        "no_new_privs is not set",
    );
    out.check(
        worker.limit("Max core file size").contains("size 0 0"),
        format_args!("core dumps are not off:\n{}", worker.limits),
    );
    out.check(
        worker.limit("Max file size").contains("size 0 0"),
        "file size is not 0",
    );
    out.check(
        worker.limit("Max open files").contains("files 64 64"),
        "open files are not capped",
    );
    // 512 MiB of linear memory, 1 GiB of headroom, and room for a task's
    // values: `nap`'s integers hold no `Val` per byte, so four copies of a
    // 16 MiB value (its argument and result, and their frames).
    out.check(
        worker
            .limit("Max data size")
            .contains("size 1677721600 1677721600"),
        format_args!("data size is not capped:\n{}", worker.limits),
    );
    // The lockdown keeps the pooling allocator's page scan: the worker holds
    // its pagemap open (a reset would otherwise clear whole memories).
    if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() {
        out.check(
            worker.open_files.iter().any(|f| f.ends_with("/pagemap")),
            format_args!("the worker has no pagemap open: {:?}", worker.open_files),
        );
    }
    // Where the kernel allows it (doctor says so), no shared network.
    let doctor = wpool(["doctor"]).output();
    if doctor.stdout.contains("namespaces         applied") {
        out.check(
            worker.has_own_network(),
            "the worker shares the host's network namespace",
        );
    }
}

/// The seccomp line of the README's `wpool doctor` example.
fn readme_seccomp_line() -> String {
    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).expect("the README is readable");
    text.lines()
        .find(|l| l.starts_with("seccomp            applied: "))
        .expect("the README shows doctor's seccomp line")
        .to_string()
}

#[test]
fn doctor_reports_every_layer() {
    // What a real worker shows, independently of what doctor says.
    let (worker, _) = Worker::observe();
    let expected = [
        // A worker that cannot ask for it exits at once: it is always there.
        ("die with parent", true),
        ("namespaces", worker.has_own_network()),
        ("no new privileges", worker.field("NoNewPrivs:") == "1"),
        ("landlock", landlock_abi() > 0),
        (
            "rlimits",
            worker.limit("Max open files").contains("files 64 64"),
        ),
        ("seccomp", worker.field("Seccomp:") == "2"),
    ];
    let out = wpool(["doctor"]).output();
    let lines = out.stdout_lines();
    out.check(
        lines.len() == expected.len() + 1,
        "expected one line per layer and the check",
    );
    for (line, (name, applied)) in lines.iter().zip(expected) {
        let state = if applied { "applied" } else { "NOT applied" };
        out.check(
            line.starts_with(&format!("{name:<18} {state}: ")),
            format_args!("expected the line {line:?} to say {name:?} is {state}"),
        );
    }
    let seccomp = lines.get(5).copied().unwrap_or_default();
    let readme = readme_seccomp_line();
    if expected[5].1 {
        // The number of system calls allowed and refused, as the README says.
        out.check(
            seccomp == readme,
            format_args!("expected the README's seccomp line {readme:?}"),
        );
    }
    let seccomp_applied = expected[5].1;
    if seccomp_applied {
        out.check(
            lines.last()
                == Some(&"check              passed: a forbidden system call killed the probe"),
            "expected the check to pass",
        );
    }
    let all_applied = expected.iter().all(|(_, applied)| *applied);
    out.assert_code(if all_applied { 0 } else { 1 });
}
