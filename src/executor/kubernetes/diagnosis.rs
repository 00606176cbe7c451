//! What a Pod's status says about a run that failed or ran out of time, in words a
//! Promise author can act on. Pure: a Pod in, a message out.

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Event, Pod,
};

use super::ExecError;

/// How a container ended, for an error: its exit code, and the reason when the
/// kubelet gave one that says more (a container killed for its memory).
pub(crate) fn exit(terminated: &ContainerStateTerminated) -> String {
    match terminated.reason.as_deref() {
        Some("OOMKilled") => format!(
            "killed for using more memory than its limit (OOMKilled, exit code {}); raise its \
             resources.limits.memory",
            terminated.exit_code
        ),
        _ => format!("exit code {}", terminated.exit_code),
    }
}

/// Why a container waits in a way that will not clear by itself, if it does: a
/// container that cannot be created, an image name that is not one, or a pull refused
/// for good (no such image or tag, no access). Other pull errors (a registry that
/// times out, refuses connections or limits its rate) the kubelet retries with
/// backoff, and the run waits for it, up to its timeout.
pub(crate) fn stuck(pod: &Pod) -> Option<String> {
    const FATAL: [&str; 3] = [
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    ];
    const PULL: [&str; 2] = ["ErrImagePull", "ImagePullBackOff"];
    let status = pod.status.as_ref()?;
    let all = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    all.into_iter().find_map(|s| {
        let waiting = s.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        let message = waiting.message.as_deref().unwrap_or("");
        let fatal = FATAL.contains(&reason) || (PULL.contains(&reason) && pull_refused(message));
        fatal.then(|| format!("container {:?}: {reason}: {message}", s.name))
    })
}

/// Whether a pull error's message (the container runtime's, through the kubelet) says
/// the registry answered and refused: the image or tag does not exist, or the
/// credentials do not reach it. Pulling again cannot help.
fn pull_refused(message: &str) -> bool {
    const REFUSED: [&str; 8] = [
        "not found",
        "manifest unknown",
        "name unknown",
        "repository does not exist",
        "unauthorized",
        "forbidden",
        "access denied",
        "authorization failed",
    ];
    let message = message.to_ascii_lowercase();
    REFUSED.iter().any(|refused| message.contains(refused))
}

/// Why a Pod failed with no container that failed: evicted, past its deadline, or
/// what its status says.
pub(crate) fn pod_failed(pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let message = status.message.unwrap_or_default();
    match status.reason.as_deref() {
        Some("Evicted") => format!("Pod {name} was evicted by its node: {message}"),
        Some("DeadlineExceeded") => format!(
            "Pod {name} ran past its activeDeadlineSeconds (the pipeline's timeout) and was \
             stopped by the kubelet"
        ),
        Some(reason) => format!("Pod {name} failed: {reason}: {message}"),
        None => format!("Pod {name} failed: {message}"),
    }
}

