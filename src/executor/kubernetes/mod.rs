//! The Kubernetes executor: one Pod per pipeline run, as Kratix runs it, created through
//! the API server with kube-rs. The reconciler creates a Secret with the request and the
//! Pod, watches the Pod until it ends, reads the output back from the handback
//! container's log, and deletes both, also when the run fails or times out.
//!
//! Verified here against an in-process API server double that speaks the Kubernetes
//! JSON wire format and runs the Pod's containers with podman (tests/cli/kubernetes.rs);
//! not verified against a real cluster.

mod diagnosis;
mod handback;
mod names;
mod pod;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use k8s_openapi::api::core::v1::{Event, Pod, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

pub(crate) use handback::unpack;
pub use handback::{DEFAULT_MAX_ARCHIVE_BYTES, pack};
pub(crate) use names::is_label_value;
pub use pod::HANDBACK_CONTAINER;
pub(crate) use pod::{INSTANCE_LABEL, PodNames, default_service_account};

use super::{ExecError, Executor, TAIL_BYTES};
use crate::model::WorkflowType;
use crate::pipeline::{Job, Workspace};

/// The most time one API call outside a run's own time may take: the diagnosis at a
/// timeout, the deletions, each call on a Lease.
pub(crate) const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where and how Pods are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KubeSettings {
    /// The API server's URL, without authentication (for tests and proxies such as
    /// `kubectl proxy`); `None`: the kubeconfig or the in-cluster configuration.
    pub(crate) api_server: Option<String>,
    /// The namespace of Promise pipelines' Pods, Secrets and default ServiceAccounts,
    /// and of request pipelines' with `one_namespace`.
    pub(crate) namespace: String,
    /// Whether every pipeline runs in `namespace`. Otherwise a request's pipelines run
    /// in its own namespace, and a Promise's `pipelineNamespace` places all of its
    /// pipelines, as in Kratix ([`pipeline_namespace`]).
    pub(crate) one_namespace: bool,
    /// The `promised` image the handback container runs.
    pub(crate) helper_image: String,
    /// The most bytes of compressed output a Pod's log carries back.
    pub(crate) max_handback_bytes: u64,
    /// Who this reconciler is among those sharing the namespace (a label value): its
    /// runs carry it, and at start it removes what an earlier life of it left.
    pub(crate) instance: String,
    /// How long a Pod's watch may stay silent before the Pod is listed and watched
    /// anew: a connection that died without closing (a load balancer or an API server
    /// gone) is noticed within this time, not at the run's timeout.
    pub(crate) watch_recheck: std::time::Duration,
}

/// Runs pipelines as Pods.
pub(crate) struct KubernetesExecutor {
    settings: KubeSettings,
    /// Set on the first successful connection; a failure is retried on the next run.
    client: tokio::sync::OnceCell<kube::Client>,
    /// The namespaces swept of what an earlier life of this instance left: each once,
    /// before this process makes anything there (the sweep would find its own runs).
    swept: std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::OnceCell<()>>>>,
}

impl KubernetesExecutor {
    /// An executor that connects on first use.
    pub(crate) fn new(settings: KubeSettings) -> Self {
        KubernetesExecutor {
            settings,
            client: tokio::sync::OnceCell::new(),
            swept: std::sync::Mutex::default(),
        }
    }

    /// Sweeps `namespace` unless this process did already; every run waits for it.
    async fn swept(&self, client: &kube::Client, namespace: &str) {
        let once = self
            .swept
            .lock()
            .expect("the sweep map is only locked to look up")
            .entry(namespace.to_string())
            .or_default()
            .clone();
        once.get_or_init(|| {
            let (client, instance) = (client.clone(), self.settings.instance.clone());
            let namespace = namespace.to_string();
            let sweeping =
                crate::runtime::spawn(async move { sweep(&client, &namespace, &instance).await });
            async {
                let _ = sweeping.await;
            }
        })
        .await;
    }
}

/// Where `job`'s Pod runs, and what chose it: `--kube-namespace` with `one_namespace`;
/// else the Promise's `spec.workflows.config.pipelineNamespace`; else the request's
/// namespace for a request's workflow and `--kube-namespace` for a Promise's, as Kratix
/// places them (its Promise pipelines go to `kratix-platform-system`).
fn pipeline_namespace<'a>(settings: &'a KubeSettings, job: &'a Job<'_>) -> (&'a str, &'static str) {
    let fixed = (settings.namespace.as_str(), "--kube-namespace");
    if settings.one_namespace {
        return fixed;
    }
    if let Some(namespace) = &job.promise.workflows.pipeline_namespace {
        return (
            namespace,
            "the Promise's spec.workflows.config.pipelineNamespace",
        );
    }
    match job.workflow.0 {
        WorkflowType::Resource => (job.object.namespace, "the request's metadata.namespace"),
        WorkflowType::Promise => fixed,
    }
}

