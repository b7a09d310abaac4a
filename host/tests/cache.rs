//! The compile cache refuses what it does not own: a directory that others
//! may write to and a key that is a symbolic link are not used, with a
//! warning, and the run goes on compiling.

#[path = "util/mod.rs"]
mod util;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use util::{Guest, Output, run};

/// What `dir` holds besides `keep`: the files the run wrote.
fn written(dir: &Path, keep: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("a readable directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| !keep.iter().any(|k| p.file_name().is_some_and(|n| n == *k)))
        .collect();
    files.sort();
    files
}

fn run_with_cache(dir: &Path) -> Output {
    let mut cmd = run(Guest::Square, ["0..3", "-j", "1"]);
    cmd.env("WPOOL_CACHE_DIR", dir);
    let out = cmd.output();
    out.assert_success().assert_stdout_lines(&["0", "1", "4"]);
    out
}

#[test]
fn a_cache_directory_others_may_write_is_not_used() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = run_with_cache(dir.path());
    out.assert_stderr_contains("the compile cache in")
        .assert_stderr_contains("nobody else may write to");
    let files = written(dir.path(), &[]);
    out.check(
        files.is_empty(),
        format!("nothing may be written there: {files:?}"),
    );
}

#[test]
fn a_key_that_is_a_symbolic_link_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A file whose contents another user could know, with the key's mode.
    let known = dir.path().join("known");
    std::fs::write(&known, [0u8; 32]).expect("write");
    std::fs::set_permissions(&known, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::symlink(&known, dir.path().join("key")).expect("symlink");
    let out = run_with_cache(dir.path());
    out.assert_stderr_contains("must be a regular file");
    let files = written(dir.path(), &["known", "key"]);
    out.check(
        files.is_empty(),
        format!("no artifact may be tagged with a known key: {files:?}"),
    );
}

#[test]
fn a_good_cache_directory_is_used_without_a_warning() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = run_with_cache(dir.path());
    out.assert_stderr_lacks("compile cache");
    let files = written(dir.path(), &["key"]);
    out.check(
        files.len() == 1 && files[0].extension().is_some_and(|x| x == "cwasm"),
        format!("one artifact and nothing else: {files:?}"),
    );
}
