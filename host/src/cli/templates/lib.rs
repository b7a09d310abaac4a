//! The task {name}: each function of `Guest` is a function exported by the
//! world in wit/world.wit.

wit_bindgen::generate!({ path: "wit"{generate_all} });

struct Task;

impl Guest for Task {
    fn square(x: i64) -> i64 {
        x.wrapping_mul(x)
    }
}

export!(Task);
