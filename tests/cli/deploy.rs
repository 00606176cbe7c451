//! The manifests under `deploy/`: rendered with a real `kubectl kustomize`, they are
//! the Kubernetes kinds they claim, and what they run exists.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::support::promised;

/// `kubectl kustomize deploy/base`, as documents.
fn rendered() -> Vec<Value> {
    let base = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/base");
    let out = Command::new("kubectl")
        .args(["kustomize", base])
        .output()
        .expect("kubectl is installed (.ci/run installs it)");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    promised::yaml::documents(&stdout).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn the_kustomize_base_renders_the_kinds_it_claims() {
    let docs = rendered();
    let kinds: BTreeSet<(String, String)> = docs
        .iter()
        .map(|d| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (text(&d["apiVersion"]), text(&d["kind"]))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("v1", "Namespace"),
        ("v1", "ServiceAccount"),
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ]
    .map(|(a, k)| (a.to_string(), k.to_string()))
    .into();
    assert_eq!(kinds, expected);
    for doc in &docs {
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        assert!(!name.is_empty(), "every document is named: {doc}");
    }
}

#[test]
fn the_deployment_runs_flags_serve_has_and_probes_its_endpoints() {
    let docs = rendered();
    let deployment = find(&docs, "Deployment", "promised");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "promised");
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "promised:0.1.0");
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "serve");
    let help = promised(&["serve", "--help"]).stdout;
    for arg in &args[1..] {
        let flag = arg.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "serve has no {flag}: {help}"
        );
    }
    assert!(args.contains(&"--executor=kubernetes"));
    // The Role covers one namespace, so every pipeline must run there.
    assert!(args.contains(&"--kube-one-namespace"), "{args:?}");
    assert!(
        args.contains(&"--helper-image=promised:0.1.0"),
        "the helper is the same image"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for secret in [
        "PROMISED_WEBHOOK_SECRET",
        "PROMISED_RECONCILE_TOKEN",
        "GIT_SSH_COMMAND",
    ] {
        assert!(env.contains(&secret), "{env:?}");
    }
    let config = find(&docs, "ConfigMap", "promised");
    assert!(config["data"]["remote"].is_string() && config["data"]["branch"] == "main");
}

#[test]
fn the_role_grants_what_the_kubernetes_executor_does_in_the_pipelines_namespace() {
    let docs = rendered();
    let role = find(&docs, "Role", "promised-pipelines");
    assert_eq!(role["metadata"]["namespace"], "promised-pipelines");
    let granted: BTreeSet<(String, String)> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            let list = |v: &Value| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            };
            let verbs = list(&rule["verbs"]);
            list(&rule["resources"])
                .into_iter()
                .flat_map(move |r| verbs.clone().into_iter().map(move |v| (r.clone(), v)))
        })
        .collect();
    // What src/executor/kubernetes does: Api::<Pod> create/watch/get/delete and logs,
    // Api::<Secret> create/delete, both listed for the sweep at start,
    // Api::<ServiceAccount> create, Api::<Event> list at a timeout.
    for (resource, verb) in [
        ("pods", "create"),
        ("pods", "watch"),
        ("pods", "get"),
        ("pods", "list"),
        ("pods", "delete"),
        ("pods/log", "get"),
        ("secrets", "create"),
        ("secrets", "list"),
        ("secrets", "delete"),
        ("serviceaccounts", "create"),
        ("events", "list"),
    ] {
        assert!(
            granted.contains(&(resource.to_string(), verb.to_string())),
            "{resource} {verb} is not granted: {granted:?}"
        );
    }
    let binding = find(&docs, "RoleBinding", "promised-pipelines");
    assert_eq!(binding["subjects"][0]["name"], "promised");
    assert_eq!(binding["subjects"][0]["namespace"], "promised");
}

#[test]
fn the_replicas_share_a_kubernetes_lease_they_may_take_and_renew() {
    let docs = rendered();
    let deployment = find(&docs, "Deployment", "promised");
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--lease=kubernetes"), "{args:?}");
    assert!(args.contains(&"--lease-namespace=promised"), "{args:?}");
    // What src/serve/kube_lease.rs does: Api::<Lease> get_opt, create, replace.
    let role = find(&docs, "Role", "promised-lease");
    assert_eq!(role["metadata"]["namespace"], "promised");
    assert_eq!(role["rules"][0]["apiGroups"][0], "coordination.k8s.io");
    assert_eq!(role["rules"][0]["resources"][0], "leases");
    for verb in ["get", "create", "update"] {
        let verbs = role["rules"][0]["verbs"].as_array().unwrap();
        assert!(verbs.iter().any(|v| v == verb), "{verb}: {verbs:?}");
    }
    let binding = find(&docs, "RoleBinding", "promised-lease");
    assert_eq!(binding["subjects"][0]["name"], "promised");
}
