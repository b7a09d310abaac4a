//! The `wpool` command: `wpool run` maps a WebAssembly task over inputs on a
//! pool of isolated worker processes; `wpool inspect` shows a component's
//! WIT. Exit codes: 0 every task succeeded, 1 some task failed, 2 the run
//! could not start.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match args.command {
        cli::Command::Worker { parent } => wpool::entry::worker(parent),
        cli::Command::Probe { parent } => wpool::entry::probe(parent),
        command => match cli::execute(command) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("wpool: {error:#}");
                ExitCode::from(2)
            }
        },
    }
}
