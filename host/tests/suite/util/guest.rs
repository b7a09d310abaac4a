//! The guest examples, each built from source into a component once per
//! test binary: Rust crates, and Python and JavaScript tasks, built with
//! componentize-py, componentize-js and jco (which `.ci/run` installs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The guest examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    Square,
    Wordstats,
    CheckedDiv,
    Primes,
    Misbehave,
    Payload,
    BytesDirect,
    QueueDemo,
    QueueBench,
    ConditionDemo,
    PipePingpong,
    SharedCounter,
    SharedDict,
    ProcessBasics,
    PoolSquare,
    HelloCommand,
    ExitCommand,
    Gzip,
    Kernels,
    PythonTasks,
    JsTasks,
    JsFetch,
    QjsTasks,
}

impl Guest {
    /// Every guest example.
    pub const ALL: [Guest; 23] = [
        Guest::Square,
        Guest::Wordstats,
        Guest::CheckedDiv,
        Guest::Primes,
        Guest::Misbehave,
        Guest::Payload,
        Guest::BytesDirect,
        Guest::QueueDemo,
        Guest::QueueBench,
        Guest::ConditionDemo,
        Guest::PipePingpong,
        Guest::SharedCounter,
        Guest::SharedDict,
        Guest::ProcessBasics,
        Guest::PoolSquare,
        Guest::HelloCommand,
        Guest::ExitCommand,
        Guest::Gzip,
        Guest::Kernels,
        Guest::PythonTasks,
        Guest::JsTasks,
        Guest::JsFetch,
        Guest::QjsTasks,
    ];

    /// The example's directory name under `guest-examples`.
    pub fn crate_name(self) -> &'static str {
        match self {
            Guest::Square => "square",
            Guest::Wordstats => "wordstats",
            Guest::CheckedDiv => "checked-div",
            Guest::Primes => "primes",
            Guest::Misbehave => "misbehave",
            Guest::Payload => "payload",
            Guest::BytesDirect => "bytes-direct",
            Guest::QueueDemo => "queue-demo",
            Guest::QueueBench => "queue-bench",
            Guest::ConditionDemo => "condition-demo",
            Guest::PipePingpong => "pipe-pingpong",
            Guest::SharedCounter => "shared-counter",
            Guest::SharedDict => "shared-dict",
            Guest::ProcessBasics => "process-basics",
            Guest::PoolSquare => "pool-square",
            Guest::HelloCommand => "hello-command",
            Guest::ExitCommand => "exit-command",
            Guest::Gzip => "gzip",
            Guest::Kernels => "kernels",
            Guest::PythonTasks => "python-tasks",
            Guest::JsTasks => "js-tasks",
            Guest::JsFetch => "js-fetch",
            Guest::QjsTasks => "qjs-tasks",
        }
    }

    /// The example's directory.
    pub fn dir(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("guest-examples")
            .join(self.crate_name())
    }

    /// The component, built from source the first time any test asks for
    /// it: by [`wpool::build_guest`], or for `qjs-tasks` by jco's QuickJS
    /// backend in its default (async) form, which wpool does not drive.
    pub fn wasm(self) -> &'static Path {
        static BUILT: [OnceLock<PathBuf>; Guest::ALL.len()] =
            [const { OnceLock::new() }; Guest::ALL.len()];
        let slot = Guest::ALL
            .iter()
            .position(|g| *g == self)
            .expect("every guest is listed");
        BUILT[slot].get_or_init(|| {
            let built = match self {
                Guest::QjsTasks => build_quickjs(&self.dir()),
                _ => wpool::build_guest(self.dir()).map_err(|e| e.to_string()),
            };
            built.unwrap_or_else(|e| panic!("cannot build guest {}: {e}", self.crate_name()))
        })
    }
}

/// `jco componentize --backend qjs app.js --wit wit` in `dir`, into
/// `dir/target`; jco comes from `.tools` (`.ci/run` installs it).
fn build_quickjs(dir: &Path) -> Result<PathBuf, String> {
    let target = dir.join("target");
    std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
    let wasm = target.join("qjs-tasks.wasm");
    let built = Command::new("jco")
        .args([
            "componentize",
            "--backend",
            "qjs",
            "app.js",
            "--wit",
            "wit",
            "-o",
        ])
        .arg(&wasm)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run jco (bash .ci/run installs it): {e}"))?;
    match built.status.success() {
        true => Ok(wasm),
        false => Err(format!(
            "jco failed: {}",
            String::from_utf8_lossy(&built.stderr)
        )),
    }
}
