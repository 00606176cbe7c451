//! Requests against a Promise's `openAPIV3Schema`: stored as the API server would store
//! them ([`admission`]: pruned and defaulted), then validated.
//!
//! The schema is a Kubernetes structural schema: JSON Schema draft 4 plus OpenAPI's
//! `nullable` and the `x-kubernetes-*` extensions. For validation, those two are
//! rewritten into plain JSON Schema before the `jsonschema` crate compiles it; the other
//! extensions are read by pruning ([`structural`]). Formats are not enforced, as the API
//! server does not enforce most of them either.

mod admission;
mod structural;

use jsonschema::Draft;
use serde_json::{Map, Value, json};

pub(crate) use admission::Admitted;
use structural::Structural;

/// One way in which a request does not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// Dotted path of the field, e.g. `spec.size` or `spec.ports[0]`; `.` for the root.
    pub(crate) field: String,
    /// Why it does not fit.
    pub(crate) message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why an `openAPIV3Schema` does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if field.is_empty() { "openAPIV3Schema".to_string() } else { format!("openAPIV3Schema.{field}") })]
pub(crate) struct InvalidSchema {
    /// Dotted path of the part of the schema at fault, from the schema's root; empty
    /// for the root itself.
    pub(crate) field: String,
    /// What is wrong with it.
    pub(crate) message: String,
}

/// A compiled schema of one API version.
pub(crate) struct RequestSchema {
    validator: jsonschema::Validator,
    structure: Structural,
}

impl RequestSchema {
    /// Compiles an `openAPIV3Schema`. The error says where in the schema and what is
    /// invalid.
    pub(crate) fn compile(open_api_v3_schema: &Value) -> Result<Self, InvalidSchema> {
        let schema = to_json_schema(open_api_v3_schema.clone());
        let validator = jsonschema::options()
            .with_draft(Draft::Draft4)
            .should_validate_formats(false)
            .build(&schema)
            .map_err(|err| {
                let field = dotted(err.instance_path().as_str());
                InvalidSchema {
                    field: if field == "." { String::new() } else { field },
                    message: without_long_values(err.to_string(), &err.instance().to_string()),
                }
            })?;
        let structure = Structural::read(open_api_v3_schema);
        Ok(RequestSchema {
            validator,
            structure,
        })
    }

    /// Stores `document` (a whole request) in place as the API server would: prunes
    /// the fields the schema does not declare (naming them), drops `status` and the
    /// `null`s the schema does not allow, fills in `default`s. The error is a default
    /// that would make the request too large or too deep.
    pub(crate) fn admit(&self, document: &mut Value) -> Result<Admitted, Violation> {
        admission::admit(document, &self.structure)
    }

    /// Every violation of `document`, sorted by field; empty when it is valid.
    pub(crate) fn violations(&self, document: &Value) -> Vec<Violation> {
        let mut found: Vec<Violation> = self
            .validator
            .iter_errors(document)
            .map(|err| Violation {
                field: dotted(err.instance_path().as_str()),
                message: without_long_values(err.to_string(), &err.instance().to_string()),
            })
            .collect();
        found.sort_by(|a, b| (&a.field, &a.message).cmp(&(&b.field, &b.message)));
        found.dedup();
        found
    }
}

/// How much of a request's value a violation repeats; the rest is left out.
const ECHO_LIMIT: usize = 64;

/// The longest violation message kept whole, for values the message spells otherwise.
const MESSAGE_LIMIT: usize = 512;

/// `message` with the value it repeats (`instance`, as JSON) cut to a short prefix: a
/// request's value can be megabytes, and the message goes into its status file (and is
/// shown twice there). The original length is kept, so the reader knows what was cut.
fn without_long_values(message: String, instance: &str) -> String {
    let message = if instance.len() > ECHO_LIMIT && message.contains(instance) {
        message.replacen(instance, &abbreviate(instance, ECHO_LIMIT), 1)
    } else {
        message
    };
    if message.len() > MESSAGE_LIMIT {
        abbreviate(&message, MESSAGE_LIMIT)
    } else {
        message
    }
}

/// The first `keep` bytes of `text` (fewer, to end on a character) then `…` and the
/// original length; `text` itself when it is short enough.
pub(crate) fn abbreviate(text: &str, keep: usize) -> String {
    if text.len() <= keep {
        return text.to_string();
    }
    let mut end = keep;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// Stores `document` as the API server would for a version with no schema: only its
/// `status` goes.
pub(crate) fn admit_without_schema(document: &mut Value) -> Admitted {
    let schema = Structural {
        preserve_unknown: true,
        ..Structural::default()
    };
    admission::admit(document, &schema).expect("no defaults, so within the bounds")
}

/// Rewrites the OpenAPI dialect into JSON Schema. Only schema positions are visited
/// (`properties` values, `items`, `allOf`, ...), so a property that happens to be named
/// `nullable` keeps its own schema.
fn to_json_schema(schema: Value) -> Value {
    let Value::Object(map) = schema else {
        return schema;
    };
    let mut out: Map<String, Value> = map
        .into_iter()
        .map(|(key, value)| {
            let value = match key.as_str() {
                "properties" | "patternProperties" | "definitions" => map_of_schemas(value),
                "items" | "additionalProperties" | "additionalItems" | "not" => match value {
                    Value::Array(list) => {
                        Value::Array(list.into_iter().map(to_json_schema).collect())
                    }
                    other => to_json_schema(other),
                },
                "allOf" | "anyOf" | "oneOf" => match value {
                    Value::Array(list) => {
                        Value::Array(list.into_iter().map(to_json_schema).collect())
                    }
                    other => other,
                },
                _ => value,
            };
            (key, value)
        })
        .collect();
    if out.remove("x-kubernetes-int-or-string") == Some(Value::Bool(true)) {
        out.remove("type");
        out.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if out.remove("nullable") == Some(Value::Bool(true)) {
        if let Some(Value::String(ty)) = out.get("type") {
            let both = json!([ty, "null"]);
            out.insert("type".into(), both);
        }
        if let Some(Value::Array(choices)) = out.get_mut("enum") {
            choices.push(Value::Null);
        }
    }
    Value::Object(out)
}

fn map_of_schemas(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(name, schema)| (name, to_json_schema(schema)))
                .collect(),
        ),
        other => other,
    }
}

