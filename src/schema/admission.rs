//! A request as the Kubernetes API server would store it, which is what Kratix pipelines
//! read: unknown fields pruned, `null`s the schema does not allow dropped, `default`s
//! filled in, and `status` dropped (Kratix gives every Promise API a status subresource,
//! and the API server drops `status` from a created object then).
//!
//! The order is the API server's: pruning (and the dropping of `null`s that have no
//! default) first, then defaulting, so a default is never reported as unknown; fields a
//! default brings that the schema does not declare are pruned without a word (the API
//! server refuses such a CRD outright). Defaults inside a default apply too.
//!
//! Bounded, since both sides are hostile: defaults may add at most
//! [`DEFAULTS_MAX_BYTES`] to one request, the result may nest no deeper than
//! [`crate::yaml::MAX_DEPTH`], and at most [`UNKNOWN_LISTED`] unknown fields are named.

use serde_json::{Map, Value};

use super::structural::{DefaultValue, Structural};
use super::{Violation, abbreviate};
use crate::escape::one_line;
use crate::yaml::MAX_DEPTH;

/// How many bytes (as JSON) the defaults may add to one request: a request's array of
/// many items, each defaulted with a large value, must not make a pass run out of memory.
pub(crate) const DEFAULTS_MAX_BYTES: usize = 1 << 20;

/// How many unknown fields a request's problems name; the rest are counted.
pub(crate) const UNKNOWN_LISTED: usize = 32;

/// Where the schema says nothing: an object there is emptied, as the API server does.
static NOTHING: Structural = Structural {
    properties: std::collections::BTreeMap::new(),
    additional: None,
    items: None,
    preserve_unknown: false,
    embedded_resource: false,
    nullable: false,
    default: None,
};

/// The fields of a Kubernetes object's `metadata` (ObjectMeta); others are unknown.
const OBJECT_META: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Fields of a resource (the request, or an embedded resource) that the schema does
/// not describe and pruning leaves alone.
const RESOURCE_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// A field of the request that its schema does not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownField {
    /// Dotted path, e.g. `spec.sise`.
    pub(crate) field: String,
    /// The declared field it was probably meant to be, dotted, e.g. `spec.size`.
    pub(crate) suggestion: Option<String>,
}

impl UnknownField {
    /// What to say about it, without the field: `unknown field, did you mean spec.size?`.
    pub(crate) fn message(&self) -> String {
        match &self.suggestion {
            Some(suggestion) => format!("unknown field, did you mean {suggestion}?"),
            None => "unknown field".to_string(),
        }
    }
}

/// What storing a request did to it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// Whether anything was pruned, dropped or defaulted: when not, the committed bytes
    /// are what the API server would store.
    pub(crate) changed: bool,
    /// The unknown fields pruned, the first [`UNKNOWN_LISTED`] of them, in document order.
    pub(crate) unknown: Vec<UnknownField>,
    /// How many more unknown fields there were.
    pub(crate) unlisted: usize,
}

/// Prunes and defaults `document` (a whole request) against `schema` in place.
pub(crate) fn admit(document: &mut Value, schema: &Structural) -> Result<Admitted, Violation> {
    let mut walk = Walk::default();
    if let Value::Object(map) = document {
        walk.object(map, schema, &At::Root, 1, Origin::Root)?;
    }
    Ok(walk.done)
}

/// Where a value is in the request: a path written out only when a message needs it.
enum At<'p> {
    Root,
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl At<'_> {
    /// Dotted, as [`Violation::field`]: `spec.ports[0].name`. A key is shown on one line
    /// (a newline in a key could otherwise forge a line of `validate`'s report) and
    /// abbreviated when long.
    fn dotted(&self) -> String {
        let shown = |key: &str| abbreviate(&one_line(key), KEY_SHOWN);
        match self {
            At::Root => String::new(),
            At::Key(At::Root, key) => shown(key),
            At::Key(parent, key) => format!("{}.{}", parent.dotted(), shown(key)),
            At::Index(parent, index) => format!("{}[{index}]", parent.dotted()),
        }
    }
}

