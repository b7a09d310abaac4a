//! Values as typed JSON, both ways, by one set of rules (the README's
//! table): records are objects, lists and tuples arrays, options `null` or
//! the value, enums strings, variants and results one-key objects, flags
//! arrays of names, `list<u8>` a base64 string. Generic over the value
//! traits of `wasm_wave`, as the binary encoding is.
//!
//! Where JSON has no exact form: a `u64` or `s64` beyond ±(2^53 − 1), which
//! many JSON readers cannot hold exactly, is a decimal string; a float that
//! is NaN or infinite is the string `"NaN"`, `"Infinity"` or `"-Infinity"`;
//! a `char` is a string of that one character; the `some` of an option
//! whose payload is itself an option is `{"some": value}`, so that
//! `some(none)` is not `none`. Reading, an integer may also be given as a
//! decimal string, and a record's missing `option` field is `none`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value as Json};
use wasm_wave::wasm::{DisplayType, WasmType, WasmTypeKind, WasmValue};

/// The largest integer every JSON reader holds exactly: 2^53 − 1.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Reads a JSON value as `serde_json` does, but refuses an object that
/// names a key twice, where `serde_json` keeps the last: one of the two is
/// a mistake, as a flag named twice in a WAVE value is.
///
/// # Errors
/// When `text` is not JSON, or an object in it names a key twice.
pub(crate) fn parse(text: &str) -> serde_json::Result<Json> {
    serde_json::from_str::<Strict>(text).map(|strict| strict.0)
}

