//! An in-process Kubernetes API server double, for the kubernetes executor's tests.
//!
//! It speaks the real JSON wire format for what the executor uses (Pods: create, get,
//! list, watch, delete, log; Secrets and ServiceAccounts: create, get, delete) and has a
//! simulated kubelet: each Pod's init containers, then its containers, run in order
//! through promised's podman executor, with the Pod's volumes as folders (Secret volumes
//! filled from the stored Secret, emptyDirs empty) and `valueFrom.secretKeyRef`
//! resolved. Leases (`coordination.k8s.io/v1`: create, get, replace) are kept with a
//! `resourceVersion` that a replace must name, as the API server does for optimistic
//! concurrency. It is a double: no scheduler, no RBAC. What a real cluster does that
//! matters to the executor is behind a setting a test turns on: restricted Pod
//! Security admission, log rotation, a Pod left unscheduled, watches that fail, fall
//! silent or end, pull errors, a volume that never mounts, an OOM kill, missing
//! namespaces, latency per call. Names and label values are always validated (422).
//!
//! [`ApiServer::start_timed`] starts one whose kubelet runs nothing: each Pod takes a
//! set time and hands back one ConfigMap, to measure how many Pods the executor keeps
//! in flight (`examples/kube_throughput.rs`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use futures_util::StreamExt;
use promised::executor::{OciExecutor, OciRun};
use promised::pipeline::LogFolder;
use serde_json::{Value, json};
use tokio::sync::broadcast;

type Key = (String, String);

#[derive(Default)]
struct Store {
    pods: BTreeMap<Key, Value>,
    secrets: BTreeMap<Key, Value>,
    service_accounts: BTreeMap<Key, Value>,
    leases: BTreeMap<Key, Value>,
    /// Events, in the order they were recorded.
    events: Vec<Value>,
    /// Containers' logs, as bytes: a container may print anything.
    logs: BTreeMap<(String, String, String), Vec<u8>>,
    version: u64,
}

struct Cluster {
    /// How Pods run: with podman, or as a wait of a set time.
    kubelet: Kubelet,
    store: Mutex<Store>,
    /// Each change of a Pod as the line a watch sends, serialized once for every
    /// watch, as the API server's watch cache does.
    events: broadcast::Sender<(Key, Bytes)>,
    /// Every Pod as the executor sent it.
    received: Mutex<Vec<Value>>,
    /// Every Secret as the executor sent it.
    received_secrets: Mutex<Vec<Value>>,
    /// Pods running now, and the most that ran at once.
    in_flight: Mutex<(usize, usize)>,
    /// Whether Pod Security admission enforces the `restricted` standard, as on a
    /// namespace labelled `pod-security.kubernetes.io/enforce: restricted`.
    restricted: std::sync::atomic::AtomicBool,
    /// When not 0, the size at which the kubelet rotates a container's log file
    /// (`containerLogMaxSize`); `pods/log` then serves the newest file only.
    rotate_logs_at: std::sync::atomic::AtomicUsize,
    /// When set, no node takes a Pod: it stays Pending, with the scheduler's message.
    unschedulable: Mutex<Option<String>>,
    /// When set, the next Pod created finds its name taken by another's Pod (which is
    /// stored then), as a name reused by a second reconciler in the namespace would.
    collide_next_pod: std::sync::atomic::AtomicBool,
    /// When set, the only namespaces there are: a create elsewhere gets the API
    /// server's 404 for a missing namespace.
    namespaces: Mutex<Option<Vec<String>>>,
    /// How long the API server takes to answer each call.
    latency: Mutex<Duration>,
    /// When set, every watch ends after this long, as the API server ends a watch at
    /// its `timeoutSeconds` (or its own limit): cleanly, not with an error.
    watch_lifetime: Mutex<Option<Duration>>,
    /// Containers the kubelet kills for their memory (OOMKilled, exit code 137).
    oom_killed: Mutex<Vec<String>>,
    /// When set, the kubelet cannot mount the Pods' volumes: each Pod stays Pending, its
    /// first container `ContainerCreating`, and a Warning `FailedMount` event with this
    /// message is recorded, as for a volume whose ConfigMap does not exist.
    failed_mount: Mutex<Option<String>>,
    /// Pull errors the kubelet reports for every Pod's first container before it runs
    /// it, each for a moment, as `ErrImagePull` then `ImagePullBackOff`: a registry
    /// that fails, then answers.
    pull_errors: Mutex<Vec<String>>,
    /// How many of the next watches of Pods send nothing, ever, and never close: a
    /// connection that died without closing (half-open).
    silent_watches: std::sync::atomic::AtomicUsize,
    /// How many of the next watches of Pods end at once with an ERROR event, as
    /// watches do when the API server restarts or etcd compacts past their version.
    broken_watches: std::sync::atomic::AtomicUsize,
    scratch: tempfile::TempDir,
}

#[derive(Clone)]
enum Kubelet {
    /// Each container runs with podman.
    Podman,
    /// Each Pod takes this long and its handback container prints this log.
    Timed(Duration, String),
}

/// A running double; it stops when dropped.
pub struct ApiServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    cluster: Arc<Cluster>,
    _runtime: tokio::runtime::Runtime,
}

impl ApiServer {
    /// Starts the double on a free loopback port.
    pub fn start() -> Self {
        Self::with(Kubelet::Podman)
    }

