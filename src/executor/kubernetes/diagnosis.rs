//! What a Pod's status says about a run that failed or ran out of time, in words a
//! Promise author can act on. Pure: a Pod in, a message out.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Pod};

use super::ExecError;

/// How a container ended, for an error: its exit code, and the reason when the
/// kubelet gave one that says more (a container killed for its memory).
pub fn exit(terminated: &ContainerStateTerminated) -> String {
    match terminated.reason.as_deref() {
        Some("OOMKilled") => format!(
            "killed for using more memory than its limit (OOMKilled, exit code {}); raise its \
             resources.limits.memory",
            terminated.exit_code
        ),
        _ => format!("exit code {}", terminated.exit_code),
    }
}

/// Why a Pod failed with no container that failed: evicted, past its deadline, or
/// what its status says.
pub fn pod_failed(pod: &Pod) -> String {
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
/// scheduled (and why), a container still waiting (and for what), or the container
/// that was running.
pub fn unfinished(pod: Option<&Pod>, timeout: Duration) -> ExecError {
    let timed_out = |container: String| ExecError::TimedOut { container, timeout };
    let Some(status) = pod.and_then(|pod| pod.status.as_ref()) else {
        return timed_out("(not started)".into());
    };
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    if let Some(condition) = unscheduled {
        return ExecError::Kubernetes {
            what: format!(
                "the Pod was not scheduled within the timeout ({}): {}: {}",
                humantime::format_duration(timeout),
                condition.reason.as_deref().unwrap_or("Unschedulable"),
                condition.message.as_deref().unwrap_or_default()
            ),
        };
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
    fn a_pod_unfinished_at_the_timeout_says_what_it_waited_for() {
        let timeout = Duration::from_secs(600);
        let unscheduled = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient memory."}]}),
        );
        assert_eq!(
            unfinished(Some(&unscheduled), timeout).to_string(),
            "kubernetes: the Pod was not scheduled within the timeout (10m): Unschedulable: 0/3 nodes are available: 3 Insufficient memory."
        );
        let pulling = pod(
            json!({"phase": "Pending", "initContainerStatuses": [{"name": "render", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"i\""}}}]}),
        );
        assert_eq!(
            unfinished(Some(&pulling), timeout).to_string(),
            "kubernetes: container \"render\" was still waiting when the timeout (10m) ran out: ImagePullBackOff: Back-off pulling image \"i\""
        );
        let running = pod(
            json!({"phase": "Running", "initContainerStatuses": [{"name": "render", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}]}),
        );
        assert!(
            matches!(unfinished(Some(&running), timeout), ExecError::TimedOut { container, .. } if container == "render")
        );
        assert!(
            matches!(unfinished(None, timeout), ExecError::TimedOut { container, .. } if container == "(not started)")
        );
    }
}
