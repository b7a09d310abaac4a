//! Tasks in Python and JavaScript, built from source with the real
//! toolchains (componentize-py, componentize-js and jco, which `.ci/run`
//! installs): values of every shape, an uncaught exception named as such,
//! a shared counter under a lock, the toolchains' own hooks left out of the
//! choice of function, `wpool new` projects that build and run as written,
//! the errors for a missing toolchain or an import wpool does not provide,
//! a QuickJS default build (component-model async) under the usual limits,
//! and a `fetch` refused inside the guest.
//!
//! Each component is compiled once, by one worker (the others load its
//! artifact), and later runs load it from the compile cache. A compile of
//! an interpreter takes seconds, and minutes on a machine busy compiling
//! many at once, as the suite's is: every run here allows it 10 minutes.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use wpool::{Component, Pool, Task};

use crate::util::{Cmd, Guest, WPOOL, as_strs, error_kind, json_by_index, ok_ints, squares, wpool};

/// How long a compile may take here (see the module's docs).
const COMPILE_TIMEOUT: &str = "10m";

/// `wpool run TASK ARGS... --compile-timeout 10m`.
fn run<I, S>(task: impl AsRef<OsStr>, args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = wpool([OsStr::new("run"), task.as_ref()]);
    cmd.args(args).args(["--compile-timeout", COMPILE_TIMEOUT]);
    cmd
}

/// Everything a Python or JavaScript task is checked for, one run after
/// another so that the component is compiled once. `exception` is the
/// message a negative `root` fails with.
fn check_tasks(guest: Guest, exception: &str) {
    let guest = guest.wasm();
    run(guest, ["--func", "square", "3", "-4", "0", "-j", "2"])
        .output()
        .assert_success()
        .assert_stdout_lines(&["9", "16", "0"]);

    // A record holding a list, inside a result; an `err` for the empty list.
    run(guest, ["--func", "summarize", "[1, 2, 6]", "[]"])
        .output()
        .assert_code(1)
        .assert_stdout_lines(&["ok({count: 3, total: 9, largest: 6, spread: [-2, -1, 3]})"])
        .assert_stderr_contains(
            r#"task 1 (input []) failed: returned err("nothing to summarize")"#,
        );

    // An uncaught exception: its own kind, the exception in the message.
    let out = run(guest, ["--func", "root", "2.25", "-1", "--json"]).output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    assert_eq!(lines[&0]["value"], 1.5, "{}", out.dump());
    assert_eq!(error_kind(&out, &lines[&1]), "exception", "{}", out.dump());
    assert_eq!(lines[&1]["error"]["message"], exception, "{}", out.dump());
    run(guest, ["--func", "root", "-1"])
        .output()
        .assert_code(1)
        .assert_stderr_contains(&format!("task 0 (input -1) failed: {exception}\n"));
    // The worker reads the report whatever `--max-output` keeps to show:
    // here, only the count of what it dropped.
    let out = run(guest, ["--func", "root", "--max-output", "0", "-1"]).output();
    out.assert_code(1)
        .assert_stderr_contains(&format!("task 0 (input -1) failed: {exception}\n"));
    let shown: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("[0] "))
        .collect();
    out.check(
        shown.len() == 1 && shown[0].ends_with("bytes of stderr dropped here)"),
        "more than the count of the dropped output was shown",
    );
    // A spawned process's stderr streams, uncaptured: the exception is
    // read from what it wrote last.
    let spawned = format!("{}#root=-1", guest.display());
    wpool(["spawn", spawned.as_str()])
        .output()
        .assert_code(1)
        .assert_stderr_contains(&format!("[0 root] failed: {exception} (exit code 1)"));

    // A shared counter under a shared lock, from tasks on two workers: the
    // task that incremented last saw the exact total.
    let out = run(
        guest,
        ["--func", "increment", "25", "25", "25", "25", "-j", "2"],
    )
    .output();
    out.assert_success();
    let results = ok_ints(&out);
    assert_eq!(results.iter().max(), Some(&100), "{}", out.dump());
}

