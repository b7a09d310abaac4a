//! A command component that fails: it says so on stdout and stderr, then
//! exits with status 1, which `wpool spawn` reports as the process's exit
//! status. (WASI's `exit` carries only success or failure: any status other
//! than 0 reaches the host as 1.)

fn main() {
    println!("exiting with status 1");
    eprintln!("this command fails on purpose");
    std::process::exit(1);
}
