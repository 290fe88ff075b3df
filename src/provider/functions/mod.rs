//! Provider functions (`provider::ipam::NAME`, Terraform >= 1.8): one table entry per
//! function, grouped by family in `cidr.rs` (CIDR algebra and facts) and `sizing.rs`
//! (cloud reservations, GKE and EKS sizing). Every function is a thin reader of its
//! arguments around the allocator's own code: the same parsing, facts, decomposition
//! and cloud tables as the resources.
//!
//! Each entry carries worked examples and bad calls. The docs show them, and the
//! end-to-end tests have real Terraform evaluate every one of them and compare.

mod cidr;
mod sizing;

use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::IpNet;

use crate::alloc::{parse_cidr, parse_range, AllocError, Cloud, SizingError};
use crate::tfplugin::{Function, FunctionError, FunctionSignature, Parameter, Type, Value};

/// One provider function: its documentation, signature, body and examples.
#[derive(Clone, Copy)]
pub struct Def {
    pub name: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    /// Name, type and one-line description of each parameter.
    pub params: fn() -> Vec<Parameter>,
    pub returns: fn() -> Type,
    pub call: fn(&Args) -> Result<Value, FunctionError>,
    /// Worked examples: the arguments as HCL and the result as JSON.
    pub examples: &'static [(&'static str, &'static str)],
    /// Bad calls: the arguments as HCL, the parameter at fault and the text of the
    /// error Terraform prints.
    pub errors: &'static [(&'static str, &'static str, &'static str)],
}

impl Function for Def {
    fn name(&self) -> &'static str {
        self.name
    }

    fn signature(&self) -> FunctionSignature {
        FunctionSignature {
            summary: self.summary.into(),
            description: self.description.into(),
            parameters: (self.params)(),
            returns: (self.returns)(),
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let params = (self.params)();
        (self.call)(&Args {
            values: args,
            names: params.iter().map(|p| p.name.clone()).collect(),
        })
    }
}

/// Every function this provider serves, by name.
pub fn all() -> Vec<&'static Def> {
    let mut v: Vec<&'static Def> = cidr::DEFS.iter().chain(sizing::DEFS.iter()).collect();
    v.sort_by_key(|d| d.name);
    v
}

/// Every function, as the protocol layer registers them.
pub fn functions() -> Vec<Arc<dyn Function>> {
    all()
        .into_iter()
        .map(|d| Arc::new(*d) as Arc<dyn Function>)
        .collect()
}

/// The arguments of one call, decoded against the parameter types and wholly known
/// (the protocol layer answers unknowns itself). Each reader says what it expected.
pub struct Args<'a> {
    values: &'a [Value],
    names: Vec<String>,
}

fn alloc_text(e: &AllocError) -> String {
    e.to_string()
}

impl<'a> Args<'a> {
    fn get(&self, i: usize) -> Result<&'a Value, FunctionError> {
        match self.values.get(i) {
            Some(Value::Null) | None => Err(FunctionError::at(i, "must not be null")),
            Some(v) => Ok(v),
        }
    }

    /// Maps a sizing error to the argument it names.
    fn sizing(&self, e: SizingError) -> FunctionError {
        let i = self.names.iter().position(|n| n == e.input);
        FunctionError {
            text: e.message,
            argument: i,
        }
    }

    fn string(&self, i: usize) -> Result<&'a str, FunctionError> {
        self.get(i)?
            .as_str()
            .ok_or_else(|| FunctionError::at(i, "expected a string"))
    }

    fn bool(&self, i: usize) -> Result<bool, FunctionError> {
        self.get(i)?
            .as_bool()
            .ok_or_else(|| FunctionError::at(i, "expected true or false"))
    }

    /// A whole number, zero or more (range checks are the sizing code's).
    fn whole(&self, i: usize) -> Result<u64, FunctionError> {
        let n = self
            .get(i)?
            .as_number()
            .ok_or_else(|| FunctionError::at(i, "expected a number"))?;
        match n.to_i64() {
            Some(v) if v >= 0 => Ok(v as u64),
            Some(v) => Err(FunctionError::at(
                i,
                format!("{v} is negative; expected a whole number"),
            )),
            None if n.to_f64().is_some_and(|f| f.fract() != 0.0) => {
                Err(FunctionError::at(i, format!("{n} is not a whole number")))
            }
            None => Err(FunctionError::at(i, format!("{n} is too large"))),
        }
    }

    /// A CIDR block, strictly (no host bits).
    fn cidr(&self, i: usize) -> Result<IpNet, FunctionError> {
        parse_cidr(self.string(i)?).map_err(|e| FunctionError::at(i, alloc_text(&e)))
    }

    /// A CIDR block or one address (a /32 or /128).
    fn cidr_or_address(&self, i: usize) -> Result<IpNet, FunctionError> {
        let s = self.string(i)?;
        parse_range(s).map_err(|e| match e {
            AllocError::Malformed { .. } => FunctionError::at(
                i,
                format!("{s:?} is not a CIDR block or an IP address (expected such as 10.0.0.0/16, 10.0.0.1 or fd00::/48)"),
            ),
            e => FunctionError::at(i, alloc_text(&e)),
        })
    }

    /// A list of CIDR blocks; an error names the element (counting from 0).
    fn cidr_list(&self, i: usize) -> Result<Vec<IpNet>, FunctionError> {
        let elems = self
            .get(i)?
            .elements()
            .ok_or_else(|| FunctionError::at(i, "expected a list of CIDR blocks"))?;
        elems
            .iter()
            .enumerate()
            .map(|(k, v)| match v.as_str() {
                Some(s) => parse_cidr(s)
                    .map_err(|e| FunctionError::at(i, format!("element {k}: {}", alloc_text(&e)))),
                None => Err(FunctionError::at(
                    i,
                    format!("element {k} is null; expected a CIDR block"),
                )),
            })
            .collect()
    }

    /// A map of names to CIDR blocks; an error names the key.
    fn cidr_map(&self, i: usize) -> Result<Vec<(String, IpNet)>, FunctionError> {
        let entries: &BTreeMap<String, Value> = self
            .get(i)?
            .entries()
            .ok_or_else(|| FunctionError::at(i, "expected a map of names to CIDR blocks"))?;
        entries
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(s) => parse_cidr(s)
                    .map(|n| (k.clone(), n))
                    .map_err(|e| FunctionError::at(i, format!("key {k:?}: {}", alloc_text(&e)))),
                None => Err(FunctionError::at(
                    i,
                    format!("key {k:?} is null; expected a CIDR block"),
                )),
            })
            .collect()
    }

    /// A cloud name among `allowed`.
    fn cloud(&self, i: usize, allowed: &[Cloud]) -> Result<Cloud, FunctionError> {
        let s = self.string(i)?;
        match Cloud::parse(s) {
            Some(c) if allowed.contains(&c) => Ok(c),
            _ => {
                let names: Vec<String> =
                    allowed.iter().map(|c| format!("{:?}", c.name())).collect();
                let list = match names.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{} or {last}", rest.join(", "))
                    }
                    _ => names.join(""),
                };
                Err(FunctionError::at(
                    i,
                    format!("{s:?} is not a cloud this function knows; expected {list}"),
                ))
            }
        }
    }
}

