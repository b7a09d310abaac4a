//! The kernels: the guest's tasks, and the native benchmark's
//! (`host/examples/native_kernels.rs` includes this file), so both run the
//! same code. Each makes its input from a fixed seed, so every run of a
//! kernel, here or native, gives the same answer.

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const MIB: usize = 1 << 20;

/// The SHA-256 of `mib` MiB: one generated MiB, `mib` times over.
pub fn sha256(mib: u32) -> String {
    let block = text(MIB);
    let mut hasher = Sha256::new();
    for _ in 0..mib {
        hasher.update(&block);
    }
    format!("{:x}", hasher.finalize())
}

/// The gzip size of `mib` MiB of generated text.
pub fn gzip(mib: u32) -> u64 {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(&text(mib as usize * MIB))
        .expect("writing into a Vec cannot fail");
    let compressed = encoder.finish().expect("writing into a Vec cannot fail");
    compressed.len() as u64
}

/// A document of `records` records written as JSON, parsed back and
/// written again: the length of the text.
pub fn json(records: u32) -> u64 {
    let mut random = Random(u64::from(records) | 1);
    let document: Vec<Value> = (0..records)
        .map(|id| {
            json!({
                "id": id,
                "name": word(&mut random),
                "score": random.next() as f64 / u64::MAX as f64,
                "active": random.next().is_multiple_of(2),
                "tags": (0..random.next() % 5).map(|_| word(&mut random)).collect::<Vec<_>>(),
                "position": {"x": random.next() % 1000, "y": random.next() % 1000},
            })
        })
        .collect();
    let text = serde_json::to_string(&document).expect("a Value always serializes");
    let parsed: Value = serde_json::from_str(&text).expect("the text was just written");
    let again = serde_json::to_string(&parsed).expect("a Value always serializes");
    assert_eq!(text.len(), again.len(), "JSON round trip changed the text");
    again.len() as u64
}

/// `len` bytes of words separated by spaces: text that compresses about
/// as well as a log.
fn text(len: usize) -> Vec<u8> {
    let mut random = Random(len as u64 | 1);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(word(&mut random).as_bytes());
        out.push(b' ');
    }
    out.truncate(len);
    out
}

fn word(random: &mut Random) -> &'static str {
    const WORDS: [&str; 16] = [
        "pool", "task", "worker", "queue", "value", "lock", "pipe", "result", "input", "host",
        "guest", "wasm", "error", "retry", "cache", "map",
    ];
    WORDS[(random.next() % WORDS.len() as u64) as usize]
}

/// xorshift64: a fixed, fast sequence, the same on every target.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
