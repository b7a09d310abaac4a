//! A command component: a plain `fn main`, built for wasm32-wasip2, exports
//! `wasi:cli/run`, which `wpool spawn` runs as a process.

fn main() {
    println!("hello from a command component");
}
