//! Components that must not run: missing files, files that are not
//! components, components too large or too slow to compile, functions that
//! are not there. Each run is refused with exit 2 and nothing runs.

use std::time::Duration;

use crate::util::{Guest, run, wpool};

#[test]
fn missing_component_file() {
    wpool(["run", "/nonexistent/task.wasm", "1"])
        .output()
        .assert_refused(&["cannot read /nonexistent/task.wasm", "No such file"]);
}

#[test]
fn file_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("task.wasm");
    std::fs::write(&file, "not wasm at all\n").unwrap();
    let name = file.display().to_string();
    wpool(["run", &name, "1"]).output().assert_refused(&[
        &name,
        "is not a WebAssembly component",
        "magic",
    ]);
}

#[test]
fn core_module_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("core.wasm");
    std::fs::write(&file, b"\0asm\x01\0\0\0").unwrap();
    let name = file.display().to_string();
    wpool(["run", &name, "1"]).output().assert_refused(&[
        &name,
        "is not a WebAssembly component",
        "core wasm module",
    ]);
}

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

#[test]
fn unknown_func() {
    run(Guest::Square, ["--func", "cube", "1"])
        .output()
        .assert_refused(&["no exported function \"cube\"", "it exports: square"]);
}

#[test]
fn several_exports_need_func() {
    run(Guest::Misbehave, ["1"]).output().assert_refused(&[
        "exports several functions",
        "spin",
        "whoami",
    ]);
}
