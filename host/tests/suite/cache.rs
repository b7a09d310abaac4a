//! The compile cache: written once and then loaded, rejected and rewritten
//! when tampered with, unused (with a warning) when its directory or its key
//! is not private, skipped with `--no-cache`.

use crate::util::{Guest, Output, as_strs, run, squares};

/// The cached artifacts (`*.cwasm`) in `dir`.
fn cached(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn run_cached(dir: &std::path::Path, extra: &[&str]) -> Output {
    let mut cmd = run(Guest::Square, ["0..4", "-j", "1"]);
    cmd.args(extra).env("WPOOL_CACHE_DIR", dir);
    let out = cmd.output();
    out.assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..4)));
    out
}

#[test]
fn compile_cache_is_written_once_then_loaded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    run_cached(dir.path(), &[]);
    let files = cached(dir.path());
    assert_eq!(files.len(), 1, "expected one cached artifact: {files:?}");
    let key = std::fs::metadata(dir.path().join("key")).expect("a key file");
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let written = std::fs::metadata(&files[0]).and_then(|m| m.modified());
    run_cached(dir.path(), &[]);
    let again = std::fs::metadata(&files[0]).and_then(|m| m.modified());
    assert_eq!(
        written.ok(),
        again.ok(),
        "a hit must not rewrite the artifact"
    );
}

#[test]
fn tampered_cache_file_is_rejected_and_recompiled() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    run_cached(dir.path(), &[]);
    let file = cached(dir.path()).pop().expect("a cached artifact");
    let good = std::fs::read(&file).expect("readable");
    // Flip bytes in the artifact (after the 32-byte tag), and separately
    // a valid artifact under a forged tag.
    for at in [good.len() / 2, 0] {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        std::fs::write(&file, &bad).expect("writable");
        run_cached(dir.path(), &[]);
        assert!(
            std::fs::read(&file).expect("readable") == good,
            "the tampered file (byte {at} flipped) must be replaced by a fresh compile"
        );
    }
    // A file too short to hold a tag: replaced by a fresh compile too.
    std::fs::write(&file, b"short").expect("writable");
    run_cached(dir.path(), &[]);
    assert!(
        std::fs::read(&file).expect("readable") == good,
        "the truncated file must be replaced by a fresh compile"
    );
    assert_eq!(cached(dir.path()), [file], "one artifact, under its name");
}

#[test]
fn cache_with_a_key_others_can_read_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = dir.path().join("key");
    std::fs::write(&key, [7u8; 32]).expect("writable");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    run_cached(dir.path(), &[]);
    assert!(cached(dir.path()).is_empty(), "nothing may be cached");
}

#[test]
fn no_cache_writes_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    run_cached(dir.path(), &["--no-cache"]);
    assert!(
        std::fs::read_dir(dir.path())
            .expect("a dir")
            .next()
            .is_none()
    );
}

/// Everything in `dir` but the files named in `keep`.
fn files_in(dir: &std::path::Path, keep: &[&str]) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("a readable directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| !keep.iter().any(|k| p.file_name().is_some_and(|n| n == *k)))
        .collect();
    files.sort();
    files
}

#[test]
fn a_cache_directory_others_may_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = run_cached(dir.path(), &[]);
    out.assert_stderr_contains("the compile cache in")
        .assert_stderr_contains("nobody else may write to");
    let files = files_in(dir.path(), &[]);
    out.check(
        files.is_empty(),
        format!("nothing may be written there: {files:?}"),
    );
}

#[test]
fn a_key_that_is_a_symbolic_link_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A file whose contents another user could know, with the key's mode.
    let known = dir.path().join("known");
    std::fs::write(&known, [0u8; 32]).expect("write");
    std::fs::set_permissions(&known, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::symlink(&known, dir.path().join("key")).expect("symlink");
    let out = run_cached(dir.path(), &[]);
    out.assert_stderr_contains("must be a regular file");
    let files = files_in(dir.path(), &["known", "key"]);
    out.check(
        files.is_empty(),
        format!("no artifact may be tagged with a known key: {files:?}"),
    );
}

#[test]
fn a_private_cache_directory_is_used_without_a_warning() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = run_cached(dir.path(), &[]);
    out.assert_stderr_lacks("compile cache");
    let files = files_in(dir.path(), &["key"]);
    out.check(
        files == cached(dir.path()) && files.len() == 1,
        format!("one artifact and nothing else: {files:?}"),
    );
}