/// A client of the API server `settings` name: its URL, or the kubeconfig or in-cluster
/// configuration.
pub(crate) async fn client(settings: &KubeSettings) -> Result<kube::Client, String> {
    let config = match &settings.api_server {
        Some(url) => kube::Config::new(
            url.parse()
                .map_err(|e| format!("--kube-api-server {url}: {e}"))?,
        ),
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("no Kubernetes configuration: {e}"))?,
    };
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

impl Executor for KubernetesExecutor {
    fn run<'a>(
        &'a self,
        job: &'a Job<'_>,
        workspace: &'a Workspace,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(self.run_pipeline(job, workspace))
    }
}

impl KubernetesExecutor {
    /// Runs the pipeline's Pod: a future that waits on the API server's answers and
    /// watch, so that hundreds of runs in flight hold no thread each. The calls happen
    /// on the shared runtime, where the client's connections live; the output is
    /// unpacked here, on the worker's thread.
    async fn run_pipeline(&self, job: &Job<'_>, workspace: &Workspace) -> Result<(), ExecError> {
        let settings = &self.settings;
        let client = self
            .client
            .get_or_try_init(|| {
                let settings = settings.clone();
                let connecting = crate::runtime::spawn(async move { client(&settings).await });
                async { connecting.await.unwrap_or_else(|e| Err(e.to_string())) }
            })
            .await
            .map_err(|what| ExecError::Kubernetes { what })?;
        let (namespace, chosen_by) = pipeline_namespace(settings, job);
        self.swept(client, namespace).await;
        let names = PodNames {
            pod: pod_name(job),
            instance: settings.instance.clone(),
            namespace: namespace.to_string(),
            service_account: job
                .pipeline
                .pod
                .service_account
                .clone()
                .unwrap_or_else(|| default_service_account(&job.promise.name)),
            helper_image: settings.helper_image.clone(),
            max_handback_bytes: settings.max_handback_bytes,
        };
        let run = PodRun::new(job, names, chosen_by, settings.watch_recheck)?;
        let log = crate::runtime::spawn(run.run(client.clone()))
            .await
            .map_err(|e| ExecError::Kubernetes {
                what: format!("the run's task ended: {e}"),
            })??;
        let bound = job.limits.max_bytes.saturating_add(handback::UNPACK_SLACK);
        unpack(&log, &workspace.output, &workspace.metadata, bound)
            .map_err(|what| ExecError::Kubernetes { what })
    }
}

/// One run's Secret and Pod, and what else the API server is told, taken from the job:
/// owned, so that the run can go to the shared runtime.
struct PodRun {
    names: PodNames,
    /// The Secret, but for its owner: the Pod's UID is known once the Pod is made.
    secret: Secret,
    pod: Pod,
    /// Whether the Pod runs as the Promise's default ServiceAccount, made if missing.
    default_account: bool,
    timeout: std::time::Duration,
    watch_recheck: std::time::Duration,
    stop: CancellationToken,
    /// What chose the namespace, for the error when it does not exist.
    namespace_chosen_by: &'static str,
}

/// The UIDs of what a run made: only these are deleted, so that a name another run
/// holds (a 409 on create) never leads to deleting that run's objects.
#[derive(Default)]
struct Made {
    pod: Option<String>,
    secret: Option<String>,
}

