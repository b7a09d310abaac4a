//! `apply_async`: results collected later, readiness, callbacks, and the
//! pool's `close`, `join` and `terminate`.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wpool::{AsyncError, Callbacks, Error, TaskError};

use super::{LONG, input, pool, task, wave};
use crate::util::Guest;

#[test]
fn apply_async_results_are_collected_later_in_order() {
    let pool = pool(2);
    let square = task(Guest::Square, None);
    let results: Vec<_> = (0..12)
        .map(|i| {
            pool.apply_async(&square, input(&square, &i.to_string()))
                .expect("submitted")
        })
        .collect();
    for (i, result) in results.iter().enumerate().rev() {
        let output = result.get(LONG).expect("finished");
        assert_eq!(output.input.to_string(), i.to_string());
        assert_eq!(wave(&output), (i * i).to_string());
        // Again: the same output.
        assert_eq!(
            result.get(Some(Duration::ZERO)).map(|o| wave(&o)),
            Ok(wave(&output))
        );
    }
    pool.join();
}

#[test]
fn apply_async_ready_and_wait() {
    let pool = pool(1);
    let nap = task(Guest::Misbehave, Some("nap"));
    let result = pool
        .apply_async(&nap, input(&nap, "400"))
        .expect("submitted");
    assert!(!result.ready(), "a 400 ms nap is not done at once");
    assert!(!result.wait(Some(Duration::from_millis(50))));
    assert_eq!(
        result.get(Some(Duration::from_millis(10))).err(),
        Some(AsyncError::NotReady)
    );
    assert!(result.wait(LONG));
    assert!(result.ready());
    assert_eq!(result.get(None).map(|o| wave(&o)), Ok("400".to_string()));
    pool.join();
}

#[test]
fn apply_async_calls_the_callbacks() {
    let pool = pool(2);
    let div = task(Guest::CheckedDiv, None);
    let (tx, rx) = mpsc::channel::<(usize, Result<String, String>)>();
    let mut results = Vec::new();
    for (n, text) in ["(6, 3)", "(1, 0)", "(10, 5)"].into_iter().enumerate() {
        let (ok, err) = (tx.clone(), tx.clone());
        let callbacks = Callbacks::default()
            .on_success(move |value| {
                let _ = ok.send((n, Ok(value.as_wave().to_string())));
            })
            .on_error(move |error| {
                let _ = err.send((n, Err(error.to_string())));
            });
        results.push(
            pool.apply_async_with(&div, input(&div, text), callbacks)
                .expect("submitted"),
        );
    }
    drop(tx);
    pool.join();
    let called: BTreeMap<usize, Result<String, String>> = rx.iter().collect();
    assert_eq!(called.len(), 3, "one call per task: {called:?}");
    assert_eq!(called[&0], Ok("ok(2)".to_string()));
    assert_eq!(
        called[&1],
        Err(r#"returned err("cannot divide 1 by zero")"#.to_string())
    );
    assert_eq!(called[&2], Ok("ok(2)".to_string()));
    assert!(results.iter().all(|r| r.ready()));
}

/// A callback runs on the thread that delivers results: a `join` there
/// closes the pool and returns, and every submitted task still gets its
/// result.
#[test]
fn join_in_a_callback_closes_the_pool_and_the_results_still_come() {
    let pool = pool(2);
    let square = task(Guest::Square, None);
    let (joined, joins) = mpsc::channel();
    // The callback that joins waits until every task is submitted.
    let (go, gate) = mpsc::channel::<()>();
    let mut gate = Some(gate);
    let results: Vec<_> = (0..20)
        .map(|i| {
            let (own, joined) = (pool.clone(), joined.clone());
            let gate = if i == 3 { gate.take() } else { None };
            let callbacks = Callbacks::default().on_success(move |_| {
                if let Some(gate) = gate {
                    let _ = gate.recv();
                    own.join();
                    let _ = joined.send(());
                }
            });
            pool.apply_async_with(&square, input(&square, &i.to_string()), callbacks)
                .expect("submitted")
        })
        .collect();
    drop(go);
    for (i, result) in results.iter().enumerate() {
        let output = result.get(LONG).expect("every result comes");
        assert_eq!(wave(&output), (i * i).to_string());
    }
    assert!(
        joins.recv_timeout(Duration::from_secs(5)).is_ok(),
        "the join returned"
    );
    assert!(matches!(
        pool.apply_async(&square, input(&square, "1")),
        Err(Error::Closed { .. })
    ));
    pool.join();
}

#[test]
fn close_refuses_new_tasks_and_join_waits_for_the_submitted_ones() {
    let pool = pool(2);
    let nap = task(Guest::Misbehave, Some("nap"));
    let results: Vec<_> = (0..4)
        .map(|_| {
            pool.apply_async(&nap, input(&nap, "200"))
                .expect("submitted")
        })
        .collect();
    pool.close();
    match pool.apply_async(&nap, input(&nap, "1")) {
        Err(Error::Closed { input }) => assert_eq!(input.to_string(), "1"),
        Err(other) => panic!("expected a closed pool, got {other}"),
        Ok(_) => panic!("a closed pool took a task"),
    }
    pool.join();
    for result in &results {
        assert!(result.ready(), "join returned before a task finished");
        assert_eq!(result.get(None).map(|o| wave(&o)), Ok("200".to_string()));
    }
}

#[test]
fn terminate_fails_unfinished_tasks() {
    let pool = pool(2);
    let nap = task(Guest::Misbehave, Some("nap"));
    let started = Instant::now();
    let results: Vec<_> = (0..4)
        .map(|_| {
            pool.apply_async(&nap, input(&nap, "10000"))
                .expect("submitted")
        })
        .collect();
    pool.terminate();
    for result in &results {
        let output = result.get(LONG).expect("an output");
        assert_eq!(output.result, Err(TaskError::Terminated));
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "terminate should not wait for the naps"
    );
    assert!(pool.apply_async(&nap, input(&nap, "1")).is_err());
    pool.join();
}
