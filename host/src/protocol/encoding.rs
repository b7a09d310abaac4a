//! The binary value encoding: how a WIT value crosses between the host and a
//! worker. WAVE text stays at the edges a person types or reads; on the wire
//! a value is bytes, typed by the function's signature, in the component
//! model's value definition encoding (the one wRPC uses):
//!
//! | type | bytes |
//! |---|---|
//! | `bool` | one byte, 0 or 1 |
//! | `u8`, `s8` | one byte |
//! | `u16`, `u32`, `u64` | unsigned LEB128 |
//! | `s16`, `s32`, `s64` | signed LEB128 |
//! | `f32`, `f64` | IEEE 754 bits, little-endian, 4 or 8 bytes |
//! | `char` | its scalar value, unsigned LEB128 |
//! | `string` | its length in bytes (unsigned LEB128), then its UTF-8 |
//! | `list<T>` | its length (unsigned LEB128), then each element; so `list<u8>` is a length and the raw bytes |
//! | `record`, `tuple` | each field in the type's order |
//! | `variant`, `enum` | the case's index in the type (unsigned LEB128), then the payload if the case has one |
//! | `option` | 0 (`none`), or 1 and the value |
//! | `result` | 0 and the `ok` payload, or 1 and the `err` payload (each if the type has one) |
//! | `flags` | a bit set of ⌈n/8⌉ bytes: flag `i` is bit `i % 8` of byte `i / 8` |
//!
//! A function's arguments are its parameters' encodings one after the
//! other (a tuple's encoding). Every value takes at least one byte.
//!
//! The encoder and the decoder are written once, generic over the
//! [`WasmValue`] and [`WasmType`] traits of `wasm_wave`, which both sides'
//! representations implement: the host encodes arguments from and decodes
//! results into `wasm_wave::value::Value` (typed by the component's WIT),
//! the worker decodes arguments into and encodes results from wasmtime's
//! `Val` (typed by wasmtime's `Type`). The worker's typed fast paths write
//! and read strings, byte lists and integers with the same primitives
//! ([`put_bytes`], [`Reader::bytes`], ...). Decoding trusts nothing: any
//! bytes give a value of the type or an [`Error`], never a panic, and a
//! length prefix is never allocated before the bytes it counts are there.

use std::borrow::Cow;

use wasm_wave::wasm::{WasmType, WasmTypeKind, WasmValue, WasmValueError};

/// Why a value does not encode or decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Error(String);

fn error(message: impl Into<String>) -> Error {
    Error(message.into())
}

/// Whether values of `ty` have this encoding: every WIT type with a value
/// form does except fixed-length lists (which neither side's type says the
/// length of). The reason otherwise.
pub(crate) fn check_type<T: WasmType>(ty: &T) -> Result<(), Error> {
    use WasmTypeKind::*;
    match ty.kind() {
        Bool | S8 | S16 | S32 | S64 | U8 | U16 | U32 | U64 | F32 | F64 | Char | String | Enum
        | Flags => Ok(()),
        List => check_type(&element(ty)?),
        Record => ty.record_fields().try_for_each(|(_, ty)| check_type(&ty)),
        Tuple => ty.tuple_element_types().try_for_each(|ty| check_type(&ty)),
        Variant => ty
            .variant_cases()
            .try_for_each(|(_, ty)| ty.map_or(Ok(()), |ty| check_type(&ty))),
        Option => check_type(&some_type(ty)?),
        Result => {
            let (ok, err) = result_types(ty)?;
            ok.iter().chain(&err).try_for_each(check_type)
        }
        kind => Err(error(format!("values of type {kind} are not supported"))),
    }
}

/// The tag of a `result`'s `ok` case.
pub(crate) const RESULT_OK: u8 = 0;
/// The tag of a `result`'s `err` case.
pub(crate) const RESULT_ERR: u8 = 1;