impl PodRun {
    fn new(
        job: &Job<'_>,
        names: PodNames,
        namespace_chosen_by: &'static str,
        watch_recheck: std::time::Duration,
    ) -> Result<Self, ExecError> {
        let secret: Secret = serde_json::from_value(pod::secret(job, &names)).map_err(|e| {
            ExecError::Kubernetes {
                what: e.to_string(),
            }
        })?;
        let pod: Pod =
            serde_json::from_value(pod::pod(job, &names)).map_err(|e| ExecError::Kubernetes {
                what: format!(
                    "the Pod for pipeline {:?} is not valid: {e}",
                    job.pipeline.name
                ),
            })?;
        Ok(PodRun {
            names,
            secret,
            pod,
            default_account: job.pipeline.pod.service_account.is_none(),
            timeout: job.timeout,
            watch_recheck,
            stop: job.stop.clone(),
            namespace_chosen_by,
        })
    }

    /// Runs the Pod within the timeout, which covers the whole run (the Pod, the
    /// Secret, the wait and the log read back), or until the reconciler stops, and
    /// deletes what it made: the handback container's log.
    async fn run(self, client: kube::Client) -> Result<String, ExecError> {
        let names = &self.names;
        let mut made = Made::default();
        let result = tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(ExecError::Cancelled),
            ran = tokio::time::timeout(self.timeout, run_pod(&client, &self, &mut made)) => {
                match ran {
                    Ok(result) => result,
                    Err(_) => {
                        let pods: Api<Pod> = Api::namespaced(client.clone(), &names.namespace);
                        let pod = tokio::time::timeout(CALL_TIMEOUT, pods.get(&names.pod)).await;
                        let pod = pod.ok().and_then(Result::ok);
                        let events = events_of(&client, names).await;
                        Err(diagnosis::unfinished(pod.as_ref(), &events, self.timeout))
                    }
                }
            }
        };
        cleanup(&client, names, &made).await;
        result
    }
}

