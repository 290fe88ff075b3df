//! CIDR algebra and facts: `cidr_contains`, `cidr_overlaps`, `find_overlaps`,
//! `cidr_merge`, `cidr_subtract`, `cidr_facts`.

use std::collections::BTreeMap;

use super::{net_list, Def};
use crate::alloc::{self, Family};
use crate::provider::common::facts_values;
use crate::tfplugin::{Parameter, Type, Value};

fn cidr_param(name: &str, what: &str) -> Parameter {
    Parameter::new(name, Type::String, what)
}

fn list_param(name: &str, what: &str) -> Parameter {
    Parameter::new(name, Type::list(Type::String), what)
}

pub(super) static DEFS: &[Def] = &[
    Def {
        name: "cidr_contains",
        summary: "Whether every address of a block (or one address) lies in another block.",
        description: "Returns true when every address of `member` is in `container`, and false when `member` has an address outside it or is of the other IP family. `member` may be one address (`10.0.0.1`), taken as a /32 or /128.",
        params: || {
            vec![
                cidr_param("container", "The enclosing CIDR block, such as `10.0.0.0/8`."),
                cidr_param("member", "A CIDR block or one IP address to look for in `container`."),
            ]
        },
        returns: || Type::Bool,
        call: |a| Ok(Value::Bool(alloc::contains(&a.cidr(0)?, &a.cidr_or_address(1)?))),
        examples: &[
            (r#""10.0.0.0/8", "10.1.2.0/24""#, "true"),
            (r#""10.0.0.0/8", "10.1.2.3""#, "true"),
            (r#""10.1.0.0/16", "10.0.0.0/8""#, "false"),
            (r#""10.0.0.0/8", "fd00::/64""#, "false"),
        ],
        errors: &[
            (r#""10.0.0.1/8", "10.1.0.0/16""#, "container", r#""10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8"#),
            (r#""10.0.0.0/8", "ten""#, "member", r#""ten" is not a CIDR block or an IP address (expected such as 10.0.0.0/16, 10.0.0.1 or fd00::/48)"#),
        ],
    },
    Def {
        name: "cidr_overlaps",
        summary: "Whether two CIDR blocks share an address.",
        description: "Returns true when blocks `a` and `b` share at least one address (one holds the other, or they are the same); false when they are apart or of different IP families.",
        params: || {
            vec![
                cidr_param("a", "A CIDR block."),
                cidr_param("b", "Another CIDR block."),
            ]
        },
        returns: || Type::Bool,
        call: |a| Ok(Value::Bool(alloc::overlaps(&a.cidr(0)?, &a.cidr(1)?))),
        examples: &[
            (r#""10.0.0.0/16", "10.0.255.0/24""#, "true"),
            (r#""10.0.0.0/24", "10.0.1.0/24""#, "false"),
        ],
        errors: &[(
            r#""10.0.0.0/16", "10.0.0.0/33""#,
            "b",
            r#""10.0.0.0/33" is not a valid CIDR block (expected an address and a prefix length, such as 10.0.0.0/16 or fd00::/48)"#,
        )],
    },
    Def {
        name: "find_overlaps",
        summary: "Every pair of named CIDR blocks that overlap.",
        description: "Takes a map of names to CIDR blocks (for example the VPC ranges that several Terraform states publish as outputs) and returns every pair that shares an address as `[name_a, name_b]` with `name_a < name_b`, sorted; `[]` when none do. Made for `check` and `precondition` blocks.",
        params: || {
            vec![Parameter::new(
                "cidrs",
                Type::map(Type::String),
                "A map of names to CIDR blocks; IPv4 and IPv6 may mix.",
            )]
        },
        returns: || Type::list(Type::list(Type::String)),
        call: |a| {
            let pairs = alloc::find_overlaps(&a.cidr_map(0)?);
            Ok(Value::List(
                pairs
                    .into_iter()
                    .map(|(x, y)| Value::List(vec![Value::str(x), Value::str(y)]))
                    .collect(),
            ))
        },
        examples: &[
            (
                r#"{ "vpc-a" = "10.0.0.0/16", "vpc-b" = "10.0.128.0/17", "vpc-c" = "10.1.0.0/16" }"#,
                r#"[["vpc-a","vpc-b"]]"#,
            ),
            (r#"{ "gke" = "10.0.0.0/14", "eks" = "10.4.0.0/16" }"#, "[]"),
        ],
        errors: &[(
            r#"{ "a" = "10.0.0.0/8", "b" = "not-a-cidr" }"#,
            "cidrs",
            r#"key "b": "not-a-cidr" is not a valid CIDR block (expected an address and a prefix length, such as 10.0.0.0/16 or fd00::/48)"#,
        )],
    },
    Def {
        name: "cidr_merge",
        summary: "The fewest CIDR blocks covering exactly the union of a list.",
        description: "Summarises a list of CIDR blocks into the fewest aligned blocks that cover exactly the same addresses (for route tables and firewall rules). Overlapping and duplicate blocks are absorbed; IPv4 and IPv6 may mix. Sorted by address, IPv4 first.",
        params: || vec![list_param("cidrs", "The CIDR blocks to merge.")],
        returns: || Type::list(Type::String),
        call: |a| Ok(net_list(&alloc::merge(&a.cidr_list(0)?))),
        examples: &[
            (
                r#"["10.0.1.0/24", "10.0.0.0/24", "10.0.0.128/25", "fd00::/64"]"#,
                r#"["10.0.0.0/23","fd00::/64"]"#,
            ),
            (r#"["10.0.1.0/24", "10.0.2.0/24"]"#, r#"["10.0.1.0/24","10.0.2.0/24"]"#),
        ],
        errors: &[(
            r#"["10.0.0.0/24", "10.0.1.1/24"]"#,
            "cidrs",
            r#"element 1: "10.0.1.1/24" has host bits set; did you mean 10.0.1.0/24"#,
        )],
    },
    Def {
        name: "cidr_subtract",
        summary: "The fewest CIDR blocks covering what is left of a list after removing another.",
        description: "Returns the fewest aligned CIDR blocks that cover exactly the addresses of the blocks in `from` that are in no block of `remove` — the same decomposition `ipam_pool` shows as `free_cidrs`. Sorted by address, IPv4 first.",
        params: || {
            vec![
                list_param("from", "The CIDR blocks to start from."),
                list_param("remove", "The CIDR blocks whose addresses to take out."),
            ]
        },
        returns: || Type::list(Type::String),
        call: |a| Ok(net_list(&alloc::subtract(&a.cidr_list(0)?, &a.cidr_list(1)?))),
        examples: &[
            (r#"["10.0.0.0/22"], ["10.0.1.0/24"]"#, r#"["10.0.0.0/24","10.0.2.0/23"]"#),
            (r#"["10.0.0.0/24"], ["10.0.0.0/16"]"#, "[]"),
        ],
        errors: &[(
            r#"["10.0.0.0/22"], ["10.0.1.0/33"]"#,
            "remove",
            r#"element 0: "10.0.1.0/33" is not a valid CIDR block (expected an address and a prefix length, such as 10.0.0.0/16 or fd00::/48)"#,
        )],
    },
    Def {
        name: "cidr_facts",
        summary: "The network, first and last address, netmask, size and family of a CIDR block.",
        description: "Returns an object with `network_address`, `first_address`, `last_address`, `netmask` (null for IPv6), `prefix_length`, `address_count` (a string: IPv6 counts exceed what a number holds exactly) and `family` (`\"ipv4\"` or `\"ipv6\"`) — the same facts `ipam_pool` gives each allocation.",
        params: || vec![cidr_param("cidr", "A CIDR block, such as `10.1.0.0/22` or `fd00::/64`.")],
        returns: || {
            Type::Object(BTreeMap::from([
                ("network_address".to_string(), Type::String),
                ("first_address".to_string(), Type::String),
                ("last_address".to_string(), Type::String),
                ("netmask".to_string(), Type::String),
                ("prefix_length".to_string(), Type::Number),
                ("address_count".to_string(), Type::String),
                ("family".to_string(), Type::String),
            ]))
        },
        call: |a| {
            let net = a.cidr(0)?;
            let mut m = facts_values(&net);
            m.remove("cidr");
            m.insert(
                "family".into(),
                Value::str(match Family::of(&net) {
                    Family::V4 => "ipv4",
                    Family::V6 => "ipv6",
                }),
            );
            Ok(Value::Object(m))
        },
        examples: &[
            (
                r#""10.1.0.0/22""#,
                r#"{"address_count":"1024","family":"ipv4","first_address":"10.1.0.0","last_address":"10.1.3.255","netmask":"255.255.252.0","network_address":"10.1.0.0","prefix_length":22}"#,
            ),
            (
                r#""fd00::/64""#,
                r#"{"address_count":"18446744073709551616","family":"ipv6","first_address":"fd00::","last_address":"fd00::ffff:ffff:ffff:ffff","netmask":null,"network_address":"fd00::","prefix_length":64}"#,
            ),
        ],
        errors: &[(
            r#""10.0.0.1/8""#,
            "cidr",
            r#""10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8"#,
        )],
    },
];

#[cfg(test)]
mod tests {
    use super::super::all;
    use super::*;
    use crate::tfplugin::FunctionError;

    fn call(name: &str, args: &[&str]) -> Result<Value, FunctionError> {
        let d = all().into_iter().find(|d| d.name == name).unwrap();
        let args: Vec<Value> = args.iter().map(|s| Value::str(*s)).collect();
        crate::tfplugin::Function::call(d, &args)
    }

    #[test]
    fn host_bits_error_reads_as_the_issue_asks() {
        let e = call("cidr_facts", &["10.0.0.1/8"]).unwrap_err();
        assert_eq!(
            e.text,
            r#""10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8"#
        );
        assert_eq!(e.argument, Some(0));
        let e = call("cidr_contains", &["10.0.0.0/8", "10.0.0.1/8"]).unwrap_err();
        assert_eq!(e.argument, Some(1));
    }

    #[test]
    fn contains_takes_an_address_as_member_but_not_as_container() {
        assert_eq!(
            call("cidr_contains", &["10.0.0.0/8", "10.255.255.255"]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call("cidr_contains", &["fd00::/8", "fd00::1"]),
            Ok(Value::Bool(true))
        );
        assert!(call("cidr_contains", &["10.0.0.1", "10.0.0.1"]).is_err());
    }
}
