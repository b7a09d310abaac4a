//! A CPU-heavy task: count the primes below `n` by trial division.

mod count;

wit_bindgen::generate!({ path: "wit" });

struct Primes;

impl Guest for Primes {
    fn count_primes(below: u64) -> u64 {
        count::count_primes(below)
    }
}

export!(Primes);
