//! Terraform values: a typed value model with null and unknown at every depth, and
//! its msgpack and JSON encodings as Terraform sends them in `DynamicValue`.
//!
//! Msgpack can only be read against a type (a msgpack map is an object or a map, an
//! array a list, a set or a tuple), so decoding takes the schema's [`Type`].
//!
//! - `mod.rs` (this file): [`Type`], [`Number`], [`Value`], [`DecodeError`].
//! - `msgpack.rs`: the wire encoding (every `DynamicValue` Terraform sends).
//! - `json.rs`: the JSON encoding (stored state, import IDs).

use std::collections::BTreeMap;

use thiserror::Error;

mod json;
mod msgpack;

pub use json::{convert_json, from_json};
#[cfg(test)]
pub(crate) use msgpack::terraform_state_text;
pub use msgpack::{from_msgpack, to_msgpack};

/// A cty type, as a schema declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    Number,
    String,
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    /// A tuple, as HCL's `[...]` is: a list whose elements each have their own type.
    Tuple(Vec<Type>),
}

impl Type {
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }

    /// The JSON type notation Terraform reads in schemas (`"string"`, `["list","string"]`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Type::Bool => json!("bool"),
            Type::Number => json!("number"),
            Type::String => json!("string"),
            Type::Dynamic => json!("dynamic"),
            Type::List(t) => json!(["list", t.to_json()]),
            Type::Set(t) => json!(["set", t.to_json()]),
            Type::Map(t) => json!(["map", t.to_json()]),
            Type::Object(attrs) => {
                let m: serde_json::Map<String, serde_json::Value> = attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect();
                json!(["object", m])
            }
            Type::Tuple(ts) => json!(["tuple", ts.iter().map(Type::to_json).collect::<Vec<_>>()]),
        }
    }

    /// The type Terraform would give `v` when nothing else says: an object's attributes
    /// their own types, a map or list the type of its first element, null and unknown
    /// `dynamic`. Only for values the provider makes for a `dynamic` attribute; values
    /// that came from Terraform carry their type ([`Value::Dynamic`]).
    pub fn of(v: &Value) -> Type {
        match v {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(items) => Type::Tuple(items.iter().map(Type::of).collect()),
            Value::Set(items) => Type::set(items.first().map_or(Type::Dynamic, Type::of)),
            Value::Map(m) => Type::map(m.values().next().map_or(Type::Dynamic, Type::of)),
            Value::Object(m) => {
                Type::Object(m.iter().map(|(k, v)| (k.clone(), Type::of(v))).collect())
            }
            Value::Dynamic(t, _) => t.as_ref().clone(),
        }
    }

    /// Reads the JSON type notation (used inside dynamic values).
    pub fn from_json(v: &serde_json::Value) -> Result<Type, DecodeError> {
        use serde_json::Value as J;
        let bad = || DecodeError::Type(v.to_string());
        match v {
            J::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(bad()),
            },
            J::Array(a) if a.len() == 2 => match (a[0].as_str(), &a[1]) {
                (Some("list"), t) => Ok(Type::list(Type::from_json(t)?)),
                (Some("set"), t) => Ok(Type::set(Type::from_json(t)?)),
                (Some("map"), t) => Ok(Type::map(Type::from_json(t)?)),
                (Some("object"), J::Object(m)) => Ok(Type::Object(
                    m.iter()
                        .map(|(k, t)| Ok((k.clone(), Type::from_json(t)?)))
                        .collect::<Result<_, DecodeError>>()?,
                )),
                (Some("tuple"), J::Array(ts)) => Ok(Type::Tuple(
                    ts.iter().map(Type::from_json).collect::<Result<_, _>>()?,
                )),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// A Terraform number, kept exactly as it arrived so that an unchanged value goes back
/// byte for byte.
///
/// Terraform holds numbers as arbitrary-precision decimals. On the wire it sends an
/// integer as a msgpack integer, a number that is exactly a float64 as a float64, and
/// any other number as its decimal text in a msgpack string; in stored state (JSON) a
/// number is its decimal text. A float64 that the provider computes and sends would be
/// stored as decimal text and come back as a different (longer) number, which Terraform
/// shows as a perpetual diff. So computed non-integers are made as [`Number::Decimal`]
/// text, which Terraform parses and stores exactly as written.
///
/// ```
/// use ipam::tfplugin::value::{from_msgpack, to_msgpack, Number, Type, Value};
/// // A decimal that is not a float64 arrives as a msgpack string and goes back as one.
/// let wire = to_msgpack(&Value::Number(Number::Decimal("0.127451".into())), &Type::Number);
/// assert_eq!(from_msgpack(&wire, &Type::Number).unwrap(), Value::Number(Number::Decimal("0.127451".into())));
/// assert_eq!(Number::Decimal("0.5".into()).to_f64(), Some(0.5));
/// // Text that is not a decimal number is refused when decoding.
/// assert!(from_msgpack(&to_msgpack(&Value::str("x"), &Type::String), &Type::Number).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    Int(i64),
    /// A float64, as Terraform sends a number that is exactly one.
    Float(f64),
    /// Decimal text (`-12.5`, `0.127451`, `1e3`), exactly as sent or as computed.
    Decimal(String),
}

impl Number {
    /// The nearest float64 (`None` for text that is not a finite number).
    pub fn to_f64(&self) -> Option<f64> {
        match self {
            Number::Int(i) => Some(*i as f64),
            Number::Float(f) => Some(*f),
            Number::Decimal(s) => s.parse::<f64>().ok(),
        }
        .filter(|f| f.is_finite())
    }

    /// The value when it is a whole number that fits `i64`.
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            _ => self
                .to_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64),
        }
    }

    /// Parses decimal text as Terraform writes numbers (no `inf`, no `NaN`, no hex).
    pub fn parse(text: &str) -> Option<Number> {
        let t = text.trim();
        let decimal = !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
            && t.bytes().any(|b| b.is_ascii_digit());
        if !decimal || t.parse::<f64>().map_or(true, |f| !f.is_finite()) {
            return None;
        }
        Some(match t.parse::<i64>() {
            Ok(i) => Number::Int(i),
            Err(_) => Number::Decimal(t.to_string()),
        })
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
            Number::Decimal(s) => f.write_str(s),
        }
    }
}