/// The error for a Pod still unfinished when the run's `timeout` ran out: never
/// scheduled (and why), the container that was running, a container waiting for a
/// reason of its own, the kubelet's last warning about the Pod (`events`: a volume it
/// cannot mount, say), or a container still waiting to be created.
pub(crate) fn unfinished(pod: Option<&Pod>, events: &[Event], timeout: Duration) -> ExecError {
    let timed_out = |container: String| ExecError::TimedOut { container, timeout };
    let Some(status) = pod.and_then(|pod| pod.status.as_ref()) else {
        return timed_out("(not started)".into());
    };
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    let not_within =
        |what: &str, reason: &Option<String>, default: &str, message: &Option<String>| {
            ExecError::Kubernetes {
                what: format!(
                    "the Pod {what} within the timeout ({}): {}: {}",
                    humantime::format_duration(timeout),
                    reason.as_deref().unwrap_or(default),
                    message.as_deref().unwrap_or_default()
                ),
            }
        };
    if let Some(c) = unscheduled {
        return not_within("was not scheduled", &c.reason, "Unschedulable", &c.message);
    }
    let containers = || {
        let init = status.init_container_statuses.iter().flatten();
        init.chain(status.container_statuses.iter().flatten())
    };
    let state = |s: &ContainerStatus| s.state.clone().unwrap_or_default();
    if let Some(running) = containers().find(|s| state(s).running.is_some()) {
        return timed_out(running.name.clone());
    }
    let waiting = containers().find_map(|s| match state(s) {
        ContainerState {
            waiting: Some(waiting),
            ..
        } => Some((s.name.clone(), waiting)),
        _ => None,
    });
    // Waiting to be created says nothing of why; the kubelet's warning does.
    let creating = waiting.as_ref().is_none_or(|(_, waiting)| {
        matches!(
            waiting.reason.as_deref(),
            None | Some("ContainerCreating" | "PodInitializing")
        )
    });
    if let Some(w) = last_warning(events).filter(|_| creating) {
        return not_within("did not start", &w.reason, "Warning", &w.message);
    }
    match waiting {
        Some((container, waiting)) => ExecError::Kubernetes {
            what: format!(
                "container {container:?} was still waiting when the timeout ({}) ran out: {}: {}",
                humantime::format_duration(timeout),
                waiting.reason.as_deref().unwrap_or("waiting"),
                waiting.message.as_deref().unwrap_or_default()
            ),
        },
        None => timed_out("(not started)".into()),
    }
}

