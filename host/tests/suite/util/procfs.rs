//! Which process is which: children, threads, start times and states read
//! from `/proc`, and signals sent with `kill`.

use std::process::Command;
use std::time::{Duration, Instant};

/// The peak resident memory of `pid` (`VmHWM` in `/proc/PID/status`), in
/// KiB.
pub fn peak_resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    hwm.trim().trim_end_matches(" kB").parse().ok()
}

/// The process ids whose parent is `parent`, from `/proc/*/stat`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: Vec<u32> = dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parens.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            after
                .split_whitespace()
                .nth(1)
                .and_then(|ppid| ppid.parse::<u32>().ok())
                == Some(parent)
        })
        .collect();
    children.sort_unstable();
    children
}

/// The names of `pid`'s threads.
pub fn thread_names(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let path = entry.ok()?.path().join("comm");
        Some(std::fs::read_to_string(path).ok()?.trim().to_string())
    })
    .collect()
}

/// The first argument `pid` was started with: the program as its parent
/// named it.
pub fn argv0(pid: u32) -> Option<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let first = cmdline.split(|b| *b == 0).next()?;
    Some(std::ffi::OsStr::from_bytes(first).to_owned())
}

/// Sends SIGKILL to `pid`.
pub fn kill_9(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("cannot run kill");
    assert!(status.success(), "kill -9 {pid} failed");
}

/// Sends `signal` (such as `-INT`) to `target`: a process id, or `-PGID`
/// for a process group.
pub fn send_signal(signal: &str, target: &str) {
    let status = Command::new("kill")
        .args([signal, "--", target])
        .status()
        .expect("cannot run kill");
    assert!(status.success(), "kill {signal} {target} failed");
}

/// Whether `pid` is gone or a zombie, that is, no longer running.
pub fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// The time `pid` started, in clock ticks since boot (`/proc/PID/stat`
/// field 22); `None` once it is gone.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // After the comm: state is field 3, starttime field 22.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the main thread of worker `pid` waits inside a task's host call
/// (a sleep, or a request to the hub): parked in `futex` with a timeout, as
/// the worker's tokio runtime parks while a task's deadline runs. A worker
/// waiting for its next batch parks in `futex` without a timeout.
pub fn blocked_in_host_call(pid: u32) -> bool {
    #[cfg(target_arch = "x86_64")]
    const FUTEX: &str = "202";
    #[cfg(target_arch = "aarch64")]
    const FUTEX: &str = "98";
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const FUTEX: &str = "?";
    let Ok(syscall) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/syscall")) else {
        return false;
    };
    // `number arg1 arg2 arg3 arg4 ...`: futex's fourth argument is its
    // timeout.
    let fields: Vec<&str> = syscall.split_whitespace().collect();
    fields.first() == Some(&FUTEX) && fields.get(4).is_some_and(|t| *t != "0x0")
}

/// Waits until `wpool` (pid `parent`) has `count` workers, each blocked in
/// a task's host call, and stays so for a few polls; returns them in the
/// order they started. Panics after `deadline`.
pub fn workers_blocked_in_host_calls(parent: u32, count: usize, deadline: Duration) -> Vec<u32> {
    let started = Instant::now();
    let mut steady = 0;
    loop {
        let mut workers = children_of(parent);
        let blocked =
            workers.len() == count && workers.iter().all(|pid| blocked_in_host_call(*pid));
        steady = if blocked { steady + 1 } else { 0 };
        // A request to the hub that is answered at once blocks only for a
        // moment: wait until the state holds over several polls.
        if steady == 5 {
            workers.sort_by_key(|pid| (start_time(*pid), *pid));
            return workers;
        }
        assert!(
            started.elapsed() < deadline,
            "after {deadline:?}, wpool {parent} has workers {workers:?}, not {count} blocked in host calls"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A worker program that records the process id of every worker a pool
/// starts: a script that appends its pid to a file and becomes `wpool`
/// (same process), so a test counts the processes its own pool started,
/// whatever other tests run at the same time.
pub struct CountedWorkers {
    dir: tempfile::TempDir,
}

impl CountedWorkers {
    pub fn new() -> CountedWorkers {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temporary directory");
        let script = dir.path().join("worker");
        let pids = dir.path().join("pids");
        let text = format!(
            "#!/bin/sh\necho $$ >> '{}'\nexec '{}' \"$@\"\n",
            pids.display(),
            super::WPOOL
        );
        std::fs::write(&script, text).expect("write the worker script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("make the worker script executable");
        CountedWorkers { dir }
    }

    /// The program to give [`wpool::PoolBuilder::worker_program`].
    pub fn program(&self) -> std::path::PathBuf {
        self.dir.path().join("worker")
    }

    /// The process ids of the first `n` workers, once that many have
    /// recorded themselves: a worker started for a short run may record
    /// itself after the run has ended on the other.
    pub fn first(&self, n: usize) -> Vec<u32> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let pids = self.pids();
            if pids.len() >= n {
                return pids[..n].to_vec();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {} workers started",
                pids.len()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The process ids of the workers started so far, in order.
    pub fn pids(&self) -> Vec<u32> {
        let text = std::fs::read_to_string(self.dir.path().join("pids")).unwrap_or_default();
        text.lines().map(|l| l.parse().expect("a pid")).collect()
    }
}

/// Whether process `pid` exists (and is not a zombie).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = &stat[stat.rfind(')')? + 1..];
            after.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}