/// How much of a long key a message shows: a requester's key can be megabytes long.
const KEY_SHOWN: usize = 64;

/// How many of an object's declared fields an unknown field is compared with.
const SUGGEST_AMONG: usize = 1024;

/// Where the object being walked comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The request itself: `status` goes, `metadata` is an ObjectMeta.
    Root,
    /// Written by the requester: unknown fields are named.
    Request,
    /// Brought by a default: unknown fields are pruned without a word.
    Default,
}

#[derive(Default)]
struct Walk {
    done: Admitted,
    added_bytes: usize,
}

impl Walk {
    fn object(
        &mut self,
        map: &mut Map<String, Value>,
        schema: &Structural,
        at: &At<'_>,
        depth: usize,
        origin: Origin,
    ) -> Result<(), Violation> {
        let keeps_resource_fields = origin == Origin::Root || schema.embedded_resource;
        let is_resource_field = |key: &str| keeps_resource_fields && RESOURCE_FIELDS.contains(&key);
        let before = map.len();
        let mut unknown = Vec::new();
        map.retain(|key, value| {
            if origin == Origin::Root && key == "status" {
                return false;
            }
            if is_resource_field(key) {
                return true;
            }
            match schema.field(key) {
                Some(field) => !(value.is_null() && !field.nullable && field.default.is_none()),
                None if schema.preserve_unknown => true,
                None => {
                    unknown.push(key.clone());
                    false
                }
            }
        });
        self.done.changed |= map.len() != before;
        if origin != Origin::Default {
            for key in unknown {
                self.unknown(&At::Key(at, &key), || suggest(&key, schema, at));
            }
        }
        if origin == Origin::Root
            && let Some(Value::Object(metadata)) = map.get_mut("metadata")
        {
            self.metadata(metadata);
        }

        let mut defaulted = std::collections::BTreeSet::new();
        for (name, field) in &schema.properties {
            let Some(default) = &field.default else {
                continue;
            };
            let missing = match map.get(name) {
                None => true,
                Some(value) => value.is_null() && !field.nullable,
            };
            if missing {
                let value = self.copy(default, &At::Key(at, name), depth)?;
                map.insert(name.clone(), value);
                defaulted.insert(name.as_str());
            }
        }

        for (key, value) in map.iter_mut() {
            if is_resource_field(key) {
                continue;
            }
            let Some(field) = schema.field(key) else {
                continue;
            };
            let at = At::Key(at, key);
            if let (Value::Null, false, Some(default)) = (&value, field.nullable, &field.default) {
                *value = self.copy(default, &at, depth)?;
            }
            let origin = match origin {
                Origin::Default => Origin::Default,
                _ if defaulted.contains(key.as_str()) => Origin::Default,
                _ => Origin::Request,
            };
            self.value(value, field, &at, depth + 1, origin)?;
        }
        Ok(())
    }