/// A JSON value read by [`parse`].
struct Strict(Json);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Strict, E> {
        Ok(Strict(Json::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Strict, E> {
        Ok(Strict(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Strict, E> {
        Ok(Strict(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Strict, E> {
        // JSON text has no NaN or infinity: a finite number always fits.
        Ok(Strict(
            Number::from_f64(value).map_or(Json::Null, Json::Number),
        ))
    }

    fn visit_str<E>(self, value: &str) -> Result<Strict, E> {
        Ok(Strict(Json::String(value.to_string())))
    }

    fn visit_string<E>(self, value: String) -> Result<Strict, E> {
        Ok(Strict(Json::String(value)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Json::Null))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Json::Array(items)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key {} is given twice",
                    Json::String(key)
                )));
            }
            object.insert(key, value);
        }
        Ok(Strict(Json::Object(object)))
    }
}

/// Why a JSON value is not a value of a type: where in it, and what.
#[derive(Debug)]
pub(crate) struct Mismatch {
    /// Where in the JSON value, as `.field[2]`; empty at its top.
    path: String,
    message: String,
}

impl Mismatch {
    fn new(message: String) -> Mismatch {
        Mismatch {
            path: String::new(),
            message,
        }
    }

    /// The same mismatch, seen from one level up, through `step`.
    fn within(mut self, step: impl fmt::Display) -> Mismatch {
        self.path = format!("{step}{}", self.path);
        self
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.is_empty() {
            true => f.write_str(&self.message),
            false => write!(f, "at {}: {}", self.path, self.message),
        }
    }
}

/// `value`, of type `ty`, as JSON.
pub(crate) fn to_json<V: WasmValue>(value: &V, ty: &V::Type) -> Json {
    use WasmTypeKind::*;
    match ty.kind() {
        Bool => value.unwrap_bool().into(),
        S8 => value.unwrap_s8().into(),
        S16 => value.unwrap_s16().into(),
        S32 => value.unwrap_s32().into(),
        U8 => value.unwrap_u8().into(),
        U16 => value.unwrap_u16().into(),
        U32 => value.unwrap_u32().into(),
        S64 => match value.unwrap_s64() {
            n if n.unsigned_abs() <= MAX_SAFE_INTEGER => n.into(),
            n => n.to_string().into(),
        },
        U64 => match value.unwrap_u64() {
            n if n <= MAX_SAFE_INTEGER => n.into(),
            n => n.to_string().into(),
        },
        // The shortest decimal that reads back as the same f32, when it
        // does through an f64; else the f32's exact value.
        F32 => float(value.unwrap_f32().into(), |x| {
            let short: f64 = format!("{}", x as f32).parse().unwrap_or(x);
            match short as f32 == x as f32 {
                true => short,
                false => x,
            }
        }),
        F64 => float(value.unwrap_f64(), |x| x),
        Char => value.unwrap_char().to_string().into(),
        String => value.unwrap_string().into_owned().into(),
        List => {
            let element = ty.list_element_type().expect("a list type");
            if element.kind() == U8 {
                let bytes: Vec<u8> = value.unwrap_list().map(|b| b.unwrap_u8()).collect();
                BASE64.encode(bytes).into()
            } else {
                value
                    .unwrap_list()
                    .map(|item| to_json(&*item, &element))
                    .collect()
            }
        }
        Tuple => value
            .unwrap_tuple()
            .zip(ty.tuple_element_types())
            .map(|(item, ty)| to_json(&*item, &ty))
            .collect(),
        Record => {
            let fields = value.unwrap_record().zip(ty.record_fields());
            let object: Map<_, _> = fields
                .map(|((name, item), (_, ty))| (name.into_owned(), to_json(&*item, &ty)))
                .collect();
            object.into()
        }
        Variant => {
            let (case, payload) = value.unwrap_variant();
            let ty = ty
                .variant_cases()
                .find(|(name, _)| *name == case)
                .and_then(|(_, ty)| ty);
            one_key(&case, payload.as_deref().zip(ty.as_ref()))
        }
        Enum => value.unwrap_enum().into_owned().into(),
        Option => {
            let some = ty.option_some_type().expect("an option type");
            match value.unwrap_option() {
                None => Json::Null,
                Some(item) if some.kind() == Option => one_key("some", Some((&*item, &some))),
                Some(item) => to_json(&*item, &some),
            }
        }
        Result => {
            let (ok, err) = ty.result_types().expect("a result type");
            match value.unwrap_result() {
                Ok(payload) => one_key("ok", payload.as_deref().zip(ok.as_ref())),
                Err(payload) => one_key("err", payload.as_deref().zip(err.as_ref())),
            }
        }
        Flags => value
            .unwrap_flags()
            .map(|flag| Json::from(flag.into_owned()))
            .collect(),
        kind => unreachable!("the task's types were checked: no values of type {kind}"),
    }
}

/// `{key: payload}`, the payload `null` when there is none.
fn one_key<V: WasmValue>(key: &str, payload: Option<(&V, &V::Type)>) -> Json {
    let payload = payload.map_or(Json::Null, |(value, ty)| to_json(value, ty));
    Json::Object(Map::from_iter([(key.to_string(), payload)]))
}

/// A finite float as a number (through `finite`), the others as strings.
fn float(x: f64, finite: impl Fn(f64) -> f64) -> Json {
    match Number::from_f64(finite(x)) {
        Some(number) => number.into(),
        None if x.is_nan() => "NaN".into(),
        None if x > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

/// Reads `json` as a value of type `ty`.
///
/// # Errors
/// A [`Mismatch`] naming where in `json` it is not of the type, what was
/// expected there, and what came.
pub(crate) fn from_json<V: WasmValue>(json: &Json, ty: &V::Type) -> Result<V, Mismatch> {
    use WasmTypeKind::*;
    let expected = |what: &str| {
        Mismatch::new(format!(
            "expected {} ({what}), got {}",
            DisplayType(ty),
            quote(json)
        ))
    };
    let made = |result: std::result::Result<V, wasm_wave::wasm::WasmValueError>| {
        result.map_err(|e| Mismatch::new(e.to_string()))
    };
    let integer = || {
        integer(json).ok_or_else(|| {
            expected(
                "an integer, or its digits in a string: a - first if negative, no + or leading 0",
            )
        })
    };
    let fits = |what| expected(what);
    Ok(match ty.kind() {
        Bool => V::make_bool(json.as_bool().ok_or_else(|| expected("true or false"))?),
        S8 => V::make_s8(
            integer()?
                .try_into()
                .map_err(|_| fits("from -128 to 127"))?,
        ),
        S16 => V::make_s16(
            integer()?
                .try_into()
                .map_err(|_| fits("a 16-bit integer"))?,
        ),
        S32 => V::make_s32(
            integer()?
                .try_into()
                .map_err(|_| fits("a 32-bit integer"))?,
        ),
        S64 => V::make_s64(
            integer()?
                .try_into()
                .map_err(|_| fits("a 64-bit integer"))?,
        ),
        U8 => V::make_u8(integer()?.try_into().map_err(|_| fits("from 0 to 255"))?),
        U16 => V::make_u16(integer()?.try_into().map_err(|_| fits("from 0 to 65535"))?),
        U32 => V::make_u32(
            integer()?
                .try_into()
                .map_err(|_| fits("an unsigned 32-bit integer"))?,
        ),
        U64 => V::make_u64(
            integer()?
                .try_into()
                .map_err(|_| fits("an unsigned 64-bit integer"))?,
        ),
        F32 => {
            let x = number(json).ok_or_else(|| expected("a number"))?;
            // Rounded to the nearest f32, a finite number may overflow.
            if x.is_finite() && !(x as f32).is_finite() {
                return Err(fits("an f32 (at most ±3.4028235e38)"));
            }
            V::make_f32(x as f32)
        }
        F64 => V::make_f64(number(json).ok_or_else(|| expected("a number"))?),
        Char => {
            let mut chars = json.as_str().unwrap_or_default().chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => V::make_char(c),
                _ => return Err(expected("a string of one character")),
            }
        }
        String => V::make_string(json.as_str().ok_or_else(|| expected("a string"))?.into()),
        List => {
            let element = ty.list_element_type().expect("a list type");
            let items: Vec<V> = if element.kind() == U8 {
                let text = json.as_str().ok_or_else(|| expected("a base64 string"))?;
                let bytes = BASE64
                    .decode(text)
                    .map_err(|e| Mismatch::new(format!("expected list<u8> as base64: {e}")))?;
                bytes.into_iter().map(V::make_u8).collect()
            } else {
                let items = json.as_array().ok_or_else(|| expected("an array"))?;
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        from_json(item, &element).map_err(|e| e.within(format!("[{i}]")))
                    })
                    .collect::<std::result::Result<_, _>>()?
            };
            made(V::make_list(ty, items))?
        }
        Tuple => {
            let types: Vec<_> = ty.tuple_element_types().collect();
            let what = format!("an array of {}", types.len());
            let items = json
                .as_array()
                .filter(|items| items.len() == types.len())
                .ok_or_else(|| expected(&what))?;
            let items = items
                .iter()
                .zip(&types)
                .enumerate()
                .map(|(i, (item, ty))| from_json(item, ty).map_err(|e| e.within(format!("[{i}]"))))
                .collect::<std::result::Result<Vec<V>, _>>()?;
            made(V::make_tuple(ty, items))?
        }
        Record => {
            let object = json.as_object().ok_or_else(|| expected("an object"))?;
            let fields: Vec<_> = ty.record_fields().collect();
            if let Some(unknown) = object
                .keys()
                .find(|key| fields.iter().all(|(name, _)| name != *key))
            {
                let names: Vec<_> = fields.iter().map(|(name, _)| name.as_ref()).collect();
                return Err(Mismatch::new(format!(
                    "unknown field {unknown:?}; the fields are {}",
                    names.join(", ")
                )));
            }
            let values = fields
                .iter()
                .map(|(name, ty)| match object.get(name.as_ref()) {
                    Some(item) => from_json(item, ty).map_err(|e| e.within(format!(".{name}"))),
                    None if ty.kind() == Option => made(V::make_option(ty, None)),
                    None => Err(Mismatch::new(format!(
                        "missing field {name:?} ({})",
                        DisplayType(ty)
                    ))),
                })
                .collect::<std::result::Result<Vec<V>, _>>()?;
            let named = fields.iter().map(|(name, _)| name.as_ref()).zip(values);
            made(V::make_record(ty, named))?
        }
        Variant => {
            let (case, payload) =
                single_key(json).ok_or_else(|| expected("an object of one case"))?;
            let Some((_, case_ty)) = ty.variant_cases().find(|(name, _)| name == case) else {
                return Err(expected("an object of one case"));
            };
            let payload =
                payload_of(payload, case_ty.as_ref()).map_err(|e| e.within(format!(".{case}")))?;
            made(V::make_variant(ty, case, payload))?
        }
        Enum => {
            let case = json.as_str().ok_or_else(|| expected("a case name"))?;
            if !ty.enum_cases().any(|name| name == case) {
                return Err(expected("a case name"));
            }
            made(V::make_enum(ty, case))?
        }
        Option => {
            let some = ty.option_some_type().expect("an option type");
            let item = match json {
                Json::Null => None,
                json if some.kind() == Option => {
                    let item = json
                        .as_object()
                        .filter(|object| object.len() == 1)
                        .and_then(|object| object.get("some"))
                        .ok_or_else(|| expected("null, or {\"some\": value}"))?;
                    Some(from_json(item, &some).map_err(|e| e.within(".some"))?)
                }
                json => Some(from_json(json, &some)?),
            };
            made(V::make_option(ty, item))?
        }
        Result => {
            let (ok, err) = ty.result_types().expect("a result type");
            let what = "{\"ok\": value} or {\"err\": value}";
            let (case, payload) = single_key(json).ok_or_else(|| expected(what))?;
            let result = match case {
                "ok" => Ok(payload_of(payload, ok.as_ref()).map_err(|e| e.within(".ok"))?),
                "err" => Err(payload_of(payload, err.as_ref()).map_err(|e| e.within(".err"))?),
                _ => return Err(expected(what)),
            };
            made(V::make_result(ty, result))?
        }
        Flags => {
            let what = "an array of flag names";
            let names = json.as_array().ok_or_else(|| expected(what))?;
            let names: Vec<&str> = names
                .iter()
                .map(|name| {
                    name.as_str()
                        .filter(|name| ty.flags_names().any(|f| f == *name))
                })
                .collect::<std::option::Option<_>>()
                .ok_or_else(|| expected(what))?;
            // As WAVE does, a flag named twice is refused.
            if let Some(twice) = names
                .iter()
                .enumerate()
                .find(|(i, n)| names[..*i].contains(n))
            {
                return Err(Mismatch::new(format!("flag {:?} named twice", twice.1)));
            }
            made(V::make_flags(ty, names))?
        }
        kind => {
            return Err(Mismatch::new(format!(
                "values of type {kind} are not supported"
            )));
        }
    })
}

/// The payload of a case: `null` for a case without one.
fn payload_of<V: WasmValue>(json: &Json, ty: Option<&V::Type>) -> Result<Option<V>, Mismatch> {
    match (ty, json) {
        (None, Json::Null) => Ok(None),
        (None, json) => Err(Mismatch::new(format!(
            "expected null (the case has no payload), got {}",
            quote(json)
        ))),
        (Some(ty), json) => from_json(json, ty).map(Some),
    }
}

/// The key and value of an object of exactly one key.
fn single_key(json: &Json) -> Option<(&str, &Json)> {
    let object = json.as_object().filter(|object| object.len() == 1)?;
    object
        .iter()
        .next()
        .map(|(key, value)| (key.as_str(), value))
}

/// An integer from a JSON integer, or a decimal string written as JSON
/// writes an integer (no `+`, no leading zero), as `--json` prints one
/// beyond ±(2^53 − 1). JSON's `-0`, which the parser reads as a float, is 0.
fn integer(json: &Json) -> Option<i128> {
    match json {
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| (n.as_f64() == Some(0.0)).then_some(0)),
        Json::String(text) => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            canonical.then(|| text.parse().ok()).flatten()
        }
        _ => None,
    }
}

