//! Runs on many machines through NATS JetStream: a real `nats-server`,
//! real `wpool agent` processes (killed with SIGKILL, or aborting under a
//! poison input through `WPOOL_TEST_HOOK`), and `wpool run --nats`
//! submitting the job and printing what a local run prints.

use std::time::Duration;

use crate::util::nats::{Agent, NatsServer};
use crate::util::{Guest, as_strs, error_kind, json_by_index, run, squares};

#[test]
fn a_job_across_two_agents_gives_every_result_once_in_order() {
    let server = NatsServer::start();
    let _agents = [
        Agent::start(&server, 2, None),
        Agent::start(&server, 2, None),
    ];
    let out = run(Guest::Square, ["0..300", "--nats", server.url()]).output();
    out.assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..300)));

    let out = run(
        Guest::Square,
        ["0..300", "--unordered", "--json", "--nats", server.url()],
    )
    .output();
    out.assert_success();
    for (index, line) in json_by_index(&out, 300) {
        let square = index * index;
        out.check(
            line["value"] == square,
            format_args!("task {index}: expected {square}, got {line}"),
        );
        // How long it ran in its agent's worker crosses with its result.
        out.check(
            line["time"].as_f64().is_some_and(|time| time > 0.0),
            format_args!("task {index}: no time: {line}"),
        );
    }
}

/// An agent stopped by SIGTERM hands the task it holds back to the server,
/// which gives it to another agent at once, not after the ack wait (five
/// minutes here); it exits 0, saying so.
#[test]
fn a_stopped_agent_hands_its_task_to_another_at_once() {
    let server = NatsServer::start();
    let stopped = Agent::start(&server, 1, None);
    let args = [
        "--func",
        "nap",
        "--ack-wait",
        "5m",
        "--nats",
        server.url(),
        "5000",
    ];
    let running = run(Guest::Misbehave, args).start();
    // Long enough for the agent to take the task; far from its end.
    std::thread::sleep(Duration::from_secs(2));
    let other = Agent::start(&server, 1, None);
    let started = std::time::Instant::now();
    let out = stopped.terminate(Duration::from_secs(30));
    out.assert_success()
        .assert_stderr_contains("stopping, 1 task(s) handed back");
    running
        .finish()
        .assert_success()
        .assert_stdout_lines(&["5000"])
        .assert_stderr_contains(
            "task 0 (input 5000): its agent or worker stopped before it finished, retrying \
             (attempt 2 of 2)",
        );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "the task ended {took:?} after its agent stopped"
    );
    let log = other.kill();
    assert!(
        log.contains("delivered again (delivery 2), running it"),
        "the stopped agent's task went to the other: {log}"
    );
}

#[test]
fn killing_an_agent_mid_job_loses_nothing() {
    let server = NatsServer::start();
    let doomed = Agent::start(&server, 1, None);
    let survivor = Agent::start(&server, 1, None);
    // Twelve naps of 400 ms on two slots: each agent holds a task at any
    // time until the end.
    let naps: Vec<String> = (0..12).map(|i| (400 + i).to_string()).collect();
    let mut args = vec!["--func", "nap", "--ack-wait", "2s", "--nats", server.url()];
    args.extend(naps.iter().map(String::as_str));
    let mut running = run(Guest::Misbehave, args).start();
    let first = running.next_line(Duration::from_secs(60));
    assert_eq!(first.as_deref(), Some("400"), "the first result");
    // Half-way through both agents' second tasks.
    std::thread::sleep(Duration::from_millis(200));
    doomed.kill();
    let out = running.finish();
    out.assert_success().assert_stdout_lines(&as_strs(&naps));
    let log = survivor.kill();
    assert!(
        log.contains("delivered again (delivery 2), running it"),
        "the dead agent's task went to the survivor: {log}"
    );
}

#[test]
fn an_agent_killed_after_its_reply_does_not_run_the_task_again() {
    let server = NatsServer::start();
    // Whichever agent runs task 0 dies once its reply is stored, before it
    // acknowledges the task; the other still runs task 1 when task 0 comes
    // back to it after the ack wait.
    let hook = Some("agent-abort-after-reply=0");
    let agents = [
        Agent::start(&server, 2, hook),
        Agent::start(&server, 2, hook),
    ];
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "nap",
            "100",
            "4000",
            "--ack-wait",
            "1s",
            "--nats",
            server.url(),
        ],
    )
    .output();
    out.assert_success().assert_stdout_lines(&["100", "4000"]);
    let logs: String = agents.into_iter().map(Agent::kill).collect();
    assert!(
        logs.contains("task 0 delivered again (delivery 2), answered already: not run again"),
        "task 0 came back and was not run again: {logs}"
    );
    assert!(
        !logs.contains("task 0 delivered again (delivery 2), running it"),
        "task 0 ran once: {logs}"
    );
}