#[test]
fn python_tasks_run_with_every_shape_an_exception_and_a_lock() {
    check_tasks(
        Guest::PythonTasks,
        "exception: ValueError: no real square root of -1.0",
    );
}

#[test]
fn javascript_tasks_run_with_every_shape_an_exception_and_a_lock() {
    // StarlingMonkey prints the error's message, not its name.
    check_tasks(Guest::JsTasks, "exception: no real square root of -1");
}

#[test]
fn a_toolchain_hook_is_marked_and_never_chosen() {
    let wasm = Guest::PythonTasks.wasm().display().to_string();
    let out = wpool(["inspect", &wasm]).output();
    out.assert_success().assert_stdout_contains(
        "//   exports#init: componentize-py's start-up hook, not mapped unless named",
    );
    // Four functions beside the hook: name one (the hook is none of them).
    run(&wasm, ["1"])
        .output()
        .assert_refused(&["exports several functions, name one", "square", "summarize"])
        .assert_stderr_lacks("exports#init");
}

/// `wpool new NAME --lang LANG` in a fresh directory, then `wpool run` on
/// the project it wrote, which builds it and maps its one function
/// without `--func`.
fn new_project_runs(lang: &str, env: &[(&str, &Path)]) {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("my-task");
    let name = project.display().to_string();
    wpool(["new", &name, "--lang", lang])
        .output()
        .assert_success()
        .assert_stdout_contains("README.md");
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(readme.contains("wpool run . 0..10"), "{readme}");
    let mut cmd = run(&name, ["0..5"]);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output()
        .assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..5)));
    // Python's and JavaScript's integers do not wrap: a square past s64
    // fails with an exception that says so (Rust's template wraps).
    if lang != "rust" {
        let mut cmd = run(&name, ["-4", "3037000500"]);
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.output()
            .assert_code(1)
            .assert_stdout_lines(&["16"])
            .assert_stderr_contains("task 1 (input 3037000500) failed: exception: ")
            .assert_stderr_contains("3037000500 squared does not fit in an s64");
    }
    // Written once: a second `new` into the same directory is refused and
    // leaves it as it was.
    wpool(["new", &name, "--lang", lang])
        .output()
        .assert_refused(&["cannot make", "my-task"]);
    assert_eq!(
        std::fs::read_to_string(project.join("README.md")).unwrap(),
        readme
    );
}

#[test]
fn new_python_project_builds_and_runs_as_written() {
    new_project_runs("python", &[]);
}

#[test]
fn new_javascript_project_builds_and_runs_as_written() {
    new_project_runs("js", &[]);
}

#[test]
fn new_rust_project_builds_and_runs_as_written() {
    // The guest examples' target directory: wit-bindgen is built there.
    let target = Guest::Square.dir().join("../target");
    new_project_runs("rust", &[("CARGO_TARGET_DIR", &target)]);
}

#[test]
fn new_refuses_a_name_that_cannot_name_a_world() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["My_Task", "2fast", "world"] {
        let path = dir.path().join(bad).display().to_string();
        wpool(["new", &path, "--lang", "python"])
            .output()
            .assert_refused(&["cannot name a task", "my-task"]);
        assert!(!dir.path().join(bad).exists(), "{bad} was made");
    }
}

#[test]
fn a_missing_toolchain_is_named_with_its_install_command() {
    let dir = tempfile::tempdir().unwrap();
    for (lang, install) in [
        ("python", "pip install componentize-py==0.25.1"),
        (
            "js",
            "npm install --global @bytecodealliance/componentize-js@0.23.0",
        ),
    ] {
        let project = dir.path().join(format!("{lang}-task"));
        let name = project.display().to_string();
        wpool(["new", &name, "--lang", lang])
            .output()
            .assert_success();
        run(&name, ["1"])
            .env("PATH", "/nonexistent")
            .output()
            .assert_refused(&["is not installed", install]);
    }
}

