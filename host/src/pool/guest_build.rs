//! Building a task project into a component with its language's toolchain,
//! so that a project directory can stand wherever a `.wasm` file can: a
//! Rust crate with cargo, a Python app with componentize-py, a JavaScript
//! module with componentize-js.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::error::Error;

/// The target guest crates are built for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// The componentize-py release wpool is tested with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The componentize-js release wpool is tested with, and the shim it
/// imports without declaring it.
const COMPONENTIZE_JS: &str =
    "@bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.17.9";

/// Builds the task project in `dir` and returns the path of the component
/// it produces. What the toolchain prints is shown only when the build
/// fails. The project is one of:
///
/// - a Rust crate (`Cargo.toml`): built by `cargo` (or the one `$CARGO`
///   names) for `wasm32-wasip2` in release mode (`rustup target add
///   wasm32-wasip2`); the component is cargo's;
/// - a Python app (`app.py` and its world in `wit/`): built by
///   `componentize-py -d wit componentize app`;
/// - a JavaScript module (`app.js` and its world in `wit/`): built by
///   `componentize-js app.js --wit wit`.
///
/// A Python or JavaScript component is written to `target/NAME.wasm` in
/// the project, NAME being the directory's name, and built again every
/// time. `wpool new` writes a project of each kind.
///
/// # Errors
/// [`Error::Build`] when the directory holds no project, the toolchain is
/// not installed (the message names the command that installs it), the
/// build fails, or a crate produces no `.wasm` (it must have `crate-type =
/// ["cdylib"]`).
pub fn build_guest(dir: impl AsRef<Path>) -> Result<PathBuf, Error> {
    let dir = dir.as_ref();
    let fail = |reason: String| Error::Build {
        dir: dir.to_path_buf(),
        reason,
    };
    if dir.join("Cargo.toml").is_file() {
        build_crate(dir)
    } else if dir.join("app.py").is_file() {
        let out = output_path(dir)?;
        let mut command = Command::new("componentize-py");
        command
            .args(["-d", "wit", "componentize", "app", "-o"])
            .arg(&out);
        let install = format!("pip install {COMPONENTIZE_PY}");
        run_toolchain(dir, command, &install)?;
        Ok(out)
    } else if dir.join("app.js").is_file() {
        let out = output_path(dir)?;
        let mut command = Command::new("componentize-js");
        command.args(["app.js", "--wit", "wit", "-o"]).arg(&out);
        let install = format!("npm install --global {COMPONENTIZE_JS}");
        run_toolchain(dir, command, &install)?;
        Ok(out)
    } else {
        Err(fail(
            "it holds no task project: no Cargo.toml (Rust), app.py (Python) or app.js \
             (JavaScript); `wpool new NAME --lang rust|python|js` writes one"
                .into(),
        ))
    }
}

/// Where a Python or JavaScript project's component goes:
/// `DIR/target/NAME.wasm`, its directory made if need be.
fn output_path(dir: &Path) -> Result<PathBuf, Error> {
    let fail = |reason: String| Error::Build {
        dir: dir.to_path_buf(),
        reason,
    };
    let dir = dir
        .canonicalize()
        .map_err(|e| fail(format!("cannot resolve it: {e}")))?;
    let name = dir
        .file_name()
        .map_or("task".into(), |name| name.to_string_lossy());
    let target = dir.join("target");
    std::fs::create_dir_all(&target)
        .map_err(|e| fail(format!("cannot make {}: {e}", target.display())))?;
    Ok(target.join(format!("{name}.wasm")))
}

/// Runs a toolchain's `command` in `dir`; when it is not installed, the
/// error says to run `install`.
fn run_toolchain(dir: &Path, mut command: Command, install: &str) -> Result<(), Error> {
    let fail = |reason: String| Error::Build {
        dir: dir.to_path_buf(),
        reason,
    };
    let program = command.get_program().to_string_lossy().into_owned();
    let output: Output = match command.current_dir(dir).stdin(Stdio::null()).output() {
        Ok(output) => output,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(fail(format!(
                "{program} is not installed (it is not on the PATH); install it with `{install}`"
            )));
        }
        Err(e) => return Err(fail(format!("cannot run {program}: {e}"))),
    };
    if !output.status.success() {
        let said = [&output.stderr, &output.stdout]
            .map(|bytes| String::from_utf8_lossy(bytes).trim().to_string())
            .join("\n");
        return Err(fail(format!(
            "{program} failed ({}):\n{}",
            output.status,
            said.trim()
        )));
    }
    Ok(())
}

/// Builds the Rust crate in `dir` with cargo; see [`build_guest`].
fn build_crate(dir: &Path) -> Result<PathBuf, Error> {
    let fail = |reason: String| Error::Build {
        dir: dir.to_path_buf(),
        reason,
    };
    let manifest = dir.join("Cargo.toml");
    let manifest = manifest
        .canonicalize()
        .map_err(|e| fail(format!("cannot resolve {}: {e}", manifest.display())))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--target", GUEST_TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run {}: {e}", Path::new(&cargo).display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!("cargo build failed:\n{}", stderr.trim_end())));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .filter(|msg| {
            msg["manifest_path"]
                .as_str()
                .is_some_and(|p| Path::new(p) == manifest)
        })
        .flat_map(|msg| msg["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .find(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .ok_or_else(|| fail("the crate built no .wasm file; is it a cdylib?".into()))
}
