//! The guest examples, each built from source into a component once per
//! test binary: Rust crates, and a Python and a JavaScript task, built with
//! componentize-py and componentize-js (which `.ci/run` installs).

use std::path::{Path, PathBuf};
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
}

impl Guest {
    /// Every guest example.
    pub const ALL: [Guest; 20] = [
        Guest::Square,
        Guest::Wordstats,
        Guest::CheckedDiv,
        Guest::Primes,
        Guest::Misbehave,
        Guest::Payload,
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
        }
    }

    /// The example's directory.
    pub fn dir(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("guest-examples")
            .join(self.crate_name())
    }

    /// The component, built from source by [`wpool::build_guest`] the first
    /// time any test asks for it.
    pub fn wasm(self) -> &'static Path {
        static BUILT: [OnceLock<PathBuf>; Guest::ALL.len()] =
            [const { OnceLock::new() }; Guest::ALL.len()];
        let slot = Guest::ALL
            .iter()
            .position(|g| *g == self)
            .expect("every guest is listed");
        BUILT[slot].get_or_init(|| match wpool::build_guest(self.dir()) {
            Ok(path) => path,
            Err(error) => panic!("cannot build guest {}: {error}", self.crate_name()),
        })
    }
}
