//! Property tests of the input parsers of the library API, WAVE and JSON:
//! any text is an input or an error, never a panic, and integers
//! round-trip.

use std::sync::OnceLock;

use proptest::prelude::*;
use wpool::{Component, Task};

use crate::util::Guest;

/// The only function of `guest`, loaded once.
fn task(guest: Guest) -> &'static Task {
    static TASKS: [OnceLock<Task>; 3] = [const { OnceLock::new() }; 3];
    let slot = [Guest::Square, Guest::Wordstats, Guest::CheckedDiv]
        .iter()
        .position(|g| *g == guest)
        .expect("a guest with one function");
    TASKS[slot].get_or_init(|| {
        Component::from_file(guest.wasm())
            .and_then(|c| c.task(None))
            .expect("the guest loads")
    })
}

/// `n` cases, or as many as `PROPTEST_CASES` says, to fuzz longer on
/// demand.
fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig::with_cases(n)
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn parse_input_never_panics(text in ".{0,64}") {
        for guest in [Guest::Square, Guest::Wordstats, Guest::CheckedDiv] {
            let _ = task(guest).parse_input(&text);
        }
    }

    #[test]
    fn wave_like_text_never_panics(text in r#"[\[\]{}()",:a-z0-9 -]{0,48}"#) {
        let _ = task(Guest::Wordstats).parse_input(&text);
    }

    #[test]
    fn parse_input_json_never_panics(text in ".{0,64}") {
        for guest in [Guest::Square, Guest::Wordstats, Guest::CheckedDiv] {
            let _ = task(guest).parse_input_json(&text);
        }
    }

    #[test]
    fn json_like_text_never_panics(text in r#"[\[\]{}",:a-z0-9 .-]{0,48}"#) {
        let _ = task(Guest::Wordstats).parse_input_json(&text);
        let _ = task(Guest::CheckedDiv).parse_input_json(&text);
    }

    #[test]
    fn integers_round_trip(x in any::<i64>()) {
        let input = task(Guest::Square).parse_input(&x.to_string()).expect("an s64");
        prop_assert_eq!(input.to_string(), x.to_string());
    }

    #[test]
    fn tuples_of_the_wrong_arity_are_refused(xs in proptest::collection::vec(any::<i32>(), 0..6)) {
        let text = format!("({})", xs.iter().map(i32::to_string).collect::<Vec<_>>().join(", "));
        let parsed = task(Guest::CheckedDiv).parse_input(&text);
        prop_assert_eq!(parsed.is_ok(), xs.len() == 2, "{}", text);
    }
}