/// A list of blocks as a Terraform list of strings.
fn net_list(nets: &[IpNet]) -> Value {
    Value::List(nets.iter().map(|n| Value::str(n.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfplugin::value::Number;

    fn call(name: &str, args: Vec<Value>) -> Result<Value, FunctionError> {
        let d = all().into_iter().find(|d| d.name == name).unwrap();
        d.call(&args)
    }

    #[test]
    fn every_spec_function_is_served_once() {
        let names: Vec<&str> = all().iter().map(|d| d.name).collect();
        assert_eq!(
            names,
            [
                "cidr_contains",
                "cidr_facts",
                "cidr_merge",
                "cidr_overlaps",
                "cidr_subtract",
                "eks_max_pods",
                "eks_prefix_reservation_length",
                "find_overlaps",
                "gke_pod_prefix_per_node",
                "gke_prefix_lengths",
                "prefix_length_for",
                "usable_range",
            ]
        );
        for d in all() {
            assert!(!d.examples.is_empty(), "{} has no example", d.name);
            assert!(!d.errors.is_empty(), "{} has no bad call", d.name);
            for p in (d.params)() {
                assert!(
                    !p.description.is_empty(),
                    "{}({}) undocumented",
                    d.name,
                    p.name
                );
            }
        }
    }

    #[test]
    fn numbers_arrive_as_integers_floats_or_decimal_text() {
        // Terraform sends a number that is not exactly a float64 as decimal text.
        for n in [
            Number::Int(110),
            Number::Float(110.0),
            Number::Decimal("110".into()),
            Number::Decimal("1.1e2".into()),
        ] {
            assert_eq!(
                call("gke_pod_prefix_per_node", vec![Value::Number(n)]),
                Ok(Value::int(24))
            );
        }
        let frac = call(
            "gke_pod_prefix_per_node",
            vec![Value::Number(Number::Decimal("110.5".into()))],
        );
        assert_eq!(
            frac,
            Err(FunctionError::at(0, "110.5 is not a whole number"))
        );
        let huge = call(
            "eks_max_pods",
            vec![
                Value::Number(Number::Decimal("1e40".into())),
                Value::int(10),
                Value::Bool(false),
            ],
        );
        assert_eq!(huge, Err(FunctionError::at(0, "1e40 is too large")));
        let neg = call(
            "eks_max_pods",
            vec![Value::int(3), Value::int(-1), Value::Bool(false)],
        );
        assert_eq!(
            neg,
            Err(FunctionError::at(
                1,
                "-1 is negative; expected a whole number"
            ))
        );
    }

    #[test]
    fn null_elements_and_wrong_shapes_are_function_errors() {
        let r = call(
            "cidr_merge",
            vec![Value::List(vec![Value::str("10.0.0.0/8"), Value::Null])],
        );
        assert_eq!(
            r,
            Err(FunctionError::at(
                0,
                "element 1 is null; expected a CIDR block"
            ))
        );
        let r = call("cidr_facts", vec![Value::Null]);
        assert_eq!(r, Err(FunctionError::at(0, "must not be null")));
        let r = call(
            "cidr_overlaps",
            vec![Value::str("10.0.0.0/8"), Value::int(3)],
        );
        assert_eq!(r, Err(FunctionError::at(1, "expected a string")));
        let r = call("find_overlaps", vec![Value::List(vec![])]);
        assert_eq!(
            r,
            Err(FunctionError::at(
                0,
                "expected a map of names to CIDR blocks"
            ))
        );
    }

    #[test]
    fn no_error_text_ends_in_a_period_or_names_its_parameter() {
        for d in all() {
            let params = (d.params)();
            for (args, param, text) in d.errors {
                assert!(!text.ends_with('.'), "{}({args}): {text}", d.name);
                assert!(
                    params.iter().any(|p| p.name == *param),
                    "{}: no parameter {param}",
                    d.name
                );
                for p in &params {
                    assert!(!text.starts_with(&p.name), "{}({args}): {text}", d.name);
                }
            }
        }
    }
}
