//! Property tests of the input parser of the library API: any text is an
//! input or an error, never a panic, and integers round-trip.

use proptest::prelude::*;
use wpool::{Component, Task};

use crate::util::Guest;

fn task(guest: Guest, func: Option<&str>) -> Task {
    Component::from_file(guest.wasm())
        .and_then(|c| c.task(func))
        .expect("the guest loads")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn parse_input_never_panics(text in ".{0,64}") {
        for (guest, func) in [(Guest::Square, None), (Guest::Wordstats, None), (Guest::CheckedDiv, None)] {
            let _ = task(guest, func).parse_input(&text);
        }
    }

    #[test]
    fn wave_like_text_never_panics(text in r#"[\[\]{}()",:a-z0-9 -]{0,48}"#) {
        let _ = task(Guest::Wordstats, None).parse_input(&text);
    }

    #[test]
    fn integers_round_trip(x in any::<i64>()) {
        let input = task(Guest::Square, None).parse_input(&x.to_string()).expect("an s64");
        prop_assert_eq!(input.to_string(), x.to_string());
    }

    #[test]
    fn tuples_of_the_wrong_arity_are_refused(xs in proptest::collection::vec(any::<i32>(), 0..6)) {
        let text = format!("({})", xs.iter().map(i32::to_string).collect::<Vec<_>>().join(", "));
        let parsed = task(Guest::CheckedDiv, None).parse_input(&text);
        prop_assert_eq!(parsed.is_ok(), xs.len() == 2, "{}", text);
    }
}