    /// Starts a double whose Pods run nothing: each takes `pod_time`, then succeeds with
    /// one ConfigMap as its output.
    #[allow(
        dead_code,
        reason = "used by examples/kube_throughput.rs, which includes this file"
    )]
    pub fn start_timed(pod_time: Duration) -> Self {
        let output = tempfile::tempdir().unwrap();
        let (files, metadata) = (output.path().join("output"), output.path().join("metadata"));
        fs_err::create_dir_all(&files).unwrap();
        fs_err::create_dir_all(&metadata).unwrap();
        let configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: timed\n";
        fs_err::write(files.join("configmap.yaml"), configmap).unwrap();
        let limit = promised::executor::kubernetes::DEFAULT_MAX_ARCHIVE_BYTES;
        let log = promised::executor::kubernetes::pack(&files, &metadata, limit).unwrap();
        Self::with(Kubelet::Timed(pod_time, log))
    }

    fn with(kubelet: Kubelet) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cluster = Arc::new(Cluster {
            kubelet,
            store: Mutex::default(),
            // Every watch sees every event: with hundreds of Pods in flight, a smaller
            // buffer makes a watch lag and miss the event that ends its Pod.
            events: broadcast::channel(1 << 16).0,
            received: Mutex::default(),
            received_secrets: Mutex::default(),
            in_flight: Mutex::default(),
            restricted: Default::default(),
            rotate_logs_at: Default::default(),
            unschedulable: Mutex::default(),
            collide_next_pod: Default::default(),
            broken_watches: Default::default(),
            silent_watches: Default::default(),
            pull_errors: Mutex::default(),
            failed_mount: Mutex::default(),
            latency: Mutex::default(),
            watch_lifetime: Mutex::default(),
            oom_killed: Mutex::default(),
            namespaces: Mutex::default(),
            scratch: tempfile::tempdir().unwrap(),
        });
        let app = Router::new()
            .route(
                "/api/v1/namespaces/{ns}/pods",
                get(list_or_watch_pods).post(create_pod),
            )
            .route(
                "/api/v1/namespaces/{ns}/pods/{name}",
                get(get_pod).delete(delete_pod),
            )
            .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
            .route("/api/v1/namespaces/{ns}/events", get(list_events))
            .route(
                "/api/v1/namespaces/{ns}/secrets",
                get(list_secrets).post(create_secret),
            )
            .route(
                "/api/v1/namespaces/{ns}/secrets/{name}",
                get(get_secret).delete(delete_secret),
            )
            .route(
                "/api/v1/namespaces/{ns}/serviceaccounts",
                axum::routing::post(create_service_account),
            )
            .route(
                "/api/v1/namespaces/{ns}/serviceaccounts/{name}",
                get(get_service_account),
            )
            .route(
                "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
                axum::routing::post(create_lease),
            )
            .route(
                "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}",
                get(get_lease).put(replace_lease),
            )
            .layer(axum::middleware::from_fn_with_state(
                cluster.clone(),
                slowly,
            ))
            .with_state(cluster.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        ApiServer {
            url,
            cluster,
            _runtime: runtime,
        }
    }

    /// The most Pods that ran at once (counted by the timed kubelet only).
    #[allow(
        dead_code,
        reason = "used by examples/kube_throughput.rs, which includes this file"
    )]
    pub fn most_in_flight(&self) -> usize {
        self.cluster.in_flight.lock().unwrap().1
    }

    /// The Leases stored, in namespace and name order.
    #[allow(
        dead_code,
        reason = "not every test binary that includes this file reads leases"
    )]
    pub fn leases(&self) -> Vec<Value> {
        self.cluster
            .store
            .lock()
            .unwrap()
            .leases
            .values()
            .cloned()
            .collect()
    }

    /// Sets a label on every Lease, as `kubectl label lease` would (a new version).
    #[allow(
        dead_code,
        reason = "not every test binary that includes this file labels leases"
    )]
    pub fn label_leases(&self, key: &str, value: &str) {
        let mut store = self.cluster.store.lock().unwrap();
        store.version += 1;
        let version = store.version.to_string();
        for lease in store.leases.values_mut() {
            lease["metadata"]["labels"][key] = json!(value);
            lease["metadata"]["resourceVersion"] = json!(version);
        }
    }

    /// Stores a Secret, as `kubectl create secret generic` would.
    pub fn add_secret(&self, namespace: &str, name: &str, key: &str, value: &str) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "data": {key: encoded}});
        self.cluster
            .store
            .lock()
            .unwrap()
            .secrets
            .insert((namespace.into(), name.into()), secret);
    }

    /// Names of the stored objects of a kind: `pods`, `secrets` or `serviceaccounts`.
    pub fn names(&self, kind: &str) -> Vec<String> {
        let store = self.cluster.store.lock().unwrap();
        let map = match kind {
            "pods" => &store.pods,
            "secrets" => &store.secrets,
            _ => &store.service_accounts,
        };
        map.keys()
            .map(|(ns, name)| format!("{ns}/{name}"))
            .collect()
    }

    /// From now on, Pods that break the `restricted` Pod Security Standard are refused
    /// (403), as the API server refuses them in a namespace that enforces it.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn enforce_restricted_pod_security(&self) {
        self.cluster
            .restricted
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, containers' logs rotate at `bytes` as the kubelet rotates them at
    /// `containerLogMaxSize`, counting the runtime's prefix on each line, and `pods/log`
    /// serves the newest file only.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn rotate_logs_at(&self, bytes: usize) {
        self.cluster
            .rotate_logs_at
            .store(bytes, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, no node takes a Pod: each stays Pending with a `PodScheduled`
    /// condition that is False, `Unschedulable`, with `message`, as the scheduler leaves
    /// a Pod that asks for more than any node has.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn leave_pods_unscheduled(&self, message: &str) {
        *self.cluster.unschedulable.lock().unwrap() = Some(message.to_string());
    }

    /// The next `count` watches of Pods end at once with an ERROR event (410 Gone, as
    /// after a compaction), then the stream closes.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn break_next_watches(&self, count: usize) {
        self.cluster
            .broken_watches
            .store(count, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, the cluster has these namespaces only.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn only_namespaces(&self, namespaces: &[&str]) {
        let namespaces = namespaces.iter().map(|n| n.to_string()).collect();
        *self.cluster.namespaces.lock().unwrap() = Some(namespaces);
    }

    /// The next `count` watches of Pods answer with their headers, then send nothing
    /// and never close, as a connection that died without closing (a load balancer or
    /// API server gone) looks to its client.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn silence_next_watches(&self, count: usize) {
        self.cluster
            .silent_watches
            .store(count, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, every call waits `latency` before it is answered.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn answer_after(&self, latency: Duration) {
        *self.cluster.latency.lock().unwrap() = latency;
    }

    /// From now on, every watch of Pods ends after `lifetime` (or its `timeoutSeconds`
    /// when shorter), cleanly, as the API server ends watches.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn end_watches_after(&self, lifetime: Duration) {
        *self.cluster.watch_lifetime.lock().unwrap() = Some(lifetime);
    }

    /// From now on, a container named `name` is killed for its memory when it runs:
    /// terminated with `OOMKilled` and exit code 137.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn oom_kill(&self, name: &str) {
        self.cluster
            .oom_killed
            .lock()
            .unwrap()
            .push(name.to_string());
    }

    /// From now on, no Pod's volumes mount: the kubelet records a Warning
    /// `FailedMount` event with `message` and leaves the Pod Pending.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn fail_mounts_with(&self, message: &str) {
        *self.cluster.failed_mount.lock().unwrap() = Some(message.to_string());
    }

    /// From now on, every Pod's first container waits on a pull that fails with each
    /// of `messages` in turn (`ErrImagePull`, then `ImagePullBackOff`), then runs.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn fail_pulls_with(&self, messages: &[&str]) {
        *self.cluster.pull_errors.lock().unwrap() =
            messages.iter().map(|m| m.to_string()).collect();
    }

    /// The next Pod created finds a Pod of another run under its name: the create
    /// gets 409 AlreadyExists, and the other's Pod is stored, Running.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn collide_next_pod(&self) {
        self.cluster
            .collide_next_pod
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Stores a Pod (Running, no kubelet) and a Secret it owns, both labelled as the
    /// runs of the reconciler instance `instance` are: what that reconciler leaves
    /// when it is killed while a Pod runs.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn add_leftover(&self, namespace: &str, name: &str, instance: &str) {
        let labels =
            json!({"app.kubernetes.io/managed-by": "promised", "promised.dev/instance": instance});
        let mut store = self.cluster.store.lock().unwrap();
        let uid = store.new_uid();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": labels}, "spec": {}, "status": {"phase": "Running"}});
        store.pods.insert((namespace.into(), name.into()), pod);
        let owner = json!([{"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}]);
        let secret_uid = store.new_uid();
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace, "uid": secret_uid, "labels": labels, "ownerReferences": owner}, "data": {}});
        store
            .secrets
            .insert((namespace.into(), name.into()), secret);
    }

    /// The Secrets the executor created, as sent.
    #[allow(dead_code, reason = "not used by examples/kube_throughput.rs")]
    pub fn received_secrets(&self) -> Vec<Value> {
        self.cluster.received_secrets.lock().unwrap().clone()
    }

    /// The Pods the executor created, as sent.
    pub fn received_pods(&self) -> Vec<Value> {
        self.cluster.received.lock().unwrap().clone()
    }
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code.as_u16()});
    (code, axum::Json(body)).into_response()
}