/// The events about the run's Pod, for the diagnosis at a timeout; none where they
/// cannot be read (no `list` on events: the diagnosis does without).
async fn events_of(client: &kube::Client, names: &PodNames) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), &names.namespace);
    let params = kube::api::ListParams::default().fields(&format!(
        "involvedObject.kind=Pod,involvedObject.name={}",
        names.pod
    ));
    match tokio::time::timeout(CALL_TIMEOUT, events.list(&params)).await {
        Ok(Ok(list)) => list.items,
        Ok(Err(err)) => {
            tracing::debug!(pod = %names.pod, "cannot read the Pod's events: {err}");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

/// `promised-<promise>-<request>-<8 hex>`, at most 63 characters. The hash covers a
/// random number drawn once per process besides the run's count: in a container the
/// PID is 1 and the count starts at 0 again after every restart, and two reconcilers
/// may share a namespace, so neither alone keeps names apart.
fn pod_name(job: &Job<'_>) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // RandomState's keys are random per process (the standard library seeds them).
    let process = PROCESS.get_or_init(|| {
        use std::hash::BuildHasher;
        std::hash::RandomState::new().hash_one(std::time::SystemTime::now())
    });
    let seed = format!(
        "{}\0{}\0{process}\0{}",
        job.object,
        job.pipeline.name,
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
    let hash = hex::encode(&Sha256::digest(seed.as_bytes())[..4]);
    names::pod_name(&job.promise.name, job.object.name, &hash)
}

fn kube_error(what: &str) -> impl Fn(kube::Error) -> ExecError + '_ {
    move |err| ExecError::Kubernetes {
        what: format!("{what}: {err}"),
    }
}

/// Makes the Pod, then its Secret, owned by it; waits for the Pod and reads its
/// handback log. What it makes goes in `made` at once, for the cleanup.
async fn run_pod(
    client: &kube::Client,
    run: &PodRun,
    made: &mut Made,
) -> Result<String, ExecError> {
    let names = &run.names;
    let ns = names.namespace.as_str();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    if run.default_account {
        ensure_service_account(client, run).await?;
    }
    let created = pods
        .create(&PostParams::default(), &run.pod)
        .await
        .map_err(creating(&format!("Pod {ns}/{}", names.pod), run))?;
    let uid = created.metadata.uid.unwrap_or_default();
    made.pod = Some(uid.clone());
    tracing::debug!(pod = %names.pod, namespace = ns, "created Pod");
    let mut secret = run.secret.clone();
    pod::owned_by_pod(&mut secret, &names.pod, &uid);
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .map_err(kube_error(&format!("creating Secret {ns}/{}", names.pod)))?;
    made.secret = created.metadata.uid;

    let pod = wait_finished(&pods, &names.pod, run.watch_recheck).await?;
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if phase != "Succeeded" {
        return Err(failure(&pods, &pod).await);
    }
    // No more than the largest archive the helper prints takes as base64 (4/3, a
    // newline each 76 characters, the marker lines): a log past it is read cut, and
    // fails as cut short.
    let most = names.max_handback_bytes.saturating_mul(3) / 2 + 64 * 1024;
    let params = LogParams {
        container: Some(HANDBACK_CONTAINER.into()),
        limit_bytes: Some(i64::try_from(most).unwrap_or(i64::MAX)),
        ..LogParams::default()
    };
    pods.logs(&names.pod, &params)
        .await
        .map_err(kube_error(&format!(
            "reading the log of Pod {ns}/{}",
            names.pod
        )))
}

/// The error of creating `what` in the run's namespace: one that says so when the
/// namespace itself is missing, and what chose it.
fn creating<'a>(what: &'a str, run: &'a PodRun) -> impl Fn(kube::Error) -> ExecError + 'a {
    move |err| match &err {
        kube::Error::Api(status)
            if status.code == 404 && status.message.starts_with("namespaces ") =>
        {
            ExecError::Kubernetes {
                what: format!(
                    "namespace {:?} does not exist (it is {}): create it, or run promised \
                     with --kube-one-namespace to keep every pipeline in --kube-namespace",
                    run.names.namespace, run.namespace_chosen_by
                ),
            }
        }
        _ => kube_error(&format!("creating {what}"))(err),
    }
}

/// Creates the seed's default ServiceAccount for the Promise unless it exists.
async fn ensure_service_account(client: &kube::Client, run: &PodRun) -> Result<(), ExecError> {
    let (ns, name) = (
        run.names.namespace.as_str(),
        run.names.service_account.as_str(),
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let found = accounts
        .get_opt(name)
        .await
        .map_err(kube_error(&format!("reading ServiceAccount {ns}/{name}")))?;
    if found.is_none() {
        let account: ServiceAccount = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "labels": {pod::MANAGED_BY.0: pod::MANAGED_BY.1}},
        }))
        .map_err(|e| ExecError::Kubernetes { what: e.to_string() })?;
        match accounts.create(&PostParams::default(), &account).await {
            Ok(_) => tracing::info!(namespace = ns, name, "created the pipeline ServiceAccount"),
            // Another pipeline of the same Promise created it first.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(err) => return Err(creating(&format!("ServiceAccount {ns}/{name}"), run)(err)),
        }
    }
    Ok(())
}

/// Watches the Pod until it succeeds or fails; fails early on errors that never clear
/// by themselves (an image that cannot be pulled, a bad container config).
///
/// First one plain watch: one request, which is all a run needs when nothing goes
/// wrong. When that watch ends or fails (an API server restart, an expired resource
/// version), kube-runtime's `watcher` takes over: it lists and watches again, with
/// backoff, for as long as it takes, so a control plane that comes back does not fail
/// the runs in flight. A Pod missing from a new listing was deleted meanwhile.
///
/// Either watch silent for `recheck` is given up and the watcher starts anew with a
/// listing: a connection that died without closing (half-open) sends nothing, and
/// would otherwise hold the run until its timeout.
async fn wait_finished(
    pods: &Api<Pod>,
    name: &str,
    recheck: std::time::Duration,
) -> Result<Pod, ExecError> {
    if let Some(settled) = watch_once(pods, name, recheck).await {
        return settled;
    }
    loop {
        if let Some(settled) = watch_until_settled(pods, name, recheck).await {
            return settled;
        }
        tracing::debug!(pod = name, ?recheck, "the watch was silent: listing anew");
    }
}

