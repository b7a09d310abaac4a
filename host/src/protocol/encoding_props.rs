//! Property tests of the value encoding: random values of random types
//! round-trip, no strict prefix of an encoding decodes, and decoding
//! arbitrary bytes as any type never panics. [`typed_value`] makes random
//! values of random types for the host's tests too.

use proptest::prelude::*;
use wasm_wave::value::{Type, Value};
use wasm_wave::wasm::{WasmType, WasmTypeKind, WasmValue};

use super::{Reader, check_type, decode, encode};

/// `n` names, `f0`, `f1`, ...: a record's fields, cases, flags.
fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("f{i}")).collect()
}

fn any_type() -> impl Strategy<Value = Type> {
    use WasmTypeKind::*;
    let simple = [
        Bool, S8, S16, S32, S64, U8, U16, U32, U64, F32, F64, Char, String,
    ]
    .map(|kind| Type::simple(kind).expect("a simple kind"));
    let leaf = prop_oneof![
        proptest::sample::select(simple.to_vec()),
        (1..5usize).prop_map(|n| Type::enum_ty(names(n)).expect("cases")),
        (1..12usize).prop_map(|n| Type::flags(names(n)).expect("flags")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::option),
            (
                proptest::option::of(inner.clone()),
                proptest::option::of(inner.clone())
            )
                .prop_map(|(ok, err)| Type::result(ok, err)),
            proptest::collection::vec(inner.clone(), 1..4)
                .prop_map(|types| Type::tuple(types).expect("a tuple")),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(|types| {
                Type::record(names(types.len()).into_iter().zip(types)).expect("a record")
            }),
            proptest::collection::vec(proptest::option::of(inner), 1..4).prop_map(|cases| {
                Type::variant(names(cases.len()).into_iter().zip(cases)).expect("a variant")
            }),
        ]
    })
}

/// Any value of type `ty`.
fn any_value(ty: &Type) -> BoxedStrategy<Value> {
    use WasmTypeKind::*;
    let ty = ty.clone();
    match ty.kind() {
        Bool => any::<bool>().prop_map(Value::make_bool).boxed(),
        S8 => any::<i8>().prop_map(Value::make_s8).boxed(),
        S16 => any::<i16>().prop_map(Value::make_s16).boxed(),
        S32 => any::<i32>().prop_map(Value::make_s32).boxed(),
        S64 => any::<i64>().prop_map(Value::make_s64).boxed(),
        U8 => any::<u8>().prop_map(Value::make_u8).boxed(),
        U16 => any::<u16>().prop_map(Value::make_u16).boxed(),
        U32 => any::<u32>().prop_map(Value::make_u32).boxed(),
        U64 => any::<u64>().prop_map(Value::make_u64).boxed(),
        F32 => any::<f32>().prop_map(Value::make_f32).boxed(),
        F64 => any::<f64>().prop_map(Value::make_f64).boxed(),
        Char => any::<char>().prop_map(Value::make_char).boxed(),
        String => any::<std::string::String>()
            .prop_map(|s| Value::make_string(s.into()))
            .boxed(),
        List => {
            let element = ty.list_element_type().expect("a list");
            proptest::collection::vec(any_value(&element), 0..6)
                .prop_map(move |items| Value::make_list(&ty, items).expect("a list"))
                .boxed()
        }
        Option => proptest::option::of(any_value(&ty.option_some_type().expect("an option")))
            .prop_map(move |v| Value::make_option(&ty, v).expect("an option"))
            .boxed(),
        Result => {
            let (ok, err) = ty.result_types().expect("a result");
            let payload = |t: std::option::Option<Type>| match t {
                Some(t) => any_value(&t).prop_map(Some).boxed(),
                None => Just(None).boxed(),
            };
            prop_oneof![payload(ok).prop_map(Ok), payload(err).prop_map(Err)]
                .prop_map(move |v| Value::make_result(&ty, v).expect("a result"))
                .boxed()
        }
        Tuple => {
            let items: Vec<_> = ty.tuple_element_types().map(|t| any_value(&t)).collect();
            items
                .prop_map(move |items| Value::make_tuple(&ty, items).expect("a tuple"))
                .boxed()
        }
        Record => {
            let fields: Vec<_> = ty.record_fields().map(|(_, t)| any_value(&t)).collect();
            fields
                .prop_map(move |values| {
                    let names: Vec<_> = ty.record_fields().map(|(n, _)| n.into_owned()).collect();
                    let named = names.iter().map(|n| n.as_str()).zip(values);
                    Value::make_record(&ty, named).expect("a record")
                })
                .boxed()
        }
        Variant => {
            let cases: Vec<_> = ty
                .variant_cases()
                .map(|(name, payload)| {
                    let name = name.into_owned();
                    match payload {
                        Some(t) => any_value(&t)
                            .prop_map(move |v| (name.clone(), Some(v)))
                            .boxed(),
                        None => Just((name, None)).boxed(),
                    }
                })
                .collect();
            proptest::sample::select((0..cases.len()).collect::<Vec<_>>())
                .prop_flat_map(move |i| cases[i].clone())
                .prop_map(move |(case, v)| Value::make_variant(&ty, &case, v).expect("a variant"))
                .boxed()
        }
        Enum => {
            let cases: Vec<_> = ty.enum_cases().map(|c| c.into_owned()).collect();
            proptest::sample::select(cases)
                .prop_map(move |case| Value::make_enum(&ty, &case).expect("an enum"))
                .boxed()
        }
        Flags => {
            let flags: Vec<_> = ty.flags_names().map(|f| f.into_owned()).collect();
            proptest::sample::subsequence(flags.clone(), 0..=flags.len())
                .prop_map(move |on| {
                    Value::make_flags(&ty, on.iter().map(|f| f.as_str())).expect("flags")
                })
                .boxed()
        }
        kind => panic!("no values of kind {kind}"),
    }
}

