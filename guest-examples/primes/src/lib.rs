//! A CPU-heavy task: count the primes below `n` by trial division.

wit_bindgen::generate!({ path: "wit" });

struct Primes;

impl Guest for Primes {
    fn count_primes(below: u64) -> u64 {
        (2..below).filter(|&n| is_prime(n)).count() as u64
    }
}

fn is_prime(n: u64) -> bool {
    (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

export!(Primes);
