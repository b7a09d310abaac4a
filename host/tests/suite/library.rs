//! The library API on its own: `Pool::map`, `imap_unordered`, typed task
//! errors, input parsing and choosing a component's function.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wpool::{Component, Error, Input, InputStream, Limits, Pool, Task, TaskError};

use crate::util::{Guest, WPOOL};

fn task(guest: Guest, func: Option<&str>) -> Task {
    Component::from_file(guest.wasm())
        .expect("the guest is a component")
        .task(func)
        .expect("the function exists")
}

fn pool(limits: Limits) -> Pool {
    Pool::builder()
        .workers(2)
        .worker_program(WPOOL)
        .limits(limits)
        .build()
}

fn inputs(task: &Task, texts: impl IntoIterator<Item = String>) -> Vec<Input> {
    texts
        .into_iter()
        .map(|t| task.parse_input(&t).expect("valid input"))
        .collect()
}

#[test]
fn map_returns_results_in_order() {
    let square = task(Guest::Square, None);
    assert_eq!(square.name(), "square");
    assert_eq!(square.input_type(), "s64");
    let outputs = pool(Limits::default())
        .map(
            &square,
            inputs(&square, (-5..40).map(|i: i64| i.to_string())),
        )
        .expect("the run starts");
    assert_eq!(outputs.len(), 45);
    for (n, (out, i)) in outputs.iter().zip(-5i64..).enumerate() {
        assert_eq!(out.index, n as u64);
        assert_eq!(out.input.to_string(), i.to_string());
        let value = out.result.as_ref().expect("square never fails");
        assert_eq!(value.as_wave(), (i * i).to_string());
    }
}

/// An `InputStream`'s inputs are read no further ahead of an ordered
/// run's output than an iterator's: behind a slow first task, the run
/// holds at most its window (65 536 inputs) of outputs, and reads no more.
#[test]
fn an_input_stream_behind_a_slow_task_is_read_no_further_than_the_window() {
    let nap = task(Guest::Misbehave, Some("nap"));
    let read = Arc::new(AtomicU64::new(0));
    let count = 90_000;
    let inputs = {
        let (nap, read) = (nap.clone(), read.clone());
        (0..count).map(move |i| {
            read.fetch_add(1, Ordering::SeqCst);
            let ms = if i == 0 { "3000" } else { "0" };
            nap.parse_input(ms).expect("a u32")
        })
    };
    let limits = Limits {
        timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let mut run = pool(limits)
        .imap(&nap, InputStream::new(inputs))
        .expect("the run starts");
    let first = run.next().expect("an output").expect("the run goes on");
    assert_eq!(first.index, 0);
    let ahead = read.load(Ordering::SeqCst);
    assert!(
        ahead < 70_000,
        "{ahead} inputs of {count} were read before the first output"
    );
    assert_eq!(run.count() as u64, count - 1, "every other output follows");
}

#[test]
fn imap_unordered_yields_every_index_once() {
    let square = task(Guest::Square, None);
    let count = 200u64;
    let run = pool(Limits::default())
        .imap_unordered(&square, inputs(&square, (0..count).map(|i| i.to_string())))
        .expect("the run starts");
    let mut seen = BTreeSet::new();
    for out in run {
        let out = out.expect("no pool error");
        assert!(seen.insert(out.index), "index {} yielded twice", out.index);
        let i = out.index as i64;
        assert_eq!(out.input.to_string(), i.to_string());
        assert_eq!(
            out.result.expect("square never fails").to_string(),
            (i * i).to_string()
        );
    }
    assert_eq!(seen, (0..count).collect::<BTreeSet<_>>());
}

#[test]
fn errors_of_each_task_are_typed() {
    let crash = task(Guest::Misbehave, Some("crash"));
    let outputs = pool(Limits::default())
        .map(&crash, inputs(&crash, ["\"boom\"".to_string()]))
        .expect("the run starts");
    assert_eq!(outputs.len(), 1);
    // The trap is named by the panic the guest printed before it.
    match &outputs[0].result {
        Err(TaskError::Trap(why)) => assert!(
            why.starts_with("panicked at misbehave/src/lib.rs:") && why.ends_with(": boom"),
            "{why}"
        ),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(outputs[0].result.as_ref().unwrap_err().kind(), "trap");
    assert!(String::from_utf8_lossy(outputs[0].stderr.bytes()).contains("boom"));

    let spin = task(Guest::Misbehave, Some("spin"));
    let limits = Limits {
        timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let outputs = pool(limits)
        .map(&spin, inputs(&spin, ["()".to_string()]))
        .expect("the run starts");
    assert_eq!(
        outputs[0].result,
        Err(TaskError::Timeout(Duration::from_millis(200)))
    );

    let div = task(Guest::CheckedDiv, None);
    let outputs = pool(Limits::default())
        .map(
            &div,
            inputs(&div, ["(1, 0)".to_string(), "(4, 2)".to_string()]),
        )
        .expect("the run starts");
    match &outputs[0].result {
        Err(TaskError::Returned(value)) => {
            assert_eq!(value.as_wave(), r#"err("cannot divide 1 by zero")"#)
        }
        other => panic!("expected a returned err, got {other:?}"),
    }
    assert_eq!(
        outputs[1].result.as_ref().map(|v| v.as_wave()),
        Ok("ok(2)".to_string())
    );
}

#[test]
fn parse_input_rejects_a_wrongly_typed_value() {
    let square = task(Guest::Square, None);
    assert_eq!(
        square.parse_input(" -7 ").expect("an s64").to_string(),
        "-7"
    );
    match square.parse_input("\"seven\"") {
        Err(Error::BadInput {
            input, expected, ..
        }) => {
            assert_eq!(input, "\"seven\"");
            assert_eq!(expected, "s64");
        }
        other => panic!("expected BadInput, got {other:?}"),
    }
    let div = task(Guest::CheckedDiv, None);
    assert_eq!(
        div.parse_input("(1, 2)").expect("a tuple").to_string(),
        "(1, 2)"
    );
    assert!(matches!(div.parse_input("1"), Err(Error::BadInput { .. })));
}

#[test]
fn choosing_a_function() {
    let misbehave = Component::from_file(Guest::Misbehave.wasm()).expect("a component");
    assert!(matches!(
        misbehave.task(None),
        Err(Error::AmbiguousFunc { .. })
    ));
    assert!(matches!(
        misbehave.task(Some("fly")),
        Err(Error::UnknownFunc { .. })
    ));
    let wordstats = Component::from_file(Guest::Wordstats.wasm()).expect("a component");
    let analyze = wordstats.task(Some("analyze")).expect("by bare name");
    assert_eq!(analyze.name(), "wpool-examples:wordstats/text#analyze");
    assert_eq!(analyze.input_type(), "tuple<string, case, u32>");
}