#[test]
fn a_poison_input_that_kills_its_agents_ends_as_a_failed_result() {
    let server = NatsServer::start();
    // Every agent aborts when it is about to run task 3: with one retry,
    // the task kills two agents and then fails; the third agent finishes
    // the rest.
    let hook = Some("agent-abort=3");
    let _agents = [
        Agent::start(&server, 1, hook),
        Agent::start(&server, 1, hook),
        Agent::start(&server, 1, hook),
    ];
    let out = run(
        Guest::Square,
        ["0..8", "--json", "--ack-wait", "1s", "--nats", server.url()],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 8);
    for (index, line) in &lines {
        match index {
            3 => {
                out.check(
                    error_kind(&out, line) == "worker-lost",
                    format_args!("task 3 is lost: {line}"),
                );
                let message = line["error"]["message"].as_str().unwrap_or_default();
                out.check(
                    message.contains("after 2 attempt(s)"),
                    format_args!("task 3 was tried twice: {line}"),
                );
                out.assert_stderr_contains(
                    "wpool: task 3 (input 3): its agent or worker stopped before it finished, retrying \
                     (attempt 2 of 2)",
                );
            }
            _ => {
                out.check(
                    line["value"] == index * index,
                    format_args!("task {index}: {line}"),
                );
            }
        }
    }
}

/// A job an agent cannot read (put by another wpool version, say) is
/// skipped with a word in its log, and the agent goes on serving others.
#[test]
fn a_job_an_agent_cannot_read_is_skipped_and_said() {
    let server = NatsServer::start();
    let agent = Agent::start(&server, 1, None);
    server.put_job("from-elsewhere", r#"{"component": 7}"#);
    run(Guest::Square, ["0..4", "--nats", server.url()])
        .output()
        .assert_success()
        .assert_stdout_lines(&["0", "1", "4", "9"]);
    let log = agent.kill();
    assert!(
        log.contains("job from-elsewhere: skipped, its description does not read as this agent's"),
        "{log}"
    );
}

#[test]
fn a_trap_is_reported_once_and_not_retried() {
    let server = NatsServer::start();
    let agents = [
        Agent::start(&server, 1, None),
        Agent::start(&server, 1, None),
    ];
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "crash",
            r#""boom""#,
            "--json",
            "--nats",
            server.url(),
        ],
    )
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 1);
    out.check(error_kind(&out, &lines[&0]) == "trap", "the task traps");
    for agent in agents {
        let log = agent.kill();
        assert!(
            !log.contains("delivered again"),
            "a trap is not retried: {log}"
        );
    }
}

#[test]
fn values_over_the_message_limit_travel_through_the_object_store() {
    let server = NatsServer::start();
    let _agent = Agent::start(&server, 1, None);
    // A 3 MiB string in and out, past the server's 1 MiB messages; and
    // one over --max-value, which fails its task alone.
    let big = "x".repeat(3 << 20);
    let bigger = "y".repeat(5 << 20);
    let out = run(
        Guest::Payload,
        [
            "--func",
            "echo-text",
            "--json",
            "--max-value",
            "4MiB",
            "--input",
            "-",
            "--job",
            "big",
            "--nats",
            server.url(),
        ],
    )
    .stdin(format!("\"small\"\n\"{big}\"\n\"{bigger}\"\n"))
    .output();
    out.assert_code(1);
    let lines = json_by_index(&out, 3);
    out.check(lines[&0]["value"] == "small", "the small value crosses");
    out.check(
        lines[&1]["value"].as_str() == Some(big.as_str()),
        "the 3 MiB value crosses both ways whole",
    );
    out.check(
        error_kind(&out, &lines[&2]) == "size",
        "the 5 MiB value is over --max-value",
    );
    // The job's values left the server with it.
    out.check(
        server.last_sequence("OBJ_wpool_values_big", None).is_none(),
        "the job's values store is deleted",
    );
}

