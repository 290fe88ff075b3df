//! The msgpack encoding of values, as Terraform sends every `DynamicValue`: unknowns
//! as msgpack extension 0, numbers as integers, float64s or decimal text.

use std::collections::BTreeMap;

use super::{mismatch, DecodeError, Number, Type, Value};

/// Decodes a msgpack DynamicValue against `ty`.
pub fn from_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let mut rd = bytes;
    let raw = rmpv::decode::read_value_with_max_depth(&mut rd, 256)
        .map_err(|e| DecodeError::Msgpack(e.to_string()))?;
    if !rd.is_empty() {
        return Err(DecodeError::Trailing);
    }
    convert_mp(raw, ty, "")
}

fn convert_mp(v: rmpv::Value, ty: &Type, path: &str) -> Result<Value, DecodeError> {
    use rmpv::Value as M;
    match (v, ty) {
        (M::Nil, _) => Ok(Value::Null),
        (M::Ext(_, _), _) => Ok(Value::Unknown),
        (M::Boolean(b), Type::Bool) => Ok(Value::Bool(b)),
        (M::Integer(i), Type::Number) => Ok(Value::Number(match i.as_i64() {
            Some(i) => Number::Int(i),
            None => Number::Decimal(i.to_string()),
        })),
        (M::F32(f), Type::Number) => Ok(Value::Number(Number::Float(f as f64))),
        (M::F64(f), Type::Number) => Ok(Value::Number(Number::Float(f))),
        (M::String(s), Type::Number) => match s.as_str().and_then(Number::parse) {
            // Kept as the very text Terraform sent, not re-formatted.
            Some(Number::Decimal(_)) => Ok(Value::Number(Number::Decimal(
                s.into_str().unwrap_or_default(),
            ))),
            Some(n) => Ok(Value::Number(n)),
            None => Err(mismatch(path, ty)),
        },
        (M::String(s), Type::String) => s
            .into_str()
            .map(Value::String)
            .ok_or_else(|| mismatch(path, ty)),
        (M::Array(items), Type::List(t) | Type::Set(t)) => {
            let out = items
                .into_iter()
                .enumerate()
                .map(|(i, it)| convert_mp(it, t, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::List(_)) {
                Value::List(out)
            } else {
                Value::Set(out)
            })
        }
        (M::Map(entries), Type::Map(t)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let k = k.as_str().ok_or_else(|| mismatch(path, ty))?.to_string();
                let p = format!("{path}[{k:?}]");
                out.insert(k, convert_mp(v, t, &p)?);
            }
            Ok(Value::Map(out))
        }
        (M::Map(entries), Type::Object(attrs)) => {
            let mut out: BTreeMap<String, Value> =
                attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
            for (k, v) in entries {
                let k = k.as_str().ok_or_else(|| mismatch(path, ty))?;
                // Attributes the type does not know are dropped, as Terraform does.
                if let Some(t) = attrs.get(k) {
                    let p = format!("{path}.{k}");
                    out.insert(k.to_string(), convert_mp(v, t, &p)?);
                }
            }
            Ok(Value::Object(out))
        }
        (M::Array(items), Type::Tuple(ts)) if items.len() == ts.len() => Ok(Value::List(
            items
                .into_iter()
                .zip(ts)
                .enumerate()
                .map(|(i, (it, t))| convert_mp(it, t, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        (M::Array(mut pair), Type::Dynamic) if pair.len() == 2 => {
            let val = pair.pop().unwrap_or(M::Nil);
            let tj = match pair.pop() {
                Some(M::Binary(b)) => b,
                Some(M::String(s)) => s.into_bytes(),
                _ => return Err(mismatch(path, ty)),
            };
            let tj: serde_json::Value =
                serde_json::from_slice(&tj).map_err(|e| DecodeError::Json(e.to_string()))?;
            let t = Type::from_json(&tj)?;
            Ok(match convert_mp(val, &t, path)? {
                v @ (Value::Null | Value::Unknown) => v,
                v => Value::Dynamic(Box::new(t), Box::new(v)),
            })
        }
        (_, t) => Err(mismatch(path, t)),
    }
}

/// Encodes a value as msgpack against `ty`; objects get every attribute of their type.
pub fn to_msgpack(v: &Value, ty: &Type) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &to_mp(v, ty));
    out
}

fn to_mp(v: &Value, ty: &Type) -> rmpv::Value {
    use rmpv::Value as M;
    match (v, ty) {
        (Value::Null, _) => M::Nil,
        (Value::Unknown, _) => M::Ext(0, vec![0]),
        // A dynamic value goes as the pair [type as JSON, value of that type]; in a
        // typed place, as the value alone.
        (Value::Dynamic(t, v), Type::Dynamic) => M::Array(vec![
            M::Binary(t.to_json().to_string().into_bytes()),
            to_mp(v, t),
        ]),
        (Value::Dynamic(_, v), t) => to_mp(v, t),
        (v, Type::Dynamic) => to_mp(
            &Value::Dynamic(Box::new(Type::of(v)), Box::new(v.clone())),
            ty,
        ),
        (Value::Bool(b), _) => M::Boolean(*b),
        (Value::Number(Number::Int(i)), _) => M::Integer((*i).into()),
        (Value::Number(Number::Float(f)), _) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                M::Integer((*f as i64).into())
            } else {
                M::F64(*f)
            }
        }
        (Value::Number(Number::Decimal(s)), _) => M::String(s.as_str().into()),
        (Value::String(s), _) => M::String(s.as_str().into()),
        (Value::List(items), Type::Tuple(ts)) => M::Array(
            items
                .iter()
                .zip(ts.iter().chain(std::iter::repeat(&Type::Dynamic)))
                .map(|(i, t)| to_mp(i, t))
                .collect(),
        ),
        (Value::List(items) | Value::Set(items), t) => {
            let et = match t {
                Type::List(e) | Type::Set(e) => e.as_ref(),
                _ => &Type::Dynamic,
            };
            M::Array(items.iter().map(|i| to_mp(i, et)).collect())
        }
        (Value::Map(m), t) | (Value::Object(m), t @ Type::Map(_)) => {
            let et = match t {
                Type::Map(e) => e.as_ref(),
                _ => &Type::Dynamic,
            };
            M::Map(
                m.iter()
                    .map(|(k, v)| (M::String(k.as_str().into()), to_mp(v, et)))
                    .collect(),
            )
        }
        (Value::Object(m), Type::Object(attrs)) => M::Map(
            attrs
                .iter()
                .map(|(k, t)| {
                    (
                        M::String(k.as_str().into()),
                        to_mp(m.get(k).unwrap_or(&Value::Null), t),
                    )
                })
                .collect(),
        ),
        (Value::Object(m), _) => M::Map(
            m.iter()
                .map(|(k, v)| (M::String(k.as_str().into()), to_mp(v, &Type::Dynamic)))
                .collect(),
        ),
    }
}