/// Appends an unsigned LEB128 integer.
pub(crate) fn put_unsigned(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends a signed LEB128 integer.
pub(crate) fn put_signed(out: &mut Vec<u8>, mut value: i64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends the integer `n` as a value of the integer type `kind`; false,
/// appending nothing, when `n` does not fit it or `kind` is no integer.
pub(crate) fn put_integer(out: &mut Vec<u8>, kind: WasmTypeKind, n: i128) -> bool {
    use WasmTypeKind::*;
    let (signed, bits) = match kind {
        S8 => (true, 8),
        S16 => (true, 16),
        S32 => (true, 32),
        S64 => (true, 64),
        U8 => (false, 8),
        U16 => (false, 16),
        U32 => (false, 32),
        U64 => (false, 64),
        _ => return false,
    };
    let range = match signed {
        true => -(1i128 << (bits - 1))..1 << (bits - 1),
        false => 0..1 << bits,
    };
    if !range.contains(&n) {
        return false;
    }
    // Bytes as they are (an `s8` as its two's complement), the others as
    // LEB128.
    match (signed, bits) {
        (_, 8) => out.push(n as u8),
        (true, _) => put_signed(out, n as i64),
        (false, _) => put_unsigned(out, n as u64),
    }
    true
}

/// The integer `value` holds, whatever its width; `None` for a value of
/// any other kind.
pub(crate) fn integer<V: WasmValue>(value: &V) -> Option<i128> {
    use WasmTypeKind::*;
    Some(match value.kind() {
        S8 => value.unwrap_s8().into(),
        S16 => value.unwrap_s16().into(),
        S32 => value.unwrap_s32().into(),
        S64 => value.unwrap_s64().into(),
        U8 => value.unwrap_u8().into(),
        U16 => value.unwrap_u16().into(),
        U32 => value.unwrap_u32().into(),
        U64 => value.unwrap_u64().into(),
        _ => return None,
    })
}

/// Appends a length-prefixed byte string: a `string`'s UTF-8, or a
/// `list<u8>`.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_unsigned(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends the encoding of `value`, of type `ty`.
///
/// # Errors
/// When the value is not of the type (which a value typed by `ty` never
/// is), or the type has no encoding (see [`check_type`]).
pub(crate) fn encode<V: WasmValue>(
    value: &V,
    ty: &V::Type,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    use WasmTypeKind::*;
    let kind = ty.kind();
    if value.kind() != kind {
        return Err(error(format!("a {} value for type {kind}", value.kind())));
    }
    match kind {
        Bool => out.push(u8::from(value.unwrap_bool())),
        S8 | S16 | S32 | S64 | U8 | U16 | U32 | U64 => {
            put_integer(out, kind, integer(value).expect("an integer kind"));
        }
        F32 => out.extend_from_slice(&value.unwrap_f32().to_bits().to_le_bytes()),
        F64 => out.extend_from_slice(&value.unwrap_f64().to_bits().to_le_bytes()),
        Char => put_unsigned(out, u32::from(value.unwrap_char()).into()),
        String => put_bytes(out, value.unwrap_string().as_bytes()),
        List => {
            let element = element(ty)?;
            let items = value.unwrap_list();
            let (len, upper) = items.size_hint();
            if upper != Some(len) {
                return Err(error("a list whose length is not known"));
            }
            put_unsigned(out, len as u64);
            let mut count = 0;
            for item in items {
                encode(&*item, &element, out)?;
                count += 1;
            }
            if count != len {
                return Err(error("a list longer or shorter than it said"));
            }
        }
        Record => {
            let mut fields = value.unwrap_record();
            for (name, ty) in ty.record_fields() {
                match fields.next() {
                    Some((field, item)) if field == name => encode(&*item, &ty, out)?,
                    _ => {
                        return Err(error(format!(
                            "the record has no field {name} in its place"
                        )));
                    }
                }
            }
            if fields.next().is_some() {
                return Err(error("the record has more fields than its type"));
            }
        }
        Tuple => {
            let mut items = value.unwrap_tuple();
            for ty in ty.tuple_element_types() {
                let item = items
                    .next()
                    .ok_or_else(|| error("the tuple is too short"))?;
                encode(&*item, &ty, out)?;
            }
            if items.next().is_some() {
                return Err(error("the tuple is longer than its type"));
            }
        }
        Variant => {
            let (case, payload) = value.unwrap_variant();
            let (index, (_, payload_ty)) = ty
                .variant_cases()
                .enumerate()
                .find(|(_, (name, _))| *name == case)
                .ok_or_else(|| error(format!("no case {case} in the variant")))?;
            put_unsigned(out, index as u64);
            encode_payload(payload, payload_ty, out)?;
        }
        Enum => {
            let case = value.unwrap_enum();
            let index = ty
                .enum_cases()
                .position(|name| name == case)
                .ok_or_else(|| error(format!("no case {case} in the enum")))?;
            put_unsigned(out, index as u64);
        }
        Option => match value.unwrap_option() {
            None => out.push(0),
            Some(item) => {
                out.push(1);
                encode(&*item, &some_type(ty)?, out)?;
            }
        },
        Result => {
            let (ok, err) = result_types(ty)?;
            match value.unwrap_result() {
                Ok(payload) => {
                    out.push(RESULT_OK);
                    encode_payload(payload, ok, out)?;
                }
                Err(payload) => {
                    out.push(RESULT_ERR);
                    encode_payload(payload, err, out)?;
                }
            }
        }
        Flags => {
            let names: Vec<Cow<str>> = ty.flags_names().collect();
            let mut bits = vec![0u8; names.len().div_ceil(8)];
            for flag in value.unwrap_flags() {
                let i = names
                    .iter()
                    .position(|name| *name == flag)
                    .ok_or_else(|| error(format!("no flag {flag} in the flags")))?;
                bits[i / 8] |= 1 << (i % 8);
            }
            out.extend_from_slice(&bits);
        }
        kind => return Err(error(format!("values of type {kind} are not supported"))),
    }
    Ok(())
}

fn encode_payload<V: WasmValue>(
    payload: Option<Cow<'_, V>>,
    ty: Option<V::Type>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    match (payload, ty) {
        (None, None) => Ok(()),
        (Some(payload), Some(ty)) => encode(&*payload, &ty, out),
        _ => Err(error("a payload that does not match its case")),
    }
}

/// Reads encoded values out of a byte slice.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), Error> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(error(format!("{n} bytes follow the value"))),
        }
    }

    /// One byte: a case's tag, a `bool`.
    pub(crate) fn byte(&mut self) -> Result<u8, Error> {
        let (&first, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| error("the value ends early"))?;
        self.bytes = rest;
        Ok(first)
    }

    /// The next `n` bytes, as they are.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.bytes.len() {
            return Err(error("the value ends early"));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    /// An unsigned LEB128 integer of at most `bits` bits, in at most
    /// ⌈bits/7⌉ bytes.
    pub(crate) fn unsigned(&mut self, bits: u32) -> Result<u64, Error> {
        let mut value = 0u64;
        for shift in (0..bits).step_by(7) {
            let byte = self.byte()?;
            let low = u64::from(byte & 0x7f);
            if bits - shift < 7 && low >> (bits - shift) != 0 {
                break;
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(error(format!("an integer wider than {bits} bits")))
    }

    /// A signed LEB128 integer of at most `bits` bits, in at most ⌈bits/7⌉
    /// bytes.
    pub(crate) fn signed(&mut self, bits: u32) -> Result<i64, Error> {
        let mut value = 0i64;
        for shift in (0..bits).step_by(7) {
            let byte = self.byte()?;
            let low = byte & 0x7f;
            value |= i64::from(low) << shift;
            if byte & 0x80 == 0 {
                let end = shift + 7;
                if end < 64 && low & 0x40 != 0 {
                    value |= -1 << end;
                }
                // Past `bits`, the last byte may hold only copies of the sign.
                let fits = end <= bits || {
                    let high = low >> (bits - shift - 1);
                    high == 0 || high == 0x7f >> (bits - shift - 1)
                };
                if fits {
                    return Ok(value);
                }
                break;
            }
        }
        Err(error(format!("an integer wider than {bits} bits")))
    }

    /// A length prefix that counts items of at least one byte each: never
    /// more than the bytes left.
    fn len(&mut self) -> Result<usize, Error> {
        let len = self.unsigned(32)? as usize;
        match len <= self.bytes.len() {
            true => Ok(len),
            false => Err(error(format!(
                "a length of {len} past the end of the value"
            ))),
        }
    }

    /// A length-prefixed byte string: a `list<u8>`.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let len = self.len()?;
        self.take(len)
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self) -> Result<&'a str, Error> {
        std::str::from_utf8(self.bytes()?)
            .map_err(|e| error(format!("a string that is not UTF-8: {e}")))
    }
}