#[test]
fn three_agents_one_killed_every_input_once() {
    let server = NatsServer::start();
    let doomed = Agent::start(&server, 4, None);
    let _others = [
        Agent::start(&server, 4, None),
        Agent::start(&server, 4, None),
    ];
    // Naps of 0 to 299 ms on twelve slots: about 4 s of work, the doomed
    // agent holding four tasks when it is killed.
    let mut running = run(
        Guest::Misbehave,
        [
            "--func",
            "nap",
            "0..300",
            "--unordered",
            "--json",
            "--ack-wait",
            "1s",
            "--nats",
            server.url(),
        ],
    )
    .start();
    for _ in 0..60 {
        let line = running.next_line(Duration::from_secs(60));
        assert!(line.is_some(), "the first results");
    }
    doomed.kill();
    let out = running.finish();
    out.assert_success();
    let lines = json_by_index(&out, 300);
    for (index, line) in &lines {
        out.check(
            line["value"] == *index,
            format_args!("task {index}: {line}"),
        );
    }
    let retried = lines
        .values()
        .filter(|line| line["attempts"].as_u64() > Some(1))
        .count();
    out.check(
        retried > 0,
        "at least one result came from a task delivered again",
    );
    // Each is announced once, when its result comes.
    let announced = out
        .stderr
        .lines()
        .filter(|line| line.contains("its agent or worker stopped before it finished, retrying"))
        .count();
    out.check(
        announced == retried,
        format_args!("{announced} retries announced, {retried} results with more than one attempt"),
    );
}

#[test]
fn a_server_that_cannot_serve_is_refused_before_any_work() {
    let out = run(Guest::Square, ["1", "--nats", "nats://127.0.0.1:1"]).output();
    out.assert_refused(&["nats://127.0.0.1:1", "cannot connect"]);

    let server = NatsServer::start_with(false);
    let out = run(Guest::Square, ["1", "--nats", server.url()]).output();
    out.assert_refused(&["no JetStream", "-js"]);
}

#[test]
fn a_task_longer_than_the_ack_wait_is_not_delivered_again() {
    let server = NatsServer::start();
    let agents = [
        Agent::start(&server, 1, None),
        Agent::start(&server, 1, None),
    ];
    // Progress acknowledgements hold the task past three ack waits.
    let out = run(
        Guest::Misbehave,
        [
            "--func",
            "nap",
            "3500",
            "--ack-wait",
            "1s",
            "--nats",
            server.url(),
        ],
    )
    .output();
    out.assert_success().assert_stdout_lines(&["3500"]);
    for agent in agents {
        let log = agent.kill();
        assert!(!log.contains("delivered again"), "no redelivery: {log}");
    }
}

/// An agent's slots serve whichever of its jobs has tasks: jobs with none
/// to give (here, their inputs have not come) hold no slot while they wait.
/// Each such job used to hold all the free slots for a second at a time,
/// and a busy job beside two of them ran about a task a second.
#[test]
fn jobs_waiting_for_tasks_leave_the_slots_to_a_busy_one() {
    let server = NatsServer::start();
    let _agent = Agent::start(&server, 2, None);
    let idle: Vec<_> = (0..2)
        .map(|_| run(Guest::Square, ["--input", "-", "--nats", server.url()]).start_with_stdin())
        .collect();
    // Long enough for the agent to serve both.
    std::thread::sleep(Duration::from_secs(2));
    let started = std::time::Instant::now();
    run(Guest::Square, ["0..200", "--nats", server.url()])
        .output()
        .assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..200)));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "200 squares took {took:?} beside two jobs waiting for inputs"
    );
    // Their inputs end with none: they end, having run nothing.
    for (running, stdin) in idle {
        drop(stdin);
        running.finish().assert_success().assert_stdout_empty();
    }
}

/// Lines from stdin stream to the agents as they come: each result comes
/// while the next line is awaited (the submitter published a batch of 256
/// inputs at a time, so a slow stream showed nothing until 256 lines or
/// its end).
#[test]
fn each_result_of_a_slow_stdin_comes_before_its_next_line() {
    let server = NatsServer::start();
    let _agent = Agent::start(&server, 1, None);
    crate::inputs::each_result_of_stdin_comes_before_its_next_line(&["--nats", server.url()]);
}

/// A task of more than 10 s runs once on an agent. Its worker was started
/// from a tokio thread that ended after 10 s idle, and the kernel's
/// parent-death signal killed the worker with that thread: every such task
/// was killed and ran again, its effects twice.
#[test]
fn a_task_of_more_than_ten_seconds_runs_once_on_an_agent() {
    let server = NatsServer::start();
    let _agent = Agent::start(&server, 1, None);
    let args = ["--func", "nap", "--json", "--nats", server.url(), "11000"];
    let out = run(Guest::Misbehave, args).output();
    out.assert_success();
    let lines = json_by_index(&out, 1);
    out.check(lines[&0]["attempts"] == 1, "it ran once");
}