impl Cluster {
    /// The API server's 404 for a create in a namespace that does not exist.
    fn missing_namespace(&self, ns: &str) -> Option<Response> {
        let namespaces = self.namespaces.lock().unwrap();
        let missing = namespaces.as_ref()?.iter().all(|n| n != ns);
        missing.then(|| not_found("namespaces", ns))
    }
}

fn not_found(kind: &str, name: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{kind} \"{name}\" not found"),
    )
}

impl Store {
    /// A UID no object had before, as the API server gives each object it creates: a
    /// name used again gets a new one.
    fn new_uid(&mut self) -> String {
        self.version += 1;
        format!("uid-{}", self.version)
    }

    /// The garbage collector: Secrets whose owner Pods are all gone are deleted (also
    /// one made with an owner that never existed, as the collector finds it absent).
    fn collect_garbage(&mut self) {
        let pods: std::collections::BTreeSet<String> = self
            .pods
            .values()
            .filter_map(|p| p["metadata"]["uid"].as_str().map(String::from))
            .collect();
        self.secrets.retain(|_, secret| {
            let owners = secret["metadata"]["ownerReferences"].as_array();
            owners.is_none_or(|owners| {
                owners.is_empty()
                    || owners
                        .iter()
                        .any(|o| o["uid"].as_str().is_some_and(|uid| pods.contains(uid)))
            })
        });
    }
}

