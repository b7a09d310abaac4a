//! Errors that say what happened, and the exit status that goes with them:
//! each [`wpool::Error`] a caller can provoke, matched by its variant; the
//! `wpool` command's exit codes for what cannot start; a stdout closed early
//! (as by `| head -1`) for every subcommand; absurd timeouts and ranges.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::{self, Cmd, Guest, Output, run, wpool};
use wpool::{Component, Error, Limits, Pool, Task};

/// How long a command with its stdout closed may take to notice.
const CLOSED_STDOUT_DEADLINE: Duration = Duration::from_secs(120);

fn task(guest: Guest, func: Option<&str>) -> Task {
    Component::from_file(guest.wasm())
        .and_then(|c| c.task(func))
        .expect("the guest loads")
}

fn pool() -> wpool::PoolBuilder {
    Pool::builder().workers(1).worker_program(util::WPOOL)
}

/// A component whose `run: func()` calls `f` of the interface
/// `test:missing/absent`, which wpool does not provide. Written to `dir`.
fn component_with_a_missing_import(dir: &Path) -> PathBuf {
    const WIT: &str = "
        package test:missing;
        interface absent { f: func(); }
        world needs-absent {
            import absent;
            export run: func();
        }";
    // (module
    //   (import "test:missing/absent" "f" (func))
    //   (func (export "run") call 0))
    let mut module: Vec<u8> = b"\0asm\x01\0\0\0".to_vec();
    module.extend([0x01, 0x04, 0x01, 0x60, 0x00, 0x00]);
    module.extend([0x02, 0x19, 0x01, 0x13]);
    module.extend(b"test:missing/absent");
    module.extend([0x01, b'f', 0x00, 0x00]);
    module.extend([0x03, 0x02, 0x01, 0x00]);
    module.extend([0x07, 0x07, 0x01, 0x03, b'r', b'u', b'n', 0x00, 0x01]);
    module.extend([0x0a, 0x06, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0b]);
    component(dir.join("needs-absent.wasm"), WIT, module)
}

/// A component whose `run: func()` is one function of `pairs` times
/// `i32.const 0; drop`: small to load, costly to compile. Written to `dir`.
fn component_costly_to_compile(dir: &Path, pairs: usize) -> PathBuf {
    const WIT: &str = "
        package test:costly;
        world costly {
            export run: func();
        }";
    let mut code = vec![0x00]; // no locals
    for _ in 0..pairs {
        code.extend([0x41, 0x00, 0x1a]);
    }
    code.push(0x0b);
    let mut bodies = leb128(1);
    bodies.extend(leb128(code.len()));
    bodies.extend(code);
    let mut module: Vec<u8> = b"\0asm\x01\0\0\0".to_vec();
    module.extend([0x01, 0x04, 0x01, 0x60, 0x00, 0x00]);
    module.extend([0x03, 0x02, 0x01, 0x00]);
    module.extend([0x07, 0x07, 0x01, 0x03, b'r', b'u', b'n', 0x00, 0x00]);
    module.push(0x0a);
    module.extend(leb128(bodies.len()));
    module.extend(bodies);
    component(dir.join("costly.wasm"), WIT, module)
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            bytes.push(byte);
            return bytes;
        }
        bytes.push(byte | 0x80);
    }
}

/// Wraps the core `module` into a component of the one world in `wit`,
/// written to `path`.
fn component(path: PathBuf, wit: &str, mut module: Vec<u8>) -> PathBuf {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("world.wit", wit).expect("the WIT parses");
    let world = resolve.select_world(&[package], None).expect("one world");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("metadata embeds");
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("the module is valid")
        .validate(true)
        .encode()
        .expect("the component encodes");
    std::fs::write(&path, component).expect("the component is written");
    path
}

// ---------------------------------------------------------------------------
// The library's errors, by variant
// ---------------------------------------------------------------------------

