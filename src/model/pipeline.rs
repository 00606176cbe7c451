//! Kratix `Pipeline` documents: an ordered list of containers run on a request.

use serde::Deserialize;
use serde_json::Value;

use crate::yaml;

/// One pipeline of a Promise's workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// `metadata.name` (`KRATIX_PIPELINE_NAME`).
    pub name: String,
    /// The containers, run in order.
    pub containers: Vec<Container>,
    /// The seed's form: each container's output becomes the next one's input, and the
    /// output must be flat. Otherwise (Kratix's `workflows` form) all containers share
    /// one output and one metadata folder.
    pub chained: bool,
}

/// One container of a pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Container {
    /// Container name, unique in the pipeline.
    pub name: String,
    /// OCI image reference.
    pub image: String,
    /// Entrypoint override; the process executor runs this.
    #[serde(default)]
    pub command: Vec<String>,
    /// Arguments after the command.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables.
    #[serde(default)]
    pub env: Vec<EnvVar>,
}

/// An environment variable of a container.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Literal value.
    #[serde(default)]
    pub value: Option<String>,
    /// A Kubernetes `valueFrom` source; only container executors on Kubernetes resolve it.
    #[serde(default)]
    pub value_from: Option<Value>,
}

#[derive(Deserialize)]
struct PipelineDoc {
    kind: String,
    metadata: super::promise::Metadata,
    spec: PipelineSpec,
}

#[derive(Deserialize)]
struct PipelineSpec {
    containers: Vec<Container>,
}

impl Pipeline {
    /// Reads one entry of `spec.workflows.resource.configure`. Errors start with the
    /// field path inside that entry.
    pub fn from_value(value: Value) -> Result<Self, String> {
        let doc: PipelineDoc = yaml::typed(value).map_err(|e| e.to_string())?;
        if doc.kind != "Pipeline" {
            return Err(format!("kind: expected Pipeline, found {:?}", doc.kind));
        }
        if doc.spec.containers.is_empty() {
            return Err("spec.containers: a pipeline needs at least one container".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, container) in doc.spec.containers.iter().enumerate() {
            if !seen.insert(container.name.as_str()) {
                return Err(format!(
                    "spec.containers[{i}].name: {:?} is used twice",
                    container.name
                ));
            }
        }
        Ok(Pipeline {
            name: doc.metadata.name,
            containers: doc.spec.containers,
            chained: false,
        })
    }

    /// The seed's `xaasRequestPipeline: [image, ...]` as one chained pipeline. Containers
    /// get no command: the image's entrypoint runs, which needs an OCI executor.
    pub fn from_seed_images(promise: &str, images: &[String]) -> Self {
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
                })
                .collect(),
            chained: true,
        }
    }

    /// Images of every container, in order.
    pub fn images(&self) -> impl Iterator<Item = &str> {
        self.containers.iter().map(|c| c.image.as_str())
    }
}
