//! The JSON encoding of values, as Terraform stores state and as import IDs are
//! written. JSON has no unknowns.

use super::{mismatch, DecodeError, Number, Type, Value};

/// Decodes a JSON value (as in stored state) against `ty`. JSON has no unknowns.
pub fn from_json(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let j: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    convert_json(&j, ty, "")
}

/// Converts an already parsed JSON value against `ty`.
pub fn convert_json(j: &serde_json::Value, ty: &Type, path: &str) -> Result<Value, DecodeError> {
    use serde_json::Value as J;
    match (j, ty) {
        (J::Null, _) => Ok(Value::Null),
        (J::Bool(b), Type::Bool) => Ok(Value::Bool(*b)),
        // serde_json keeps the number's text (feature `arbitrary_precision`).
        (J::Number(n), Type::Number) => Number::parse(&n.to_string())
            .map(Value::Number)
            .ok_or_else(|| mismatch(path, ty)),
        (J::String(s), Type::Number) => Number::parse(s)
            .map(Value::Number)
            .ok_or_else(|| mismatch(path, ty)),
        (J::String(s), Type::String) => Ok(Value::String(s.clone())),
        (J::Number(n), Type::String) => Ok(Value::String(n.to_string())),
        (J::Bool(b), Type::String) => Ok(Value::String(b.to_string())),
        (J::Array(items), Type::List(t) | Type::Set(t)) => {
            let out = items
                .iter()
                .enumerate()
                .map(|(i, it)| convert_json(it, t, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::List(_)) {
                Value::List(out)
            } else {
                Value::Set(out)
            })
        }
        (J::Object(m), Type::Map(t)) => Ok(Value::Map(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), convert_json(v, t, &format!("{path}[{k:?}]"))?)))
                .collect::<Result<_, DecodeError>>()?,
        )),
        (J::Object(m), Type::Object(attrs)) => Ok(Value::Object(
            attrs
                .iter()
                .map(|(k, t)| {
                    let v = m
                        .get(k)
                        .map(|v| convert_json(v, t, &format!("{path}.{k}")))
                        .transpose()?;
                    Ok((k.clone(), v.unwrap_or(Value::Null)))
                })
                .collect::<Result<_, DecodeError>>()?,
        )),
        (J::Array(items), Type::Tuple(ts)) if items.len() == ts.len() => Ok(Value::List(
            items
                .iter()
                .zip(ts)
                .enumerate()
                .map(|(i, (it, t))| convert_json(it, t, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        // Terraform stores a dynamic value as {"value": ..., "type": ...}.
        (J::Object(m), Type::Dynamic) if m.contains_key("type") && m.contains_key("value") => {
            let t = Type::from_json(&m["type"])?;
            Ok(match convert_json(&m["value"], &t, path)? {
                Value::Null => Value::Null,
                v => Value::Dynamic(Box::new(t), Box::new(v)),
            })
        }
        (_, t) => Err(mismatch(path, t)),
    }
}
