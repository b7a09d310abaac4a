//! A task that fails for some inputs by returning `result::err`.

wit_bindgen::generate!({ path: "wit" });

struct CheckedDiv;

impl Guest for CheckedDiv {
    fn div(a: i32, b: i32) -> Result<i32, String> {
        match b {
            0 => Err(format!("cannot divide {a} by zero")),
            _ => a
                .checked_div(b)
                .ok_or_else(|| format!("{a} / {b} overflows")),
        }
    }
}

export!(CheckedDiv);
