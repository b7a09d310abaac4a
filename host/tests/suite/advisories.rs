//! The dependency trees, the host's and the guest examples', checked
//! against the RustSec advisory database snapshot in `.ci/advisory-db`
//! (its date is in `SNAPSHOT` there): a crate with a known vulnerability
//! fails the suite, as `cargo audit` would. The README says how to check
//! against the live database.

use std::path::Path;

use rustsec::{Database, Lockfile};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn database() -> Database {
    let database = Database::open(&root().join(".ci/advisory-db"))
        .expect("the advisory snapshot in .ci/advisory-db loads");
    assert!(
        database.iter().count() > 500,
        "the advisory snapshot is nearly empty"
    );
    database
}

/// The vulnerabilities of the crates in `lockfile` that the snapshot
/// knows, one line each.
fn vulnerabilities(database: &Database, lockfile: &Path) -> Vec<String> {
    let lockfile = Lockfile::load(lockfile)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", lockfile.display()));
    database
        .vulnerabilities(&lockfile)
        .iter()
        .map(|v| {
            let advisory = &v.advisory;
            format!(
                "{} {}: {} ({})",
                v.package.name, v.package.version, advisory.title, advisory.id
            )
        })
        .collect()
}

#[test]
fn no_dependency_has_a_known_vulnerability() {
    let database = database();
    let found: Vec<String> = ["Cargo.lock", "guest-examples/Cargo.lock"]
        .iter()
        .flat_map(|lockfile| vulnerabilities(&database, &root().join(lockfile)))
        .collect();
    assert!(
        found.is_empty(),
        "known vulnerabilities:\n{}",
        found.join("\n")
    );
}

/// The check finds what it looks for: a lock file holding smallvec 1.6.0,
/// which has a buffer overflow (RUSTSEC-2021-0003, fixed in 1.6.1).
#[test]
fn a_vulnerable_dependency_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let lockfile = dir.path().join("Cargo.lock");
    let lock = "version = 3\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\n\
                source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
    std::fs::write(&lockfile, lock).unwrap();
    let found = vulnerabilities(&database(), &lockfile);
    assert!(
        found.iter().any(|line| line.contains("RUSTSEC-2021-0003")),
        "smallvec 1.6.0 was not flagged: {found:?}"
    );
}