/// What Terraform does with a value it receives, for tests: it reads the msgpack
/// against the type (numbers into exact decimals) and writes the state as JSON, each
/// number as its decimal text (Go's `big.Float.Text('f', -1)`: for a float64, the
/// shortest text that reads back as it).
#[cfg(test)]
pub(crate) fn terraform_state_text(bytes: &[u8], ty: &Type) -> String {
    fn conv(v: rmpv::Value, ty: &Type) -> String {
        use rmpv::Value as M;
        match (v, ty) {
            (M::Nil, _) => "null".into(),
            (M::Boolean(b), _) => b.to_string(),
            (M::Integer(i), _) => i.to_string(),
            (M::F64(f), _) => format!("{f}"),
            (M::String(s), Type::Number) => s.into_str().unwrap_or_default(),
            (M::String(s), _) => {
                serde_json::to_string(s.as_str().unwrap_or_default()).unwrap_or_default()
            }
            (M::Array(items), Type::List(t) | Type::Set(t)) => {
                format!(
                    "[{}]",
                    items
                        .into_iter()
                        .map(|i| conv(i, t))
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
            (M::Map(entries), t) => {
                let parts: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = k.as_str().unwrap_or_default().to_string();
                        let et = match t {
                            Type::Map(e) => e.as_ref().clone(),
                            Type::Object(attrs) => {
                                attrs.get(&key).cloned().unwrap_or(Type::Dynamic)
                            }
                            _ => Type::Dynamic,
                        };
                        format!(
                            "{}:{}",
                            serde_json::to_string(&key).unwrap_or_default(),
                            conv(v, &et)
                        )
                    })
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
            (other, _) => panic!("Terraform would not store {other:?}"),
        }
    }
    let raw = rmpv::decode::read_value(&mut &bytes[..]).expect("valid msgpack");
    conv(raw, ty)
}