#[test]
fn closed_pool_hands_back_the_input() {
    let square = task(Guest::Square, None);
    let pool = pool().build();
    pool.close();
    let input = square.parse_input("7").expect("valid input");
    match pool.apply_async(&square, input.clone()) {
        Err(Error::Closed { input: back }) => assert_eq!(back, input),
        Err(other) => panic!("expected a closed pool, got {other:?}"),
        Ok(_) => panic!("a closed pool took a task"),
    }
    let callbacks = wpool::Callbacks::default().on_success(|_| panic!("nothing should run"));
    match pool.apply_async_with(&square, input.clone(), callbacks) {
        Err(error @ Error::Closed { .. }) => {
            assert_eq!(error.to_string(), "the pool is closed")
        }
        other => panic!("expected a closed pool, got {:?}", other.err()),
    }
}

#[test]
fn component_importing_what_wpool_does_not_provide_is_refused_before_any_worker() {
    let dir = tempfile::tempdir().unwrap();
    let path = component_with_a_missing_import(dir.path());
    let component = Component::from_file(&path).expect("the component loads");
    match component.task(None) {
        Err(Error::UnprovidedImports {
            name,
            imports,
            provided,
        }) => {
            assert!(name.contains("needs-absent"), "named {name}");
            assert_eq!(imports, "test:missing/absent");
            assert!(
                provided.contains("wasi:io@0.2") && provided.contains("wpool:task@0.1"),
                "what wpool provides: {provided}"
            );
        }
        other => panic!("expected unprovided imports, got {other:?}"),
    }
    let name = path.display().to_string();
    // Refused at once, with the fix: no worker ever started.
    wpool(["run", &name, "()"]).output().assert_refused(&[
        &name,
        "imports what wpool does not provide: test:missing/absent",
        "a task may import only wasi:io@0.2",
        "wpool inspect",
    ]);
    wpool(["inspect", &name])
        .output()
        .assert_success()
        .assert_stdout_contains("import test:missing/absent;")
        .assert_stdout_contains("// wpool cannot run it: ");
}

