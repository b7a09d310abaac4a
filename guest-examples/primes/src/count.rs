//! Counting primes by trial division: the guest's task, and the native
//! benchmark's (`host/examples/native_kernels.rs` includes this file), so
//! both run the same code.

/// How many primes are smaller than `below`.
pub fn count_primes(below: u64) -> u64 {
    (2..below).filter(|&n| is_prime(n)).count() as u64
}

fn is_prime(n: u64) -> bool {
    (2..)
        .take_while(|d| d * d <= n)
        .all(|d| !n.is_multiple_of(d))
}
