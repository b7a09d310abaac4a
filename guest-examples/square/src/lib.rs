//! The smallest task: `square: func(x: s64) -> s64`.

wit_bindgen::generate!({ path: "wit" });

struct Square;

impl Guest for Square {
    fn square(x: i64) -> i64 {
        x.wrapping_mul(x)
    }
}

export!(Square);
