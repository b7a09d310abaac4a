//! A task exported inside an interface, with strings, an enum, a record,
//! an option and lists.

use std::collections::HashMap;

wit_bindgen::generate!({ path: "wit" });

use exports::wpool_examples::wordstats::text::{Case, Guest, Stats};

struct Wordstats;

impl Guest for Wordstats {
    fn analyze(text: String, case: Case, top: u32) -> Stats {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(|w| match case {
                Case::Sensitive => w.to_string(),
                Case::Insensitive => w.to_lowercase(),
            })
            .collect();
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for word in &words {
            *counts.entry(word).or_default() += 1;
        }
        let mut ranked: Vec<(String, u32)> = counts
            .into_iter()
            .map(|(w, n)| (w.to_string(), n))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(top as usize);
        Stats {
            words: words.len() as u32,
            lines: text.lines().count() as u32,
            longest: words
                .iter()
                .fold(None::<&String>, |best, w| match best {
                    Some(b) if b.chars().count() >= w.chars().count() => Some(b),
                    _ => Some(w),
                })
                .cloned(),
            top: ranked,
        }
    }
}

export!(Wordstats);