/// Removes the object at `key` as a DELETE whose options are `body` asks: the API
/// server's 404 if there is none, and its 409 Conflict when `preconditions.uid` names
/// another object.
fn remove_as_asked(
    map: &mut BTreeMap<Key, Value>,
    key: &Key,
    body: &[u8],
    kind: &str,
) -> Result<Value, Box<Response>> {
    let Some(object) = map.get(key) else {
        return Err(Box::new(not_found(kind, &key.1)));
    };
    let options: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let wanted = &options["preconditions"]["uid"];
    if wanted.is_null() || *wanted == object["metadata"]["uid"] {
        return Ok(map.remove(key).unwrap());
    }
    Err(Box::new(status(
        StatusCode::CONFLICT,
        "Conflict",
        format!(
            "Precondition failed: UID in precondition: {}, UID in object meta: {}",
            wanted.as_str().unwrap_or_default(),
            object["metadata"]["uid"].as_str().unwrap_or_default()
        ),
    )))
}

/// Whether `object`'s labels match a `labelSelector` of `key=value` terms.
fn selected(object: &Value, selector: Option<&String>) -> bool {
    selector.is_none_or(|selector| {
        selector.split(',').all(|term| {
            let (key, value) = term.split_once('=').unwrap();
            object["metadata"]["labels"][key].as_str() == Some(value)
        })
    })
}

impl Cluster {
    /// Stores an object with a new resourceVersion and tells watchers.
    fn put_pod(&self, key: &Key, mut pod: Value, event: &'static str) {
        let mut store = self.store.lock().unwrap();
        store.version += 1;
        pod["metadata"]["resourceVersion"] = json!(store.version.to_string());
        store.pods.insert(key.clone(), pod.clone());
        let _ = self.events.send((key.clone(), watch_line(event, &pod)));
    }

    /// Applies `change` to a stored Pod's status, unless the Pod is gone.
    fn update_status(&self, key: &Key, change: impl FnOnce(&mut Value)) -> bool {
        let Some(mut pod) = self.store.lock().unwrap().pods.get(key).cloned() else {
            return false;
        };
        change(&mut pod["status"]);
        self.put_pod(key, pod, "MODIFIED");
        true
    }
}

async fn create_pod(
    State(cluster): State<Arc<Cluster>>,
    Path(ns): Path<String>,
    body: Bytes,
) -> Response {
    let mut pod: Value = serde_json::from_slice(&body).unwrap();
    cluster.received.lock().unwrap().push(pod.clone());
    if let Some(missing) = cluster.missing_namespace(&ns) {
        return missing;
    }
    if let Some(invalid) = invalid(&pod, "Pod") {
        return invalid;
    }
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let key = (ns.clone(), name.clone());
    if cluster.restricted.load(std::sync::atomic::Ordering::SeqCst) {
        let violations = restricted_violations(&pod);
        if !violations.is_empty() {
            return status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!(
                    "pods \"{name}\" is forbidden: violates PodSecurity \"restricted:latest\": {}",
                    violations.join(", ")
                ),
            );
        }
    }
    if cluster
        .collide_next_pod
        .swap(false, std::sync::atomic::Ordering::SeqCst)
    {
        let mut other = pod.clone();
        let mut store = cluster.store.lock().unwrap();
        other["metadata"]["uid"] = json!(store.new_uid());
        other["metadata"]["labels"]["promised.dev/instance"] = json!("another-reconciler");
        other["status"] = json!({"phase": "Running"});
        store.pods.insert(key.clone(), other);
    }
    if cluster.store.lock().unwrap().pods.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("pods \"{name}\" already exists"),
        );
    }
    pod["metadata"]["namespace"] = json!(ns);
    pod["metadata"]["uid"] = json!(cluster.store.lock().unwrap().new_uid());
    pod["status"] = json!({"phase": "Pending"});
    let unschedulable = cluster.unschedulable.lock().unwrap().clone();
    if let Some(message) = unschedulable {
        pod["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]);
        cluster.put_pod(&key, pod.clone(), "ADDED");
        return (StatusCode::CREATED, axum::Json(pod)).into_response();
    }
    cluster.put_pod(&key, pod.clone(), "ADDED");
    let kubelet = cluster.clone();
    std::thread::spawn(move || match kubelet.kubelet.clone() {
        Kubelet::Podman => run_pod(&kubelet, &key),
        Kubelet::Timed(time, log) => wait_pod(&kubelet, &key, time, log),
    });
    (StatusCode::CREATED, axum::Json(pod)).into_response()
}

