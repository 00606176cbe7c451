//! Kratix `Pipeline` documents: an ordered list of containers run on a request.

use serde::Deserialize;
use serde_json::Value;

use super::Problem;
use crate::yaml;

/// The fields of a Kubernetes container (core/v1 `Container`).
const CONTAINER_FIELDS: [&str; 24] = [
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
];

/// The fields of a Kratix Pipeline's `spec` that promised reads.
const SPEC_FIELDS: [&str; 6] = [
    "containers",
    "volumes",
    "imagePullSecrets",
    "nodeSelector",
    "tolerations",
    "rbac",
];

/// The fields of a Kratix Pipeline's `spec` that promised does not read yet, with what
/// that means: each is a Kubernetes Job or Pod setting of Kratix's pipeline Job.
const UNREAD_SPEC_FIELDS: [(&str, &str); 2] = [
    (
        "jobOptions",
        "Kratix's Job retries (backoffLimit); promised retries a failed pipeline on its next pass (serve: --retry-base)",
    ),
    (
        "restartPolicy",
        "the kubernetes executor's Pods never restart a container",
    ),
];

/// A warning for each field of `spec` and of its containers that neither Kubernetes nor
/// Kratix defines, with the known field it is closest to.
fn unknown_fields(spec: &PipelineSpec) -> Vec<Problem> {
    let spec_fields = spec.other.keys().map(|field| {
        match UNREAD_SPEC_FIELDS.iter().find(|(known, _)| known == field) {
            Some((_, why)) => Problem::at(
                format!("spec.{field}"),
                format!("a Kratix Pipeline field promised does not read yet: {why}"),
            ),
            None => {
                let all: Vec<&str> = SPEC_FIELDS
                    .iter()
                    .copied()
                    .chain(UNREAD_SPEC_FIELDS.iter().map(|(f, _)| *f))
                    .collect();
                super::unknown_field(field, "a Kratix Pipeline's spec", &all).within("spec")
            }
        }
    });
    let rbac = spec.rbac.iter().flat_map(|rbac| {
        let permissions = rbac.permissions.as_ref().map(|_| {
            let why = "not granted: promised creates no Role or ClusterRole; a pipeline that \
                       calls the Kubernetes API needs a ServiceAccount \
                       (spec.rbac.serviceAccount) that already has these permissions";
            Problem::at("spec.rbac.permissions", why)
        });
        let unknown = rbac.other.keys().map(|field| {
            let known = ["serviceAccount", "permissions"];
            super::unknown_field(field, "a Kratix Pipeline's spec.rbac", &known).within("spec.rbac")
        });
        permissions.into_iter().chain(unknown)
    });
    let container_fields = spec.containers.iter().enumerate().flat_map(|(i, c)| {
        let unknown = c
            .extra
            .keys()
            .filter(|f| !CONTAINER_FIELDS.contains(&f.as_str()));
        unknown.map(move |field| {
            let unread = super::unknown_field(field, "a Kubernetes container", &CONTAINER_FIELDS);
            unread.within(&format!("spec.containers[{i}]"))
        })
    });
    spec_fields.chain(rbac).chain(container_fields).collect()
}

/// Checks that `image` can only be read as an image reference. podman and docker take
/// it as the first word after their options, so an "image" such as
/// `--volume=/:/host` or `--privileged` would be read as an option of their own and
/// give the container the host.
pub(crate) fn check_image(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("an image is required".into());
    }
    if image.starts_with('-') {
        return Err(format!(
            "{image:?} starts with '-', which podman and docker would read as an option; give an image reference"
        ));
    }
    if let Some(c) = image.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{image:?} holds {c:?}; an image reference has no spaces or control characters"
        ));
    }
    Ok(())
}

/// One pipeline of a Promise's workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// `metadata.name` (`KRATIX_PIPELINE_NAME`).
    pub(crate) name: String,
    /// The containers, run in order.
    pub(crate) containers: Vec<Container>,
    /// The seed's form: each container's output becomes the next one's input, and the
    /// output must be flat. Otherwise (Kratix's `workflows` form) all containers share
    /// one output and one metadata folder.
    pub(crate) chained: bool,
    pub(crate) pod: PodSettings,
}

/// One container of a pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Container {
    /// Container name, unique in the pipeline.
    pub(crate) name: String,
    /// OCI image reference.
    pub(crate) image: String,
    /// Entrypoint override; the process executor runs this.
    #[serde(default)]
    pub(crate) command: Vec<String>,
    /// Arguments after the command.
    #[serde(default)]
    pub(crate) args: Vec<String>,
    #[serde(default)]
    pub(crate) env: Vec<EnvVar>,
    /// Every other field of the Kubernetes container (`envFrom`, `resources`,
    /// `volumeMounts`, `securityContext`, ...), passed through by the kubernetes executor.
    #[serde(flatten)]
    pub(crate) extra: serde_json::Map<String, Value>,
}

