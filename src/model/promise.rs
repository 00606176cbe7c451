//! Kratix `Promise` documents: the API a Promise offers, where its output may go, and the
//! pipelines that turn a request into Kubernetes documents.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::workflows::{self, Workflows, WorkflowsDoc};
use super::{Labels, LoadError, Problem, selectors_from_kratix};
use crate::path_segment::Segment;
use crate::yaml;

/// The `apiVersion` of Kratix platform documents (`Promise`, `Destination`, `Pipeline`).
pub(crate) const PLATFORM_API_VERSION: &str = "platform.kratix.io/v1alpha1";

/// A Promise, as read from `promises/<file>.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Promise {
    /// `metadata.name`; requests for it live under `requests/<name>/`. A Kubernetes name,
    /// and a safe path segment: it names folders under `status/` and `state/`.
    pub(crate) name: Segment,
    /// `metadata.annotations`; promised reads `promised.dev/executor` and
    /// `promised.dev/pipeline-network` from them.
    pub(crate) annotations: BTreeMap<String, String>,
    /// Repository path of the file it came from.
    pub(crate) path: String,
    /// The API that requests must match; `None` for a Promise without `spec.api`, which
    /// offers dependencies (and Promise workflows) but no requests.
    pub(crate) api: Option<Api>,
    /// `spec.destinationSelectors`, merged into one label set.
    pub(crate) destination_selectors: Labels,
    /// Git blob id of its file: what its status records, to tell a changed Promise.
    pub(crate) blob: String,
    /// The file as committed: a Promise workflow's `object.yaml`.
    pub(crate) source: Vec<u8>,
    /// The `kratix.io/promise-version` label, which `spec.requiredPromises` of other
    /// Promises name.
    pub(crate) version: Option<String>,
    /// `spec.requiredPromises`: Promises that must be available before this one is.
    pub(crate) required_promises: Vec<RequiredPromise>,
    /// Whether it carries Kratix's `kratix.io/paused: "true"` label: none of its
    /// workflows runs, nor any of its requests', until the label goes.
    pub(crate) paused: bool,
    /// `spec.workflows` (the seed's `xaasRequestPipeline` is the resource configure
    /// workflow's one chained pipeline).
    pub workflows: Workflows,
    /// `spec.dependencies`: static documents written to every matching destination.
    pub(crate) dependencies: Vec<Value>,
    /// How often its requests rerun, from `spec.workflows.config.reconciliationInterval`
    /// or the `kratix.io/reconciliation-interval` annotation; `None` follows the global
    /// schedule.
    pub(crate) reconciliation_interval: Option<Duration>,
    /// What loads but deserves a word (the seed era's field names), for `validate`.
    pub(crate) notes: Vec<Problem>,
}

/// One entry of `spec.requiredPromises`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct RequiredPromise {
    /// The required Promise's name.
    pub(crate) name: String,
    /// The `kratix.io/promise-version` it must have; any version when `None`.
    #[serde(default)]
    pub(crate) version: Option<String>,
}

/// The label that gives a Promise's version.
pub(crate) const VERSION_LABEL: &str = "kratix.io/promise-version";

/// The label that pauses a Promise or a request, as in Kratix.
pub(crate) const PAUSED_LABEL: &str = "kratix.io/paused";

/// The annotation Kratix reads a Promise's rerun interval from.
pub(crate) const INTERVAL_ANNOTATION: &str = "kratix.io/reconciliation-interval";

/// The request API of a Promise: what `spec.api` (a CustomResourceDefinition) declares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Api {
    /// API group, e.g. `marketplace.kratix.io`.
    pub(crate) group: String,
    /// Kind of request documents.
    pub(crate) kind: String,
    /// Plural resource name (`KRATIX_CRD_PLURAL`).
    pub(crate) plural: String,
    /// Whether requests are cluster-scoped (no namespace).
    pub(crate) cluster_scoped: bool,
    /// Served versions, each with its schema.
    pub(crate) versions: Vec<ApiVersion>,
}