/// What an event about the Pod settles: `None` while it runs on.
fn settled(pod: Pod) -> Option<Result<Pod, ExecError>> {
    if let Some(problem) = diagnosis::stuck(&pod) {
        return Some(Err(ExecError::Kubernetes { what: problem }));
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed")).then_some(Ok(pod))
}

fn deleted(name: &str) -> ExecError {
    ExecError::Kubernetes {
        what: format!("Pod {name} was deleted while it ran"),
    }
}

/// One watch from the Pod's current state; `None` if it ended, failed or stayed
/// silent for `recheck` first.
async fn watch_once(
    pods: &Api<Pod>,
    name: &str,
    recheck: std::time::Duration,
) -> Option<Result<Pod, ExecError>> {
    use kube::api::{WatchEvent, WatchParams};

    let params = WatchParams::default().fields(&format!("metadata.name={name}"));
    let stream = tokio::time::timeout(recheck, pods.watch(&params, "0"))
        .await
        .ok()?
        .ok()?;
    let mut stream = std::pin::pin!(stream);
    while let Ok(Some(Ok(event))) = tokio::time::timeout(recheck, stream.next()).await {
        match event {
            WatchEvent::Added(pod) | WatchEvent::Modified(pod) => {
                if let Some(done) = settled(pod) {
                    return Some(done);
                }
            }
            WatchEvent::Deleted(_) => return Some(Err(deleted(name))),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(err) => {
                tracing::debug!(pod = name, "watching again after: {}", err.message);
                return None;
            }
        }
    }
    None
}

/// Lists and watches the Pod with kube-runtime's `watcher` until it settles; `None`
/// when the watcher stays silent for `recheck`.
async fn watch_until_settled(
    pods: &Api<Pod>,
    name: &str,
    recheck: std::time::Duration,
) -> Option<Result<Pod, ExecError>> {
    use kube::runtime::WatchStreamExt;
    use kube::runtime::watcher::{self, Event};

    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let events = watcher::watcher(pods.clone(), config).default_backoff();
    let mut events = std::pin::pin!(events);
    let mut listed = false;
    loop {
        let event = match tokio::time::timeout(recheck, events.next()).await {
            Ok(Some(event)) => event,
            Ok(None) => {
                return Some(Err(ExecError::Kubernetes {
                    what: format!("the watch of Pod {name} ended"),
                }));
            }
            Err(_) => return None,
        };
        let pod = match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => pod,
            Ok(Event::Init) => {
                listed = false;
                continue;
            }
            Ok(Event::InitDone) if !listed => return Some(Err(deleted(name))),
            Ok(Event::InitDone) => continue,
            Ok(Event::Delete(_)) => return Some(Err(deleted(name))),
            Err(err) => {
                tracing::debug!(pod = name, "watching again after: {err}");
                continue;
            }
        };
        listed = true;
        if let Some(done) = settled(pod) {
            return Some(done);
        }
    }
}

/// The failed container, its exit code and the tail of its log.
async fn failure(pods: &Api<Pod>, pod: &Pod) -> ExecError {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let all = status
        .init_container_statuses
        .into_iter()
        .flatten()
        .chain(status.container_statuses.into_iter().flatten());
    // An eviction or the deadline kills the running container too (exit 137): the
    // Pod's reason says more than that container's exit.
    if matches!(
        status.reason.as_deref(),
        Some("Evicted" | "DeadlineExceeded")
    ) {
        return ExecError::Kubernetes {
            what: diagnosis::pod_failed(pod),
        };
    }
    let failed = all.into_iter().find_map(|s| {
        let terminated = s.state?.terminated?;
        (terminated.exit_code != 0).then_some((s.name, terminated))
    });
    let Some((container, terminated)) = failed else {
        return ExecError::Kubernetes {
            what: diagnosis::pod_failed(pod),
        };
    };
    ExecError::Failed {
        exit: diagnosis::exit(&terminated),
        stderr_tail: log_tail(pods, &name, &container).await,
        container,
    }
}

/// The last lines of a container's log, read as bytes: a step's error may not be
/// UTF-8 (a binary's output, another encoding), and is kept as the other executors
/// keep it, with what is not UTF-8 replaced, rather than lost to a decoding error.
async fn log_tail(pods: &Api<Pod>, name: &str, container: &str) -> String {
    use futures_util::AsyncReadExt;

    // The Pod keeps the whole log; a long one is not read whole.
    let params = LogParams {
        container: Some(container.to_string()),
        tail_lines: Some(200),
        limit_bytes: Some(TAIL_BYTES as i64),
        ..LogParams::default()
    };
    let read = async {
        let mut bytes = Vec::new();
        let stream = pods.log_stream(name, &params).await?;
        let mut stream = std::pin::pin!(stream);
        stream
            .read_to_end(&mut bytes)
            .await
            .map_err(kube::Error::ReadEvents)?;
        Ok::<_, kube::Error>(bytes)
    };
    match tokio::time::timeout(CALL_TIMEOUT, read).await {
        Ok(Ok(bytes)) => {
            let tail = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
            String::from_utf8_lossy(tail).into_owned()
        }
        Ok(Err(err)) => format!("(its log could not be read: {err})"),
        Err(_) => format!("(its log could not be read: no answer within {CALL_TIMEOUT:?})"),
    }
}

