//! The values that cross into and out of a task: an [`Input`] checked
//! against the function's parameters, and a [`Value`] it returned. Both
//! hold their bytes in the binary value encoding that crosses to the
//! workers (`protocol::encoding`), and display as WAVE text. An input may
//! also be a file, read when its task is dispatched, or text that made no
//! value, whose task fails then.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use wasm_wave::value::Type;
use wasm_wave::wasm::{WasmType, WasmTypeKind};

use super::json;
use super::quote::shorten;
use crate::protocol::Encoded;
use crate::protocol::encoding::{self, Reader};

/// The arguments of one call, checked against the task's parameter types.
#[derive(Clone)]
pub struct Input {
    /// The arguments, encoded one parameter after the other, in place when
    /// they are small (a number is a few bytes: an input of a tiny task
    /// costs no allocation); for a file, empty until it is read.
    pub(super) args: Encoded,
    /// The parameters' types, to display the arguments.
    params: Arc<[Type]>,
    origin: Origin,
}

/// Where an input's arguments come from.
#[derive(Clone)]
enum Origin {
    /// A value given whole: `args` holds it.
    Value,
    /// The contents of a file, the function's one `list<u8>` or `string`
    /// parameter: read into `args` when the input is admitted, so that a
    /// run holds only the files its workers are running.
    File { path: Arc<Path>, read: bool },
    /// Text that makes no value of the parameter types (a streamed input):
    /// its task fails at admission, and the others go on.
    Invalid { text: Arc<str>, reason: Arc<str> },
}

impl Input {
    /// Arguments encoded from values of the types `params`.
    pub(super) fn new(args: Encoded, params: Arc<[Type]>) -> Input {
        Input {
            args,
            params,
            origin: Origin::Value,
        }
    }

    /// The contents of the file `path`, read when the input is admitted;
    /// `params` is one `list<u8>` or `string`.
    pub(super) fn file(path: Arc<Path>, params: Arc<[Type]>) -> Input {
        Input {
            args: Encoded::default(),
            params,
            origin: Origin::File { path, read: false },
        }
    }

    /// An input whose task fails with `reason`; `text` is kept shortened.
    pub(super) fn invalid(text: &str, reason: String, params: Arc<[Type]>) -> Input {
        Input {
            args: Encoded::default(),
            params,
            origin: Origin::Invalid {
                text: shorten(text).into(),
                reason: reason.into(),
            },
        }
    }

