//! The integration tests of wpool, one test binary with a module per topic.
//! They drive the real `wpool` binary as a user runs it, and the library API
//! with that same binary as its workers: real worker processes, real
//! wasmtime, guest components built from the crates in `guest-examples`.

mod advisories;
mod cache;
mod cluster;
mod cluster_access;
mod cluster_jobs;
mod cluster_shared;
mod components;
mod dispatch;
mod errors;
mod examples;
mod faults;
mod files;
mod inputs;
mod interrupt;
mod json;
mod languages;
mod layout;
mod library;
mod limits;
mod multiprocessing;
mod output;
mod props;
mod reuse;
mod run;
mod sandbox;
mod util;
mod values;
mod warm;