/// Reads one value of type `ty`.
///
/// # Errors
/// When the bytes are not a value of the type.
pub(crate) fn decode<V: WasmValue>(ty: &V::Type, reader: &mut Reader<'_>) -> Result<V, Error> {
    use WasmTypeKind::*;
    let invalid = |e: WasmValueError| error(e.to_string());
    Ok(match ty.kind() {
        Bool => match reader.byte()? {
            0 => V::make_bool(false),
            1 => V::make_bool(true),
            b => return Err(error(format!("{b} is not a bool"))),
        },
        S8 => V::make_s8(reader.byte()? as i8),
        U8 => V::make_u8(reader.byte()?),
        S16 => V::make_s16(reader.signed(16)? as i16),
        S32 => V::make_s32(reader.signed(32)? as i32),
        S64 => V::make_s64(reader.signed(64)?),
        U16 => V::make_u16(reader.unsigned(16)? as u16),
        U32 => V::make_u32(reader.unsigned(32)? as u32),
        U64 => V::make_u64(reader.unsigned(64)?),
        F32 => V::make_f32(f32::from_bits(u32::from_le_bytes(
            reader.take(4)?.try_into().expect("four bytes"),
        ))),
        F64 => V::make_f64(f64::from_bits(u64::from_le_bytes(
            reader.take(8)?.try_into().expect("eight bytes"),
        ))),
        Char => {
            let scalar = reader.unsigned(32)? as u32;
            V::make_char(
                char::from_u32(scalar)
                    .ok_or_else(|| error(format!("{scalar:#x} is not a char")))?,
            )
        }
        String => V::make_string(Cow::Borrowed(reader.str()?)),
        List => {
            let element = element(ty)?;
            let len = reader.len()?;
            let items = match element.kind() {
                // A byte string: taken whole, without a call per byte.
                U8 => reader.take(len)?.iter().map(|&b| V::make_u8(b)).collect(),
                _ => {
                    let mut items = Vec::with_capacity(len);
                    for _ in 0..len {
                        items.push(decode(&element, reader)?);
                    }
                    items
                }
            };
            V::make_list(ty, items).map_err(invalid)?
        }
        Record => {
            let fields: Vec<(Cow<str>, V::Type)> = ty.record_fields().collect();
            let mut values = Vec::with_capacity(fields.len());
            for (_, ty) in &fields {
                values.push(decode(ty, reader)?);
            }
            let named = fields.iter().map(|(name, _)| name.as_ref()).zip(values);
            V::make_record(ty, named).map_err(invalid)?
        }
        Tuple => {
            let mut values = Vec::new();
            for ty in ty.tuple_element_types() {
                values.push(decode(&ty, reader)?);
            }
            V::make_tuple(ty, values).map_err(invalid)?
        }
        Variant => {
            let index = reader.unsigned(32)?;
            let (case, payload) = usize::try_from(index)
                .ok()
                .and_then(|i| ty.variant_cases().nth(i))
                .ok_or_else(|| error(format!("no case {index} in the variant")))?;
            let payload = match payload {
                Some(ty) => Some(decode(&ty, reader)?),
                None => None,
            };
            V::make_variant(ty, &case, payload).map_err(invalid)?
        }
        Enum => {
            let index = reader.unsigned(32)?;
            let case = usize::try_from(index)
                .ok()
                .and_then(|i| ty.enum_cases().nth(i))
                .ok_or_else(|| error(format!("no case {index} in the enum")))?;
            V::make_enum(ty, &case).map_err(invalid)?
        }
        Option => {
            let value = match reader.byte()? {
                0 => None,
                1 => Some(decode(&some_type(ty)?, reader)?),
                b => return Err(error(format!("{b} is not an option's tag"))),
            };
            V::make_option(ty, value).map_err(invalid)?
        }
        Result => {
            let (ok, err) = result_types(ty)?;
            let value = match reader.byte()? {
                RESULT_OK => Ok(decode_payload(ok, reader)?),
                RESULT_ERR => Err(decode_payload(err, reader)?),
                b => return Err(error(format!("{b} is not a result's tag"))),
            };
            V::make_result(ty, value).map_err(invalid)?
        }
        Flags => {
            let names: Vec<Cow<str>> = ty.flags_names().collect();
            let bits = reader.take(names.len().div_ceil(8))?;
            let set = |i: usize| bits[i / 8] & (1 << (i % 8)) != 0;
            if (names.len()..bits.len() * 8).any(set) {
                return Err(error("a flag set past the type's flags"));
            }
            let on = names.iter().enumerate().filter(|&(i, _)| set(i));
            V::make_flags(ty, on.map(|(_, name)| name.as_ref())).map_err(invalid)?
        }
        kind => return Err(error(format!("values of type {kind} are not supported"))),
    })
}

