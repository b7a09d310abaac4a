//! Files in and out: `--files` feeds each file's contents to a task (read
//! as it is dispatched), `--out-dir` writes each result to a file named
//! after its input; files that cannot be read fail alone, a file over
//! `--max-value` is never read whole, and nothing is written outside the
//! directory or over a file without `--force`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use crate::util::{Guest, error_kind, json_by_index, run};

/// A directory `in` holding three text files of different sizes.
fn inputs() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("in")).unwrap();
    let files = (1..=3)
        .map(|i| {
            let path = dir.path().join(format!("in/f{i}.txt"));
            let text: String = (0..i * 5000).map(|n| format!("line {n}\n")).collect();
            fs::write(&path, text).unwrap();
            path
        })
        .collect();
    (dir, files)
}

/// `args`, as `OsString`s, to mix paths and options.
fn os(args: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

#[test]
fn files_go_through_a_compressor_and_back() {
    let (dir, files) = inputs();
    let pattern = dir.path().join("in/*.txt");
    let gz = dir.path().join("gz");
    let back = dir.path().join("back");
    let out = run(
        Guest::Gzip,
        os(&[
            &"--func",
            &"compress",
            &"-j",
            &"2",
            &"--files",
            &pattern,
            &"--out-dir",
            &gz,
            &"--out-name",
            &"{name}.gz",
        ]),
    )
    .output();
    out.assert_success();
    let written: Vec<PathBuf> = ["f1.txt.gz", "f2.txt.gz", "f3.txt.gz"]
        .iter()
        .map(|name| gz.join(name))
        .collect();
    let printed: Vec<PathBuf> = out.stdout_lines().iter().map(PathBuf::from).collect();
    out.check(
        printed == written,
        "expected the written paths, in input order",
    );
    for (file, compressed) in files.iter().zip(&written) {
        let size = |path: &Path| fs::metadata(path).unwrap().len();
        out.check(
            size(compressed) < size(file) / 2,
            format_args!("{} is not compressed", compressed.display()),
        );
    }
    // Back, with the list of files on stdin, one path a line.
    let list: String = written
        .iter()
        .map(|path| format!("{}\n", path.display()))
        .collect();
    let out = run(
        Guest::Gzip,
        os(&[
            &"--func",
            &"decompress",
            &"--files",
            &"--input",
            &"-",
            &"--out-dir",
            &back,
            &"--out-name",
            &"{stem}",
        ]),
    )
    .stdin(list)
    .output();
    out.assert_success();
    for file in &files {
        let restored = back.join(file.file_name().unwrap());
        out.check(
            fs::read(&restored).unwrap() == fs::read(file).unwrap(),
            format_args!("{} differs from {}", restored.display(), file.display()),
        );
    }
}

/// A glob pattern matches as a shell's does: a wildcard skips names with a
/// leading dot (and `.` and `..`), which a pattern that spells the dot out
/// matches; a name that is not UTF-8 is not matched but breaks nothing; a
/// pattern that matches nothing but names a file is that file.
#[test]
fn glob_patterns_match_as_in_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("in");
    fs::create_dir_all(files.join(".sub")).unwrap();
    for (name, contents) in [
        ("seen.txt", "1"),
        (".hidden.txt", "22"),
        (".sub/deep.txt", "333"),
        ("b[1].txt", "4444"),
    ] {
        fs::write(files.join(name), contents).unwrap();
    }
    let not_utf8 = OsStr::from_bytes(b"bad\xffname.txt");
    fs::write(files.join(not_utf8), "55555").unwrap();
    let lengths = |pattern: &str| {
        let out = run(Guest::Payload, ["--func", "len", "--files", pattern])
            .current_dir(dir.path())
            .output();
        out.assert_success().assert_stderr_lacks("panicked");
        out.stdout_lines().join(" ")
    };
    assert_eq!(lengths("in/*"), "4 1", "b[1].txt and seen.txt");
    assert_eq!(lengths("./in/*.txt"), "4 1");
    assert_eq!(lengths("in/.h*"), "2");
    assert_eq!(lengths("in/.*.txt"), "2");
    assert_eq!(lengths("in/.s*/*.txt"), "3");
    assert_eq!(lengths("in/b[1].txt"), "4", "the file named so");
    run(
        Guest::Payload,
        ["--func", "len", "--files", "in/*/deep.txt"],
    )
    .current_dir(dir.path())
    .output()
    .assert_refused(&[r#"no file matches "in/*/deep.txt""#]);
}

#[test]
fn unreadable_files_fail_alone() {
    let (dir, files) = inputs();
    let missing = dir.path().join("in/missing.txt");
    let subdir = dir.path().join("in/sub");
    fs::create_dir(&subdir).unwrap();
    let locked = dir.path().join("in/locked.txt");
    fs::write(&locked, "secret").unwrap();
    // A FIFO that nobody writes to: read, it would wait for ever.
    let fifo = dir.path().join("in/fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|status| status.success()), "mkfifo");
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    // The tests run as root, whom file modes do not stop: `unshare --user`
    // runs wpool as an unprivileged user, in a user namespace of its own.
    let mut cmd = run(
        Guest::Payload,
        os(&[
            &"--func",
            &"len",
            &"--no-cache",
            &"--json",
            &"--files",
            &files[0],
            &missing,
            &subdir,
            &locked,
            &files[1],
            &fifo,
        ]),
    );
    cmd.under("unshare", &["--user"]);
    let out = cmd.output();
    out.assert_code(1);
    let lines = json_by_index(&out, 6);
    let size = |path: &Path| fs::metadata(path).unwrap().len();
    out.check(
        lines[&0]["value"] == size(&files[0]),
        "the first file's length",
    );
    out.check(
        lines[&4]["value"] == size(&files[1]),
        "the last file's length",
    );
    for (index, why) in [
        (1, "No such file or directory"),
        (2, "a directory, not a file"),
        (3, "Permission denied"),
        (5, "a FIFO, which may keep the run waiting"),
    ] {
        out.check(
            error_kind(&out, &lines[&index]) == "input",
            format_args!("task {index} should fail with kind input"),
        );
        let message = lines[&index]["error"]["message"]
            .as_str()
            .unwrap_or_default();
        out.check(
            message.contains("cannot read") && message.contains(why),
            format_args!("task {index} should say {why:?}: {message}"),
        );
    }
    out.assert_stderr_contains(&format!(
        "failed: cannot read {}: No such file or directory",
        missing.display()
    ));
}

#[test]
fn files_over_the_limit_fail_with_size_unread() {
    let dir = tempfile::tempdir().unwrap();
    // A terabyte, sparse: reading it whole would not end within the test.
    let huge = dir.path().join("huge.bin");
    fs::File::create(&huge).unwrap().set_len(1 << 40).unwrap();
    let small = dir.path().join("small.bin");
    fs::write(&small, [1, 2, 3]).unwrap();
    // /dev/zero says it is empty and never ends: read at most one byte
    // past the limit, its size is not known.
    let out = run(
        Guest::Payload,
        os(&[
            &"--func",
            &"len",
            &"--max-value",
            &"1MiB",
            &"--json",
            &"--files",
            &huge,
            &"/dev/zero",
            &small,
        ]),
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 3);
    for index in [0, 1] {
        out.check(
            error_kind(&out, &lines[&index]) == "size",
            format_args!("task {index} should fail with kind size"),
        );
    }
    out.assert_stderr_contains("input of 1.0 TiB exceeds the limit of 1.0 MiB")
        .assert_stderr_contains("(input /dev/zero) failed: input over the limit of 1.0 MiB");
    out.check(lines[&2]["value"] == 3, "the small file should be read");
}

#[test]
fn string_parameters_take_utf8_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.txt");
    fs::write(&text, "héllo").unwrap();
    let binary = dir.path().join("binary.bin");
    fs::write(&binary, [0xff, 0xfe]).unwrap();
    let out = run(
        Guest::Payload,
        os(&[
            &"--func",
            &"echo-text",
            &"--json",
            &"--files",
            &text,
            &binary,
        ]),
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    out.check(lines[&0]["value"] == "héllo", "the text file echoes");
    out.check(
        error_kind(&out, &lines[&1]) == "input",
        "a binary file fails",
    );
    out.assert_stderr_contains("is not UTF-8 text, which the string parameter needs");
}

#[test]
fn out_dir_refuses_to_overwrite_without_force() {
    let (dir, files) = inputs();
    let gz = dir.path().join("gz");
    fs::create_dir(&gz).unwrap();
    fs::write(gz.join("f2.txt"), "old").unwrap();
    let args = |force: bool| {
        let mut args = os(&[
            &"--func",
            &"compress",
            &"--json",
            &"--out-dir",
            &gz,
            &"--files",
        ]);
        args.extend(files.iter().map(|f| f.as_os_str().to_os_string()));
        if force {
            args.push("--force".into());
        }
        args
    };
    let out = run(Guest::Gzip, args(false)).output();
    out.assert_code(1);
    let lines = json_by_index(&out, 3);
    out.check(error_kind(&out, &lines[&1]) == "write", "f2.txt exists");
    out.assert_stderr_contains("f2.txt exists; --force replaces it");
    out.check(
        fs::read(gz.join("f2.txt")).unwrap() == b"old",
        "f2.txt should be left as it was",
    );
    out.check(
        lines[&0]["file"] == gz.join("f1.txt").display().to_string(),
        "f1.txt is written, and its path given",
    );
    out.check(gz.join("f3.txt").exists(), "f3.txt should be written");
    let out = run(Guest::Gzip, args(true)).output();
    out.assert_success();
    out.check(
        fs::read(gz.join("f2.txt")).unwrap() != b"old",
        "--force should replace f2.txt",
    );
}

#[test]
fn nothing_is_written_outside_the_out_dir() {
    let (dir, files) = inputs();
    let gz = dir.path().join("gz");
    fs::create_dir(&gz).unwrap();
    // An output's name, planted as a link to a file outside the directory.
    let outside = dir.path().join("outside.txt");
    fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, gz.join("f1.txt")).unwrap();
    // Two inputs of one name, from two directories.
    let twin = dir.path().join("twin");
    fs::create_dir(&twin).unwrap();
    fs::copy(&files[1], twin.join("f2.txt")).unwrap();
    let dotted = dir.path().join("in/../in/f3.txt");
    let out = run(
        Guest::Gzip,
        os(&[
            &"--func",
            &"compress",
            &"--force",
            &"--json",
            &"--out-dir",
            &gz,
            &"--files",
            &files[0],
            &files[1],
            &twin.join("f2.txt"),
            &dotted,
        ]),
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 4);
    out.check(
        error_kind(&out, &lines[&2]) == "write",
        "a second input named f2.txt should fail, not replace the first one's output",
    );
    out.assert_stderr_contains("f2.txt was written by an earlier input of this run");
    out.check(
        fs::read(&outside).unwrap() == b"keep",
        "the file outside the directory changed",
    );
    let link = fs::symlink_metadata(gz.join("f1.txt")).unwrap();
    out.check(
        link.is_file(),
        "the link should be replaced by the output file",
    );
    let mut names: Vec<String> = fs::read_dir(&gz)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    out.check(
        names == ["f1.txt", "f2.txt", "f3.txt"],
        format_args!("expected the three outputs and nothing else in the directory: {names:?}"),
    );
    let mut beside: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    out.check(
        beside == ["gz", "in", "outside.txt", "twin"],
        format_args!("nothing should be written beside the directory: {beside:?}"),
    );
}

#[test]
fn results_of_other_inputs_are_named_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = run(
        Guest::Payload,
        os(&[
            &"--func",
            &"check",
            &"--out-dir",
            &out_dir,
            &"[104, 105]",
            &"[]",
            &"[33]",
        ]),
    )
    .output();
    out.assert_code(1);
    out.check(
        fs::read(out_dir.join("0")).unwrap() == b"hi",
        "0 holds the first result",
    );
    out.check(
        fs::read(out_dir.join("2")).unwrap() == b"!",
        "2 holds the third",
    );
    out.check(!out_dir.join("1").exists(), "an err result writes no file");
    out.assert_stderr_contains("task 1 (input []) failed: returned err(\"no data\")");
}

#[test]
fn files_and_out_dir_need_byte_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seven");
    fs::write(&file, "7").unwrap();
    run(Guest::Square, os(&[&"--files", &file]))
        .output()
        .assert_refused(&[
            "--files needs a function of one list<u8> or string parameter",
            "takes s64",
        ]);
    run(
        Guest::Square,
        os(&[&"--out-dir", &dir.path().join("out"), &"7"]),
    )
    .output()
    .assert_refused(&["--out-dir needs a function that returns list<u8> or string"]);
    run(
        Guest::Gzip,
        os(&[
            &"--func",
            &"compress",
            &"--files",
            &dir.path().join("*.jpg"),
        ]),
    )
    .output()
    .assert_refused(&["no file matches"]);
    // An --out-dir that is a file is named for what it is.
    run(
        Guest::Gzip,
        os(&[
            &"--func",
            &"compress",
            &"--out-dir",
            &file,
            &"--files",
            &file,
        ]),
    )
    .output()
    .assert_refused(&["seven is not a directory"]);
    for (template, why) in [
        ("sub/{name}", "a file name, without '/', is needed"),
        (
            "{name",
            "a brace starts none of {name}, {stem}, {ext} and {index}",
        ),
        ("{base}.gz", "a brace starts none of"),
    ] {
        run(
            Guest::Gzip,
            os(&[
                &"--func",
                &"compress",
                &"--files",
                &file,
                &"--out-dir",
                &dir.path().join("out"),
                &"--out-name",
                &template,
            ]),
        )
        .output()
        .assert_refused(&[why]);
    }
    assert!(
        !dir.path().join("out").exists(),
        "a refused run made its output directory"
    );
}

#[test]
fn a_name_template_that_names_no_file_fails_its_task_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, text) = (dir.path().join("plain"), dir.path().join("a.txt"));
    fs::write(&plain, "no extension").unwrap();
    fs::write(&text, "an extension").unwrap();
    let out_dir = dir.path().join("out");
    let out = run(
        Guest::Payload,
        os(&[
            &"--func",
            &"check",
            &"--files",
            &plain,
            &text,
            &"--out-dir",
            &out_dir,
            &"--out-name",
            &"{ext}",
        ]),
    )
    .output();
    out.assert_code(1);
    out.assert_stderr_contains("--out-name makes \"\" of its input, which names no file");
    out.check(
        fs::read(out_dir.join("txt")).unwrap() == b"an extension",
        "txt holds the second file",
    );
}
