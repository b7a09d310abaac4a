//! Property test of the JSON mapping: random values of random types go
//! from WAVE text to a value, to JSON text and back to the same value.

use proptest::prelude::*;
use wasm_wave::value::Value;

use super::{from_json, to_json};
use crate::protocol::encoding::props::typed_value;

proptest! {
    #![proptest_config(crate::protocol::prop_config(2000))]

    #[test]
    fn wave_to_json_and_back((ty, value) in typed_value()) {
        let wave = wasm_wave::to_string(&value).unwrap();
        let parsed: Value = wasm_wave::from_str(&ty, &wave).unwrap();
        let text = to_json(&parsed, &ty).to_string();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let back: Value = from_json(&json, &ty).unwrap_or_else(|e| panic!("{text}: {e}"));
        // Compared as WAVE text, where every NaN is `nan`.
        prop_assert_eq!(wasm_wave::to_string(&back).unwrap(), wave, "through {}", text);
    }
}
