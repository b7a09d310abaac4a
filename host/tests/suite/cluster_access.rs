//! Who may use a cluster: a real `nats-server` whose configuration asks
//! for a user and password and grants agents and submitters only their
//! part (the configuration the README shows), or for a user JWT signed by
//! its operator's account (a credentials file), or TLS with a certificate
//! of a private authority; `wpool agent` and `wpool run --nats` connecting
//! with them, and connections without them refused. The keys and
//! certificates are test fixtures, made by `fixtures/make.sh`.

use crate::util::nats::{Agent, NatsServer};
use crate::util::{Guest, as_strs, run, squares, wpool};

/// The server configuration of the README's "Running on many machines":
/// agents may not publish tasks, jobs or components; submitters may not
/// take tasks or acknowledge them.
const CONFIG: &str = r#"
authorization {
  users = [
    { user: agent, password: agent-secret,
      permissions: { publish: { deny: ["wpool.task.>", "$KV.wpool_jobs.>", "$O.wpool_components.>"] } } }
    { user: submitter, password: submitter-secret,
      permissions: { publish: { deny: ["$JS.API.CONSUMER.MSG.NEXT.WPOOL_TASKS.>", "$JS.ACK.WPOOL_TASKS.>"] } } }
  ]
}
"#;

#[test]
fn agents_and_submitters_run_a_job_with_their_own_permissions() {
    let server = NatsServer::start_with_config(CONFIG);
    let _agents = [
        Agent::start_at(&server.url_as("agent", "agent-secret"), 2, None),
        Agent::start_at(&server.url_as("agent", "agent-secret"), 2, None),
    ];
    let submitter = server.url_as("submitter", "submitter-secret");
    let out = run(Guest::Square, ["0..50", "--nats", &submitter]).output();
    out.assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..50)));

    // What each may not do, the server refuses.
    assert!(
        server.refuses_publish("agent", "agent-secret", "wpool.task.forged"),
        "an agent may not publish a task"
    );
    assert!(
        server.refuses_publish("agent", "agent-secret", "$KV.wpool_jobs.forged"),
        "an agent may not publish a job"
    );
    assert!(
        server.refuses_publish(
            "submitter",
            "submitter-secret",
            "$JS.API.CONSUMER.MSG.NEXT.WPOOL_TASKS.job-forged"
        ),
        "a submitter may not take tasks"
    );
    assert!(
        !server.refuses_publish("submitter", "submitter-secret", "wpool.task.forged"),
        "a submitter may publish a task (the check can tell)"
    );
}

#[test]
fn a_connection_without_the_right_credentials_is_refused() {
    let server = NatsServer::start_with_config(CONFIG);
    let out = run(Guest::Square, ["1", "--nats", server.url()]).output();
    out.assert_refused(&[server.url(), "cannot connect", "authorization violation"]);

    let wrong = server.url_as("submitter", "guessed");
    let out = run(Guest::Square, ["1", "--nats", &wrong]).output();
    out.assert_refused(&["cannot connect", "authorization violation"]);
    out.assert_stderr_lacks("guessed");

    let out = wpool(["agent", "--nats", server.url(), "--slots", "1"]).output();
    out.assert_code(2)
        .assert_stderr_contains("cannot connect")
        .assert_stderr_contains("authorization violation");

    let out = run(
        Guest::Square,
        [
            "1",
            "--nats",
            server.url(),
            "--nats-creds",
            "/nonexistent.creds",
        ],
    )
    .output();
    out.assert_refused(&["cannot read credentials /nonexistent.creds"]);
}

/// A fixture of `fixtures/`, by its path there.
fn fixture(path: &str) -> String {
    format!("{}/tests/suite/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_credentials_file_connects_agents_and_submitters() {
    // An operator's server: only users whose JWT its account signed.
    let config = std::fs::read_to_string(fixture("creds/server.conf")).expect("the fixture");
    let server = NatsServer::start_with_config(&config);
    let creds = fixture("creds/user.creds");
    let with_creds = ["--nats", server.url(), "--nats-creds", &creds];
    let _agent = Agent::start_cmd(wpool(["agent", "--slots", "2"]).args(with_creds));
    let out = run(Guest::Square, ["0..20"]).args(with_creds).output();
    out.assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..20)));

    let out = run(Guest::Square, ["1", "--nats", server.url()]).output();
    out.assert_refused(&["cannot connect", "authorization violation"]);
}

#[test]
fn tls_with_a_private_authority_connects_once_it_is_trusted() {
    let config = format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\n",
        fixture("tls/server.pem"),
        fixture("tls/server-key.pem")
    );
    let server = NatsServer::start_with_config(&config);
    let url = server.url().replacen("nats://", "tls://", 1);
    let authority = fixture("tls/ca.pem");
    let _agent = Agent::start_cmd(
        wpool(["agent", "--nats", &url, "--slots", "2"]).env("SSL_CERT_FILE", &authority),
    );
    let out = run(Guest::Square, ["0..20", "--nats", &url])
        .env("SSL_CERT_FILE", &authority)
        .output();
    out.assert_success()
        .assert_stdout_lines(&as_strs(&squares(0..20)));

    // The authority not trusted: refused, saying how to trust it.
    let out = run(Guest::Square, ["1", "--nats", &url]).output();
    out.assert_refused(&[
        "cannot connect",
        "SSL_CERT_FILE",
        "invalid peer certificate",
    ]);
}
