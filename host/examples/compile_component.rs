//! The cold-start benchmark's baseline: `compile_component FILE` compiles
//! a component once with wasmtime, in this process, with the setting that
//! shapes the workers' code (epoch interruption) and nothing else: what a
//! single compile costs, without a pool around it.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: compile_component FILE");
        return ExitCode::from(2);
    };
    match compile(&file) {
        Ok(bytes) => {
            println!("{bytes} bytes compiled");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("compile_component: {file}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Compiles the component in `file`; returns the compiled artifact's size.
fn compile(file: &str) -> wasmtime::Result<usize> {
    let bytes = std::fs::read(file)?;
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    let engine = wasmtime::Engine::new(&config)?;
    Ok(engine.precompile_component(&bytes)?.len())
}