/// Checks that `bytes` are exactly one value of type `ty`, without
/// building the value.
///
/// # Errors
/// When they are not.
pub(crate) fn validate<T: WasmType>(ty: &T, bytes: &[u8]) -> Result<(), Error> {
    let mut reader = Reader::new(bytes);
    decode::<Checked<T>>(ty, &mut reader)?;
    reader.finish()
}

/// A value that was decoded and dropped: [`validate`] decodes into it.
/// Only its kind remains.
#[derive(Clone)]
struct Checked<T> {
    kind: WasmTypeKind,
    ty: std::marker::PhantomData<T>,
}

fn checked<T>(kind: WasmTypeKind) -> Checked<T> {
    Checked {
        kind,
        ty: std::marker::PhantomData,
    }
}

macro_rules! make_checked {
    ($($make:ident($ty:ty) => $kind:ident),*) => {
        $(
            fn $make(_: $ty) -> Self {
                checked(WasmTypeKind::$kind)
            }
        )*
    };
}

impl<T: WasmType> WasmValue for Checked<T> {
    type Type = T;

    fn kind(&self) -> WasmTypeKind {
        self.kind
    }

    make_checked!(
        make_bool(bool) => Bool, make_s8(i8) => S8, make_s16(i16) => S16,
        make_s32(i32) => S32, make_s64(i64) => S64, make_u8(u8) => U8,
        make_u16(u16) => U16, make_u32(u32) => U32, make_u64(u64) => U64,
        make_f32(f32) => F32, make_f64(f64) => F64, make_char(char) => Char,
        make_string(Cow<str>) => String
    );

