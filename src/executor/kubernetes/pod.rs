//! The Pod (and Secret) one pipeline run becomes, as Kratix runs it: the user's
//! containers as init containers in order, sharing emptyDir volumes mounted at
//! `/kratix/input|output|metadata` (and the seed's `/input|output|metadata`), the request
//! delivered through a Secret, and a last container that hands the output back on its
//! log. Pure: names and settings come in, JSON comes out.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use super::names::label_value;
use crate::model::Container;
use crate::pipeline::Job;

/// The container that hands the output back.
pub const HANDBACK_CONTAINER: &str = "promised-handback";
/// Label on everything promised creates.
pub(crate) const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "promised");
/// Label naming the reconciler a run's Pod and Secret belong to (`--kube-instance`): at
/// start, a reconciler removes what its earlier life left under its own instance, and
/// nothing of another's.
pub(crate) const INSTANCE_LABEL: &str = "promised.dev/instance";

/// What the Pod needs besides the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodNames {
    /// The Pod's name; the Secret has the same.
    pub(crate) pod: String,
    /// The reconciler's instance ([`INSTANCE_LABEL`]).
    pub(crate) instance: String,
    pub(crate) namespace: String,
    /// The ServiceAccount the Pod runs as.
    pub(crate) service_account: String,
    /// The `promised` image that hands the output back.
    pub(crate) helper_image: String,
    /// The most bytes of compressed output it prints.
    pub(crate) max_handback_bytes: u64,
}

/// The ServiceAccount a pipeline runs as without `spec.rbac.serviceAccount`: the seed's.
pub(crate) fn default_service_account(promise: &str) -> String {
    format!("{promise}-default-promise-pipeline")
}

/// The Secret holding the request as `object.yaml`. Its owner, the Pod, is set once the
/// Pod is made ([`owned_by_pod`]).
pub(crate) fn secret(job: &Job<'_>, names: &PodNames) -> Value {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(job.object_yaml);
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.pod,
            "namespace": names.namespace,
            "labels": labels(job, names),
        },
        "type": "Opaque",
        "data": {"object.yaml": encoded},
    })
}

/// Makes `secret` owned by the Pod `name` whose UID is `uid`: the garbage collector
/// removes it with the Pod, whoever deletes that. The Pod is made first, and waits for
/// its Secret volume as the kubelet retries the mount. No `blockOwnerDeletion`, which
/// would need the `pods/finalizers` permission.
pub(crate) fn owned_by_pod(secret: &mut Secret, name: &str, uid: &str) {
    secret.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: name.into(),
        uid: uid.into(),
        ..OwnerReference::default()
    }]);
}

pub(crate) fn pod(job: &Job<'_>, names: &PodNames) -> Value {
    let containers = &job.pipeline.containers;
    let chained = job.pipeline.chained;
    // A folder may hold what the output may: a pipeline that writes more is stopped
    // by the kubelet (evicted) instead of filling the node's disk.
    let size_limit = job.limits.max_bytes.to_string();
    let scratch = || json!({"sizeLimit": size_limit});
    let mut volumes = vec![
        json!({"name": "promised-input", "secret": {"secretName": names.pod}}),
        json!({"name": "promised-output", "emptyDir": scratch()}),
        json!({"name": "promised-metadata", "emptyDir": scratch()}),
    ];
    if chained {
        for i in 0..containers.len().saturating_sub(1) {
            volumes.push(json!({"name": step_volume(i), "emptyDir": scratch()}));
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
        "command": handback_command(names.max_handback_bytes),
        "volumeMounts": [
            {"name": "promised-output", "mountPath": "/kratix/output", "readOnly": true},
            {"name": "promised-metadata", "mountPath": "/kratix/metadata", "readOnly": true},
        ],
        "securityContext": helper_security_context(),
        "resources": default_resources(),
    });
    let settings = &job.pipeline.pod;
    // Linux nodes, as the images are; the Pipeline's own selector may say more.
    let mut node_selector = serde_json::Map::new();
    node_selector.insert("kubernetes.io/os".into(), json!("linux"));
    node_selector.extend(settings.node_selector.clone());
    let mut spec = json!({
        "restartPolicy": "Never",
        "serviceAccountName": names.service_account,
        // The token only where the Pipeline names a ServiceAccount of its own: the
        // default one promised creates is granted nothing.
        "automountServiceAccountToken": settings.service_account.is_some(),
        // The kubelet stops the Pod at the run's timeout, also if promised is gone.
        "activeDeadlineSeconds": job.timeout.as_secs_f64().ceil().max(1.0) as u64,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "nodeSelector": node_selector,
        "volumes": volumes,
        "initContainers": init,
        "containers": [handback],
    });
    if !settings.tolerations.is_empty() {
        spec["tolerations"] = Value::Array(settings.tolerations.clone());
    }
    if !settings.image_pull_secrets.is_empty() {
        spec["imagePullSecrets"] = Value::Array(settings.image_pull_secrets.clone());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": names.pod,
            "namespace": names.namespace,
            "labels": labels(job, names),
        },
        "spec": spec,
    })
}

/// The handback command. The limit is passed only when it is not the default, so that
/// a helper image of an earlier version, which knows no `--max-bytes`, still runs.
fn handback_command(max_bytes: u64) -> Value {
    let mut command = json!([
        "promised",
        "internal",
        "handback",
        "--output",
        "/kratix/output",
        "--metadata",
        "/kratix/metadata",
    ]);
    if max_bytes != super::DEFAULT_MAX_ARCHIVE_BYTES {
        let words = command.as_array_mut().expect("an array");
        words.extend([json!("--max-bytes"), json!(max_bytes.to_string())]);
    }
    command
}

/// The handback container's context: what the `restricted` Pod Security Standard asks,
/// on a read-only root. No user id is set: the image's own (`USER 65532` in the
/// Dockerfile) is a non-root number, and a cluster that assigns ids per namespace
/// (OpenShift) refuses a fixed one.
fn helper_security_context() -> Value {
    json!({
        "runAsNonRoot": true,
        "allowPrivilegeEscalation": false,
        "privileged": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// Kratix's requests and limits for its own containers and for user containers that
/// give none.
fn default_resources() -> Value {
    json!({
        "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "128Mi"},
        "limits": {"cpu": "200m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
    })
}

fn step_volume(i: usize) -> String {
    format!("promised-step-{i}")
}

fn labels(job: &Job<'_>, names: &PodNames) -> Value {
    json!({
        MANAGED_BY.0: MANAGED_BY.1,
        INSTANCE_LABEL: names.instance,
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
    // As Kratix: a container that gives no resources gets its defaults. Its
    // securityContext is its own (none by default, as in Kratix): in a namespace that
    // enforces `restricted`, the Pipeline gives one.
    spec.entry("resources").or_insert_with(default_resources);
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