/// What the `restricted` Pod Security Standard finds wrong with `pod`, in the words of
/// the API server's messages (k8s.io/pod-security-admission): a container must not
/// escalate privileges, must drop every capability, must not be privileged, must run
/// as non-root and under a RuntimeDefault or Localhost seccomp profile (set on it or
/// on the Pod), and the Pod may use only the volume types the standard lists.
fn restricted_violations(pod: &Value) -> Vec<String> {
    let spec = &pod["spec"];
    let pod_context = &spec["securityContext"];
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|field| spec[*field].as_array().into_iter().flatten())
        .collect();
    let mut violations = Vec::new();
    let failing = |check: &dyn Fn(&Value) -> bool| -> Vec<String> {
        containers
            .iter()
            .filter(|c| !check(&c["securityContext"]))
            .map(|c| format!("{:?}", c["name"].as_str().unwrap_or("")))
            .collect()
    };
    let mut rule = |names: Vec<String>, what: &str| {
        if !names.is_empty() {
            violations.push(format!(
                "{what} (containers {} must set it)",
                names.join(", ")
            ));
        }
    };
    rule(
        failing(&|c| c["allowPrivilegeEscalation"] == json!(false)),
        "allowPrivilegeEscalation != false",
    );
    rule(
        failing(&|c| {
            c["capabilities"]["drop"]
                .as_array()
                .is_some_and(|drop| drop.contains(&json!("ALL")))
        }),
        "unrestricted capabilities",
    );
    rule(failing(&|c| c["privileged"] != json!(true)), "privileged");
    let pod_non_root = pod_context["runAsNonRoot"] == json!(true);
    rule(
        failing(&|c| match c["runAsNonRoot"].as_bool() {
            Some(set) => set,
            None => pod_non_root,
        } && c["runAsUser"] != json!(0)),
        "runAsNonRoot != true",
    );
    let confined = |profile: &Value| {
        matches!(
            profile["type"].as_str(),
            Some("RuntimeDefault" | "Localhost")
        )
    };
    let pod_confined = confined(&pod_context["seccompProfile"]);
    rule(
        failing(&|c| match c["seccompProfile"]["type"].as_str() {
            Some(_) => confined(&c["seccompProfile"]),
            None => pod_confined,
        }),
        "seccompProfile",
    );
    const ALLOWED: [&str; 8] = [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        let kinds = volume
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str());
        if let Some(kind) = kinds
            .filter(|k| *k != "name")
            .find(|k| !ALLOWED.contains(k))
        {
            violations.push(format!("restricted volume types ({kind})"));
        }
    }
    violations
}

async fn get_pod(
    State(cluster): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let pod = cluster
        .store
        .lock()
        .unwrap()
        .pods
        .get(&(ns, name.clone()))
        .cloned();
    found(pod, "pods", &name)
}

async fn delete_pod(
    State(cluster): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let key = (ns, name);
    let mut store = cluster.store.lock().unwrap();
    let pod = match remove_as_asked(&mut store.pods, &key, &body, "pods") {
        Ok(pod) => pod,
        Err(refused) => return *refused,
    };
    store.collect_garbage();
    let _ = cluster.events.send((key, watch_line("DELETED", &pod)));
    axum::Json(pod).into_response()
}

/// One event of a watch, as the API server sends it: a JSON object on a line.
fn watch_line(kind: &str, object: &Value) -> Bytes {
    Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
}

