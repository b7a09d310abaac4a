//! Values as they cross between the host and workers: payloads of 16 MiB
//! in and out of a task, alone (the typed calls, on a fiber and, for a
//! component that imports nothing, directly) and inside records, lists
//! and results (the dynamic ones), read from an `--input` file whose line
//! is far longer than 16 MiB; and `--max-value` counting a value's encoded
//! bytes, not its WAVE text.

use crate::util::{Guest, Output, error_kind, json_by_index, run, wpool};

/// 16 MiB.
const PAYLOAD: usize = 16 << 20;

/// The WAVE text of a `list<u8>` of `len` bytes: `[0, 1, ..., 250, 0, ...]`.
fn byte_list(len: usize) -> String {
    let bytes: Vec<String> = (0..len).map(|i| (i % 251).to_string()).collect();
    format!("[{}]", bytes.join(", "))
}

/// Runs `guest`'s `func` on the one input `text`, from an input file, with
/// room for a 16 MiB payload and what surrounds it.
fn one_input(guest: Guest, func: &str, text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.txt");
    std::fs::write(&file, format!("{text}\n")).unwrap();
    run(
        guest,
        [
            "--func".as_ref(),
            func.as_ref(),
            "--max-value".as_ref(),
            "17MiB".as_ref(),
            "--input".as_ref(),
            file.as_os_str(),
        ],
    )
    .output()
}

/// Checks that the run printed exactly `expected`, without dumping 70 MB
/// of text when it did not.
fn assert_printed(out: &Output, expected: &str) {
    out.assert_success();
    let printed = out.stdout.strip_suffix('\n').unwrap_or(&out.stdout);
    if printed != expected {
        let at = printed
            .bytes()
            .zip(expected.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(printed.len().min(expected.len()));
        out.fail(format_args!(
            "printed {} bytes, expected {}; they differ from byte {at}: {:?}",
            printed.len(),
            expected.len(),
            &printed[at..(at + 40).min(printed.len())],
        ));
    }
}

#[test]
fn a_16_mib_byte_list_goes_in() {
    let out = one_input(Guest::Payload, "len", &byte_list(PAYLOAD));
    assert_printed(&out, &PAYLOAD.to_string());
}

#[test]
fn a_16_mib_byte_list_goes_in_and_out() {
    let data = byte_list(PAYLOAD);
    assert_printed(&one_input(Guest::Payload, "echo", &data), &data);
}

#[test]
fn a_16_mib_string_goes_in_and_out() {
    let text = format!("\"{}\"", "wpool ".repeat(PAYLOAD / 6));
    assert_printed(&one_input(Guest::Payload, "echo-text", &text), &text);
}

#[test]
fn a_16_mib_byte_list_goes_in_and_out_of_a_result() {
    let data = byte_list(PAYLOAD);
    assert_printed(
        &one_input(Guest::Payload, "check", &data),
        &format!("ok({data})"),
    );
}

#[test]
fn a_16_mib_byte_list_goes_in_and_out_of_a_record() {
    let blob = format!("{{name: \"big\", data: {}}}", byte_list(PAYLOAD));
    assert_printed(&one_input(Guest::Payload, "echo-blob", &blob), &blob);
}

#[test]
fn a_16_mib_byte_list_goes_out_of_a_record_into_a_result() {
    let data = byte_list(PAYLOAD);
    let blob = format!("{{name: \"big\", data: {data}}}");
    assert_printed(
        &one_input(Guest::Payload, "check-blob", &blob),
        &format!("ok({data})"),
    );
}

#[test]
fn byte_lists_of_16_mib_in_all_go_in_and_out_of_a_list() {
    let half = byte_list(PAYLOAD / 2);
    let chunks = format!("[{half}, [], {half}]");
    assert_printed(&one_input(Guest::Payload, "echo-chunks", &chunks), &chunks);
}

/// bytes-direct imports nothing (it is `no_std`, with no panic message to
/// print), so its worker calls it directly, without a fiber, as it calls
/// `square`; payload imports WASI's streams and is called on a fiber.
#[test]
fn a_task_that_imports_nothing_takes_and_gives_16_mib_of_bytes_and_text() {
    let wit = wpool(["inspect".as_ref(), Guest::BytesDirect.wasm().as_os_str()]).output();
    wit.assert_success().check(
        !wit.stdout.contains("import "),
        "bytes-direct imports something: its calls are not direct",
    );
    let bytes: Vec<String> = (0..PAYLOAD).map(|i| (i % 251).to_string()).collect();
    let reversed: Vec<&str> = bytes.iter().rev().map(String::as_str).collect();
    let out = one_input(
        Guest::BytesDirect,
        "reverse",
        &format!("[{}]", bytes.join(", ")),
    );
    assert_printed(&out, &format!("[{}]", reversed.join(", ")));
    let text = "wpool ".repeat(PAYLOAD / 6);
    let out = one_input(Guest::BytesDirect, "shout", &format!("\"{text}\""));
    assert_printed(&out, &format!("\"{}\"", text.to_ascii_uppercase()));
}

/// A reused instance called directly takes one input after another, its
/// memory holding what the calls before it allocated.
#[test]
fn a_reused_instance_that_imports_nothing_takes_input_after_input() {
    run(
        Guest::BytesDirect,
        [
            "--func",
            "shout",
            "--reuse",
            "3",
            "-j1",
            "\"a\"",
            "\"\"",
            "\"été b\"",
            "\"c\"",
        ],
    )
    .output()
    .assert_success()
    .assert_stdout_lines(&["\"A\"", "\"\"", "\"éTé B\"", "\"C\""]);
}

#[test]
fn the_size_limit_counts_encoded_bytes_not_wave_text() {
    // A list of n bytes takes n bytes and a two-byte length: 1022 bytes
    // fill 1 KiB exactly (as WAVE text, they take about 4 KiB).
    let fits = byte_list(1022);
    let over = byte_list(1023);
    let out = run(
        Guest::Payload,
        [
            "--func",
            "echo",
            "--max-value",
            "1KiB",
            "--json",
            &fits,
            &over,
        ],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 2);
    out.check(
        lines[&0]["value"].as_str().map(str::len) == Some(1022_usize.div_ceil(3) * 4),
        "1022 bytes should fit in 1 KiB",
    );
    out.check(
        error_kind(&out, &lines[&1]) == "size",
        "1023 bytes should not",
    );
    // Sizes that would read the same are told apart by their bytes.
    out.assert_stderr_contains(
        "input of 1.0 KiB (1025 bytes) exceeds the limit of 1.0 KiB (1024 bytes)",
    );
}
