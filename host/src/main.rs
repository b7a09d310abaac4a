//! The `wpool` command: `wpool run` maps a WebAssembly task over inputs on a
//! pool of isolated worker processes; `wpool spawn` starts tasks as
//! processes sharing objects; `wpool inspect` shows a component's WIT;
//! `wpool doctor` checks the worker lockdown. Exit codes: 0 all it did
//! succeeded (or stdout was closed early), 1 some task failed, 2 it could
//! not start, 130 interrupted (see `cli::exit_code`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::main(cli::Cli::parse().command)
}