/// One served version of a Promise's API.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiVersion {
    /// Version name, e.g. `v1alpha1`.
    pub(crate) name: String,
    /// `schema.openAPIV3Schema`, when the version has one.
    pub(crate) schema: Option<Value>,
}

impl Api {
    /// The served version that a request's `apiVersion` names, if it names this API.
    pub(crate) fn version_for(&self, api_version: &str, kind: &str) -> Option<&ApiVersion> {
        let (group, version) = api_version.split_once('/')?;
        if group != self.group || kind != self.kind {
            return None;
        }
        self.versions.iter().find(|v| v.name == version)
    }

    /// `group/version` strings of every served version, for error messages.
    pub(crate) fn served(&self) -> Vec<String> {
        let versions = self.versions.iter();
        versions
            .map(|v| format!("{}/{}", self.group, v.name))
            .collect()
    }
}

impl Promise {
    /// Reads a Promise document. `path` is only used in errors.
    pub(crate) fn parse(path: &str, text: &str) -> Result<Self, LoadError> {
        let fail = |err: yaml::YamlError| LoadError::new(path, err);
        let value = yaml::document_nested(text, yaml::PROMISE_MAX_DEPTH).map_err(fail)?;
        let doc: PromiseDoc = yaml::typed(value).map_err(fail)?;
        if doc.kind != "Promise" {
            return Err(LoadError::new(
                path,
                Problem::at("kind", format!("expected Promise, found {:?}", doc.kind)),
            ));
        }
        let mut spec = doc.spec.unwrap_or_default();
        let mut interval_notes = Vec::new();
        let interval = interval(
            &doc.metadata.annotations,
            spec.workflows.as_ref(),
            &mut interval_notes,
        )
        .map_err(|m| LoadError::new(path, m))?;
        let name = super::promise_name(&doc.metadata.name).map_err(|e| {
            let why = format!("{:?} {e}", doc.metadata.name);
            LoadError::new(path, Problem::at("metadata.name", why))
        })?;
        let annotations = doc.metadata.annotations.unwrap_or_default();
        let mut notes = seed_era_notes(&spec);
        notes.extend(interval_notes);
        let (api, dependencies) = seed_era_names(&mut spec).map_err(|m| LoadError::new(path, m))?;
        let api = api.map(CrdDoc::into_api).transpose();
        let api = api.map_err(|m| LoadError::new(path, m))?;
        let (workflows, unread) =
            workflows::read(&name, spec.workflows, spec.xaas_request_pipeline)
                .map_err(|m| LoadError::new(path, m))?;
        notes.extend(unread);
        notes.extend(spec.other.keys().map(|field| {
            super::unknown_field(field, "a Promise's spec", &SPEC_FIELDS).within("spec")
        }));
        let label = |name: &str| doc.metadata.labels.as_ref()?.get(name).cloned();
        let version = label(VERSION_LABEL);
        let paused = label(PAUSED_LABEL).as_deref() == Some("true");
        Ok(Promise {
            name,
            annotations,
            path: path.to_string(),
            blob: String::new(),
            source: text.as_bytes().to_vec(),
            version,
            paused,
            required_promises: spec.required_promises,
            api,
            destination_selectors: selectors_from_kratix(&spec.destination_selectors),
            workflows,
            dependencies,
            reconciliation_interval: interval,
            notes,
        })
    }
}

/// A deprecation note for each seed-era field the Promise uses: it still runs, but
/// Kratix reads the newer fields today.
fn seed_era_notes(spec: &PromiseSpec) -> Vec<Problem> {
    let used = [
        (spec.xaas_crd.is_some(), "spec.xaasCrd", "spec.api"),
        (
            !spec.worker_cluster_resources.is_empty(),
            "spec.workerClusterResources",
            "spec.dependencies",
        ),
        (
            !spec.xaas_request_pipeline.is_empty(),
            "spec.xaasRequestPipeline",
            "spec.workflows.resource.configure",
        ),
    ];
    let used = used.into_iter().filter(|(used, _, _)| *used);
    used.map(|(_, old, new)| {
        Problem::at(
            old,
            format!("the seed era's field, deprecated; Kratix reads {new} today"),
        )
    })
    .collect()
}

