//! Seed example 4, a `Manager` dict: many tasks fill one shared dict,
//! which the host owns and serializes access to; and counters in a dict
//! updated without a lock, by compare-and-set.

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "wpool-examples:shared-dict/shared-dict",
    generate_all,
});

use wpool::task::shared::Dict;
use wpool::task::types::Error;

struct SharedDict;

fn squares() -> Result<Dict, String> {
    Dict::open("squares").map_err(describe)
}

fn describe(error: Error) -> String {
    format!("dict squares: {error:?}")
}

impl Guest for SharedDict {
    fn record(n: u32) -> Result<u32, String> {
        let dict = squares()?;
        let square = u64::from(n) * u64::from(n);
        dict.set(&n.to_string(), &square.to_le_bytes())
            .map_err(describe)?;
        dict.len().map_err(describe)
    }

    fn tally(word: String) -> Result<u64, String> {
        let counts = Dict::open("counts").map_err(|e| format!("dict counts: {e:?}"))?;
        loop {
            let seen = counts
                .setdefault(&word, &0u64.to_le_bytes())
                .map_err(|e| format!("dict counts: {e:?}"))?;
            let count = u64::from_le_bytes(
                seen.as_slice()
                    .try_into()
                    .map_err(|_| "a count is not 8 bytes".to_string())?,
            ) + 1;
            let stored = counts
                .compare_and_set(&word, Some(&seen), Some(&count.to_le_bytes()))
                .map_err(|e| format!("dict counts: {e:?}"))?;
            if stored {
                return Ok(count);
            }
        }
    }

    fn entries() -> Result<Vec<(String, u64)>, String> {
        let dict = squares()?;
        // Keys come a page at a time; a page's last key asks for the next.
        let mut keys: Vec<String> = Vec::new();
        loop {
            let page = dict.keys(keys.last().map(String::as_str)).map_err(describe)?;
            if page.is_empty() {
                break;
            }
            keys.extend(page);
        }
        keys.sort_by_key(|k| k.parse::<u64>().unwrap_or(u64::MAX));
        keys.into_iter()
            .map(|key| {
                let bytes = dict.get(&key).map_err(describe)?.unwrap_or_default();
                let value = u64::from_le_bytes(
                    bytes
                        .try_into()
                        .map_err(|_| "a value is not 8 bytes".to_string())?,
                );
                Ok((key, value))
            })
            .collect()
    }
}

export!(SharedDict);