/// A random type and a random value of it.
pub(crate) fn typed_value() -> impl Strategy<Value = (Type, Value)> {
    any_type().prop_flat_map(|ty| (Just(ty.clone()), any_value(&ty)))
}

proptest! {
    #![proptest_config(crate::protocol::prop_config(2000))]

    #[test]
    fn values_round_trip((ty, value) in typed_value()) {
        prop_assert!(check_type(&ty).is_ok());
        let mut bytes = Vec::new();
        encode(&value, &ty, &mut bytes).unwrap();
        prop_assert!(!bytes.is_empty(), "every value takes a byte");
        let mut reader = Reader::new(&bytes);
        let decoded: Value = decode(&ty, &mut reader).unwrap();
        reader.finish().unwrap();
        // Compared as WAVE text, where every NaN is `nan`.
        prop_assert_eq!(wasm_wave::to_string(&decoded).unwrap(), wasm_wave::to_string(&value).unwrap());
        for cut in 0..bytes.len() {
            let mut reader = Reader::new(&bytes[..cut]);
            let prefix = decode::<Value>(&ty, &mut reader).and_then(|_| reader.finish());
            prop_assert!(prefix.is_err(), "a prefix of {} bytes decoded", cut);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        ty in any_type(),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut reader = Reader::new(&bytes);
        if let Ok(value) = decode::<Value>(&ty, &mut reader) {
            // What decodes encodes back to the bytes it was read from,
            // unless an integer had redundant bytes.
            let mut again = Vec::new();
            encode(&value, &ty, &mut again).unwrap();
            prop_assert!(again.len() <= bytes.len() - reader.bytes.len());
        }
    }

    #[test]
    fn integers_round_trip_at_every_width(value in any::<i64>(), bits in 1u32..=64) {
        let mut bytes = Vec::new();
        super::put_signed(&mut bytes, value);
        let fits = bits == 64 || (-(1i64 << (bits - 1))..(1i64 << (bits - 1))).contains(&value);
        let decoded = Reader::new(&bytes).signed(bits);
        prop_assert_eq!(decoded.ok(), fits.then_some(value));
        let unsigned = value as u64;
        let mut bytes = Vec::new();
        super::put_unsigned(&mut bytes, unsigned);
        let fits = bits == 64 || unsigned >> bits == 0;
        prop_assert_eq!(Reader::new(&bytes).unsigned(bits).ok(), fits.then_some(unsigned));
    }

    #[test]
    fn an_integer_encodes_as_its_type_exactly_when_it_fits(
        n in prop_oneof![any::<i128>(), any::<i64>().prop_map(i128::from), -300i128..70_000],
        kind in proptest::sample::select(vec![
            WasmTypeKind::S8, WasmTypeKind::S16, WasmTypeKind::S32, WasmTypeKind::S64,
            WasmTypeKind::U8, WasmTypeKind::U16, WasmTypeKind::U32, WasmTypeKind::U64,
        ]),
    ) {
        let ty = Type::simple(kind).expect("a simple kind");
        let mut bytes = Vec::new();
        let fits = super::put_integer(&mut bytes, kind, n);
        let decoded = decode::<Value>(&ty, &mut Reader::new(&bytes)).ok();
        let in_range = match kind {
            WasmTypeKind::S8 => i8::try_from(n).is_ok(),
            WasmTypeKind::S16 => i16::try_from(n).is_ok(),
            WasmTypeKind::S32 => i32::try_from(n).is_ok(),
            WasmTypeKind::S64 => i64::try_from(n).is_ok(),
            WasmTypeKind::U8 => u8::try_from(n).is_ok(),
            WasmTypeKind::U16 => u16::try_from(n).is_ok(),
            WasmTypeKind::U32 => u32::try_from(n).is_ok(),
            _ => u64::try_from(n).is_ok(),
        };
        prop_assert_eq!(fits, in_range);
        prop_assert_eq!(bytes.is_empty(), !fits);
        prop_assert_eq!(decoded.as_ref().and_then(super::integer), fits.then_some(n));
    }
}
