//! Realistic CPU-heavy tasks for the benchmarks: the kernels in `work.rs`,
//! which `host/examples/native_kernels.rs` also includes, so the guest and
//! the native side run the same code.

mod work;

wit_bindgen::generate!({ path: "wit" });

struct Kernels;

impl Guest for Kernels {
    fn sha256(mib: u32) -> String {
        work::sha256(mib)
    }

    fn gzip(mib: u32) -> u64 {
        work::gzip(mib)
    }

    fn json(records: u32) -> u64 {
        work::json(records)
    }
}

export!(Kernels);
