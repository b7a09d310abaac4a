//! Typed JSON: values printed as JSON by the README's table, JSON inputs
//! (arguments and streamed lines, by position or by parameter name), the
//! job-log fields of each line, `--summary`, and how a long input is
//! quoted when its task fails.

use serde_json::json;

use crate::util::{Guest, error_kind, json_by_index, run};

#[test]
fn values_print_as_typed_json() {
    let out = run(
        Guest::Wordstats,
        ["--json", r#"("the cat and the hat", insensitive, 2)"#],
    )
    .output();
    out.assert_success();
    let lines = json_by_index(&out, 1);
    out.check(
        lines[&0]["value"]
            == json!({"words": 5, "lines": 1, "longest": "the", "top": [["the", 2], ["and", 1]]}),
        "a record is an object, an option its value, a list of tuples arrays",
    );
    out.check(
        lines[&0]["input"] == json!(["the cat and the hat", "insensitive", 2]),
        "several parameters are an array, an enum its name",
    );
    // 2^27 squared is past 2^53: a decimal string; 3 squared a number.
    let out = run(Guest::Square, ["--json", "3", "134217728"]).output();
    out.assert_success();
    let lines = json_by_index(&out, 2);
    out.check(lines[&0]["value"] == 9, "9 is a number");
    out.check(
        lines[&1]["value"] == "18014398509481984",
        "2^54 is a string",
    );
    let out = run(
        Guest::Payload,
        ["--func", "echo", "--json", "[104, 105, 255]"],
    )
    .output();
    out.assert_success();
    let lines = json_by_index(&out, 1);
    out.check(lines[&0]["value"] == "aGn/", "list<u8> is base64");
    out.check(lines[&0]["input"] == "aGn/", "so is the input");
}

#[test]
fn json_inputs_by_position_or_by_name() {
    let out = run(
        Guest::Wordstats,
        [
            "--input-format",
            "json",
            r#"["b a b", "sensitive", 1]"#,
            r#"{"top": 1, "case": "sensitive", "text": "b a b"}"#,
        ],
    )
    .output();
    out.assert_success();
    let expected = r#"{words: 3, lines: 1, longest: some("b"), top: [("b", 2)]}"#;
    out.assert_stdout_lines(&[expected, expected]);
    let out = run(
        Guest::Payload,
        [
            "--func",
            "echo-blob",
            "--input-format",
            "json",
            r#"{"name": "x", "data": "AQI="}"#,
        ],
    )
    .output();
    out.assert_success();
    out.assert_stdout_lines(&[r#"{name: "x", data: [1, 2]}"#]);
}

#[test]
fn a_json_argument_that_does_not_match_stops_before_any_work() {
    run(
        Guest::Wordstats,
        [
            "--input-format",
            "json",
            r#"["a", "sensitive", 1]"#,
            r#"["a", "sensitive", -1]"#,
        ],
    )
    .output()
    .assert_refused(&["parameter top (u32)", "expected u32", "got -1"]);
    run(
        Guest::Wordstats,
        [
            "--input-format",
            "json",
            r#"{"text": "a", "case": "upper", "top": 1}"#,
        ],
    )
    .output()
    .assert_refused(&["parameter case (case)", "a case name", "got \"upper\""]);
    run(
        Guest::Wordstats,
        ["--input-format", "json", r#"["a", "sensitive"]"#],
    )
    .output()
    .assert_refused(&["give an array of 3 values, or an object of the parameters text, case, top"]);
    // An object of the parameters names the key it does not know, or the
    // parameter it lacks.
    for (object, problem) in [
        (
            r#"{"text": "a", "case": "sensitive", "top": 1, "extra": 2}"#,
            r#"unknown parameter "extra"; the parameters are text, case, top"#,
        ),
        (
            r#"{"text": "a", "Case": "sensitive", "top": 1}"#,
            r#"unknown parameter "Case""#,
        ),
        (
            r#"{"text": "a", "case": "sensitive"}"#,
            r#"missing parameter "top""#,
        ),
        // serde_json would keep the last of two; either may be the typo.
        (
            r#"{"text": "a", "text": "b b", "case": "sensitive", "top": 1}"#,
            r#"the key "text" is given twice"#,
        ),
    ] {
        run(Guest::Wordstats, ["--input-format", "json", object])
            .output()
            .assert_refused(&[problem]);
    }
    run(
        Guest::Misbehave,
        ["--func", "whoami", "--input-format", "json", r#"{"x": 1}"#],
    )
    .output()
    .assert_refused(&["the function takes no parameters: give [], {} or null"]);
}

#[test]
fn a_streamed_json_line_that_does_not_match_fails_alone() {
    let long = "y".repeat(4 << 20);
    let lines = [
        r#"["a b a", "sensitive", 1]"#.to_string(),
        r#"["a", "sensitive", "many"]"#.to_string(),
        "not json".to_string(),
        format!(r#"{{"text": "{long}", "case": "both", "top": 1}}"#),
        String::new(),
        r#"{"text": "c", "case": "insensitive", "top": 0}"#.to_string(),
    ];
    let out = run(
        Guest::Wordstats,
        ["--input-format", "json", "--input", "-", "--json"],
    )
    .stdin(lines.join("\n"))
    .output();
    out.assert_code(1);
    let by_index = json_by_index(&out, 5);
    out.check(by_index[&0]["value"]["words"] == 3, "line 1 runs");
    out.check(by_index[&4]["value"]["words"] == 1, "line 6 runs");
    for index in [1, 2, 3] {
        out.check(
            error_kind(&out, &by_index[&index]) == "input",
            format_args!("task {index} should fail with kind input"),
        );
        out.check(by_index[&index]["attempts"] == 0, "no worker ran it");
    }
    out.assert_stderr_contains("stdin line 2: ");
    out.assert_stderr_contains("parameter top (u32): expected u32");
    out.assert_stderr_contains(
        "stdin line 3: input \"not json\" is not a valid tuple<string, case, u32>: not JSON",
    );
    out.assert_stderr_contains("stdin line 4: ");
    out.assert_stderr_contains("parameter case (case): expected");
    // The 4 MiB line is quoted shortened, on stderr and in its JSON line.
    let long_line = lines[3].len();
    out.assert_stderr_contains(&format!("… ({long_line} bytes)"));
    out.check(
        out.stderr.len() < 4000,
        "stderr quotes long inputs shortened",
    );
    let input = by_index[&3]["input"].as_str().unwrap_or_default();
    out.check(
        input.len() < 300 && input.ends_with(&format!("… ({long_line} bytes)")),
        format_args!("the JSON line's input should be shortened: {input:.300}"),
    );
}

#[test]
fn a_long_failed_input_is_quoted_shortened() {
    let long = format!("\"{}\"", "z".repeat(2 << 20));
    for json in [false, true] {
        let mut cmd = run(
            Guest::Payload,
            ["--func", "echo-text", "--max-value", "1MiB", "--input", "-"],
        );
        if json {
            cmd.args(["--json"]);
        }
        let out = cmd.stdin(long.clone()).output();
        out.assert_code(1);
        out.assert_stderr_contains(&format!(
            "wpool: task 0 (input \"{}… ({} bytes)) failed: input of 2.0 MiB exceeds",
            "z".repeat(199),
            long.len()
        ));
        out.check(out.stderr.len() < 1000, "stderr quotes the input shortened");
        out.check(out.stdout.len() < 1000, "stdout quotes the input shortened");
    }
}

#[test]
fn json_lines_carry_the_job_log() {
    let out = run(
        Guest::Primes,
        ["--json", "-j", "2", "1000", "200000", "2000", "3000"],
    )
    .output();
    out.assert_success();
    let lines = json_by_index(&out, 4);
    for line in lines.values() {
        out.check(line["attempts"] == 1, format_args!("{line}: one attempt"));
        out.check(
            line["worker"].as_u64().is_some_and(|worker| worker < 2),
            format_args!("{line}: worker 0 or 1"),
        );
        out.check(
            line["time"].as_f64().is_some_and(|t| t > 0.0 && t < 10.0),
            format_args!("{line}: a time in seconds"),
        );
    }
    // Counting primes below 200000 takes longer than below 1000.
    out.check(
        lines[&1]["time"].as_f64() > lines[&0]["time"].as_f64(),
        "the longer task should take longer",
    );
    // A refused input never ran.
    let out = run(
        Guest::Payload,
        [
            "--func",
            "len",
            "--max-value",
            "1KiB",
            "--json",
            "[]",
            &format!("[{}]", ["0"; 2000].join(", ")),
        ],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    out.check(
        lines[&1]["attempts"] == 0 && lines[&1]["worker"].is_null() && lines[&1]["time"].is_null(),
        "an input refused at admission ran nowhere",
    );
}

#[test]
fn summary_counts_failures_retries_and_times() {
    let out = run(
        Guest::CheckedDiv,
        [
            "--summary",
            "(6, 3)",
            "(1, 0)",
            "(8, 2)",
            "(5, 0)",
            "(9, 3)",
        ],
    )
    .output();
    out.assert_code(1);
    out.assert_stderr_contains("wpool: summary: 5 tasks, 3 succeeded, 2 failed");
    out.assert_stderr_contains("wpool: failed by kind: err 2");
    out.assert_stderr_contains("wpool: retries: 0");
    out.assert_stderr_contains("wpool: task time in the workers (5 tasks): p50 ");
    let out = run(Guest::Square, ["0..3"]).output();
    out.assert_success();
    out.assert_stderr_lacks("summary");
}

#[test]
fn summary_gives_the_cpu_time_of_the_host_and_its_reaped_workers_and_the_host_peak_memory() {
    // Four tasks of about 50 ms of CPU each: the workers' time is counted
    // only once they have been reaped, and it is most of the run's.
    let out = run(
        Guest::Primes,
        ["--summary", "-j2", "560000", "560000", "560000", "560000"],
    )
    .output();
    out.assert_success();
    let prefix = "wpool: CPU time (user + system): host ";
    let Some(line) = out.stderr.lines().find(|l| l.starts_with(prefix)) else {
        out.fail("no CPU time in the summary");
    };
    let seconds: Vec<f64> = line[prefix.len()..]
        .split([' ', ','])
        .filter_map(|word| word.parse().ok())
        .collect();
    let [host, workers] = seconds[..] else {
        out.fail(format_args!("{line:?} gives no host and workers times"));
    };
    out.check(
        workers >= 0.05 && workers > host,
        format_args!("workers {workers} s, host {host} s: the workers' CPU is missing"),
    );
    // A process that loaded a component holds megabytes, not nothing.
    let host_kib = out.host_peak_kib();
    out.check(
        host_kib > 4 << 10,
        format_args!("the host's peak of {host_kib} KiB"),
    );
    // And the task times are the tasks': tens of milliseconds, not clamped.
    out.assert_stderr_contains("wpool: task time in the workers (4 tasks): p50 ");
    out.check(
        !out.stderr.contains("p50 2.000µs") && out.stderr.contains("ms, max "),
        "task times of about 50 ms shown in milliseconds",
    );
}
