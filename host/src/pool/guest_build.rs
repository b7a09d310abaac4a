//! Building a guest crate into a component with cargo, so that a crate
//! directory can stand wherever a `.wasm` file can.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::Error;

/// The target guest crates are built for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Builds the Rust crate in `dir` for `wasm32-wasip2` in release mode and
/// returns the path of the component it produces. Cargo's own messages go to
/// stderr only when the build fails.
///
/// Needs `cargo` (or the one `$CARGO` names) and the `wasm32-wasip2` target
/// (`rustup target add wasm32-wasip2`).
///
/// # Errors
/// [`Error::Build`] when the directory holds no crate, the build fails, or the
/// crate produces no `.wasm` (it must have `crate-type = ["cdylib"]`).
pub fn build_guest(dir: impl AsRef<Path>) -> Result<PathBuf, Error> {
    let dir = dir.as_ref();
    let fail = |reason: String| Error::Build {
        dir: dir.to_path_buf(),
        reason,
    };
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(fail("no Cargo.toml there".into()));
    }
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