/// `/spec/ports/0/name` becomes `spec.ports[0].name`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    if out.is_empty() { ".".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> RequestSchema {
        RequestSchema::compile(&json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "string", "enum": ["small", "large"]},
                        "replicas": {"type": "integer", "minimum": 1},
                        "port": {"x-kubernetes-int-or-string": true},
                        "owner": {"type": "string", "nullable": true},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "email": {"type": "string", "format": "email"}
                    }
                }
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_request_has_no_violations() {
        let doc = json!({"spec": {"size": "small", "port": "http", "owner": null, "email": "x"}});
        assert_eq!(schema().violations(&doc), []);
        let doc = json!({"spec": {"size": "large", "port": 8080, "replicas": 3}});
        assert_eq!(schema().violations(&doc), []);
    }

    #[test]
    fn violations_name_the_field() {
        let doc = json!({"spec": {"size": "huge", "replicas": 0, "tags": ["a", 1]}});
        let fields: Vec<String> = schema()
            .violations(&doc)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["spec.replicas", "spec.size", "spec.tags[1]"]);
    }

    #[test]
    fn missing_required_fields_are_reported_on_the_parent() {
        let violations = schema().violations(&json!({"spec": {}}));
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "spec");
        assert!(violations[0].message.contains("size"), "{}", violations[0]);
    }

    #[test]
    fn properties_named_like_keywords_keep_their_schema() {
        let schema = RequestSchema::compile(&json!({
            "type": "object",
            "properties": {
                "nullable": {"type": "integer"},
                "x-kubernetes-int-or-string": {"type": "boolean"}
            }
        }))
        .unwrap();
        let violations =
            schema.violations(&json!({"nullable": "text", "x-kubernetes-int-or-string": 1}));
        let fields: Vec<String> = violations.into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["nullable", "x-kubernetes-int-or-string"]);
    }

    #[test]
    fn a_long_value_is_echoed_as_a_short_prefix_with_its_length() {
        let long = "é".repeat(25_000);
        let violations = schema().violations(&json!({"spec": {"size": long}}));
        assert_eq!(violations.len(), 1);
        let message = &violations[0].message;
        assert!(message.len() < 300, "{message}");
        assert!(message.contains("… (50002 bytes)"), "{message}");
        assert!(message.starts_with("\"éé"), "{message}");
        assert!(message.contains("is not one of"), "{message}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any text, cut anywhere, gives a prefix of it, on a character boundary, no
        /// longer than asked, with the original length.
        #[test]
        fn abbreviating_keeps_a_prefix_and_the_length(text in ".{0,200}", keep in 0usize..100) {
            let short = abbreviate(&text, keep);
            if text.len() <= keep {
                proptest::prop_assert_eq!(short, text);
            } else {
                let suffix = format!("… ({} bytes)", text.len());
                let prefix = short.strip_suffix(&suffix).unwrap();
                proptest::prop_assert!(prefix.len() <= keep && text.starts_with(prefix));
            }
        }
    }

    #[test]
    fn short_values_are_echoed_whole_and_long_messages_are_cut() {
        assert_eq!(abbreviate("small", 64), "small");
        assert_eq!(abbreviate("abcdef", 3), "abc… (6 bytes)");
        assert_eq!(abbreviate("aé", 2), "a… (3 bytes)");
        let message = without_long_values("x".repeat(2000), "1");
        assert_eq!(
            message,
            format!("{}… (2000 bytes)", "x".repeat(MESSAGE_LIMIT))
        );
    }

    #[test]
    fn a_schema_as_deep_as_a_promise_may_nest_compiles_stores_and_checks_on_a_small_stack() {
        // 8 levels of Promise and CRD around the schema, two per nested property.
        let levels = (crate::yaml::PROMISE_MAX_DEPTH - 8) / 2;
        // Its innermost field has a default nested as deep as the rest allows.
        let mut deep = json!(1);
        for _ in 0..levels {
            deep = json!([deep]);
        }
        let mut schema = json!({"type": "string", "default": deep});
        let mut request = json!(1);
        for _ in 0..levels {
            schema = json!({"type": "object", "properties": {"p": schema}});
            request = json!({"p": request});
        }
        let run = move || {
            let compiled = RequestSchema::compile(&schema).unwrap();
            let mut stored = request.clone();
            let admitted = compiled.admit(&mut stored).unwrap();
            assert!(!admitted.changed, "{admitted:?}");
            compiled.violations(&request).len()
        };
        let thread = std::thread::Builder::new().stack_size(2 << 20).spawn(run);
        assert_eq!(thread.unwrap().join().unwrap(), 1);
    }

    #[test]
    fn int_or_string_refuses_other_types() {
        let violations = schema().violations(&json!({"spec": {"size": "small", "port": true}}));
        assert_eq!(violations[0].field, "spec.port");
    }
}
