//! What flows out of a task besides its result, and how much: guest stdout
//! and stderr (capped, escaped, kept off wpool's stdout) and the size of
//! inputs and results.

use crate::util::{Guest, error_kind, json_by_index, run};

#[test]
fn guest_output_is_capped_and_kept_off_stdout() {
    let out = run(
        Guest::Misbehave,
        ["--func", "chatter", "--max-output", "1KiB", "100000"],
    )
    .output();
    out.assert_success()
        .assert_stdout_lines(&["100000"])
        .assert_stderr_contains("[0] out 0\n")
        .assert_stderr_contains("[0] err 0\n")
        .assert_stderr_contains("more bytes of stdout dropped here)\n[0] out 999")
        .assert_stderr_contains("more bytes of stderr dropped here)\n[0] err 999")
        .assert_stderr_contains("[0] out 99999\n")
        .assert_stderr_contains("[0] err 99999\n")
        .assert_stderr_lacks("out 50000");
    out.check(
        out.stderr.len() < 16 << 10,
        "more than the cap of guest output was shown",
    );
}

#[test]
fn guest_flooding_stdout_is_bounded_and_escaped() {
    let mut running = run(Guest::Misbehave, ["--summary", "--func", "flood", "4096"]).start();
    let worker_kib = running.workers_peak_kib();
    let out = running.finish();
    out.assert_success()
        .assert_stderr_contains("more bytes of stdout dropped");
    let written: u64 = out.stdout.trim().parse().unwrap_or(0);
    out.check(written >= 4 << 30, "the guest wrote less than 4 GiB");
    out.check(worker_kib > 0, "no memory sample of a worker was taken");
    let host_kib = out.host_peak_kib();
    out.check(
        host_kib.max(worker_kib) < 200 << 10,
        format_args!("the host peaked at {host_kib} KiB, a worker at {worker_kib} KiB"),
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
    out.check(lines[&0]["value"] == "a", "echo \"a\" should succeed");
    out.check(lines[&2]["value"] == "b", "echo \"b\" should succeed");
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
    out.check(lines[&1]["value"] == "", "big-string 0 should succeed");
    out.check(
        lines[&2]["value"].as_str().map(str::len) == Some(1 << 20),
        "big-string 1 should return 1 MiB",
    );
    out.assert_stderr_contains("result of 8.0 MiB exceeds the limit of 4.0 MiB");
}

/// A byte list too large to be copied out of the guest (on the path that
/// lifts it a value at a time) fails with kind `size` too, its size unknown.
#[test]
fn a_byte_list_result_too_large_to_lift_fails_with_a_size_error() {
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "big-bytes",
            "--max-value",
            "4MiB",
            "--json",
            "20",
            "1",
        ],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    out.check(
        error_kind(&out, &lines[&0]) == "size",
        "expected kind size for 20 MiB",
    );
    out.check(
        lines[&1]["value"].as_str().map(str::len) == Some((1 << 20) / 3 * 4 + 4),
        "big-bytes 1 should return 1 MiB, in base64",
    );
    out.assert_stderr_contains("task 0 (input 20) failed: result over the limit of 4.0 MiB\n");
}

/// `--json` says how much of each stream was dropped past `--max-output`,
/// between the first bytes and the last: kept and dropped add up to what
/// the task wrote.
#[test]
fn json_lines_count_the_output_dropped() {
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "chatter",
            "--max-output",
            "1KiB",
            "1000",
            "2",
            "--json",
        ],
    )
    .output();
    out.assert_success();
    let lines = json_by_index(&out, 2);
    let written = |lines: u64, prefix: &str| -> u64 {
        (0..lines)
            .map(|i| format!("{prefix} {i}\n").len() as u64)
            .sum()
    };
    for (index, count) in [(0, 1000), (1, 2)] {
        let line = &lines[&index];
        for (stream, prefix) in [("stdout", "out"), ("stderr", "err")] {
            let text = |field: String| line[field.as_str()].as_str().unwrap_or("").to_string();
            let (head, tail) = (text(stream.to_string()), text(format!("{stream}_tail")));
            let kept = (head.len() + tail.len()) as u64;
            if count == 1000 {
                assert!(head.starts_with(&format!("{prefix} 0\n")), "{line}");
                assert!(tail.ends_with(&format!("{prefix} 999\n")), "{line}");
            } else {
                assert_eq!(tail, "", "{line}");
            }
            let dropped = line[format!("{stream}_dropped").as_str()].as_u64();
            assert_eq!(
                dropped.map(|dropped| kept + dropped),
                Some(written(count, prefix)),
                "{stream} of task {index}: {line}"
            );
        }
    }
    assert_eq!(lines[&1]["stdout_dropped"], 0, "{}", out.dump());
}
