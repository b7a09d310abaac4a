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

/// `square: func(x: u32) -> u32`, lifted from a core function whose body
/// does not validate: it returns an `i64` where its type says `i32`.
fn component_with_invalid_code() -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ComponentBuilder, ComponentExportKind, ExportKind, ExportSection, Function,
        FunctionSection, Instruction, Module, PrimitiveValType, TypeSection, ValType,
    };
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    module.section(&types);
    let mut functions = FunctionSection::new();
    functions.function(0);
    module.section(&functions);
    let mut exports = ExportSection::new();
    exports.export("square", ExportKind::Func, 0);
    module.section(&exports);
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    body.instruction(&Instruction::I64Const(0));
    body.instruction(&Instruction::End);
    code.function(&body);
    module.section(&code);

    let mut component = ComponentBuilder::default();
    let module = component.core_module(None, &module);
    let instance = component.core_instantiate(None, module, []);
    let core_square = component.core_alias_export(None, instance, "square", ExportKind::Func);
    let (ty, mut func) = component.type_function(None);
    func.params([("x", PrimitiveValType::U32)])
        .result(Some(PrimitiveValType::U32.into()));
    let square = component.lift_func(None, core_square, ty, []);
    component.export("square", ComponentExportKind::Func, square, None);
    component.finish()
}

#[test]
fn component_whose_code_does_not_validate_is_refused_by_its_compile() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invalid.wasm");
    std::fs::write(&file, component_with_invalid_code()).unwrap();
    let name = file.display().to_string();
    // The host reads its WIT: the function is there, and the input fits.
    wpool(["inspect", &name])
        .output()
        .assert_success()
        .assert_stdout_contains("square");
    // The compiler, in a worker, validates the code: nothing runs.
    wpool(["run", "--no-cache", &name, "1", "2"])
        .output()
        .assert_refused(&[&name, "cannot run", "cannot compile", "type mismatch"]);
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
