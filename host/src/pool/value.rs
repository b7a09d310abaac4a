//! The values that cross into and out of a task: an [`Input`] checked
//! against the function's parameters, and a [`Value`] it returned. Both
//! hold their bytes in the binary value encoding that crosses to the
//! workers (`protocol::encoding`), and display as WAVE text.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use wasm_wave::value::Type;

use crate::protocol::encoding::{self, Reader};

/// The arguments of one call, checked against the task's parameter types.
#[derive(Clone)]
pub struct Input {
    /// The arguments, encoded one parameter after the other.
    pub(super) args: Bytes,
    /// The parameters' types, to display the arguments.
    params: Arc<[Type]>,
}

impl Input {
    /// Arguments encoded from values of the types `params`.
    pub(super) fn new(args: Bytes, params: Arc<[Type]>) -> Input {
        Input { args, params }
    }
}

impl PartialEq for Input {
    fn eq(&self, other: &Input) -> bool {
        self.args == other.args
    }
}

impl Eq for Input {}

impl fmt::Display for Input {
    /// Formats the input as WAVE: the value, or a tuple of several.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut reader = Reader::new(&self.args);
        let several = self.params.len() != 1;
        if several {
            f.write_str("(")?;
        }
        for (i, ty) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_wave(f, encoding::decode(ty, &mut reader))?;
        }
        if several {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Input({self})")
    }
}

/// Writes a decoded value as WAVE. The host encoded, or checked, every
/// value it displays, so the fallback is never shown.
fn write_wave(
    f: &mut fmt::Formatter<'_>,
    value: Result<wasm_wave::value::Value, encoding::Error>,
) -> fmt::Result {
    match value.map(|value| wasm_wave::to_string(&value)) {
        Ok(Ok(text)) => f.write_str(&text),
        _ => f.write_str("<undecodable>"),
    }
}

/// A value a task returned, typed by the function's WIT result.
///
/// It displays as WAVE text; [`Value::to_wave_value`] decodes it into a
/// [`wasm_wave::value::Value`] to inspect its parts.
#[derive(Clone)]
pub struct Value {
    /// The value, encoded; empty for a function without a result.
    bytes: Bytes,
    ty: Option<Arc<Type>>,
}

impl Value {
    /// A value a worker encoded from a value of type `ty`, checked by the
    /// host.
    pub(super) fn new(bytes: Bytes, ty: Option<Arc<Type>>) -> Value {
        Value { bytes, ty }
    }

    /// Bytes of the value as encoded.
    pub(super) fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// The value's encoding.
    pub(super) fn encoded(&self) -> Bytes {
        self.bytes.clone()
    }

    /// The value in WAVE syntax, such as `81` or `{words: 2, lines: 1}`:
    /// its [`Display`](fmt::Display).
    pub fn as_wave(&self) -> String {
        self.to_string()
    }

    /// Decodes the value against its type; `None` for a function without a
    /// result.
    pub fn to_wave_value(&self) -> Option<wasm_wave::value::Value> {
        let ty = self.ty.as_deref()?;
        encoding::decode(ty, &mut Reader::new(&self.bytes)).ok()
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.bytes == other.bytes
    }
}

impl fmt::Display for Value {
    /// Formats the value as WAVE, such as `81` or `{words: 2, lines: 1}`;
    /// `()` for a function without a result.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ty {
            None => f.write_str("()"),
            Some(ty) => write_wave(f, encoding::decode(&**ty, &mut Reader::new(&self.bytes))),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({self})")
    }
}