/// A Terraform value. Objects and maps keep their keys in order, so encodings are
/// deterministic.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    /// Known only after apply (or not yet known in validation).
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    /// A known, non-null value of a `dynamic` attribute with the type it came with, so
    /// that it goes back to Terraform exactly as it arrived (a planned value must equal
    /// its configuration, type and all). The accessors below look through it.
    Dynamic(Box<Type>, Box<Value>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }
    /// A whole number.
    pub fn int(i: impl Into<i64>) -> Value {
        Value::Number(Number::Int(i.into()))
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }
    /// The value itself, seen through a [`Value::Dynamic`] wrapper.
    pub fn inner(&self) -> &Value {
        match self {
            Value::Dynamic(_, v) => v.inner(),
            v => v,
        }
    }
    /// True when no unknown value is nested anywhere inside.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::Dynamic(_, v) => v.is_wholly_known(),
            Value::List(v) | Value::Set(v) => v.iter().all(Value::is_wholly_known),
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }
    /// An attribute of an object; `Null` when absent or when `self` is not an object.
    pub fn get(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self.inner() {
            Value::Object(m) | Value::Map(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self.inner() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_number(&self) -> Option<&Number> {
        match self.inner() {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self.inner() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// Elements of a list or set.
    pub fn elements(&self) -> Option<&[Value]> {
        match self.inner() {
            Value::List(v) | Value::Set(v) => Some(v),
            _ => None,
        }
    }
    /// Entries of a map or object.
    pub fn entries(&self) -> Option<&BTreeMap<String, Value>> {
        match self.inner() {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum DecodeError {
    #[error("malformed msgpack: {0}")]
    Msgpack(String),
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("value does not match its type at {path}: expected {expected}")]
    Mismatch { path: String, expected: String },
    #[error("unknown type notation {0}")]
    Type(String),
    #[error("trailing bytes after the value")]
    Trailing,
}

pub(super) fn mismatch(path: &str, t: &Type) -> DecodeError {
    DecodeError::Mismatch {
        path: if path.is_empty() {
            ".".into()
        } else {
            path.into()
        },
        expected: t.to_json().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A number that is not a float64 arrives as decimal text in a msgpack string and
    /// must go back as exactly that text, not as the nearest float64.
    #[test]
    fn decimal_text_goes_back_byte_for_byte() {
        for text in [
            "0.12745098039215683",
            "0.1",
            "1e-7",
            "123456789012345678901234567890",
        ] {
            let wire = to_msgpack(&Value::Number(Number::Decimal(text.into())), &Type::Number);
            let back = from_msgpack(&wire, &Type::Number).unwrap();
            assert_eq!(to_msgpack(&back, &Type::Number), wire, "{text}");
        }
        // From stored state (JSON), too: the text is kept, not rounded to a float64.
        let v = from_json(b"0.12745098039215683", &Type::Number).unwrap();
        assert_eq!(
            v,
            Value::Number(Number::Decimal("0.12745098039215683".into()))
        );
        assert_eq!(from_json(b"24", &Type::Number).unwrap(), Value::int(24));
    }

    /// Regression (issue 7): the float64 a provider sends comes back from the state as
    /// decimal text; reading that text as a float64 gave the stored value, but without
    /// `arbitrary_precision` serde_json's fast float parser could land one unit in the
    /// last place away, so the prior never equalled the fresh plan.
    #[test]
    fn regression_state_number_text_is_not_reparsed_as_a_float() {
        let text = terraform_state_text(
            &to_msgpack(
                &Value::Number(Number::Float(8320.0 / 65280.0)),
                &Type::Number,
            ),
            &Type::Number,
        );
        assert_eq!(text, "0.12745098039215685");
        assert_eq!(
            from_json(text.as_bytes(), &Type::Number).unwrap(),
            Value::Number(Number::Decimal(text.clone()))
        );
    }

    fn sample_type() -> Type {
        let entry: BTreeMap<String, Type> = [
            ("cidr".to_string(), Type::String),
            ("prefix_length".to_string(), Type::Number),
        ]
        .into();
        Type::Object(
            [
                ("id".to_string(), Type::String),
                ("cidrs".to_string(), Type::list(Type::String)),
                ("reserved".to_string(), Type::set(Type::String)),
                ("ok".to_string(), Type::Bool),
                ("allocations".to_string(), Type::map(Type::Object(entry))),
            ]
            .into(),
        )
    }

    #[test]
    fn unknown_is_ext_zero() {
        assert_eq!(to_msgpack(&Value::Unknown, &Type::String), vec![0xd4, 0, 0]);
        assert_eq!(
            from_msgpack(&[0xd4, 0, 0], &Type::String),
            Ok(Value::Unknown)
        );
    }

    #[test]
    fn nested_null_and_unknown_round_trip() {
        let ty = sample_type();
        let entry = Value::Object(
            [
                ("cidr".into(), Value::Unknown),
                ("prefix_length".into(), Value::int(24)),
            ]
            .into(),
        );
        let v = Value::Object(
            [
                ("id".into(), Value::Unknown),
                (
                    "cidrs".into(),
                    Value::List(vec![Value::str("10.0.0.0/8"), Value::Null]),
                ),
                ("reserved".into(), Value::Null),
                ("ok".into(), Value::Bool(true)),
                (
                    "allocations".into(),
                    Value::Map([("a".into(), entry), ("b".into(), Value::Unknown)].into()),
                ),
            ]
            .into(),
        );
        assert_eq!(from_msgpack(&to_msgpack(&v, &ty), &ty).unwrap(), v);
    }

    #[test]
    fn json_state_fills_missing_attributes_with_null() {
        let v = from_json(
            br#"{"id":"x","cidrs":["10.0.0.0/8"],"extra":1}"#,
            &sample_type(),
        )
        .unwrap();
        assert_eq!(v.get("id"), &Value::str("x"));
        assert_eq!(v.get("allocations"), &Value::Null);
    }

    /// A `dynamic` attribute's value goes back exactly as Terraform sent it, type and
    /// all: a planned value must equal the configuration, and a typed null or unknown
    /// member, or a tuple, would not survive a guess of the type from the value.
    #[test]
    fn dynamic_values_keep_their_type() {
        let ty = r#"["object",{"a":"string","b":"number","c":["tuple",["string","number"]],"d":["map","bool"]}]"#;
        let value = rmpv::Value::Map(vec![
            ("a".into(), rmpv::Value::Nil),
            ("b".into(), rmpv::Value::Ext(0, vec![0])),
            ("c".into(), rmpv::Value::Array(vec!["x".into(), 1.into()])),
            (
                "d".into(),
                rmpv::Value::Map(vec![("k".into(), true.into())]),
            ),
        ]);
        let mut wire = Vec::new();
        rmpv::encode::write_value(
            &mut wire,
            &rmpv::Value::Array(vec![rmpv::Value::Binary(ty.as_bytes().to_vec()), value]),
        )
        .unwrap();
        let v = from_msgpack(&wire, &Type::Dynamic).unwrap();
        assert!(matches!(v, Value::Dynamic(..)), "{v:?}");
        assert_eq!(v.get("c").elements().map(<[Value]>::len), Some(2));
        assert!(v.get("a").is_null() && v.get("b").is_unknown());
        assert_eq!(to_msgpack(&v, &Type::Dynamic), wire);
        // Stored state holds it as {"value": ..., "type": ...}, which reads back the same
        // (JSON has no unknowns).
        let stored =
            format!(r#"{{"value":{{"a":null,"b":2,"c":["x",1],"d":{{"k":true}}}},"type":{ty}}}"#);
        let from_state = from_json(stored.as_bytes(), &Type::Dynamic).unwrap();
        assert_eq!(from_state.get("c"), v.get("c"));
        assert_eq!(from_state.get("b"), &Value::int(2));
        // A dynamic null is a plain null, and a value of the wrong shape is refused.
        assert_eq!(
            from_json(br#"{"value":null,"type":"string"}"#, &Type::Dynamic).unwrap(),
            Value::Null
        );
        assert!(from_json(br#"{"value":"x","type":"number"}"#, &Type::Dynamic).is_err());
    }

    #[test]
    fn mismatch_names_the_path() {
        let bytes = to_msgpack(
            &Value::Object([("cidrs".into(), Value::Bool(true))].into()),
            &Type::Object([("cidrs".into(), Type::Bool)].into()),
        );
        let err = from_msgpack(&bytes, &sample_type()).unwrap_err();
        assert!(err.to_string().contains(".cidrs"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]
        /// Arbitrary bytes never panic the decoder (the fuzz target's property, run in CI).
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = from_msgpack(&bytes, &sample_type());
            let _ = from_msgpack(&bytes, &Type::Dynamic);
            let _ = from_json(&bytes, &sample_type());
        }

        /// Valid encodings with random damage never panic either.
        #[test]
        fn damaged_values_never_panic(flip in any::<prop::sample::Index>(), byte in any::<u8>(), n in 0f64..1e6) {
            let v = Value::Object([("cidrs".into(), Value::List(vec![Value::str("10.0.0.0/8")])), ("ok".into(), Value::Number(Number::Float(n)))].into());
            let mut bytes = to_msgpack(&v, &sample_type());
            let i = flip.index(bytes.len());
            bytes[i] = byte;
            let _ = from_msgpack(&bytes, &sample_type());
        }
    }
}