/// A float from a JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn number(json: &Json) -> Option<f64> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(text) => match text.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// A JSON value as an error message quotes it: shortened when long.
fn quote(json: &Json) -> String {
    super::quote::shorten(&json.to_string())
}

#[cfg(test)]
#[path = "json_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use wasm_wave::value::{Type, Value};

    use super::{Json, from_json};

    fn read(json: &str, ty: &Type) -> Result<String, String> {
        let json: Json = serde_json::from_str(json).expect("JSON");
        from_json::<Value>(&json, ty)
            .map(|value| wasm_wave::to_string(&value).expect("WAVE"))
            .map_err(|mismatch| mismatch.to_string())
    }

    #[test]
    fn an_f32_past_its_range_is_refused_not_made_infinite() {
        assert_eq!(
            read("3.4e38", &Type::F32),
            Ok("340000000000000000000000000000000000000".into())
        );
        let refused = read("3.5e38", &Type::F32).unwrap_err();
        assert!(
            refused.contains("an f32 (at most ±3.4028235e38)"),
            "{refused}"
        );
        assert_eq!(read(r#""Infinity""#, &Type::F32), Ok("inf".into()));
        assert_eq!(
            read("3.5e38", &Type::F64),
            Ok("350000000000000000000000000000000000000".into())
        );
    }

    #[test]
    fn a_flag_named_twice_is_refused_as_in_wave() {
        let ty = Type::flags(["read", "write"]).expect("a flags type");
        assert_eq!(
            read(r#"["write", "read"]"#, &ty),
            Ok("{read, write}".into())
        );
        let refused = read(r#"["read", "read"]"#, &ty).unwrap_err();
        assert!(refused.contains(r#"flag "read" named twice"#), "{refused}");
    }

    #[test]
    fn an_integer_in_a_string_is_written_as_json_writes_one() {
        assert_eq!(read(r#""-12""#, &Type::S64), Ok("-12".into()));
        assert_eq!(read(r#""0""#, &Type::U64), Ok("0".into()));
        for refused in ["+5", "05", "", "-", " 5", "5e2", "-05"] {
            let json = format!("{refused:?}");
            assert!(read(&json, &Type::S64).is_err(), "{json} was read");
        }
    }

    #[test]
    fn json_minus_zero_is_the_integer_0() {
        assert_eq!(read("-0", &Type::S64), Ok("0".into()));
        assert_eq!(read("-0", &Type::U8), Ok("0".into()));
        assert!(read("-0.5", &Type::S64).is_err());
    }
}