/// The latest event of type `Warning`: the last seen, then the last listed.
fn last_warning(events: &[Event]) -> Option<&Event> {
    let warnings = events.iter().enumerate();
    let warnings = warnings.filter(|(_, e)| e.type_.as_deref() == Some("Warning"));
    let seen = |e: &Event| e.last_timestamp.as_ref().map(|t| t.0);
    warnings
        .max_by_key(|(i, e)| (seen(e), *i))
        .map(|(_, event)| event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    #[test]
    fn a_container_killed_for_its_memory_says_so_and_what_to_raise() {
        let terminated: ContainerStateTerminated =
            serde_json::from_value(json!({"exitCode": 137, "reason": "OOMKilled"})).unwrap();
        let text = exit(&terminated);
        assert!(
            text.starts_with(
                "killed for using more memory than its limit (OOMKilled, exit code 137)"
            ),
            "{text}"
        );
        assert!(text.contains("resources.limits.memory"), "{text}");
        let plain: ContainerStateTerminated =
            serde_json::from_value(json!({"exitCode": 3, "reason": "Error"})).unwrap();
        assert_eq!(exit(&plain), "exit code 3");
    }

    fn waiting(reason: &str, message: &str) -> Pod {
        pod(
            json!({"phase": "Pending", "initContainerStatuses": [{"name": "render", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}]}),
        )
    }

    #[test]
    fn a_pull_the_registry_refused_fails_at_once_and_one_that_may_pass_is_waited_for() {
        let refused = [
            "failed to pull and unpack image \"docker.io/library/nope:1\": failed to resolve reference \"docker.io/library/nope:1\": docker.io/library/nope:1: not found",
            "reading manifest 1 in quay.io/team/app: manifest unknown",
            "pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
            "unexpected status from HEAD request to https://registry.example/v2/app/manifests/1: 401 Unauthorized",
        ];
        for message in refused {
            let text = stuck(&waiting("ErrImagePull", message)).expect(message);
            assert_eq!(
                text,
                format!("container \"render\": ErrImagePull: {message}")
            );
        }
        let passing = [
            "failed to pull and unpack image \"docker.io/library/app:1\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/app/manifests/sha256:0: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.",
            "failed to do request: Head \"https://registry.example/v2/app/manifests/1\": dial tcp 10.0.0.1:443: i/o timeout",
            "received unexpected HTTP status: 503 Service Unavailable",
            "Back-off pulling image \"registry.example/app:1\"",
        ];
        for message in passing {
            assert_eq!(stuck(&waiting("ErrImagePull", message)), None, "{message}");
            assert_eq!(
                stuck(&waiting("ImagePullBackOff", message)),
                None,
                "{message}"
            );
        }
        assert!(stuck(&waiting("InvalidImageName", "couldn't parse image name")).is_some());
        assert!(
            stuck(&waiting(
                "CreateContainerConfigError",
                "secret \"s\" not found"
            ))
            .is_some()
        );
        assert_eq!(stuck(&waiting("ContainerCreating", "")), None);
    }

    #[test]
    fn an_evicted_pod_or_one_past_its_deadline_says_so() {
        let evicted = pod(
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: ephemeral-storage."}),
        );
        assert_eq!(
            pod_failed(&evicted),
            "Pod p was evicted by its node: The node was low on resource: ephemeral-storage."
        );
        let late = pod(
            json!({"phase": "Failed", "reason": "DeadlineExceeded", "message": "Pod was active on the node longer than the specified deadline"}),
        );
        assert!(pod_failed(&late).contains("ran past its activeDeadlineSeconds"));
    }

    #[test]
    fn a_pod_that_never_started_says_what_the_kubelet_last_warned_of() {
        let timeout = Duration::from_secs(600);
        let creating = waiting("ContainerCreating", "");
        let event = |kind: &str, reason: &str, message: &str, seen: &str| -> Event {
            serde_json::from_value(json!({"metadata": {"name": "p.1"}, "involvedObject": {"kind": "Pod", "name": "p"}, "type": kind, "reason": reason, "message": message, "lastTimestamp": seen})).unwrap()
        };
        let events = [
            event(
                "Warning",
                "FailedMount",
                "MountVolume.SetUp failed for volume \"config\": configmap \"app\" not found",
                "2026-12-04T10:00:05Z",
            ),
            event(
                "Normal",
                "Scheduled",
                "Successfully assigned team/p to node-1",
                "2026-12-04T10:00:09Z",
            ),
            event(
                "Warning",
                "FailedMount",
                "an older warning",
                "2026-12-04T10:00:01Z",
            ),
        ];
        assert_eq!(
            unfinished(Some(&creating), &events, timeout).to_string(),
            "kubernetes: the Pod did not start within the timeout (10m): FailedMount: MountVolume.SetUp failed for volume \"config\": configmap \"app\" not found"
        );
        // A container waiting for a reason of its own says that instead.
        let pulling = waiting("ImagePullBackOff", "Back-off pulling image \"i\"");
        assert!(
            unfinished(Some(&pulling), &events, timeout)
                .to_string()
                .contains("ImagePullBackOff")
        );
    }

    #[test]
    fn a_pod_unfinished_at_the_timeout_says_what_it_waited_for() {
        let timeout = Duration::from_secs(600);
        let unscheduled = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient memory."}]}),
        );
        assert_eq!(
            unfinished(Some(&unscheduled), &[], timeout).to_string(),
            "kubernetes: the Pod was not scheduled within the timeout (10m): Unschedulable: 0/3 nodes are available: 3 Insufficient memory."
        );
        let pulling = pod(
            json!({"phase": "Pending", "initContainerStatuses": [{"name": "render", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"i\""}}}]}),
        );
        assert_eq!(
            unfinished(Some(&pulling), &[], timeout).to_string(),
            "kubernetes: container \"render\" was still waiting when the timeout (10m) ran out: ImagePullBackOff: Back-off pulling image \"i\""
        );
        let running = pod(
            json!({"phase": "Running", "initContainerStatuses": [{"name": "render", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}]}),
        );
        assert!(
            matches!(unfinished(Some(&running), &[], timeout), ExecError::TimedOut { container, .. } if container == "render")
        );
        assert!(
            matches!(unfinished(None, &[], timeout), ExecError::TimedOut { container, .. } if container == "(not started)")
        );
    }
}