/// The API and the dependencies, under their names or the seed era's (`xaasCrd`,
/// `workerClusterResources`), which older Promises still use; one of each at most.
fn seed_era_names(spec: &mut PromiseSpec) -> Result<(Option<CrdDoc>, Vec<Value>), Problem> {
    let api = match (spec.api.take(), spec.xaas_crd.take()) {
        (Some(_), Some(_)) => {
            let why = "give spec.api or the older spec.xaasCrd, not both";
            return Err(Problem::at("spec", why));
        }
        (api, xaas) => api.or(xaas),
    };
    let dependencies = std::mem::take(&mut spec.dependencies);
    let older = std::mem::take(&mut spec.worker_cluster_resources);
    if !dependencies.is_empty() && !older.is_empty() {
        let why = "give spec.dependencies or the older spec.workerClusterResources, not both";
        return Err(Problem::at("spec", why));
    }
    Ok((
        api,
        if older.is_empty() {
            dependencies
        } else {
            older
        },
    ))
}

/// The API kind a Promise named `name` gets where promised writes the Promise (`promised
/// promise new`, and the Promises of tests): `my-db` gives `MyDb`.
pub(crate) fn kind_for(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The rerun interval, as Kratix picks it: the annotation when it is a duration of at
/// least a minute (Kratix ignores it otherwise, and so does promised, with a warning),
/// else the workflow config, else `None` (the global schedule). A malformed
/// `reconciliationInterval` is an error, as the API server refuses it.
fn interval(
    annotations: &Option<BTreeMap<String, String>>,
    workflows: Option<&WorkflowsDoc>,
    notes: &mut Vec<Problem>,
) -> Result<Option<Duration>, Problem> {
    let annotation = annotations
        .as_ref()
        .and_then(|a| a.get(INTERVAL_ANNOTATION));
    if let Some(text) = annotation {
        match humantime::parse_duration(text) {
            Ok(duration) if duration >= MIN_ANNOTATED_INTERVAL => return Ok(Some(duration)),
            _ => notes.push(Problem::at(
                format!("metadata.annotations[{INTERVAL_ANNOTATION}]"),
                format!("{text:?} is not a duration of at least 1m; as in Kratix, it is ignored"),
            )),
        }
    }
    let from_spec = workflows
        .and_then(|w| w.config.as_ref())
        .and_then(|c| c.reconciliation_interval.as_deref());
    let Some(text) = from_spec else {
        return Ok(None);
    };
    let field = "spec.workflows.config.reconciliationInterval";
    let duration = humantime::parse_duration(text).map_err(|e| {
        Problem::at(
            field,
            format!("{text:?} is not a duration such as 30m or 1h: {e}"),
        )
    })?;
    if duration < Duration::from_secs(1) {
        let why = format!("{text:?} is too short; give at least 1s");
        return Err(Problem::at(field, why));
    }
    Ok(Some(duration))
}

/// The shortest interval Kratix takes from the annotation.
const MIN_ANNOTATED_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct PromiseDoc {
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    spec: Option<PromiseSpec>,
}

#[derive(Deserialize)]
pub(super) struct Metadata {
    pub(super) name: String,
    #[serde(default)]
    pub(super) annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) labels: Option<Labels>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PromiseSpec {
    #[serde(default)]
    api: Option<CrdDoc>,
    /// The seed era's name for `api`.
    #[serde(default)]
    xaas_crd: Option<CrdDoc>,
    /// The seed era's name for `dependencies`.
    #[serde(default)]
    worker_cluster_resources: Vec<Value>,
    #[serde(default)]
    destination_selectors: Vec<super::KratixSelector>,
    #[serde(default)]
    workflows: Option<WorkflowsDoc>,
    #[serde(default)]
    xaas_request_pipeline: Vec<String>,
    #[serde(default)]
    dependencies: Vec<Value>,
    #[serde(default)]
    required_promises: Vec<RequiredPromise>,
    /// Fields promised does not read, kept to name them in warnings.
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

/// The fields of a Promise's `spec`, the seed era's included.
const SPEC_FIELDS: [&str; 8] = [
    "api",
    "workflows",
    "dependencies",
    "destinationSelectors",
    "requiredPromises",
    "xaasCrd",
    "workerClusterResources",
    "xaasRequestPipeline",
];

#[derive(Deserialize)]
struct CrdDoc {
    spec: CrdSpec,
}

#[derive(Deserialize)]
struct CrdSpec {
    group: String,
    names: CrdNames,
    #[serde(default)]
    scope: Option<String>,
    versions: Vec<CrdVersion>,
}

#[derive(Deserialize)]
struct CrdNames {
    kind: String,
    #[serde(default)]
    plural: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CrdVersion {
    name: String,
    #[serde(default = "served_default")]
    served: bool,
    #[serde(default)]
    schema: Option<CrdSchema>,
}

fn served_default() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CrdSchema {
    #[serde(rename = "openAPIV3Schema")]
    open_api_v3_schema: Option<Value>,
}

impl CrdDoc {
    fn into_api(self) -> Result<Api, Problem> {
        let spec = self.spec;
        let versions: Vec<ApiVersion> = spec
            .versions
            .into_iter()
            .filter(|v| v.served)
            .map(|v| ApiVersion {
                name: v.name,
                schema: v.schema.and_then(|s| s.open_api_v3_schema),
            })
            .collect();
        if versions.is_empty() {
            return Err(Problem::at(
                "spec.api.spec.versions",
                "no version is served",
            ));
        }
        Ok(Api {
            plural: spec
                .names
                .plural
                .unwrap_or_else(|| spec.names.kind.to_lowercase()),
            cluster_scoped: spec.scope.as_deref() == Some("Cluster"),
            group: spec.group,
            kind: spec.names.kind,
            versions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_the_name_in_camel_case() {
        assert_eq!(kind_for("redis"), "Redis");
        assert_eq!(kind_for("my-db"), "MyDb");
    }

    const REDIS: &str = r#"
apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata:
  name: redis
spec:
  api:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: redis.marketplace.kratix.io
    spec:
      group: marketplace.kratix.io
      names: {kind: redis, plural: redis}
      scope: Namespaced
      versions:
        - name: v1alpha1
          served: true
          schema:
            openAPIV3Schema:
              type: object
  destinationSelectors:
    - matchLabels: {environment: dev}
  workflows:
    resource:
      configure:
        - apiVersion: platform.kratix.io/v1alpha1
          kind: Pipeline
          metadata: {name: instance}
          spec:
            containers:
              - name: render
                image: example/redis-pipeline:v1
                command: [sh, -c]
                args: ["cp $KRATIX_INPUT/object.yaml $KRATIX_OUTPUT/"]
                env:
                  - {name: SIZE, value: small}
"#;

    /// [`REDIS`] with its request schema nested so that the file is `depth` levels deep.
    fn redis_nested(depth: usize) -> String {
        // The mapping of `openAPIV3Schema` is at level 8; each property adds two.
        let mut schema = String::new();
        let mut indent = "              ".to_string();
        let mut level = 8;
        while level + 2 <= depth {
            schema.push_str(&format!("{indent}properties:\n{indent}  p:\n"));
            indent.push_str("    ");
            level += 2;
        }
        schema.push_str(&format!("{indent}type: object\n"));
        if level < depth {
            schema.push_str(&format!("{indent}x-extra:\n{indent}  - 1\n"));
        }
        REDIS.replace("              type: object\n", &schema)
    }

    #[test]
    fn a_promise_may_nest_256_deep_and_no_deeper() {
        let promise = Promise::parse("p.yaml", &redis_nested(yaml::PROMISE_MAX_DEPTH)).unwrap();
        assert_eq!(promise.name, "redis");
        let err = Promise::parse("p.yaml", &redis_nested(yaml::PROMISE_MAX_DEPTH + 1)).unwrap_err();
        assert!(err.to_string().contains("depth"), "{err}");
    }

    #[test]
    fn reads_the_kratix_shape() {
        let promise = Promise::parse("promises/redis.yaml", REDIS).unwrap();
        assert_eq!(promise.name, "redis");
        assert_eq!(promise.api.as_ref().unwrap().group, "marketplace.kratix.io");
        assert_eq!(
            promise.api.as_ref().unwrap().served(),
            ["marketplace.kratix.io/v1alpha1"]
        );
        assert_eq!(promise.destination_selectors["environment"], "dev");
        let pipeline = &promise.workflows.resource.configure[0];
        assert_eq!(pipeline.name, "instance");
        assert!(!pipeline.chained);
        assert_eq!(pipeline.containers[0].command, ["sh", "-c"]);
        assert_eq!(
            pipeline.containers[0].env[0].value.as_deref(),
            Some("small")
        );
    }

    #[test]
    fn matches_requests_by_group_version_and_kind() {
        let api = Promise::parse("p.yaml", REDIS).unwrap().api.unwrap();
        assert!(
            api.version_for("marketplace.kratix.io/v1alpha1", "redis")
                .is_some()
        );
        assert!(
            api.version_for("marketplace.kratix.io/v1", "redis")
                .is_none()
        );
        assert!(
            api.version_for("marketplace.kratix.io/v1alpha1", "postgres")
                .is_none()
        );
        assert!(api.version_for("v1", "redis").is_none());
    }

    #[test]
    fn accepts_the_seed_form_as_one_chained_pipeline() {
        let text = r#"
kind: Promise
metadata: {name: jenkins}
spec:
  api:
    spec:
      group: example.promised.dev
      names: {kind: jenkins}
      versions: [{name: v1}]
  xaasRequestPipeline: [example/a:v1, example/b:v1]
"#;
        let promise = Promise::parse("promises/jenkins.yaml", text).unwrap();
        let pipeline = &promise.workflows.resource.configure[0];
        assert!(pipeline.chained);
        assert_eq!(pipeline.containers.len(), 2);
        assert_eq!(pipeline.containers[1].image, "example/b:v1");
        assert_eq!(promise.api.as_ref().unwrap().plural, "jenkins");
    }

    #[test]
    fn the_pipeline_namespace_is_read_and_must_be_a_namespace_name() {
        let promise = Promise::parse("p.yaml", REDIS).unwrap();
        assert_eq!(promise.workflows.pipeline_namespace, None);
        let with = |namespace: &str| {
            let config =
                format!("  workflows:\n    config: {{pipelineNamespace: {namespace:?}}}\n");
            Promise::parse("p.yaml", &REDIS.replace("  workflows:\n", &config))
        };
        let promise = with("redis-pipelines").unwrap();
        assert_eq!(
            promise.workflows.pipeline_namespace.as_deref(),
            Some("redis-pipelines")
        );
        assert!(promise.notes.is_empty(), "{:?}", promise.notes);
        for refused in ["", "Redis", "a.b", "-a", "kube system", &"a".repeat(64)] {
            let err = with(refused).unwrap_err().to_string();
            assert!(
                err.contains("spec.workflows.config.pipelineNamespace:"),
                "{refused:?}: {err}"
            );
        }
    }

    #[test]
    fn the_rerun_interval_comes_from_the_spec_or_the_annotation() {
        let promise = Promise::parse("p.yaml", REDIS).unwrap();
        assert_eq!(promise.reconciliation_interval, None);
        let annotated = REDIS.replace(
            "  name: redis\n",
            "  name: redis\n  annotations: {kratix.io/reconciliation-interval: 30m}\n",
        );
        let promise = Promise::parse("p.yaml", &annotated).unwrap();
        assert_eq!(
            promise.reconciliation_interval,
            Some(Duration::from_secs(1800))
        );
        let spec = REDIS.replace(
            "  workflows:\n",
            "  workflows:\n    config: {reconciliationInterval: 1h}\n",
        );
        let promise = Promise::parse("p.yaml", &spec).unwrap();
        assert_eq!(
            promise.reconciliation_interval,
            Some(Duration::from_secs(3600))
        );
        let bad = REDIS.replace(
            "  workflows:\n",
            "  workflows:\n    config: {reconciliationInterval: soon}\n",
        );
        let err = Promise::parse("p.yaml", &bad).unwrap_err();
        assert!(
            err.message()
                .starts_with("spec.workflows.config.reconciliationInterval:"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn the_annotation_wins_over_the_spec_and_is_ignored_when_kratix_would() {
        let both = |annotation: &str| {
            REDIS
                .replace(
                    "  name: redis\n",
                    &format!(
                        "  name: redis\n  annotations: {{kratix.io/reconciliation-interval: {annotation}}}\n"
                    ),
                )
                .replace(
                    "  workflows:\n",
                    "  workflows:\n    config: {reconciliationInterval: 1h}\n",
                )
        };
        let promise = Promise::parse("p.yaml", &both("5m")).unwrap();
        assert_eq!(
            promise.reconciliation_interval,
            Some(Duration::from_secs(300))
        );
        for ignored in ["30s", "soon"] {
            let promise = Promise::parse("p.yaml", &both(ignored)).unwrap();
            assert_eq!(
                promise.reconciliation_interval,
                Some(Duration::from_secs(3600)),
                "{ignored}"
            );
            assert!(
                promise.notes[0]
                    .to_string()
                    .contains("is not a duration of at least 1m; as in Kratix, it is ignored"),
                "{:?}",
                promise.notes
            );
        }
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let text = REDIS.replace("name: render", "name: [render]");
        let err = Promise::parse("promises/redis.yaml", &text).unwrap_err();
        assert_eq!(err.path, "promises/redis.yaml");
        assert!(
            err.message()
                .starts_with("spec.workflows.resource.configure[0].spec.containers[0].name:"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_name_that_cannot_be_a_folder_makes_the_promise_unreadable() {
        for name in ["../x", ".git", "\"a\\nb\"", "Redis"] {
            let text = REDIS.replacen(
                "metadata:\n  name: redis\n",
                &format!("metadata:\n  name: {name}\n"),
                1,
            );
            assert_ne!(text, REDIS);
            let err = Promise::parse("promises/redis.yaml", &text).unwrap_err();
            assert!(
                err.message().starts_with("metadata.name:"),
                "{}",
                err.message()
            );
        }
    }

    #[test]
    fn the_seed_era_names_read_as_the_api_and_the_dependencies() {
        let text = "kind: Promise\nmetadata: {name: old}\nspec:\n  xaasCrd:\n    spec:\n      group: old.example.com\n      names: {kind: Old, plural: olds}\n      versions: [{name: v1}]\n  workerClusterResources:\n    - {apiVersion: v1, kind: Namespace, metadata: {name: old}}\n  xaasRequestPipeline: [ghcr.io/example/old:v1]\n";
        let promise = Promise::parse("promises/old.yaml", text).unwrap();
        assert_eq!(promise.api.unwrap().served(), ["old.example.com/v1"]);
        assert_eq!(promise.dependencies.len(), 1);
        assert!(promise.workflows.resource.configure[0].chained);
        let both = text.replace(
            "  workerClusterResources:",
            "  dependencies: [{kind: A}]\n  workerClusterResources:",
        );
        let err = Promise::parse("promises/old.yaml", &both).unwrap_err();
        assert!(err.message().contains("not both"), "{}", err.message());
    }

    #[test]
    fn a_promise_without_an_api_or_without_a_spec_loads() {
        let text = "kind: Promise\nmetadata: {name: base}\nspec:\n  dependencies:\n    - {apiVersion: v1, kind: Namespace, metadata: {name: base}}\n";
        let promise = Promise::parse("promises/base.yaml", text).unwrap();
        assert!(promise.api.is_none());
        assert_eq!(promise.dependencies.len(), 1);
        let bare = Promise::parse(
            "promises/bare.yaml",
            "kind: Promise\nmetadata: {name: bare}\n",
        );
        let bare = bare.unwrap();
        assert!(
            bare.api.is_none()
                && bare.workflows.resource.configure.is_empty()
                && bare.dependencies.is_empty()
        );
    }
}
