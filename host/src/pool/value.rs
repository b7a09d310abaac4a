//! The values that cross into and out of a task: an [`Input`] checked
//! against the function's parameters, and a [`Value`] it returned, both in
//! WAVE text.

use std::fmt;
use std::sync::Arc;

use wasm_wave::value::Type;

/// The arguments of one call, checked against the task's parameter types.
#[derive(Clone, PartialEq, Eq)]
pub struct Input {
    /// One WAVE text per parameter, each valid for its type.
    pub(super) args: Arc<[String]>,
}

impl fmt::Display for Input {
    /// Formats the input as WAVE: the value, or a tuple of several.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.args {
            [] => f.write_str("()"),
            [one] => f.write_str(one),
            args => write!(f, "({})", args.join(", ")),
        }
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Input({self})")
    }
}

/// A value a task returned, typed by the function's WIT result.
///
/// It displays as WAVE text; [`Value::to_wave_value`] decodes it into a
/// [`wasm_wave::value::Value`] to inspect its parts.
#[derive(Clone)]
pub struct Value {
    wave: String,
    ty: Option<Arc<Type>>,
}

impl Value {
    /// A value the worker printed from a value of type `ty`.
    pub(super) fn new(wave: String, ty: Option<Arc<Type>>) -> Value {
        Value { wave, ty }
    }

    /// The value in WAVE syntax, such as `81` or `{words: 2, lines: 1}`.
    pub fn as_wave(&self) -> &str {
        &self.wave
    }

    /// Decodes the value against its type; `None` for a function without a
    /// result.
    pub fn to_wave_value(&self) -> Option<wasm_wave::value::Value> {
        let ty = self.ty.as_deref()?;
        // The worker wrote this text from a value of this very type.
        wasm_wave::from_str(ty, &self.wave).ok()
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.wave == other.wave
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.wave)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({})", self.wave)
    }
}
