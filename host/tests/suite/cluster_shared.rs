//! Shared objects across machines: tasks of one job on different agents
//! (real `wpool agent` processes on a real `nats-server`) share the job's
//! barrier, lock, value, queue and pipe, which the submitter serves; what the tasks of
//! an agent killed with SIGKILL held is let go when its lease ends.

use std::time::Duration;

use crate::util::nats::{Agent, NatsServer};
use crate::util::{Guest, error_kind, json_by_index, ok_ints, run};

/// A server, and two agents of one slot each on it: two tasks of a run
/// go on at once, one on each.
fn two_agents() -> (NatsServer, [Agent; 2]) {
    let server = NatsServer::start();
    let agents = [
        Agent::start(&server, 1, None),
        Agent::start(&server, 1, None),
    ];
    (server, agents)
}

#[test]
fn tasks_on_two_agents_share_the_jobs_objects() {
    let (server, _agents) = two_agents();
    // A barrier of two: an agent of one slot holds one task at a time, so
    // the two tasks meet only if both agents' tasks wait at one barrier
    // (else both time out).
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "await-barrier",
            r#"("meet", 2)"#,
            r#"("meet", 2)"#,
            "--timeout",
            "30s",
            "--nats",
            server.url(),
        ],
    )
    .output();
    out.assert_success();
    let mut passed = out.stdout_lines();
    passed.sort();
    assert_eq!(passed, ["ok(0)", "ok(1)"], "{}", out.dump());

    // A counter under a lock, incremented by tasks on both agents: the
    // task that incremented last saw the exact total.
    let out = run(
        Guest::SharedCounter,
        [
            "--func",
            "increment",
            "300",
            "300",
            "300",
            "300",
            "--nats",
            server.url(),
        ],
    )
    .output();
    out.assert_success();
    let results = ok_ints(&out);
    assert_eq!(results.iter().max(), Some(&1200), "{}", out.dump());
}

/// A queue between tasks on two agents keeps its order. The producer's
/// puts stream: each is answered at once, and they reach the submitter in
/// the order it made them only because its agent sends them in that order
/// (sent each on its own, the consumer got items out of order).
#[test]
fn a_queue_keeps_its_order_between_tasks_on_two_agents() {
    let (server, _agents) = two_agents();
    let got = streamed(&server, "stream-items", &[r#"("s", 0)"#, r#"("s", 3000)"#]);
    assert!(got[1].is_empty(), "the producer got {:?}", got[1]);
    // In order: one producer, one consumer.
    assert_eq!(got[0], (0..3000).collect::<Vec<_>>());
}

/// A pipe too: the sender's sends stream, and the receiver takes the
/// messages ahead, each once and in order.
#[test]
fn a_pipe_keeps_its_order_between_tasks_on_two_agents() {
    let (server, _agents) = two_agents();
    let got = streamed(
        &server,
        "pipe-numbers",
        &[r#"("p", 3000, false)"#, r#"("p", 3000, true)"#],
    );
    assert!(got[1].is_empty(), "the sender got {:?}", got[1]);
    assert_eq!(got[0], (0..3000).collect::<Vec<_>>());
}

#[test]
fn tasks_on_two_agents_draining_a_queue_get_every_item_once() {
    let server = NatsServer::start();
    let _agents = [
        Agent::start(&server, 2, None),
        Agent::start(&server, 2, None),
    ];
    // Three drainers take items ahead in their tight loops, and put back
    // those they do not use: through their agents, before their next get
    // and their end.
    let drainer = r#"("d", 0)"#;
    let got = streamed(
        &server,
        "stream-items",
        &[r#"("d", 3000)"#, drainer, drainer, drainer],
    );
    assert!(got[0].is_empty(), "the producer got {:?}", got[0]);
    let mut all: Vec<u32> = got[1..].concat();
    all.sort_unstable();
    assert_eq!(all, (0..3000).collect::<Vec<_>>());
}

/// Runs misbehave's `func` (`stream-items` or `pipe-numbers`) on
/// `server`'s agents, a task for each of `inputs`; the items (`u32`s) each
/// task got, by input index: a producer's are none.
fn streamed(server: &NatsServer, func: &str, inputs: &[&str]) -> Vec<Vec<u32>> {
    use base64::Engine as _;
    let mut args = vec!["--func", func];
    args.extend(inputs);
    args.extend(["--json", "--timeout", "60s", "--nats", server.url()]);
    let out = run(Guest::Misbehave, args).output();
    out.assert_success();
    let lines = json_by_index(&out, inputs.len() as u64);
    lines
        .values()
        .map(|line| {
            let Some(items) = line["value"]["ok"].as_array() else {
                out.fail(format_args!("a task answered {line}"));
            };
            items
                .iter()
                .map(|item| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(item.as_str().unwrap_or_default())
                        .unwrap_or_default();
                    u32::from_le_bytes(
                        bytes
                            .try_into()
                            .unwrap_or_else(|_| out.fail("an item of 4 bytes")),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_killed_agents_tasks_let_go_when_its_lease_ends() {
    let server = NatsServer::start();
    let doomed = Agent::start(&server, 1, None);
    let survivor = Agent::start(&server, 1, None);
    // Both agents running, with the component compiled: a barrier of two
    // passes.
    let warm = [
        "--func",
        "await-barrier",
        r#"("warm", 2)"#,
        r#"("warm", 2)"#,
        "--nats",
        server.url(),
    ];
    run(Guest::Misbehave, warm).output().assert_success();
    // Two tasks wait at a barrier of three, one on each agent; one agent
    // dies. Its task is not retried (it ends `worker-lost` after the ack
    // wait); the other's wait is abandoned once the dead agent's lease
    // ends, rather than lasting for ever.
    let running = run(
        Guest::Misbehave,
        [
            "--func",
            "await-barrier",
            r#"("meet", 3)"#,
            r#"("meet", 3)"#,
            "--json",
            "--retries",
            "0",
            "--ack-wait",
            "2s",
            "--nats",
            server.url(),
        ],
    )
    .start();
    std::thread::sleep(Duration::from_secs(3));
    doomed.kill();
    let out = running.finish();
    out.assert_code(1);
    let mut kinds: Vec<String> = json_by_index(&out, 2)
        .values()
        .map(|line| match error_kind(&out, line) {
            "err" => line["error"]["message"].to_string(),
            kind => kind.to_string(),
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [r#""returned err(\"Error::Abandoned\")""#, "worker-lost"],
        "{}",
        out.dump()
    );
    drop(survivor);
}
