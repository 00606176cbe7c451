//! The structural part of an `openAPIV3Schema`: which fields an object has, what its
//! arrays hold, which values are defaulted, and where unknown fields are kept. This is
//! all the API server reads to prune and default a custom resource (apiextensions'
//! "structural schema"); the value validations (`enum`, `pattern`, `anyOf`...) are left
//! to the validator, and cannot add fields.

use std::collections::BTreeMap;

use serde_json::Value;

/// One node of the schema, for one value of a request.
///
/// A node with no properties, no `additionalProperties` and no `items` is also what the
/// API server uses where the schema says nothing: an object there is emptied.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Structural {
    /// `properties`, by name.
    pub(crate) properties: BTreeMap<String, Structural>,
    /// `additionalProperties` as a schema (`true` reads as a schema that says nothing).
    pub(crate) additional: Option<Box<Structural>>,
    /// `items`.
    pub(crate) items: Option<Box<Structural>>,
    /// `x-kubernetes-preserve-unknown-fields: true`: unknown fields here are kept.
    pub(crate) preserve_unknown: bool,
    /// `x-kubernetes-embedded-resource: true`: `apiVersion`, `kind` and `metadata` are kept.
    pub(crate) embedded_resource: bool,
    /// `nullable: true`: a `null` here is a value, not a missing field.
    pub(crate) nullable: bool,
    /// `default`, with what it weighs.
    pub(crate) default: Option<DefaultValue>,
}

/// A `default` value and what inserting one copy of it costs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DefaultValue {
    /// The value, copied into each request that misses it.
    pub(crate) value: Value,
    /// Its length as JSON: what one copy adds to a request.
    pub(crate) bytes: usize,
    /// How deeply it nests (1 for a scalar or an empty mapping).
    pub(crate) depth: usize,
}

impl Structural {
    /// The structural part of `schema` (an `openAPIV3Schema` or a part of one). Whatever
    /// is not a schema where one is expected reads as a schema that says nothing: the
    /// validator reports it when it compiles the schema.
    pub(crate) fn read(schema: &Value) -> Self {
        let Value::Object(map) = schema else {
            return Structural::default();
        };
        let flag = |key: &str| map.get(key) == Some(&Value::Bool(true));
        let properties = match map.get("properties") {
            Some(Value::Object(properties)) => properties
                .iter()
                .map(|(name, schema)| (name.clone(), Structural::read(schema)))
                .collect(),
            _ => BTreeMap::new(),
        };
        let additional = match map.get("additionalProperties") {
            Some(Value::Bool(true)) => Some(Box::default()),
            Some(schema @ Value::Object(_)) => Some(Box::new(Structural::read(schema))),
            _ => None,
        };
        let items = match map.get("items") {
            Some(schema @ Value::Object(_)) => Some(Box::new(Structural::read(schema))),
            _ => None,
        };
        let default = map.get("default").map(|value| DefaultValue {
            bytes: value.to_string().len(),
            depth: depth(value),
            value: value.clone(),
        });
        Structural {
            properties,
            additional,
            items,
            preserve_unknown: flag("x-kubernetes-preserve-unknown-fields"),
            embedded_resource: flag("x-kubernetes-embedded-resource"),
            nullable: flag("nullable"),
            default,
        }
    }

    /// The schema of field `name` of an object this node describes, if it has one.
    pub(crate) fn field(&self, name: &str) -> Option<&Structural> {
        self.properties.get(name).or(self.additional.as_deref())
    }
}

/// How deeply `value` nests: 1 for a scalar or an empty collection. Recursive; the
/// values it is given are parsed with a depth bound.
pub(crate) fn depth(value: &Value) -> usize {
    let inner = match value {
        Value::Object(map) => map.values().map(depth).max(),
        Value::Array(list) => list.iter().map(depth).max(),
        _ => None,
    };
    1 + inner.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_reads_into_its_structure() {
        let schema = Structural::read(&json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "default": {"size": "small"},
                    "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {
                        "ports": {"type": "array", "items": {"type": "integer", "nullable": true}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "any": {"type": "object", "additionalProperties": true}
                    }
                }
            }
        }));
        let spec = &schema.properties["spec"];
        assert!(spec.preserve_unknown);
        let default = spec.default.as_ref().unwrap();
        assert_eq!((default.bytes, default.depth), (16, 2));
        assert!(spec.properties["ports"].items.as_ref().unwrap().nullable);
        assert!(spec.properties["labels"].field("anything").is_some());
        assert_eq!(
            spec.properties["any"].field("x"),
            Some(&Structural::default())
        );
        assert_eq!(spec.field("unknown"), None);
    }

    #[test]
    fn what_is_not_a_schema_reads_as_one_that_says_nothing() {
        assert_eq!(Structural::read(&json!("text")), Structural::default());
        let schema = Structural::read(&json!({"properties": [1], "items": true}));
        assert_eq!(schema, Structural::default());
    }

    #[test]
    fn depth_counts_levels() {
        assert_eq!(depth(&json!(1)), 1);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [1]})), 3);
    }
}
