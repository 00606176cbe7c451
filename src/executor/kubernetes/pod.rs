//! The Pod (and Secret) one pipeline run becomes, as Kratix runs it: the user's
//! containers as init containers in order, sharing emptyDir volumes mounted at
//! `/kratix/input|output|metadata` (and the seed's `/input|output|metadata`), the request
//! delivered through a Secret, and a last container that hands the output back on its
//! log. Pure: names and settings come in, JSON comes out.

use serde_json::{Value, json};

use super::names::label_value;
use crate::model::Container;
use crate::pipeline::Job;

/// The container that hands the output back.
pub const HANDBACK_CONTAINER: &str = "promised-handback";
/// Label on everything promised creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "promised");

/// What the Pod needs besides the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNames {
    /// The Pod's name; the Secret has the same.
    pub pod: String,
    /// The namespace.
    pub namespace: String,
    /// The ServiceAccount the Pod runs as.
    pub service_account: String,
    /// The `promised` image that hands the output back.
    pub helper_image: String,
}

/// The ServiceAccount a pipeline runs as without `spec.rbac.serviceAccount`: the seed's.
pub fn default_service_account(promise: &str) -> String {
    format!("{promise}-default-promise-pipeline")
}

/// The Secret holding the request as `object.yaml`.
pub fn secret(job: &Job<'_>, names: &PodNames) -> Value {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(job.object_yaml);
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.pod,
            "namespace": names.namespace,
            "labels": labels(job),
        },
        "type": "Opaque",
        "data": {"object.yaml": encoded},
    })
}

/// The Pod.
pub fn pod(job: &Job<'_>, names: &PodNames) -> Value {
    let containers = &job.pipeline.containers;
    let chained = job.pipeline.chained;
    let mut volumes = vec![
        json!({"name": "promised-input", "secret": {"secretName": names.pod}}),
        json!({"name": "promised-output", "emptyDir": {}}),
        json!({"name": "promised-metadata", "emptyDir": {}}),
    ];
    if chained {
        for i in 0..containers.len().saturating_sub(1) {
            volumes.push(json!({"name": step_volume(i), "emptyDir": {}}));
        }
    }
    volumes.extend(job.pipeline.pod.volumes.iter().cloned());

    let init: Vec<Value> = containers
        .iter()
        .enumerate()
        .map(|(i, container)| {
            let last = i + 1 == containers.len();
            let input = if chained && i > 0 {
                step_volume(i - 1)
            } else {
                "promised-input".into()
            };
            let output = if chained && !last {
                step_volume(i)
            } else {
                "promised-output".into()
            };
            init_container(job, container, &input, &output)
        })
        .collect();
    let handback = json!({
        "name": HANDBACK_CONTAINER,
        "image": names.helper_image,
        "command": ["promised", "internal", "handback", "--output", "/kratix/output", "--metadata", "/kratix/metadata"],
        "volumeMounts": [
            {"name": "promised-output", "mountPath": "/kratix/output", "readOnly": true},
            {"name": "promised-metadata", "mountPath": "/kratix/metadata", "readOnly": true},
        ],
    });
    let mut spec = json!({
        "restartPolicy": "Never",
        "serviceAccountName": names.service_account,
        "volumes": volumes,
        "initContainers": init,
        "containers": [handback],
    });
    if !job.pipeline.pod.image_pull_secrets.is_empty() {
        spec["imagePullSecrets"] = Value::Array(job.pipeline.pod.image_pull_secrets.clone());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": names.pod,
            "namespace": names.namespace,
            "labels": labels(job),
        },
        "spec": spec,
    })
}

fn step_volume(i: usize) -> String {
    format!("promised-step-{i}")
}

fn labels(job: &Job<'_>) -> Value {
    json!({
        MANAGED_BY.0: MANAGED_BY.1,
        "promised.dev/promise": label_value(&job.promise.name),
        "promised.dev/pipeline": label_value(&job.pipeline.name),
        "promised.dev/workflow": format!("{}-{}", job.workflow.0, job.workflow.1),
        "promised.dev/request-name": label_value(job.object.name),
        "promised.dev/request-namespace": label_value(job.object.namespace),
    })
}

/// A user container: its own fields passed through, then the contract's mounts and
/// variables (Kubernetes lets the last duplicate env entry win, so the contract's do).
fn init_container(job: &Job<'_>, container: &Container, input: &str, output: &str) -> Value {
    let mut spec = serde_json::Map::new();
    for (key, value) in &container.extra {
        spec.insert(key.clone(), value.clone());
    }
    spec.insert("name".into(), json!(container.name));
    spec.insert("image".into(), json!(container.image));
    if !container.command.is_empty() {
        spec.insert("command".into(), json!(container.command));
    }
    if !container.args.is_empty() {
        spec.insert("args".into(), json!(container.args));
    }
    let mut env: Vec<Value> = container
        .env
        .iter()
        .map(|var| {
            let mut entry = json!({"name": var.name});
            if let Some(value) = &var.value {
                entry["value"] = json!(value);
            }
            if let Some(from) = &var.value_from {
                entry["valueFrom"] = from.clone();
            }
            entry
        })
        .collect();
    let contract = [
        ("KRATIX_INPUT", "/kratix/input"),
        ("KRATIX_OUTPUT", "/kratix/output"),
        ("KRATIX_METADATA", "/kratix/metadata"),
    ];
    let contract = contract
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()));
    env.extend(
        contract
            .chain(job.kratix_env())
            .map(|(name, value)| json!({"name": name, "value": value})),
    );
    spec.insert("env".into(), Value::Array(env));
    let mut mounts: Vec<Value> = spec
        .get("volumeMounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for root in ["/kratix/", "/"] {
        mounts.push(json!({"name": input, "mountPath": format!("{root}input"), "readOnly": true}));
        mounts.push(json!({"name": output, "mountPath": format!("{root}output")}));
        mounts.push(json!({"name": "promised-metadata", "mountPath": format!("{root}metadata")}));
    }
    spec.insert("volumeMounts".into(), Value::Array(mounts));
    Value::Object(spec)
}