    fn make_list(_: &T, _: impl IntoIterator<Item = Self>) -> Result<Self, WasmValueError> {
        Ok(checked(WasmTypeKind::List))
    }

    fn make_record<'a>(
        _: &T,
        _: impl IntoIterator<Item = (&'a str, Self)>,
    ) -> Result<Self, WasmValueError> {
        Ok(checked(WasmTypeKind::Record))
    }

    fn make_tuple(_: &T, _: impl IntoIterator<Item = Self>) -> Result<Self, WasmValueError> {
        Ok(checked(WasmTypeKind::Tuple))
    }

    fn make_variant(_: &T, _: &str, _: Option<Self>) -> Result<Self, WasmValueError> {
        Ok(checked(WasmTypeKind::Variant))
    }

    fn make_enum(_: &T, _: &str) -> Result<Self, WasmValueError> {
        Ok(checked(WasmTypeKind::Enum))
    }

    fn make_option(_: &T, _: Option<Self>) -> Result<Self, WasmValueError> {
        Ok(checked(WasmTypeKind::Option))
    }

    fn make_result(_: &T, _: Result<Option<Self>, Option<Self>>) -> Result<Self, WasmValueError> {
        Ok(checked(WasmTypeKind::Result))
    }

    fn make_flags<'a>(_: &T, _: impl IntoIterator<Item = &'a str>) -> Result<Self, WasmValueError> {
        Ok(checked(WasmTypeKind::Flags))
    }
}

fn decode_payload<V: WasmValue>(
    ty: Option<V::Type>,
    reader: &mut Reader<'_>,
) -> Result<Option<V>, Error> {
    ty.map(|ty| decode(&ty, reader)).transpose()
}

fn element<T: WasmType>(ty: &T) -> Result<T, Error> {
    ty.list_element_type()
        .ok_or_else(|| error("a list type without an element type"))
}

fn some_type<T: WasmType>(ty: &T) -> Result<T, Error> {
    ty.option_some_type()
        .ok_or_else(|| error("an option type without its type"))
}

fn result_types<T: WasmType>(ty: &T) -> Result<(Option<T>, Option<T>), Error> {
    ty.result_types()
        .ok_or_else(|| error("a result type without its types"))
}

#[cfg(test)]
#[path = "encoding_props.rs"]
pub(crate) mod props;