/// Deletes the Pod and the Secret the run made, each only while it is the object the
/// run made (a UID precondition); what is already gone is fine.
async fn cleanup(client: &kube::Client, names: &PodNames, made: &Made) {
    let ns = names.namespace.as_str();
    if let Some(uid) = &made.pod {
        delete(&Api::<Pod>::namespaced(client.clone(), ns), &names.pod, uid).await;
    }
    // The garbage collector would remove it with the Pod; deleting it now keeps the
    // request out of the cluster also where the collector lags.
    if let Some(uid) = &made.secret {
        delete(
            &Api::<Secret>::namespaced(client.clone(), ns),
            &names.pod,
            uid,
        )
        .await;
    }
}

/// Deletes the object `name` if its UID is `uid`, at once and within [`CALL_TIMEOUT`]:
/// a hung API server must not hold a run (or the start) for the client's own timeout
/// of minutes.
async fn delete<K>(api: &Api<K>, name: &str, uid: &str)
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(kube::api::Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    let kind = K::kind(&()).into_owned();
    let deleted = tokio::time::timeout(CALL_TIMEOUT, api.delete(name, &params)).await;
    warn_unless_gone(&kind, name, deleted);
}

/// Removes the Pods and Secrets an earlier life of this instance left in `ns` (killed
/// before its cleanup), before its first run there. Where listing is not allowed, it
/// says so and goes on: the runs do not need it.
async fn sweep(client: &kube::Client, ns: &str, instance: &str) {
    let selector = format!(
        "{}={},{INSTANCE_LABEL}={instance}",
        pod::MANAGED_BY.0,
        pod::MANAGED_BY.1,
    );
    let swept = sweep_kind(&Api::<Pod>::namespaced(client.clone(), ns), &selector).await
        + sweep_kind(&Api::<Secret>::namespaced(client.clone(), ns), &selector).await;
    if swept > 0 {
        tracing::info!(
            namespace = ns,
            instance,
            objects = swept,
            "removed the Pods and Secrets an earlier run of this instance left"
        );
    }
}

/// Deletes every object of a kind that `selector` finds; how many it found.
async fn sweep_kind<K>(api: &Api<K>, selector: &str) -> usize
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let kind = K::kind(&()).into_owned();
    let params = kube::api::ListParams::default().labels(selector);
    let listed = match tokio::time::timeout(CALL_TIMEOUT, api.list(&params)).await {
        Ok(Ok(listed)) => listed,
        Ok(Err(err)) => {
            tracing::warn!(kind, "cannot list what an earlier run left: {err}");
            return 0;
        }
        Err(_) => {
            tracing::warn!(
                kind,
                "cannot list what an earlier run left: no answer within {CALL_TIMEOUT:?}"
            );
            return 0;
        }
    };
    let found = listed.items.len();
    for object in listed.items {
        let meta = object.meta();
        if let (Some(name), Some(uid)) = (&meta.name, &meta.uid) {
            delete(api, name, uid).await;
        }
    }
    found
}

/// Logs a deletion that neither happened nor found the object already gone.
fn warn_unless_gone<T>(
    kind: &str,
    name: &str,
    deleted: Result<Result<T, kube::Error>, tokio::time::error::Elapsed>,
) {
    match deleted {
        Ok(Err(err)) if !is_not_found(&err) => {
            tracing::warn!(kind, name, "could not delete the {kind}: {err}");
        }
        Err(_) => {
            tracing::warn!(
                kind,
                name,
                "could not delete the {kind}: no answer within {CALL_TIMEOUT:?}"
            );
        }
        Ok(_) => {}
    }
}

fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}