    /// The file whose contents are this input, if it is one
    /// ([`Task::file_input`](crate::Task::file_input)).
    pub fn file_path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Makes the arguments ready to send, once: reads a file (at most one
    /// byte past what `max_value` allows, so that a larger file is never
    /// read whole), or fails an invalid input.
    ///
    /// # Errors
    /// [`LoadError::Input`] for an invalid input or a file that cannot be
    /// read (or is not UTF-8 for a `string`), [`LoadError::TooLarge`] for a
    /// file whose encoding is larger than `max_value`.
    pub(super) fn load(&mut self, max_value: usize) -> Result<(), LoadError> {
        let path = match &mut self.origin {
            Origin::Value | Origin::File { read: true, .. } => return Ok(()),
            Origin::Invalid { reason, .. } => return Err(LoadError::Input(reason.to_string())),
            Origin::File { path, read } => {
                *read = true;
                path.clone()
            }
        };
        let cannot =
            |e: std::io::Error| LoadError::Input(format!("cannot read {}: {e}", path.display()));
        let too_large = |len: Option<u64>| LoadError::TooLarge {
            size: len.map(encoded_len),
            limit: max_value as u64,
        };
        // Opened without O_NONBLOCK, a FIFO would wait for a writer and
        // hold up every task behind it; once it is known not to be one,
        // reads block again.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&path)
            .map_err(cannot)?;
        let metadata = file.metadata().map_err(cannot)?;
        if let Some(kind) = unreadable(metadata.file_type()) {
            return Err(LoadError::Input(format!(
                "cannot read {}: {kind}",
                path.display()
            )));
        }
        rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty())
            .map_err(|e| cannot(e.into()))?;
        let len = metadata.len();
        if encoded_len(len) > max_value as u64 {
            return Err(too_large(Some(len)));
        }
        // The file may grow while it is read: read one byte past the limit.
        // Read after room for the length prefix, which then goes just
        // before the contents: the arguments are the bytes as read, not a
        // copy of them.
        const ROOM: usize = 10;
        let mut buf = Vec::with_capacity(ROOM + len as usize);
        buf.resize(ROOM, 0);
        file.take(max_value as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(cannot)?;
        let contents = &buf[ROOM..];
        if encoded_len(contents.len() as u64) > max_value as u64 {
            // A read that reached its bound (a device, a file that grew)
            // does not know the whole size.
            let whole = contents.len() as u64 <= max_value as u64;
            return Err(too_large(whole.then_some(contents.len() as u64)));
        }
        if self.params[0].kind() == WasmTypeKind::String && std::str::from_utf8(contents).is_err() {
            return Err(LoadError::Input(format!(
                "{} is not UTF-8 text, which the string parameter needs",
                path.display()
            )));
        }
        let mut prefix = Vec::with_capacity(ROOM);
        encoding::put_unsigned(&mut prefix, contents.len() as u64);
        let start = ROOM - prefix.len();
        buf[start..ROOM].copy_from_slice(&prefix);
        self.args = Encoded::from(Bytes::from(buf).slice(start..));
        Ok(())
    }
}

/// Why `--files` does not read a file of type `kind`, if it does not: a
/// directory has no contents, and a FIFO or a socket may keep its reader
/// waiting for ever, with every task behind it. Devices are read, up to
/// the value limit.
fn unreadable(kind: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt as _;
    match () {
        () if kind.is_dir() => Some("a directory, not a file"),
        () if kind.is_fifo() => {
            Some("a FIFO, which may keep the run waiting: save its data to a file")
        }
        () if kind.is_socket() => {
            Some("a socket, which may keep the run waiting: save its data to a file")
        }
        () => None,
    }
}

/// Whether `ty` is `list<u8>` or `string`: bytes in the value encoding.
pub(super) fn is_bytes(ty: &Type) -> bool {
    match ty.kind() {
        WasmTypeKind::String => true,
        WasmTypeKind::List => ty
            .list_element_type()
            .is_some_and(|element| element.kind() == WasmTypeKind::U8),
        _ => false,
    }
}

/// Why an input could not be made ready to send ([`Input::load`]).
pub(super) enum LoadError {
    /// It is invalid, or its file cannot be read: why.
    Input(String),
    /// Its file's encoding takes `size` bytes (more than `limit`), or an
    /// unknown number more when its read stopped at the bound.
    TooLarge { size: Option<u64>, limit: u64 },
}

/// Bytes of the encoding of a byte string of `len` bytes: its length as
/// LEB128, then the bytes.
fn encoded_len(len: u64) -> u64 {
    let prefix = (u64::BITS - len.leading_zeros()).div_ceil(7).max(1);
    len.saturating_add(prefix.into())
}

impl Input {
    /// The input as typed JSON (see [`Task::parse_input_json`](crate::Task::parse_input_json)):
    /// the value of a function's one parameter, an array of several, `null`
    /// for none; a file's input as its path, an invalid input as its text
    /// (shortened), both strings.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.origin {
            Origin::Value => {}
            Origin::File { path, .. } => return path.display().to_string().into(),
            Origin::Invalid { text, .. } => return text.to_string().into(),
        }
        let mut reader = Reader::new(self.args.as_slice());
        let mut values = self.params.iter().map(|ty| {
            encoding::decode::<wasm_wave::value::Value>(ty, &mut reader)
                .map_or(serde_json::Value::Null, |value| json::to_json(&value, ty))
        });
        match self.params.len() {
            1 => values.next().unwrap_or_default(),
            _ => values.collect(),
        }
    }
}

impl PartialEq for Input {
    fn eq(&self, other: &Input) -> bool {
        self.args.as_slice() == other.args.as_slice()
    }
}

impl Eq for Input {}

impl fmt::Display for Input {
    /// Formats the input as WAVE: the value, or a tuple of several; a
    /// file's input as the file's path, and an invalid one as its text.
    /// The alternate form (`{:#}`) shortens a long value to its first 200
    /// characters and its length in bytes, as error messages quote it (an
    /// invalid input's text is kept shortened already).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Value if f.alternate() => f.write_str(&shorten(&Wave(self).to_string())),
            Origin::Value => Wave(self).fmt(f),
            Origin::File { path, .. } => write!(f, "{}", path.display()),
            Origin::Invalid { text, .. } => f.write_str(text),
        }
    }
}

/// An input given as values, displayed as WAVE.
struct Wave<'a>(&'a Input);

impl fmt::Display for Wave<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Input { args, params, .. } = self.0;
        let mut reader = Reader::new(args.as_slice());
        let several = params.len() != 1;
        if several {
            f.write_str("(")?;
        }
        for (i, ty) in params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_wave(f, ty, &mut reader)?;
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

/// Writes the value of type `ty` that `reader` reads next as WAVE, straight into
/// the formatter: an integer as it is (the results of tiny tasks, printed a
/// million a second), anything else decoded first. The host encoded, or
/// checked, every value it displays, so the fallback is never shown.
fn write_wave(f: &mut fmt::Formatter<'_>, ty: &Type, reader: &mut Reader<'_>) -> fmt::Result {
    let written = match ty.kind() {
        WasmTypeKind::S16 | WasmTypeKind::S32 | WasmTypeKind::S64 => reader
            .signed(64)
            .map(|n| f.write_str(itoa::Buffer::new().format(n))),
        WasmTypeKind::U16 | WasmTypeKind::U32 | WasmTypeKind::U64 => reader
            .unsigned(64)
            .map(|n| f.write_str(itoa::Buffer::new().format(n))),
        _ => encoding::decode::<wasm_wave::value::Value>(ty, reader).map(|value| {
            wasm_wave::writer::Writer::new(&mut *f)
                .write_value(&value)
                .map_err(|_| fmt::Error)
        }),
    };
    written.unwrap_or_else(|_| f.write_str("<undecodable>"))
}