async fn list_or_watch_pods(
    State(cluster): State<Arc<Cluster>>,
    Path(ns): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let wanted = query
        .get("fieldSelector")
        .and_then(|s| s.strip_prefix("metadata.name="))
        .map(String::from);
    let matches = move |key: &Key| key.0 == ns && wanted.as_ref().is_none_or(|n| *n == key.1);
    let receiver = cluster.events.subscribe();
    let labels = query.get("labelSelector");
    let current: Vec<(Key, Value)> = {
        let store = cluster.store.lock().unwrap();
        store
            .pods
            .iter()
            .filter(|(k, pod)| matches(k) && selected(pod, labels))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if query.get("watch").map(String::as_str) != Some("true") {
        let items: Vec<Value> = current.into_iter().map(|(_, v)| v).collect();
        let version = cluster.store.lock().unwrap().version.to_string();
        return axum::Json(json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": version}, "items": items})).into_response();
    }
    let line =
        |kind: &str, object: &Value| Ok::<_, std::convert::Infallible>(watch_line(kind, object));
    if take_one(&cluster.silent_watches) {
        let body = Body::from_stream(futures_util::stream::pending::<
            Result<Bytes, std::convert::Infallible>,
        >());
        return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
    }
    if take_one(&cluster.broken_watches) {
        let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410});
        let body = Body::from_stream(futures_util::stream::iter([line("ERROR", &gone)]));
        return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
    }
    let initial: Vec<_> = current.iter().map(|(_, pod)| line("ADDED", pod)).collect();
    let updates = futures_util::stream::unfold(receiver, move |mut receiver| {
        let matches = matches.clone();
        async move {
            loop {
                match receiver.recv().await {
                    Ok((key, line)) if matches(&key) => {
                        return Some((Ok(line), receiver));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    let stream = futures_util::stream::iter(initial).chain(updates);
    // The API server ends a watch at its timeoutSeconds, cleanly.
    let asked = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    let lifetime = [asked, *cluster.watch_lifetime.lock().unwrap()];
    let lifetime = lifetime.into_iter().flatten().min();
    let body = match lifetime {
        Some(lifetime) => Body::from_stream(stream.take_until(tokio::time::sleep(lifetime))),
        None => Body::from_stream(stream),
    };
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

/// Counts one off `count` if it is above 0: whether this watch is one of the next
/// `count` a setting spoils.
fn take_one(count: &std::sync::atomic::AtomicUsize) -> bool {
    use std::sync::atomic::Ordering::SeqCst;
    count
        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn pod_log(
    State(cluster): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let container = query.get("container").cloned().unwrap_or_default();
    let store = cluster.store.lock().unwrap();
    let Some(log) = store.logs.get(&(ns, name.clone(), container.clone())) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("container \"{container}\" in pod \"{name}\" has no log"),
        );
    };
    let rotate_at = cluster
        .rotate_logs_at
        .load(std::sync::atomic::Ordering::SeqCst);
    let log = newest_log_file(log, rotate_at);
    let lines: Vec<&[u8]> = log.split_inclusive(|b| *b == b'\n').collect();
    let tail = query.get("tailLines").and_then(|n| n.parse::<usize>().ok());
    let from = tail.map_or(0, |n| lines.len().saturating_sub(n));
    (StatusCode::OK, lines[from..].concat()).into_response()
}

/// The lines of `log` in the file the kubelet writes now, when it rotates files at
/// `rotate_at` bytes (0: never). On disk each line carries the CRI runtime's prefix
/// (`2026-12-03T23:00:00.123456789+00:00 stdout F `).
fn newest_log_file(log: &[u8], rotate_at: usize) -> Vec<u8> {
    const PREFIX: usize = "2026-12-03T23:00:00.123456789+00:00 stdout F ".len();
    if rotate_at == 0 {
        return log.to_vec();
    }
    let lines: Vec<&[u8]> = log.split_inclusive(|b| *b == b'\n').collect();
    let (mut start, mut size) = (0, 0);
    for (i, line) in lines.iter().enumerate() {
        size += PREFIX + line.len();
        if size > rotate_at {
            (start, size) = (i, PREFIX + line.len());
        }
    }
    lines[start..].concat()
}

fn create_object(map: &mut BTreeMap<Key, Value>, ns: String, body: &[u8], kind: &str) -> Response {
    let mut object: Value = serde_json::from_slice(body).unwrap();
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    object["metadata"]["namespace"] = json!(ns);
    if map.contains_key(&(ns.clone(), name.clone())) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{kind} \"{name}\" already exists"),
        );
    }
    map.insert((ns, name), object.clone());
    (StatusCode::CREATED, axum::Json(object)).into_response()
}

async fn create_lease(
    State(cluster): State<Arc<Cluster>>,
    Path(ns): Path<String>,
    body: Bytes,
) -> Response {
    let mut store = cluster.store.lock().unwrap();
    store.version += 1;
    let version = store.version.to_string();
    let mut lease: Value = serde_json::from_slice(&body).unwrap();
    lease["metadata"]["resourceVersion"] = json!(version);
    let body = serde_json::to_vec(&lease).unwrap();
    create_object(&mut store.leases, ns, &body, "leases")
}

async fn get_lease(
    State(cluster): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let lease = cluster
        .store
        .lock()
        .unwrap()
        .leases
        .get(&(ns, name.clone()))
        .cloned();
    found(lease, "leases", &name)
}

/// A replace that names another `resourceVersion` than the stored one is refused with
/// 409, as the API server refuses a write based on a stale read.
async fn replace_lease(
    State(cluster): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut lease: Value = serde_json::from_slice(&body).unwrap();
    let mut store = cluster.store.lock().unwrap();
    let key = (ns.clone(), name.clone());
    let Some(stored) = store.leases.get(&key) else {
        return not_found("leases", &name);
    };
    if lease["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"] {
        return status(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        );
    }
    store.version += 1;
    lease["metadata"]["resourceVersion"] = json!(store.version.to_string());
    lease["metadata"]["namespace"] = json!(ns);
    store.leases.insert(key, lease.clone());
    axum::Json(lease).into_response()
}

async fn create_secret(
    State(cluster): State<Arc<Cluster>>,
    Path(ns): Path<String>,
    body: Bytes,
) -> Response {
    let mut secret: Value = serde_json::from_slice(&body).unwrap();
    cluster
        .received_secrets
        .lock()
        .unwrap()
        .push(secret.clone());
    if let Some(missing) = cluster.missing_namespace(&ns) {
        return missing;
    }
    if let Some(invalid) = invalid(&secret, "Secret") {
        return invalid;
    }
    let mut store = cluster.store.lock().unwrap();
    secret["metadata"]["uid"] = json!(store.new_uid());
    let body = serde_json::to_vec(&secret).unwrap();
    let created = create_object(&mut store.secrets, ns, &body, "secrets");
    store.collect_garbage();
    created
}

async fn list_secrets(
    State(cluster): State<Arc<Cluster>>,
    Path(ns): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let store = cluster.store.lock().unwrap();
    let labels = query.get("labelSelector");
    let items: Vec<&Value> = store
        .secrets
        .iter()
        .filter(|((namespace, _), secret)| *namespace == ns && selected(secret, labels))
        .map(|(_, secret)| secret)
        .collect();
    let version = store.version.to_string();
    axum::Json(json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": version}, "items": items})).into_response()
}

/// `GET` of a stored object, or the API server's 404 Status.
fn found(object: Option<Value>, kind: &str, name: &str) -> Response {
    match object {
        Some(object) => axum::Json(object).into_response(),
        None => not_found(kind, name),
    }
}

async fn get_secret(
    State(cluster): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let secret = cluster
        .store
        .lock()
        .unwrap()
        .secrets
        .get(&(ns, name.clone()))
        .cloned();
    found(secret, "secrets", &name)
}

async fn delete_secret(
    State(cluster): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let key = (ns, name);
    let mut store = cluster.store.lock().unwrap();
    match remove_as_asked(&mut store.secrets, &key, &body, "secrets") {
        Ok(secret) => axum::Json(secret).into_response(),
        Err(refused) => *refused,
    }
}

async fn create_service_account(
    State(cluster): State<Arc<Cluster>>,
    Path(ns): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(missing) = cluster.missing_namespace(&ns) {
        return missing;
    }
    let mut store = cluster.store.lock().unwrap();
    create_object(&mut store.service_accounts, ns, &body, "serviceaccounts")
}

async fn get_service_account(
    State(cluster): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let account = cluster
        .store
        .lock()
        .unwrap()
        .service_accounts
        .get(&(ns, name.clone()))
        .cloned();
    found(account, "serviceaccounts", &name)
}

/// The timed kubelet: the Pod runs for `time`, then every container ends with 0 and the
/// handback container's log is `log`.
fn wait_pod(cluster: &Cluster, key: &Key, time: Duration, log: String) {
    cluster.update_status(key, |s| s["phase"] = json!("Running"));
    {
        let mut in_flight = cluster.in_flight.lock().unwrap();
        in_flight.0 += 1;
        in_flight.1 = in_flight.1.max(in_flight.0);
    }
    std::thread::sleep(time);
    cluster.in_flight.lock().unwrap().0 -= 1;
    let pod = cluster.store.lock().unwrap().pods.get(key).cloned();
    let Some(pod) = pod else { return };
    for (field, statuses) in [
        ("initContainers", "initContainerStatuses"),
        ("containers", "containerStatuses"),
    ] {
        for container in pod["spec"][field].as_array().cloned().unwrap_or_default() {
            let name = container["name"].as_str().unwrap().to_string();
            if name == promised::executor::kubernetes::HANDBACK_CONTAINER {
                let mut store = cluster.store.lock().unwrap();
                store.logs.insert(
                    (key.0.clone(), key.1.clone(), name.clone()),
                    log.clone().into_bytes(),
                );
            }
            let terminated = json!({"name": name, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}, "ready": false, "restartCount": 0, "image": container["image"], "imageID": ""});
            cluster.update_status(key, |s| push_status(s, statuses, terminated));
        }
    }
    cluster.update_status(key, |s| s["phase"] = json!("Succeeded"));
}

/// The API server's 422 for an object whose name, label values, or (for a Pod)
/// container and volume names break Kubernetes' rules (`IsDNS1123Subdomain`,
/// `IsValidLabelValue`, `IsDNS1123Label`), naming the first field that does.
fn invalid(object: &Value, kind: &str) -> Option<Response> {
    let dns_label = |s: &str| {
        let edge =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        s.len() <= 63
            && edge(s.chars().next())
            && edge(s.chars().last())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let subdomain = |s: &str| s.len() <= 253 && s.split('.').all(dns_label);
    let label_value = |s: &str| {
        let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        s.is_empty()
            || (s.len() <= 63
                && edge(s.chars().next())
                && edge(s.chars().last())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    };
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let mut checks: Vec<(String, String, bool)> =
        vec![("metadata.name".into(), name.into(), subdomain(name))];
    for (key, value) in object["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let value = value.as_str().unwrap_or_default();
        checks.push((
            format!("metadata.labels[{key}]"),
            value.into(),
            label_value(value),
        ));
    }
    for field in ["initContainers", "containers", "volumes"] {
        for (i, item) in object["spec"][field]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let value = item["name"].as_str().unwrap_or_default();
            checks.push((
                format!("spec.{field}[{i}].name"),
                value.into(),
                dns_label(value),
            ));
        }
    }
    let (field, value, _) = checks.into_iter().find(|(_, _, valid)| !valid)?;
    Some(status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{kind} \"{name}\" is invalid: {field}: Invalid value: \"{value}\""),
    ))
}

/// Answers after the set latency.
async fn slowly(
    State(cluster): State<Arc<Cluster>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let latency = *cluster.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(request).await
}

/// Events whose `involvedObject` matches every `involvedObject.<field>=<value>` term of
/// the `fieldSelector`.
async fn list_events(
    State(cluster): State<Arc<Cluster>>,
    Path(ns): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let store = cluster.store.lock().unwrap();
    let terms: Vec<(&str, &str)> = query
        .get("fieldSelector")
        .map(|s| s.split(',').filter_map(|t| t.split_once('=')).collect())
        .unwrap_or_default();
    let items: Vec<&Value> = store
        .events
        .iter()
        .filter(|e| e["metadata"]["namespace"] == json!(ns))
        .filter(|e| {
            terms.iter().all(|(field, value)| {
                let field = field.strip_prefix("involvedObject.").unwrap_or(field);
                e["involvedObject"][field].as_str() == Some(value)
            })
        })
        .collect();
    axum::Json(json!({"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": items}))
        .into_response()
}

/// The simulated kubelet: runs the Pod's containers in order and reports their states.
fn run_pod(cluster: &Cluster, key: &Key) {
    let pod = cluster.store.lock().unwrap().pods[key].clone();
    let failed_mount = cluster.failed_mount.lock().unwrap().clone();
    if let Some(message) = failed_mount {
        let first = pod["spec"]["initContainers"][0]["name"].clone();
        let creating = json!({"name": first, "state": {"waiting": {"reason": "ContainerCreating"}}, "ready": false, "restartCount": 0, "image": "", "imageID": ""});
        cluster.update_status(key, |s| push_status(s, "initContainerStatuses", creating));
        let mut store = cluster.store.lock().unwrap();
        let name = format!("{}.{}", key.1, store.events.len());
        store.events.push(json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": key.0}, "involvedObject": {"kind": "Pod", "name": key.1, "namespace": key.0, "uid": pod["metadata"]["uid"]}, "type": "Warning", "reason": "FailedMount", "message": message, "lastTimestamp": "2026-12-04T10:00:00Z"}));
        return;
    }
    let root = cluster.scratch.path().join(&key.1);
    // A Secret that never comes leaves the Pod Pending, as a failed mount does.
    let Some(volumes) = materialize_volumes(cluster, &key.0, &pod, &root) else {
        return;
    };
    let podman = OciExecutor::new("podman");
    // The kubelet's thread waits for each container on a runtime of its own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pull_errors = cluster.pull_errors.lock().unwrap().clone();
    if let Some(first) = pod["spec"]["initContainers"][0]["name"].as_str() {
        for message in pull_errors {
            for (reason, message) in [
                ("ErrImagePull", message.clone()),
                (
                    "ImagePullBackOff",
                    format!("Back-off pulling image: {message}"),
                ),
            ] {
                let waiting = json!({"name": first, "state": {"waiting": {"reason": reason, "message": message}}, "ready": false, "restartCount": 0, "image": "", "imageID": ""});
                let still_there = cluster
                    .update_status(key, |s| push_status(s, "initContainerStatuses", waiting));
                if !still_there {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
    cluster.update_status(key, |s| s["phase"] = json!("Running"));
    for (field, statuses) in [
        ("initContainers", "initContainerStatuses"),
        ("containers", "containerStatuses"),
    ] {
        for container in pod["spec"][field].as_array().cloned().unwrap_or_default() {
            let name = container["name"].as_str().unwrap().to_string();
            let running = json!({"name": name, "state": {"running": {}}, "ready": false, "restartCount": 0, "image": container["image"], "imageID": ""});
            let still_there = cluster.update_status(key, |s| push_status(s, statuses, running));
            if !still_there {
                return;
            }
            let spec = OciRun {
                name: name.clone(),
                image: container["image"].as_str().unwrap().to_string(),
                command: strings(&container["command"]),
                args: strings(&container["args"]),
                env: resolve_env(cluster, &key.0, &container["env"]),
                mounts: container["volumeMounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| {
                        let dir = volumes[m["name"].as_str().unwrap()].clone();
                        (
                            dir,
                            m["mountPath"].as_str().unwrap().to_string(),
                            m["readOnly"] == json!(true),
                        )
                    })
                    .collect(),
                network: false,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            let never = tokio_util::sync::CancellationToken::new();
            let ran = runtime.block_on(podman.run_one(
                &spec,
                &LogFolder::new(root.clone(), 0),
                deadline,
                &never,
            ));
            let exit = ran.unwrap().unwrap_or(promised::executor::OciExit {
                code: Some(137),
                ..Default::default()
            });
            let read = |log: &promised::executor::StreamLog| match log.total {
                0 => Vec::new(),
                _ => fs_err::read(&log.path).unwrap(),
            };
            let log = [read(&exit.stdout), read(&exit.stderr)].concat();
            cluster
                .store
                .lock()
                .unwrap()
                .logs
                .insert((key.0.clone(), key.1.clone(), name.clone()), log);
            let oom_killed = cluster.oom_killed.lock().unwrap().contains(&name);
            let code = if oom_killed {
                137
            } else {
                exit.code.unwrap_or(137)
            };
            let reason = match code {
                0 => "Completed",
                _ if oom_killed => "OOMKilled",
                _ => "Error",
            };
            let terminated = json!({"name": name, "state": {"terminated": {"exitCode": code, "reason": reason}}, "ready": false, "restartCount": 0, "image": container["image"], "imageID": ""});
            cluster.update_status(key, |s| push_status(s, statuses, terminated));
            if code != 0 {
                cluster.update_status(key, |s| s["phase"] = json!("Failed"));
                return;
            }
        }
    }
    cluster.update_status(key, |s| s["phase"] = json!("Succeeded"));
}

fn push_status(status: &mut Value, field: &str, entry: Value) {
    let list = status[field]
        .as_array_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut list: Vec<Value> = list
        .into_iter()
        .filter(|e| e["name"] != entry["name"])
        .collect();
    list.push(entry);
    status[field] = Value::Array(list);
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn materialize_volumes(
    cluster: &Cluster,
    ns: &str,
    pod: &Value,
    root: &std::path::Path,
) -> Option<HashMap<String, PathBuf>> {
    let mut dirs = HashMap::new();
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = volume["name"].as_str().unwrap().to_string();
        let dir = root.join("volumes").join(&name);
        fs_err::create_dir_all(&dir).unwrap();
        if let Some(secret) = volume["secret"]["secretName"].as_str() {
            let key = (ns.to_string(), secret.to_string());
            // The kubelet retries a mount until the Secret exists (FailedMount).
            let waited = Instant::now() + Duration::from_secs(30);
            while !cluster.store.lock().unwrap().secrets.contains_key(&key) {
                if Instant::now() > waited {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let store = cluster.store.lock().unwrap();
            let data = &store.secrets[&key]["data"];
            for (file, encoded) in data.as_object().unwrap() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_str().unwrap())
                    .unwrap();
                fs_err::write(dir.join(file), bytes).unwrap();
            }
        }
        dirs.insert(name, dir);
    }
    Some(dirs)
}

fn resolve_env(cluster: &Cluster, ns: &str, env: &Value) -> Vec<(String, String)> {
    let store = cluster.store.lock().unwrap();
    env.as_array()
        .into_iter()
        .flatten()
        .map(|var| {
            let name = var["name"].as_str().unwrap().to_string();
            let value = match var["valueFrom"]["secretKeyRef"].as_object() {
                Some(reference) => {
                    let secret = &store.secrets[&(
                        ns.to_string(),
                        reference["name"].as_str().unwrap().to_string(),
                    )];
                    let encoded = secret["data"][reference["key"].as_str().unwrap()]
                        .as_str()
                        .unwrap();
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(encoded)
                            .unwrap(),
                    )
                    .unwrap()
                }
                None => var["value"].as_str().unwrap_or_default().to_string(),
            };
            (name, value)
        })
        .collect()
}
