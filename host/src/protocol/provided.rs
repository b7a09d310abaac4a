//! The interfaces a worker links for its tasks: WASI 0.2 (with `wasi:http`,
//! whose outgoing requests are refused) and `wpool:task` 0.1. The host
//! checks a component's imports against this list before any worker
//! starts. Keep it in step with what `worker::runtime` links: an interface
//! listed here and not linked fails on the worker, as a link error.

/// A WIT package a worker provides interfaces of, at every version of the
/// same `major.minor` (below 1.0, wasmtime's linker treats those as
/// compatible, as semver does).
pub(crate) struct Package {
    /// `namespace:name`.
    pub name: &'static str,
    /// The version the worker links: an import at any `x.y.*` of it matches.
    pub version: (u64, u64, u64),
    pub interfaces: &'static [&'static str],
}

/// Everything a task may import.
pub(crate) const PROVIDED: &[Package] = &[
    wasi("wasi:io", &["error", "poll", "streams"]),
    wasi("wasi:clocks", &["monotonic-clock", "wall-clock"]),
    wasi("wasi:random", &["random", "insecure", "insecure-seed"]),
    wasi(
        "wasi:cli",
        &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
    ),
    wasi("wasi:filesystem", &["types", "preopens"]),
    wasi(
        "wasi:sockets",
        &[
            "network",
            "instance-network",
            "tcp",
            "tcp-create-socket",
            "udp",
            "udp-create-socket",
            "ip-name-lookup",
        ],
    ),
    Package {
        name: "wasi:http",
        version: (0, 2, 12),
        interfaces: &["types", "outgoing-handler"],
    },
    Package {
        name: "wpool:task",
        version: (0, 1, 0),
        interfaces: &["context", "types", "queue", "pipe", "shared", "sync"],
    },
];

const fn wasi(name: &'static str, interfaces: &'static [&'static str]) -> Package {
    Package {
        name,
        version: (0, 2, 12),
        interfaces,
    }
}

/// Whether a worker provides `interface` of the package `package`
/// (`namespace:name`) at `version`.
pub(crate) fn provides(package: &str, version: Option<(u64, u64, u64)>, interface: &str) -> bool {
    let Some((major, minor, _)) = version else {
        return false;
    };
    PROVIDED.iter().any(|p| {
        let (want_major, want_minor, _) = p.version;
        p.name == package
            && major == want_major
            && (major > 0 || minor == want_minor)
            && p.interfaces.contains(&interface)
    })
}

/// What a worker provides, in a line for people: the fix to suggest when
/// a component imports anything else.
pub(crate) fn summary() -> String {
    let names: Vec<String> = PROVIDED
        .iter()
        .map(|p| {
            let (major, minor, _) = p.version;
            format!("{}@{major}.{minor}", p.name)
        })
        .collect();
    names.join(", ")
}
