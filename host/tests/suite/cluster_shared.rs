//! Shared objects across machines: tasks of one job on different agents
//! (real `wpool agent` processes on a real `nats-server`) share the job's
//! barrier, lock and value, which the submitter serves; what the tasks of
//! an agent killed with SIGKILL held is let go when its lease ends.

use std::time::Duration;

use crate::util::nats::{Agent, NatsServer};
use crate::util::{Guest, error_kind, json_by_index, ok_ints, run};

#[test]
fn tasks_on_two_agents_share_the_jobs_objects() {
    let server = NatsServer::start();
    let _agents = [
        Agent::start(&server, 1, None),
        Agent::start(&server, 1, None),
    ];
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
