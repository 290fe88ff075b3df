//! A pool's computed figures (how much is allocated, held and free, and what still
//! fits), the same for both kinds of pool: their attributes, with one description
//! each, and their values from the allocator's [`Utilization`].

use crate::alloc::Utilization;
use crate::tfplugin::schema::{Attribute, Mode};
use crate::tfplugin::value::Number;
use crate::tfplugin::{Type, Value};

/// One figure's attribute.
struct Figure {
    name: &'static str,
    ty: fn() -> Type,
    description: &'static str,
}

const FIGURES: &[Figure] = &[
    Figure {
        name: "total_addresses",
        ty: || Type::String,
        description: "Addresses in `cidrs` minus those in `reserved`: the allocatable space, as a string.",
    },
    Figure {
        name: "allocated_addresses",
        ty: || Type::String,
        description: "Addresses held by allocations, as a string.",
    },
    Figure {
        name: "held_addresses",
        ty: || Type::String,
        description: "Addresses neither allocated nor free: growth room (`grow_to`) and released blocks on hold, as a string.",
    },
    Figure {
        name: "free_addresses",
        ty: || Type::String,
        description: "Allocatable addresses neither allocated nor held, as a string.",
    },
    Figure {
        name: "utilization",
        ty: || Type::Number,
        description: "Allocated share of the allocatable space, from 0 to 1, rounded to 6 decimal places.",
    },
    Figure {
        name: "largest_free_prefix_length",
        ty: || Type::Number,
        description: "Prefix length of the largest free block; null when the pool is full.",
    },
    Figure {
        name: "free_cidrs",
        ty: || Type::list(Type::String),
        description: "The free space as the fewest aligned CIDR blocks, lowest address first.",
    },
    Figure {
        name: "capacity",
        ty: || Type::map(Type::String),
        description: "How many more blocks of each prefix length fit in the free space, keyed by prefix length, from the largest free block's to 8 longer, as strings (`capacity[\"24\"] = \"37\"`). Empty when the pool is full.",
    },
];

/// The names of the figures, which a plan leaves unknown until the pool is known.
pub fn names() -> impl Iterator<Item = &'static str> {
    FIGURES.iter().map(|f| f.name)
}

/// The figures' attributes, all computed. `scope`, when given, ends each description
/// (a shared pool's figures count every owner's blocks).
pub fn attributes(scope: Option<&str>) -> Vec<Attribute> {
    FIGURES
        .iter()
        .map(|f| {
            let description = match scope {
                Some(s) => format!("{} {s}", f.description),
                None => f.description.to_string(),
            };
            Attribute::new(f.name, (f.ty)(), Mode::Computed, &description)
        })
        .collect()
}

/// Sets the figures of `u` on an object value. Every number is one Terraform stores
/// exactly: whole numbers, and `utilization` as decimal text (see [`Number`]).
pub fn with_figures(v: Value, u: &Utilization) -> Value {
    let Value::Object(mut obj) = v else { return v };
    let count = |c: &crate::alloc::Count| Value::str(c.to_string());
    let ratio = u.ratio_text();
    let values = [
        ("total_addresses", count(&u.total)),
        ("allocated_addresses", count(&u.allocated)),
        ("held_addresses", count(&u.held)),
        ("free_addresses", count(&u.free)),
        (
            "utilization",
            Value::Number(Number::parse(&ratio).unwrap_or(Number::Decimal(ratio))),
        ),
        (
            "largest_free_prefix_length",
            u.largest_free_prefix_length
                .map(Value::int)
                .unwrap_or(Value::Null),
        ),
        (
            "free_cidrs",
            Value::List(
                u.free_cidrs
                    .iter()
                    .map(|c| Value::str(c.to_string()))
                    .collect(),
            ),
        ),
        (
            "capacity",
            Value::Map(
                u.capacity
                    .iter()
                    .map(|(len, n)| (len.to_string(), Value::str(n.to_string())))
                    .collect(),
            ),
        ),
    ];
    for (name, value) in values {
        obj.insert(name.into(), value);
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::CAPACITY_LENGTHS;

    /// `with_figures` sets exactly the figures the attributes declare, and the
    /// capacity description names the span the allocator computes.
    #[test]
    fn the_values_match_the_attributes() {
        let u = Utilization {
            total: 256u32.into(),
            allocated: 0u32.into(),
            held: 0u32.into(),
            free: 256u32.into(),
            largest_free_prefix_length: Some(24),
            free_cidrs: vec![],
            capacity: vec![],
        };
        let Value::Object(obj) = with_figures(Value::Object(Default::default()), &u) else {
            panic!("not an object");
        };
        let set: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut declared: Vec<&str> = names().collect();
        declared.sort_unstable();
        assert_eq!(set, declared);
        let capacity = FIGURES
            .iter()
            .find(|f| f.name == "capacity")
            .map(|f| f.description);
        assert!(capacity.is_some_and(|d| d.contains(&format!("to {CAPACITY_LENGTHS} longer"))));
    }
}
