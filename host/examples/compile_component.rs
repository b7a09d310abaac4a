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
    let compiled = std::fs::read(&file)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| {
            let mut config = wasmtime::Config::new();
            config.epoch_interruption(true);
            wasmtime::Engine::new(&config)?.precompile_component(&bytes)
        });
    match compiled {
        Ok(artifact) => {
            println!("{} bytes compiled", artifact.len());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("compile_component: {file}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