/// A value a task returned, typed by the function's WIT result.
///
/// It displays as WAVE text; [`Value::to_wave_value`] decodes it into a
/// [`wasm_wave::value::Value`] to inspect its parts.
#[derive(Clone)]
pub struct Value {
    /// The value, encoded; empty for a function without a result.
    bytes: Encoded,
    ty: Option<Arc<Type>>,
}

impl Value {
    /// A value a worker encoded from a value of type `ty`, checked by the
    /// host.
    pub(super) fn new(bytes: Encoded, ty: Option<Arc<Type>>) -> Value {
        Value { bytes, ty }
    }

    /// Bytes of the value as encoded.
    pub(super) fn encoded_len(&self) -> usize {
        self.bytes.as_slice().len()
    }

    /// The value's encoding.
    pub(super) fn encoded(&self) -> Bytes {
        self.bytes.to_bytes()
    }

    /// The value in WAVE syntax, such as `81` or `{words: 2, lines: 1}`:
    /// its [`Display`](fmt::Display).
    pub fn as_wave(&self) -> String {
        self.to_string()
    }

    /// The bytes of a `list<u8>` or `string` value (a string's UTF-8), or
    /// of the `ok` of a `result` of one; `None` for any other type. No copy
    /// is made.
    ///
    /// # Example
    /// ```
    /// # let payload = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/payload"))?;
    /// # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
    /// // payload.wasm exports `echo: func(data: list<u8>) -> list<u8>`.
    /// let task = wpool::Component::from_file(payload)?.task(Some("echo"))?;
    /// assert!(task.returns_bytes());
    /// let pool = wpool::Pool::builder().worker_program(worker).build();
    /// let output = pool.map(&task, [task.parse_input("[104, 105]")?])?.remove(0);
    /// assert_eq!(output.result?.as_bytes(), Some(&b"hi"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_bytes(&self) -> Option<&[u8]> {
        let ty = self.ty.as_deref()?;
        let mut reader = Reader::new(self.bytes.as_slice());
        if !is_bytes(ty) {
            let (Some(ok), _) = ty.result_types()? else {
                return None;
            };
            if !is_bytes(&ok) || reader.byte().ok()? != encoding::RESULT_OK {
                return None;
            }
        }
        reader.bytes().ok()
    }

    /// The value as typed JSON, by the rules of the README's table
    /// (records as objects, `list<u8>` as base64, ...); `null` for a
    /// function without a result.
    ///
    /// # Example
    /// ```
    /// # let wordstats = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/wordstats"))?;
    /// # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
    /// let task = wpool::Component::from_file(wordstats)?.task(None)?;
    /// let pool = wpool::Pool::builder().worker_program(worker).build();
    /// let input = task.parse_input(r#"("b a b", sensitive, 1)"#)?;
    /// let stats = pool.map(&task, [input])?.remove(0).result?;
    /// assert_eq!(
    ///     stats.to_json(),
    ///     serde_json::json!({"words": 3, "lines": 1, "longest": "b", "top": [["b", 2]]})
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        match (self.to_wave_value(), self.ty.as_deref()) {
            (Some(value), Some(ty)) => json::to_json(&value, ty),
            _ => serde_json::Value::Null,
        }
    }

    /// Decodes the value against its type; `None` for a function without a
    /// result.
    pub fn to_wave_value(&self) -> Option<wasm_wave::value::Value> {
        let ty = self.ty.as_deref()?;
        encoding::decode(ty, &mut Reader::new(self.bytes.as_slice())).ok()
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.bytes.as_slice() == other.bytes.as_slice()
    }
}

impl fmt::Display for Value {
    /// Formats the value as WAVE, such as `81` or `{words: 2, lines: 1}`;
    /// `()` for a function without a result.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ty {
            None => f.write_str("()"),
            Some(ty) => write_wave(f, ty, &mut Reader::new(self.bytes.as_slice())),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({self})")
    }
}

#[cfg(test)]
mod props {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::Value;
    use crate::protocol::encoding::{encode, props::typed_value};

    proptest! {
        #![proptest_config(crate::protocol::prop_config(2000))]

        /// A result shows as wasm_wave writes it, whether its encoding is
        /// kept in place or not, and integers written without decoding.
        #[test]
        fn a_value_displays_as_wave((ty, value) in typed_value()) {
            let mut bytes = Vec::new();
            encode(&value, &ty, &mut bytes).unwrap();
            let shown = Value::new(bytes::Bytes::from(bytes).into(), Some(Arc::new(ty)));
            prop_assert_eq!(shown.to_string(), wasm_wave::to_string(&value).unwrap());
        }
    }
}