#[test]
fn a_quickjs_default_build_runs_under_the_usual_limits() {
    let wasm = Guest::QjsTasks.wasm();
    // Its exports are async-lifted: the build needs component-model async.
    let text = std::fs::read(wasm).unwrap();
    let validated = wasmparser::Validator::new_with_features(
        wasmparser::WasmFeatures::default().difference(wasmparser::WasmFeatures::CM_ASYNC),
    )
    .validate_all(&text);
    assert!(
        validated.is_err(),
        "the QuickJS build does not use component-model async"
    );

    run(wasm, ["--func", "square", "0..10", "-j", "2"])
        .output()
        .assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..10)));

    let out = run(wasm, ["--func", "root", "2.25", "-1", "--json"]).output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    assert_eq!(lines[&0]["value"], 1.5, "{}", out.dump());
    assert_eq!(error_kind(&out, &lines[&1]), "exception", "{}", out.dump());
    assert_eq!(
        lines[&1]["error"]["message"],
        "exception: no real square root of -1",
        "{}",
        out.dump()
    );

    run(wasm, ["--func", "spin", "()", "--timeout", "1s"])
        .output()
        .assert_code(1)
        .assert_stderr_contains("task 0 (input ()) failed: timed out after 1s");
    run(wasm, ["--func", "spin", "()", "--fuel", "1000000"])
        .output()
        .assert_code(1)
        .assert_stderr_contains("failed: out of fuel after 1000000 units");
    run(wasm, ["--func", "hoard", "()", "--max-memory", "64MiB"])
        .output()
        .assert_code(1)
        .assert_stderr_contains("failed: memory limit of 64.0 MiB exceeded");
}

/// Maps `square` over `0..5` on `pool`, checks every result, each task run
/// once, and returns the worker that ran them.
fn five_squares(pool: &Pool, square: &Task) -> u32 {
    let inputs = (0..5).map(|i| square.parse_input(&i.to_string()).expect("an s64"));
    let outputs = pool.map(square, inputs).expect("the run starts");
    for (i, output) in (0..5i64).zip(&outputs) {
        let value = output.result.as_ref().expect("square succeeds");
        assert_eq!(value.to_string(), (i * i).to_string());
        assert_eq!(output.attempts, 1, "task {i} ran more than once");
    }
    outputs[0].worker.expect("it ran")
}

#[test]
fn a_pool_alternates_between_async_and_sync_components() {
    // A worker's engine has concurrency support only if its first task
    // needs it: the pool's one worker is replaced at each switch, and at
    // no other time.
    let rust = Component::from_file(Guest::Square.wasm())
        .unwrap()
        .task(None)
        .unwrap();
    let qjs = Component::from_file(Guest::QjsTasks.wasm())
        .unwrap()
        .task(Some("square"))
        .unwrap();
    let pool = Pool::builder()
        .workers(1)
        .worker_program(WPOOL)
        .compile_timeout(Duration::from_secs(600))
        .build();
    let workers: Vec<u32> = [&rust, &rust, &qjs, &qjs, &rust]
        .into_iter()
        .map(|task| five_squares(&pool, task))
        .collect();
    assert_eq!(workers[0], workers[1], "{workers:?}");
    assert_ne!(workers[1], workers[2], "{workers:?}");
    assert_eq!(workers[2], workers[3], "{workers:?}");
    assert_ne!(workers[3], workers[4], "{workers:?}");
}

#[test]
fn a_fetch_is_refused_inside_the_guest() {
    // A default componentize-js build imports wasi:http. Every request is
    // refused: the guest sees the error code, and the task goes on.
    let wasm = Guest::JsFetch.wasm();
    run(wasm, ["--func", "send", "\"example.com\""])
        .output()
        .assert_success()
        .assert_stdout_lines(&["\"refused: HTTP-request-denied\""]);
    // StarlingMonkey's fetch rejects with a TypeError that does not say why.
    run(wasm, ["--func", "attempt", "\"http://example.com/\""])
        .output()
        .assert_success()
        .assert_stdout_lines(&[
            "\"fetch failed: TypeError: NetworkError when attempting to fetch resource\"",
        ]);
}
