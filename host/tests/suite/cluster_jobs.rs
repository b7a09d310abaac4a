//! Named cluster jobs (`--job NAME`) and their resumption (`--resume`)
//! after the submitter died (SIGKILL), through a real `nats-server` and
//! real agents: every result printed once, only the inputs without one
//! published again, and a resumption that does not match its job refused.

use std::time::Duration;

use crate::util::nats::{Agent, NatsServer};
use crate::util::{Guest, as_strs, run};

/// `wpool run misbehave --func nap NAPS... --job NAME --nats URL`, with
/// `--resume` when `resume` is set, and `extra` arguments.
fn naps_job<'a>(
    server: &'a NatsServer,
    naps: &'a [String],
    resume: bool,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["--func", "nap", "--job", "naps", "--nats", server.url()];
    if resume {
        args.push("--resume");
    }
    args.extend(extra);
    args.extend(naps.iter().map(String::as_str));
    args
}

#[test]
fn a_killed_submitter_resumed_prints_every_result_once() {
    let server = NatsServer::start();
    let _agents = [
        Agent::start(&server, 2, None),
        Agent::start(&server, 2, None),
    ];
    // Forty naps of about 120 ms on four slots: about 1.2 s of work.
    let naps: Vec<String> = (0..40).map(|i| (100 + i).to_string()).collect();
    let mut first = run(Guest::Misbehave, naps_job(&server, &naps, false, &[])).start();
    for nap in &naps[..10] {
        let line = first.next_line(Duration::from_secs(60));
        assert_eq!(line.as_deref(), Some(nap.as_str()), "the first results");
    }
    first.child.kill().expect("SIGKILL to the submitter");
    let printed = first.finish().stdout_lines().len() as u64;
    let before = server
        .last_sequence("WPOOL_TASKS", None)
        .expect("the tasks");
    assert_eq!(before, 40, "the first submitter published every input");

    let out = run(Guest::Misbehave, naps_job(&server, &naps, true, &[])).output();
    out.assert_success().assert_stdout_lines(&as_strs(&naps));
    let republished = server
        .last_sequence("WPOOL_TASKS", None)
        .expect("the tasks")
        - before;
    out.check(
        republished <= 40 - printed,
        format_args!(
            "{printed} results were printed before the kill, yet the resumed job published \
             {republished} tasks again"
        ),
    );

    // The job ended with its run: nothing is left to resume.
    let again = run(Guest::Misbehave, naps_job(&server, &naps, true, &[])).output();
    again.assert_refused(&["cannot resume job naps", "not on the server"]);
}

#[test]
fn a_resumption_unlike_its_job_is_refused_and_leaves_it_whole() {
    let server = NatsServer::start();
    let _agent = Agent::start(&server, 1, None);
    let naps: Vec<String> = (0..6).map(|i| (300 + i).to_string()).collect();
    let mut first = run(Guest::Misbehave, naps_job(&server, &naps, false, &[])).start();
    let line = first.next_line(Duration::from_secs(60));
    assert_eq!(line.as_deref(), Some("300"), "the first result");
    first.child.kill().expect("SIGKILL to the submitter");
    first.finish();
    // The agent goes on: task 1 has its result too by then.
    std::thread::sleep(Duration::from_secs(1));

    // A second job of the same name, without --resume.
    let out = run(Guest::Misbehave, naps_job(&server, &naps, false, &[])).output();
    out.assert_refused(&["cannot start job naps", "--resume"]);
    // Another component.
    let out = run(
        Guest::Square,
        ["1", "--job", "naps", "--resume", "--nats", server.url()],
    )
    .output();
    out.assert_refused(&["cannot resume job naps", "another component"]);
    // Another limit.
    let out = run(
        Guest::Misbehave,
        naps_job(&server, &naps, true, &["--timeout", "9s"]),
    )
    .output();
    out.assert_refused(&["cannot resume job naps", "other limits"]);
    // Another first input, which has a result.
    let mut other = naps.clone();
    other[0] = "299".into();
    let out = run(Guest::Misbehave, naps_job(&server, &other, true, &[])).output();
    out.assert_refused(&["cannot resume job naps", "input 0 is not the one"]);
    // Fewer inputs than have results: the first is printed, then the run
    // stops.
    let out = run(Guest::Misbehave, naps_job(&server, &naps[..1], true, &[])).output();
    out.assert_code(2)
        .assert_stdout_lines(&["300"])
        .assert_stderr_contains("input 1, and these inputs end before it");

    // Through all that, the job stayed whole.
    let out = run(Guest::Misbehave, naps_job(&server, &naps, true, &[])).output();
    out.assert_success().assert_stdout_lines(&as_strs(&naps));
}

#[test]
fn a_job_name_or_resume_that_cannot_be_is_refused() {
    let server = NatsServer::start();
    let out = run(
        Guest::Square,
        ["1", "--job", "no.dots", "--nats", server.url()],
    )
    .output();
    out.assert_refused(&["job name \"no.dots\"", "letters, digits"]);
    let out = run(
        Guest::Square,
        ["1", "--job", "nope", "--resume", "--nats", server.url()],
    )
    .output();
    out.assert_refused(&["cannot resume job nope", "not on the server"]);
    let out = run(Guest::Square, ["1", "--resume", "--nats", server.url()]).output();
    out.assert_code(2).assert_stderr_contains("--job");
}