/// What a Pipeline says about the Pod it runs in, for the kubernetes executor.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PodSettings {
    /// `spec.rbac.serviceAccount`.
    pub(crate) service_account: Option<String>,
    /// `spec.volumes`, added to the Pod.
    pub(crate) volumes: Vec<Value>,
    /// `spec.imagePullSecrets`.
    pub(crate) image_pull_secrets: Vec<Value>,
    /// `spec.nodeSelector`, added to the Pod's (which asks for Linux nodes).
    pub(crate) node_selector: serde_json::Map<String, Value>,
    /// `spec.tolerations`.
    pub(crate) tolerations: Vec<Value>,
}

/// An environment variable of a container.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvVar {
    pub(crate) name: String,
    /// Literal value.
    #[serde(default)]
    pub(crate) value: Option<String>,
    /// A Kubernetes `valueFrom` source; only container executors on Kubernetes resolve it.
    #[serde(default)]
    pub(crate) value_from: Option<Value>,
}

#[derive(Deserialize)]
struct PipelineDoc {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    kind: String,
    metadata: super::promise::Metadata,
    spec: PipelineSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PipelineSpec {
    containers: Vec<Container>,
    #[serde(default)]
    volumes: Vec<Value>,
    #[serde(default)]
    image_pull_secrets: Vec<Value>,
    #[serde(default)]
    node_selector: serde_json::Map<String, Value>,
    #[serde(default)]
    tolerations: Vec<Value>,
    #[serde(default)]
    rbac: Option<Rbac>,
    /// Fields promised does not read, kept to name them in warnings.
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rbac {
    #[serde(default)]
    service_account: Option<String>,
    #[serde(default)]
    permissions: Option<Value>,
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

impl Pipeline {
    /// Reads one entry of `spec.workflows.resource.configure`, with a warning for each
    /// field that no Kubernetes container and no Kratix Pipeline has (a `volumeMount`
    /// typo). Errors and warnings start with the field path inside that entry.
    pub(crate) fn with_notes(value: Value) -> Result<(Self, Vec<Problem>), Problem> {
        let doc: PipelineDoc = yaml::typed(value)?;
        if doc.kind != "Pipeline" {
            let why = format!("expected Pipeline, found {:?}", doc.kind);
            return Err(Problem::at("kind", why));
        }
        if doc.spec.containers.is_empty() {
            let why = "a pipeline needs at least one container";
            return Err(Problem::at("spec.containers", why));
        }
        super::kubernetes_name(&doc.metadata.name, 63).map_err(|why| {
            Problem::at("metadata.name", format!("{:?} {why}", doc.metadata.name))
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, container) in doc.spec.containers.iter().enumerate() {
            // A container's name is a DNS-1123 label, as the API server checks it.
            if !super::is_dns_label(&container.name) {
                return Err(Problem::at(
                    format!("spec.containers[{i}].name"),
                    format!(
                        "{:?} is not a container name: 1 to 63 lowercase letters, digits and \
                         '-', starting and ending with a letter or digit",
                        container.name
                    ),
                ));
            }
            check_image(&container.image)
                .map_err(|why| Problem::at(format!("spec.containers[{i}].image"), why))?;
            if !seen.insert(container.name.as_str()) {
                let why = format!("{:?} is used twice", container.name);
                return Err(Problem::at(format!("spec.containers[{i}].name"), why));
            }
        }
        let mut notes = unknown_fields(&doc.spec);
        let api_version = doc.api_version.as_deref();
        if let Some(other) = api_version.filter(|v| *v != super::PLATFORM_API_VERSION) {
            let why = format!(
                "{other:?} is not {}, which Kratix requires of a Pipeline; promised reads it as \
                 one",
                super::PLATFORM_API_VERSION
            );
            notes.insert(0, Problem::at("apiVersion", why));
        }
        let spec = doc.spec;
        let pipeline = Pipeline {
            name: doc.metadata.name,
            containers: spec.containers,
            chained: false,
            pod: PodSettings {
                service_account: spec.rbac.and_then(|r| r.service_account),
                volumes: spec.volumes,
                image_pull_secrets: spec.image_pull_secrets,
                node_selector: spec.node_selector,
                tolerations: spec.tolerations,
            },
        };
        Ok((pipeline, notes))
    }

    /// The seed's `xaasRequestPipeline: [image, ...]` as one chained pipeline (each image
    /// checked first with [`check_image`]). Containers
    /// get no command: the image's entrypoint runs, which needs an OCI executor.
    pub(crate) fn from_seed_images(promise: &str, images: &[String]) -> Self {
        let containers = images.iter().enumerate();
        Pipeline {
            name: format!("{promise}-request-pipeline"),
            containers: containers
                .map(|(i, image)| Container {
                    name: format!("step-{i}"),
                    image: image.clone(),
                    command: Vec::new(),
                    args: Vec::new(),
                    env: Vec::new(),
                    extra: Default::default(),
                })
                .collect(),
            chained: true,
            pod: PodSettings::default(),
        }
    }

    /// Images of every container, in order.
    pub(crate) fn images(&self) -> impl Iterator<Item = &str> {
        self.containers.iter().map(|c| c.image.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(name: &str, container: &str, image: &str) -> Result<Pipeline, String> {
        let text = format!(
            "kind: Pipeline\nmetadata: {{name: {}}}\nspec:\n  containers:\n    - {{name: {}, image: {}}}\n",
            serde_json::to_string(name).unwrap(),
            serde_json::to_string(container).unwrap(),
            serde_json::to_string(image).unwrap(),
        );
        Pipeline::with_notes(yaml::document(&text).unwrap())
            .map(|(pipeline, _)| pipeline)
            .map_err(|problem| problem.to_string())
    }

    #[test]
    fn fields_no_container_or_pipeline_has_are_named_with_the_closest_one() {
        let text = "kind: Pipeline\nmetadata: {name: render}\nspec:\n  containers:\n    - {name: a, image: i, volumeMount: [], resources: {}}\n  volume: []\n";
        let (_, notes) = Pipeline::with_notes(yaml::document(text).unwrap()).unwrap();
        assert_eq!(
            notes,
            [
                "spec.volume: not a field of a Kratix Pipeline's spec, and not read; did you mean volumes?",
                "spec.containers[0].volumeMount: not a field of a Kubernetes container, and not read; did you mean volumeMounts?",
            ]
        );
    }

    #[test]
    fn kratix_fields_promised_does_not_read_say_so_rather_than_unknown() {
        let text = "kind: Pipeline\nmetadata: {name: render}\nspec:\n  containers: [{name: a, image: i}]\n  restartPolicy: OnFailure\n  jobOptions: {backoffLimit: 2}\n  rbac: {permissions: [{verbs: [get]}], serviceAcount: x}\n";
        let (_, notes) = Pipeline::with_notes(yaml::document(text).unwrap()).unwrap();
        assert_eq!(notes.len(), 4, "{notes:?}");
        let unread = "a Kratix Pipeline field promised does not read yet";
        assert!(
            notes[0]
                .to_string()
                .starts_with(&format!("spec.restartPolicy: {unread}")),
            "{notes:?}"
        );
        assert!(
            notes[1]
                .to_string()
                .starts_with(&format!("spec.jobOptions: {unread}")),
            "{notes:?}"
        );
        assert!(
            notes[2]
                .to_string()
                .starts_with("spec.rbac.permissions: not granted"),
            "{notes:?}"
        );
        assert_eq!(
            notes[3],
            "spec.rbac.serviceAcount: not a field of a Kratix Pipeline's spec.rbac, and not read; did you mean serviceAccount?"
        );
    }

    #[test]
    fn the_pod_s_node_selector_and_tolerations_are_read_without_a_warning() {
        let text = "kind: Pipeline\nmetadata: {name: render}\nspec:\n  containers: [{name: a, image: i}]\n  nodeSelector: {disk: ssd}\n  tolerations: [{key: dedicated, operator: Exists}]\n";
        let (pipeline, notes) = Pipeline::with_notes(yaml::document(text).unwrap()).unwrap();
        assert_eq!(notes, Vec::<Problem>::new());
        assert_eq!(pipeline.pod.node_selector["disk"], "ssd");
        assert_eq!(pipeline.pod.tolerations[0]["key"], "dedicated");
    }

    #[test]
    fn a_pipeline_of_another_api_version_is_read_with_a_warning() {
        let text = "apiVersion: platform.kratix.io/v1beta1\nkind: Pipeline\nmetadata: {name: render}\nspec:\n  containers: [{name: a, image: i}]\n";
        let (_, notes) = Pipeline::with_notes(yaml::document(text).unwrap()).unwrap();
        assert_eq!(
            notes,
            [
                "apiVersion: \"platform.kratix.io/v1beta1\" is not platform.kratix.io/v1alpha1, which Kratix requires of a Pipeline; promised reads it as one"
            ]
        );
    }

    #[test]
    fn an_image_that_podman_would_read_as_an_option_is_refused() {
        for image in [
            "--volume=/:/host",
            "--privileged",
            "-v",
            "",
            "busybox latest",
            "a\nb",
        ] {
            let err = pipeline("render", "step", image).unwrap_err();
            assert!(err.starts_with("spec.containers[0].image: "), "{err}");
        }
        assert!(pipeline("render", "step", "ghcr.io/org/img:v1@sha256:00").is_ok());
    }

    #[test]
    fn pipeline_and_container_names_that_could_become_paths_are_refused() {
        for name in ["/tmp/evil", "../../x", "a/b", ".git", "Render", ""] {
            let err = pipeline(name, "step", "img").unwrap_err();
            assert!(err.starts_with("metadata.name: "), "{err}");
            let err = pipeline("render", name, "img").unwrap_err();
            assert!(err.starts_with("spec.containers[0].name: "), "{err}");
        }
    }

    #[test]
    fn a_container_name_is_a_dns_label_as_the_api_server_requires() {
        let long = "a".repeat(64);
        for name in ["render.step", "-render", "render-", long.as_str()] {
            let err = pipeline("render", name, "img").unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "spec.containers[0].name: {name:?} is not a container name"
                )),
                "{err}"
            );
        }
        assert!(pipeline("render", "render-step-2", "img").is_ok());
    }
}
