//! A schema builder. Each attribute carries a one-line description, which is also
//! its documentation (`docs/` is generated from it).

use std::collections::BTreeMap;

use super::value::Type;
use crate::tfplugin::proto::tfplugin6 as pb;

/// How an attribute is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Required,
    Optional,
    /// Optional, and the provider fills it in when the user does not.
    OptionalComputed,
    Computed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Plain(Type),
    /// A protocol-6 nested attribute of MAP nesting: a map of objects.
    NestedMap(Vec<Attribute>),
    /// A protocol-6 nested attribute of SINGLE nesting: one object.
    NestedSingle(Vec<Attribute>),
    /// A `dynamic` attribute that takes a map (or object) of objects with these
    /// members, checked by the provider rather than by Terraform. Terraform converts a
    /// dynamic value as it is, where converting a large object literal to a map type
    /// costs it time that grows with the square of the entries; the members document
    /// the objects and drive the provider's own checks.
    DynamicMap(Vec<Attribute>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub kind: Kind,
    pub mode: Mode,
    pub description: String,
    pub sensitive: bool,
}

impl Attribute {
    pub fn new(name: &str, ty: Type, mode: Mode, description: &str) -> Attribute {
        Attribute {
            name: name.into(),
            kind: Kind::Plain(ty),
            mode,
            description: description.into(),
            sensitive: false,
        }
    }
    pub fn nested_map(
        name: &str,
        attrs: Vec<Attribute>,
        mode: Mode,
        description: &str,
    ) -> Attribute {
        Attribute {
            name: name.into(),
            kind: Kind::NestedMap(attrs),
            mode,
            description: description.into(),
            sensitive: false,
        }
    }
    pub fn dynamic_map(
        name: &str,
        members: Vec<Attribute>,
        mode: Mode,
        description: &str,
    ) -> Attribute {
        Attribute {
            name: name.into(),
            kind: Kind::DynamicMap(members),
            mode,
            description: description.into(),
            sensitive: false,
        }
    }
    pub fn nested_single(
        name: &str,
        attrs: Vec<Attribute>,
        mode: Mode,
        description: &str,
    ) -> Attribute {
        Attribute {
            name: name.into(),
            kind: Kind::NestedSingle(attrs),
            mode,
            description: description.into(),
            sensitive: false,
        }
    }

    /// The value type of this attribute.
    pub fn value_type(&self) -> Type {
        match &self.kind {
            Kind::Plain(t) => t.clone(),
            Kind::NestedMap(attrs) => Type::map(object_type(attrs)),
            Kind::NestedSingle(attrs) => object_type(attrs),
            Kind::DynamicMap(_) => Type::Dynamic,
        }
    }

    fn to_proto(&self) -> pb::schema::Attribute {
        let (ty, nested) = match &self.kind {
            Kind::Plain(t) => (t.to_json().to_string().into_bytes(), None),
            Kind::DynamicMap(_) => (Type::Dynamic.to_json().to_string().into_bytes(), None),
            Kind::NestedMap(attrs) | Kind::NestedSingle(attrs) => (
                Vec::new(),
                Some(pb::schema::Object {
                    attributes: attrs.iter().map(Attribute::to_proto).collect(),
                    nesting: if matches!(self.kind, Kind::NestedMap(_)) {
                        pb::schema::object::NestingMode::Map as i32
                    } else {
                        pb::schema::object::NestingMode::Single as i32
                    },
                }),
            ),
        };
        pb::schema::Attribute {
            name: self.name.clone(),
            r#type: ty,
            nested_type: nested,
            description: self.description.clone(),
            required: self.mode == Mode::Required,
            optional: matches!(self.mode, Mode::Optional | Mode::OptionalComputed),
            computed: matches!(self.mode, Mode::Computed | Mode::OptionalComputed),
            sensitive: self.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: false,
            write_only: false,
        }
    }
}

fn object_type(attrs: &[Attribute]) -> Type {
    Type::Object(
        attrs
            .iter()
            .map(|a| (a.name.clone(), a.value_type()))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// The schema of a resource (or of the provider block).
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub version: i64,
    pub description: String,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// The object type of a whole resource value.
    pub fn value_type(&self) -> Type {
        object_type(&self.attributes)
    }

    pub(crate) fn to_proto(&self) -> pb::Schema {
        pb::Schema {
            version: self.version,
            block: Some(pb::schema::Block {
                version: self.version,
                attributes: self.attributes.iter().map(Attribute::to_proto).collect(),
                block_types: vec![],
                description: self.description.clone(),
                description_kind: pb::StringKind::Markdown as i32,
                deprecated: false,
            }),
        }
    }
}

/// One parameter of a provider function. Null and unknown arguments follow
/// Terraform's rules: a null is refused by Terraform itself, and an unknown argument
/// makes the result unknown without a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub ty: Type,
    pub description: String,
}

impl Parameter {
    pub fn new(name: &str, ty: Type, description: &str) -> Parameter {
        Parameter {
            name: name.into(),
            ty,
            description: description.into(),
        }
    }

    fn to_proto(&self) -> pb::function::Parameter {
        pb::function::Parameter {
            name: self.name.clone(),
            r#type: self.ty.to_json().to_string().into_bytes(),
            allow_null_value: false,
            allow_unknown_values: false,
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
        }
    }
}

/// The signature and documentation of a provider function.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSignature {
    /// One line, shown by editors.
    pub summary: String,
    pub description: String,
    pub parameters: Vec<Parameter>,
    pub returns: Type,
}

impl FunctionSignature {
    pub(crate) fn to_proto(&self) -> pb::Function {
        pb::Function {
            parameters: self.parameters.iter().map(Parameter::to_proto).collect(),
            variadic_parameter: None,
            r#return: Some(pb::function::Return {
                r#type: self.returns.to_json().to_string().into_bytes(),
            }),
            summary: self.summary.clone(),
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecation_message: String::new(),
        }
    }
}