    fn value(
        &mut self,
        value: &mut Value,
        schema: &Structural,
        at: &At<'_>,
        depth: usize,
        origin: Origin,
    ) -> Result<(), Violation> {
        match value {
            Value::Object(map) => self.object(map, schema, at, depth, origin),
            Value::Array(list) => {
                let items = schema.items.as_deref().unwrap_or(&NOTHING);
                for (index, item) in list.iter_mut().enumerate() {
                    let at = At::Index(at, index);
                    if let (Value::Null, false, Some(default)) =
                        (&item, items.nullable, &items.default)
                    {
                        *item = self.copy(default, &at, depth)?;
                    }
                    self.value(item, items, &at, depth + 1, origin)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A copy of `default`, for the field `at` of an object `depth` deep, if it keeps
    /// within the bounds.
    fn copy(
        &mut self,
        default: &DefaultValue,
        at: &At<'_>,
        depth: usize,
    ) -> Result<Value, Violation> {
        self.done.changed = true;
        self.added_bytes += default.bytes;
        if self.added_bytes > DEFAULTS_MAX_BYTES {
            return Err(Violation {
                field: at.dotted(),
                message: format!(
                    "the schema's defaults would add more than {} KiB to this request; the \
                     Promise's defaults are too large for requests like this one",
                    DEFAULTS_MAX_BYTES >> 10
                ),
            });
        }
        if depth + default.depth > MAX_DEPTH {
            return Err(Violation {
                field: at.dotted(),
                message: format!(
                    "the schema's default here would nest the request deeper than {MAX_DEPTH} \
                     levels; the Promise's default is too deep"
                ),
            });
        }
        Ok(default.value.clone())
    }

    /// Prunes the fields of the request's `metadata` that an ObjectMeta does not have.
    fn metadata(&mut self, metadata: &mut Map<String, Value>) {
        let mut unknown = Vec::new();
        metadata.retain(|key, _| {
            let known = OBJECT_META.contains(&key.as_str());
            if !known {
                unknown.push(key.clone());
            }
            known
        });
        for key in unknown {
            self.done.changed = true;
            let suggestion = || {
                let closest = closest(&key, OBJECT_META.iter().copied());
                closest.map(|k| format!("metadata.{k}"))
            };
            self.unknown(&At::Key(&At::Key(&At::Root, "metadata"), &key), suggestion);
        }
    }

    /// Counts an unknown field, and names it (with `suggestion()`) while fewer than
    /// [`UNKNOWN_LISTED`] are named.
    fn unknown(&mut self, at: &At<'_>, suggestion: impl FnOnce() -> Option<String>) {
        if self.done.unknown.len() == UNKNOWN_LISTED {
            self.done.unlisted += 1;
            return;
        }
        self.done.unknown.push(UnknownField {
            field: at.dotted(),
            suggestion: suggestion(),
        });
    }
}

/// The declared field `key` (unknown in the object at `at`) was probably meant to be:
/// a sibling spelled nearly the same, or else a field of that name one level down
/// (`size` written beside `spec` rather than in it).
fn suggest(key: &str, schema: &Structural, at: &At<'_>) -> Option<String> {
    if let Some(sibling) = closest(key, schema.properties.keys().map(String::as_str)) {
        return Some(At::Key(at, sibling).dotted());
    }
    let (parent, _) = schema
        .properties
        .iter()
        .find(|(_, field)| field.properties.contains_key(key))?;
    Some(At::Key(&At::Key(at, parent), key).dotted())
}

/// The name among `known` closest to `key`: equal but for case, or within two edits
/// and fewer than half its length (`w` is not a typo of `v`). The cost grows with both
/// lengths and the number of names, so long keys are not compared, names whose length
/// differs by more than two are skipped, and only the first [`SUGGEST_AMONG`] are read.
fn closest<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    if key.len() > KEY_SHOWN {
        return None;
    }
    let within = 2.min(key.chars().count() / 2);
    known
        .take(SUGGEST_AMONG)
        .filter(|k| k.len().abs_diff(key.len()) <= 2 || k.eq_ignore_ascii_case(key))
        .map(|k| {
            let distance = match k.eq_ignore_ascii_case(key) {
                true => 0,
                false => strsim::levenshtein(key, k),
            };
            (distance, k)
        })
        .min()
        .filter(|(distance, _)| *distance <= within)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(schema: Value, mut request: Value) -> (Value, Admitted) {
        let admitted = admit(&mut request, &Structural::read(&schema)).unwrap();
        (request, admitted)
    }

    fn unknown(admitted: &Admitted) -> Vec<String> {
        let fields = admitted.unknown.iter();
        fields
            .map(|u| format!("{}: {}", u.field, u.message()))
            .collect()
    }

    /// A request with `spec`, as a Promise's schema describes one.
    fn with_spec(spec: Value) -> Value {
        json!({"type": "object", "properties": {"spec": spec}})
    }

    fn request(spec: Value) -> Value {
        json!({"apiVersion": "a.b/v1", "kind": "App", "metadata": {"name": "x"}, "spec": spec})
    }

    #[test]
    fn a_request_the_schema_fits_whole_is_unchanged() {
        let schema = with_spec(json!({"type": "object", "properties": {
            "size": {"type": "string", "default": "small"},
            "tags": {"type": "array", "items": {"type": "string"}}
        }}));
        let given = request(json!({"size": "large", "tags": ["a"]}));
        let (stored, admitted) = store(schema, given.clone());
        assert_eq!(stored, given);
        assert_eq!(admitted, Admitted::default());
    }

    #[test]
    fn defaults_fill_missing_fields_at_every_depth_and_inside_defaults() {
        let schema = with_spec(json!({
            "type": "object",
            "default": {},
            "properties": {
                "env": {"type": "string", "default": "dev"},
                "db": {
                    "type": "object",
                    "default": {"engine": "postgres"},
                    "properties": {
                        "engine": {"type": "string"},
                        "version": {"type": "integer", "default": 16}
                    }
                },
                "cache": {
                    "type": "object",
                    "properties": {"ttl": {"type": "integer", "default": 60}}
                }
            }
        }));
        let (stored, admitted) = store(schema.clone(), request(json!({"cache": {}})));
        assert!(admitted.changed);
        assert_eq!(
            stored["spec"],
            json!({"cache": {"ttl": 60}, "db": {"engine": "postgres", "version": 16}, "env": "dev"})
        );
        let mut bare = request(json!(null));
        bare.as_object_mut().unwrap().remove("spec");
        let (stored, _) = store(schema, bare);
        assert_eq!(
            stored["spec"],
            json!({"db": {"engine": "postgres", "version": 16}, "env": "dev"}),
            "an object that is absent gets no defaults unless it has a default itself"
        );
    }

    #[test]
    fn defaults_inside_items_apply_to_each_element() {
        let schema = with_spec(json!({"type": "object", "properties": {
            "ports": {"type": "array", "items": {
                "type": "object",
                "default": {"port": 80},
                "properties": {
                    "port": {"type": "integer"},
                    "protocol": {"type": "string", "default": "TCP"}
                }
            }},
            "names": {"type": "array", "items": {"type": "string", "nullable": true, "default": "x"}}
        }}));
        let spec = json!({"ports": [{"port": 443}, null, {"port": 53, "protocol": "UDP"}], "names": [null]});
        let (stored, _) = store(schema, request(spec));
        assert_eq!(
            stored["spec"]["ports"],
            json!([{"port": 443, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}])
        );
        assert_eq!(
            stored["spec"]["names"],
            json!([null]),
            "a nullable null stays"
        );
    }

    #[test]
    fn nulls_are_kept_defaulted_or_dropped_as_the_schema_says() {
        let schema = with_spec(json!({"type": "object", "properties": {
            "owner": {"type": "string", "nullable": true, "default": "me"},
            "env": {"type": "string", "default": "dev"},
            "size": {"type": "string"}
        }}));
        let spec = json!({"owner": null, "env": null, "size": null});
        let (stored, admitted) = store(schema, request(spec));
        assert_eq!(stored["spec"], json!({"owner": null, "env": "dev"}));
        assert!(admitted.changed);
        assert_eq!(
            unknown(&admitted),
            Vec::<String>::new(),
            "a dropped null is no unknown field"
        );
    }

    #[test]
    fn unknown_fields_are_pruned_and_named_with_a_suggestion() {
        let schema = with_spec(json!({"type": "object", "properties": {
            "size": {"type": "string"},
            "replicas": {"type": "integer"},
            "ports": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
        }}));
        let mut given = request(
            json!({"sise": "small", "Replicas": 2, "colour": "red", "ports": [{"nmae": "http"}]}),
        );
        given["size"] = json!("large");
        given["metadata"]["lables"] = json!({"a": "b"});
        given["status"] = json!({"message": "forged"});
        let (stored, admitted) = store(schema, given);
        assert_eq!(
            unknown(&admitted),
            [
                "size: unknown field, did you mean spec.size?",
                "metadata.lables: unknown field, did you mean metadata.labels?",
                "spec.sise: unknown field, did you mean spec.size?",
                "spec.Replicas: unknown field, did you mean spec.replicas?",
                "spec.colour: unknown field",
                "spec.ports[0].nmae: unknown field, did you mean spec.ports[0].name?",
            ]
        );
        assert_eq!(
            stored,
            json!({"apiVersion": "a.b/v1", "kind": "App", "metadata": {"name": "x"}, "spec": {"ports": [{}]}}),
            "status goes too, without a word: Kratix's APIs have a status subresource"
        );
    }

    #[test]
    fn preserve_unknown_fields_keeps_unknown_fields_at_its_level_only() {
        let schema = with_spec(json!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {
                "db": {"type": "object", "properties": {"engine": {"type": "string", "default": "pg"}}}
            }
        }));
        let spec = json!({"anything": {"deep": [1, {"x": null}]}, "db": {"typo": 1}});
        let (stored, admitted) = store(schema, request(spec));
        assert_eq!(
            stored["spec"],
            json!({"anything": {"deep": [1, {"x": null}]}, "db": {"engine": "pg"}})
        );
        assert_eq!(unknown(&admitted), ["spec.db.typo: unknown field"]);
    }

    #[test]
    fn maps_keep_their_keys_and_embedded_resources_their_metadata() {
        let schema = with_spec(json!({"type": "object", "properties": {
            "labels": {"type": "object", "additionalProperties": {
                "type": "object", "properties": {"v": {"type": "string", "default": "-"}}
            }},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }}
        }}));
        let template = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"odd": 1}, "spec": {"a": 1}, "x": 2});
        let spec = json!({"labels": {"a": {"v": "1", "w": 2}, "b": {}}, "template": template});
        let (stored, admitted) = store(schema, request(spec));
        assert_eq!(
            stored["spec"]["labels"],
            json!({"a": {"v": "1"}, "b": {"v": "-"}})
        );
        assert_eq!(
            stored["spec"]["template"],
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"odd": 1}, "spec": {"a": 1}})
        );
        assert_eq!(
            unknown(&admitted),
            [
                "spec.labels.a.w: unknown field",
                "spec.template.x: unknown field"
            ]
        );
    }

    #[test]
    fn fields_a_default_brings_that_the_schema_lacks_are_pruned_silently() {
        let schema = with_spec(json!({"type": "object", "properties": {
            "db": {"type": "object", "default": {"engine": "pg", "extra": 1}, "properties": {"engine": {"type": "string"}}}
        }}));
        let (stored, admitted) = store(schema, request(json!({})));
        assert_eq!(stored["spec"], json!({"db": {"engine": "pg"}}));
        assert!(admitted.unknown.is_empty());
    }

    #[test]
    fn a_schema_without_fields_empties_an_object_and_names_what_it_held() {
        let schema = with_spec(json!({"type": "object"}));
        let (stored, admitted) = store(schema, request(json!({"size": 1})));
        assert_eq!(stored["spec"], json!({}));
        assert_eq!(unknown(&admitted), ["spec.size: unknown field"]);
    }

    #[test]
    fn an_unknown_key_with_a_newline_is_named_on_one_line() {
        let schema = with_spec(json!({"type": "object"}));
        let key = "x\nrequests/app/b.yaml:1: forged";
        let (_, admitted) = store(schema, request(json!({key: 1})));
        assert_eq!(
            admitted.unknown[0].field,
            "spec.x\\nrequests/app/b.yaml:1: forged"
        );
    }

    #[test]
    fn a_few_unknown_fields_are_named_and_the_rest_counted() {
        let spec: Map<String, Value> = (0..100).map(|i| (format!("f{i}"), json!(i))).collect();
        let schema = with_spec(json!({"type": "object"}));
        let (_, admitted) = store(schema, request(Value::Object(spec)));
        assert_eq!(admitted.unknown.len(), UNKNOWN_LISTED);
        assert_eq!(admitted.unlisted, 100 - UNKNOWN_LISTED);
    }

    #[test]
    fn a_long_unknown_key_is_shown_abbreviated_and_not_compared() {
        let key = "k".repeat(1 << 20);
        let schema = with_spec(json!({"type": "object", "properties": {"k": {"type": "string"}}}));
        let (_, admitted) = store(schema, request(json!({key: 1})));
        let field = &admitted.unknown[0];
        assert!(field.field.len() < 100, "{}", field.field);
        assert!(
            field.field.ends_with("… (1048576 bytes)"),
            "{}",
            field.field
        );
        assert_eq!(field.suggestion, None);
    }

    #[test]
    fn defaults_that_multiply_past_the_budget_are_refused_with_the_field() {
        let big = "x".repeat(64 << 10);
        let schema = with_spec(json!({"type": "object", "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "blob": {"type": "string", "default": big}
            }}}
        }}));
        let items: Vec<Value> = (0..100).map(|_| json!({})).collect();
        let mut given = request(json!({"items": items}));
        let err = admit(&mut given, &Structural::read(&schema)).unwrap_err();
        assert_eq!(err.field, "spec.items[15].blob");
        assert!(err.message.contains("1024 KiB"), "{}", err.message);
    }

    #[test]
    fn a_default_that_would_nest_past_the_bound_is_refused() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!({"d": deep});
        }
        let schema = with_spec(json!({"type": "object", "properties": {
            "x": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "default": deep}
        }}));
        let mut given = request(json!({}));
        let err = admit(&mut given, &Structural::read(&schema)).unwrap_err();
        assert_eq!(err.field, "spec.x");
        assert!(err.message.contains("deeper than 64"), "{}", err.message);
    }

    #[test]
    fn a_request_without_a_schema_loses_only_its_status() {
        let mut given = request(json!({"any": 1}));
        given["status"] = json!({});
        let admitted = crate::schema::admit_without_schema(&mut given);
        assert!(admitted.changed && admitted.unknown.is_empty());
        assert_eq!(given, request(json!({"any": 1})));
    }

    /// Any JSON value, keys drawn from the names the schema below uses.
    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec![
            "spec", "size", "env", "ports", "port", "x", "status", "metadata", "name",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (0i64..100).prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 48, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..4).prop_map(|pairs| Value::Object(
                    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// What the API server stores, it stores again unchanged: storing is idempotent,
        /// so a request already in stored form is passed on byte for byte.
        #[test]
        fn storing_a_stored_request_changes_nothing(spec in any_value(), extra in any_value()) {
            let schema = Structural::read(&with_spec(json!({
                "type": "object",
                "default": {"env": null},
                "properties": {
                    "size": {"type": "string", "nullable": true, "default": "s"},
                    "env": {"type": "string", "default": "dev"},
                    "x": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                          "properties": {"port": {"type": "integer", "default": 1}}},
                    "ports": {"type": "array", "items": {"type": "object", "default": {"x": 1},
                        "properties": {"port": {"type": "integer", "default": 80}, "name": {"type": "string"}}}}
                }
            })));
            let mut document = request(spec);
            document["status"] = extra;
            let first = admit(&mut document, &schema);
            proptest::prop_assert!(first.is_ok());
            let stored = document.clone();
            let second = admit(&mut document, &schema).unwrap();
            proptest::prop_assert_eq!(second, Admitted::default());
            proptest::prop_assert_eq!(document, stored);
        }
    }
}