#[test]
fn missing_worker_program_cannot_be_spawned() {
    let square = task(Guest::Square, None);
    let pool = Pool::builder()
        .workers(1)
        .worker_program("/nonexistent/wpool")
        .build();
    let input = square.parse_input("3").expect("valid input");
    match pool.map(&square, [input.clone()]) {
        Err(Error::SpawnWorker { program, source }) => {
            assert_eq!(program, Path::new("/nonexistent/wpool"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a worker that cannot start, got {other:?}"),
    }
    match pool.spawn(&square, input) {
        Err(error @ Error::SpawnWorker { .. }) => {
            assert_eq!(error.to_string(), "cannot start worker /nonexistent/wpool")
        }
        Err(other) => panic!("expected a worker that cannot start, got {other:?}"),
        Ok(_) => panic!("a missing program started"),
    }
}

/// A script that starts the `wpool` under test as a worker whose host says
/// it is wpool `version`: the worker's view of a host of another version.
fn worker_told_host_is(dir: &Path, version: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let script = dir.join("other-wpool");
    let text = format!(
        "#!/bin/sh\nexec '{}' \"$1\" \"$2\" '{version}'\n",
        util::WPOOL
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// A worker that is another version of wpool than its host runs nothing
/// and exits at once, and the run stops on its first such worker, naming
/// the program and the version it must be: whether the worker was to
/// compile the task or to run it compiled.
#[test]
fn a_worker_of_another_version_stops_the_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let program = worker_told_host_is(dir.path(), "0.0.0-other");
    let square = task(Guest::Square, None);
    let input = square.parse_input("3").expect("valid input");
    // A cache that holds the task compiled, so that the worker is sent it
    // compiled rather than asked to compile it.
    let cache = dir.path().join("cache");
    let warm = pool().compile_cache(Some(cache.clone())).build();
    let outputs = warm
        .map(&square, [input.clone()])
        .expect("the real worker runs it");
    assert!(matches!(&outputs[..], [output] if output.result.is_ok()));
    for cache in [None, Some(cache)] {
        let pool = Pool::builder()
            .workers(2)
            .worker_program(&program)
            .compile_cache(cache)
            .build();
        let error = pool
            .map(&square, [input.clone()])
            .expect_err("a worker of another version runs nothing");
        match &error {
            Error::WorkerVersion {
                program: named,
                version,
            } => {
                assert_eq!(named, &program);
                assert_eq!(*version, env!("CARGO_PKG_VERSION"));
            }
            other => panic!("expected a worker of another version, got {other:?}"),
        }
        assert!(error.to_string().contains("is another version of wpool"));
    }
    // The command: exit 2, the worker's line and the host's.
    let out = run(Guest::Square, ["0..3"])
        .env("WPOOL_WORKER", &program)
        .output();
    out.assert_code(2).assert_stdout_empty();
    out.assert_stderr_contains(&format!(
        "this worker is wpool {}, its host wpool 0.0.0-other",
        env!("CARGO_PKG_VERSION")
    ));
    out.assert_stderr_contains(&format!(
        "wpool: worker program {} is another version of wpool than this one ({}): point WPOOL_WORKER",
        program.display(),
        env!("CARGO_PKG_VERSION")
    ));
    out.assert_stderr_lacks("died in a row");
}

#[test]
fn compile_past_its_timeout_stops_the_run() {
    let square = task(Guest::Square, None);
    let pool = pool()
        .compile_cache(None)
        .compile_timeout(Duration::from_millis(1))
        .build();
    let input = square.parse_input("3").expect("valid input");
    let error = pool.map(&square, [input]).expect_err("the run stops");
    assert!(
        matches!(&error, Error::CompileTimeout { name, timeout }
            if name.ends_with("square.wasm") && *timeout == Duration::from_millis(1)),
        "expected a compile timeout, got {error:?}"
    );
    assert!(error.to_string().contains("did not compile within 1ms"));
}

#[test]
fn absurd_timeouts_are_clamped_by_the_pool() {
    let square = task(Guest::Square, None);
    let pool = pool()
        .limits(Limits {
            timeout: Duration::MAX,
            ..Limits::default()
        })
        .compile_timeout(Duration::MAX)
        .build();
    let inputs = (0..20).map(|i| square.parse_input(&i.to_string()).expect("valid input"));
    let outputs = pool.map(&square, inputs).expect("the run starts");
    let squares: Vec<String> = outputs
        .iter()
        .map(|out| out.result.as_ref().expect("square succeeds").to_string())
        .collect();
    let expected: Vec<String> = (0..20).map(|i: i64| (i * i).to_string()).collect();
    assert_eq!(squares, expected);
}

// ---------------------------------------------------------------------------
// The command line: refused arguments
// ---------------------------------------------------------------------------

#[test]
fn absurd_timeouts_are_refused_with_exit_2() {
    for option in ["--timeout", "--compile-timeout"] {
        for value in ["18446744073709551615s", "10000000000s", "2years"] {
            let out = run(Guest::Square, ["1", option, value]).output();
            out.assert_code(2)
                .assert_stdout_empty()
                .assert_stderr_contains(option)
                .assert_stderr_contains("longer than the longest timeout, 1year");
        }
    }
}

#[test]
fn the_longest_timeout_runs() {
    run(
        Guest::Square,
        ["0..3", "--timeout", "1year", "--compile-timeout", "1year"],
    )
    .output()
    .assert_success()
    .assert_stdout_lines(&["0", "1", "4"]);
}

// ---------------------------------------------------------------------------
// The command line: a stdout closed early
// ---------------------------------------------------------------------------

/// Runs `cmd` with its stdout a pipe whose reading end is closed before the
/// command writes anything, as `cmd | head -0` would.
fn with_stdout_closed(cmd: &mut Cmd) -> Output {
    let started = Instant::now();
    let command = cmd.describe();
    let mut child = cmd.spawn();
    drop(child.stdout.take());
    drop(child.stdin.take());
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let status = util::wait_with_deadline(&mut child, CLOSED_STDOUT_DEADLINE)
        .unwrap_or_else(|| panic!("{command} did not end with its stdout closed"));
    Output {
        command,
        status,
        stdout: String::new(),
        stderr: reader.join().expect("reader thread"),
        elapsed: started.elapsed(),
    }
}

/// A closed stdout ends a command quietly, with status 0.
#[track_caller]
fn assert_quiet_end(out: &Output) {
    out.assert_code(0);
    out.check(
        !out.stderr.contains("pipe"),
        "a closed stdout should not be reported",
    );
}

#[test]
fn closed_stdout_ends_inspect_quietly() {
    let wasm = Guest::Square.wasm().display().to_string();
    assert_quiet_end(&with_stdout_closed(&mut wpool(["inspect", &wasm])));
}

#[test]
fn closed_stdout_ends_spawn_quietly() {
    let process = format!("{}=3", Guest::Square.wasm().display());
    assert_quiet_end(&with_stdout_closed(&mut wpool(["spawn", &process])));
}

#[test]
fn closed_stdout_ends_run_quietly() {
    let out = with_stdout_closed(&mut run(Guest::Square, ["0..100000"]));
    assert_quiet_end(&out);
    // A failed task ahead of the closed pipe does not change the status:
    // the reader has what it wanted.
    let out = with_stdout_closed(&mut run(Guest::CheckedDiv, ["(1, 0)", "(4, 2)", "--json"]));
    assert_quiet_end(&out);
}

#[test]
fn closed_stdout_ends_doctor_quietly() {
    assert_quiet_end(&with_stdout_closed(&mut wpool(["doctor"])));
}

// ---------------------------------------------------------------------------
// The command line: ranges over a whole integer type
// ---------------------------------------------------------------------------

#[test]
fn range_past_its_type_is_refused_by_name() {
    run(Guest::Square, ["0..18446744073709551615"])
        .output()
        .assert_refused(&["range \"0..18446744073709551615\" does not fit s64"]);
}

#[test]
fn ranges_over_the_whole_integer_span_run() {
    // More inputs than a u64 counts, for an s64 and a u64 parameter: the run
    // starts, and its first results come.
    let spans: [(Guest, &[&str]); 3] = [
        (
            Guest::Square,
            &["--", "-9223372036854775808..=9223372036854775807"],
        ),
        (Guest::Primes, &["0..=18446744073709551615"]),
        (Guest::Primes, &["0..18446744073709551615", "0..3"]),
    ];
    for (guest, args) in spans {
        let mut running = run(guest, args).start();
        let first = running.next_line(CLOSED_STDOUT_DEADLINE);
        let _ = running.child.kill();
        let out = running.finish();
        out.check(first.is_some(), "expected a first result");
        out.assert_stderr_lacks("panicked");
    }
}

// ---------------------------------------------------------------------------
// A component's names reach the terminal escaped
// ---------------------------------------------------------------------------

/// The `square` component with every `square` in it replaced by a name of
/// the same length made of terminal escape sequences: clear the screen, and
/// ring the bell.
fn component_named_with_escapes(dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(Guest::Square.wasm()).expect("readable");
    let (from, to) = (b"square", b"\x1b[2J\x07x");
    let mut replaced = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            replaced += 1;
        }
        i += 1;
    }
    assert!(replaced > 0, "the square component names its function");
    let path = dir.join("escapes.wasm");
    std::fs::write(&path, bytes).expect("writable");
    path
}

#[test]
fn names_made_of_escape_sequences_are_printed_escaped() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wasm = component_named_with_escapes(dir.path());
    for out in [
        wpool([OsStr::new("run"), wasm.as_os_str(), OsStr::new("1")]).output(),
        wpool([OsStr::new("inspect"), wasm.as_os_str()]).output(),
    ] {
        out.assert_code(2);
        out.check(
            !out.stderr.contains('\x1b') && !out.stderr.contains('\x07'),
            "no raw escape reaches the terminal",
        );
        out.assert_stderr_contains("\\u{1b}[2J\\u{7}");
    }
}

// ---------------------------------------------------------------------------
// Compiling under a memory cap
// ---------------------------------------------------------------------------

/// A component that needs more memory to compile than `--compile-memory`
/// lets a worker use is refused, exit 2, at the cap; with the default cap
/// the same component compiles and runs.
#[test]
fn a_compile_past_its_memory_cap_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wasm = component_costly_to_compile(dir.path(), 300_000);
    let capped = wpool([OsStr::new("run"), wasm.as_os_str(), OsStr::new("()")])
        .args(["--compile-memory", "64MiB", "--no-cache"])
        .output();
    capped
        .assert_code(2)
        .assert_stderr_contains("aborted while compiling it")
        .assert_stderr_contains("64.0 MiB a worker may use to compile (--compile-memory)");
    let uncapped = wpool([OsStr::new("run"), wasm.as_os_str(), OsStr::new("()")])
        .args(["--no-cache"])
        .output();
    uncapped.assert_success().assert_stdout_lines(&["()"]);
}
