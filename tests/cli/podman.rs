//! Real OCI images through podman, built locally with no registry: `podman import` of a
//! root filesystem holding Debian's busybox-static.

use std::process::Command;
use std::sync::OnceLock;

use crate::support::{TestRepo, destination, request};

/// The test image: busybox and its applets, `CMD ["/bin/sh"]`.
const IMAGE: &str = "localhost/promised-test-busybox:1";

/// Whether podman, runc and busybox-static are here to run the tests' containers.
/// Where they are not, a test that needs them says so and returns without running,
/// unless `PROMISED_REQUIRE_PODMAN` is set: `.ci/run` sets it, so CI never skips them.
pub fn here() -> bool {
    static HERE: OnceLock<Result<(), String>> = OnceLock::new();
    let found = HERE.get_or_init(|| {
        let missing: Vec<&str> = ["podman", "/usr/sbin/runc", "busybox"]
            .into_iter()
            .filter(|tool| which::which(tool).is_err())
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            _ => Err(format!("{} not installed", missing.join(", "))),
        }
    });
    match found {
        Ok(()) => true,
        Err(why) if std::env::var_os("PROMISED_REQUIRE_PODMAN").is_some() => {
            panic!(
                "{why}, and PROMISED_REQUIRE_PODMAN is set (apt-get install podman runc busybox-static)"
            )
        }
        Err(why) => {
            eprintln!(
                "skipped: {why} (apt-get install podman runc busybox-static to run this test)"
            );
            false
        }
    }
}

/// Imports `IMAGE` (once per test run) and images with the given entrypoint scripts.
pub fn image(name: &str, entrypoint: Option<&str>) -> String {
    static BASE: OnceLock<tempfile::TempDir> = OnceLock::new();
    let root = BASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs/bin");
        fs_err::create_dir_all(&rootfs).unwrap();
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("busybox-static is needed: apt-get install busybox-static");
        fs_err::copy(busybox, rootfs.join("busybox")).unwrap();
        for applet in [
            "sh", "cat", "cp", "ls", "mkdir", "sed", "grep", "echo", "printf", "sleep", "touch",
            "wc", "true",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join(applet)).unwrap();
        }
        let tar = dir.path().join("rootfs.tar");
        podman_ok(
            Command::new("tar")
                .arg("-C")
                .arg(dir.path().join("rootfs"))
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        );
        forget_image(IMAGE);
        podman_ok(
            Command::new("podman")
                .args(["import", "--quiet", "--change", "CMD [\"/bin/sh\"]"])
                .arg(&tar)
                .arg(IMAGE),
        );
        dir
    });
    let Some(script) = entrypoint else {
        return IMAGE.to_string();
    };
    let tag = format!("localhost/promised-test-{name}:1");
    let entrypoint = serde_json::to_string(&["/bin/sh", "-c", script]).unwrap();
    forget_image(&tag);
    podman_ok(
        Command::new("podman")
            .args([
                "import",
                "--quiet",
                "--change",
                &format!("ENTRYPOINT {entrypoint}"),
            ])
            .arg(root.path().join("rootfs.tar"))
            .arg(&tag),
    );
    tag
}

/// Removes the image an earlier test run imported under `tag`, unless a container still
/// uses it: each import makes a new image, and the old one would stay behind untagged,
/// run after run (the helper image holds a debug build of promised).
pub fn forget_image(tag: &str) {
    let _ = Command::new("podman")
        .args(["rmi", "--ignore", tag])
        .output();
}

fn podman_ok(command: &mut Command) {
    let output = command
        .output()
        .expect("podman is needed: apt-get install podman runc");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn promise_yaml(name: &str, pipeline_spec: &str, annotations: &str) -> String {
    format!(
        r#"apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata:
  name: {name}
  annotations: {{{annotations}}}
spec:
  api:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    spec:
      group: test.promised.dev
      names: {{kind: App, plural: apps}}
      versions:
        - name: v1
          served: true
{pipeline_spec}"#
    )
}

pub fn repo_with(promise: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("promises/app.yaml", promise);
    repo.write(
        "destinations/dev.yaml",
        &destination("dev", &[("env", "dev")], ""),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("A Promise with real images");
    repo
}

#[test]
fn containers_share_output_and_see_both_mount_forms() {
    if !crate::podman::here() {
        return;
    }
    let image = image("base", None);
    let workflows = format!(
        r#"  workflows:
    resource:
      configure:
        - apiVersion: platform.kratix.io/v1alpha1
          kind: Pipeline
          metadata: {{name: configure}}
          spec:
            containers:
              - name: render
                image: {image}
                command: [sh, -c]
                args:
                  - |
                    size=$(sed -n 's/^ *size: *//p' /kratix/input/object.yaml)
                    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  size: %s\n' "$KRATIX_OBJECT_NAME" "$size" > "$KRATIX_OUTPUT/configmap.yaml"
              - name: inspect
                image: {image}
                command: [sh]
                args:
                  - -c
                  - |
                    ls /output > /metadata/seen
                    interfaces=$(grep -c : /proc/net/dev)
                    printf 'message: saw %s, %s network interfaces\n' "$(cat /metadata/seen)" "$interfaces" > /kratix/metadata/status.yaml
"#
    );
    let repo = repo_with(&promise_yaml(
        "app",
        &workflows,
        "promised.dev/executor: podman",
    ));
    let run = repo.reconcile(&["-v"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("container runtime flags that work on this host"),
        "{}",
        run.stderr
    );
    let configmap = repo.show("state/dev/resources/team/app/a/configmap.yaml");
    assert!(configmap.contains("size: small"), "{configmap}");
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("message: saw configmap.yaml, 1 network interfaces"),
        "only loopback: {status}"
    );
}

#[test]
fn the_seed_form_chains_each_output_into_the_next_input() {
    if !crate::podman::here() {
        return;
    }
    let first = image(
        "seed-first",
        Some(
            "sed -n 's/^ *size: *//p' /input/object.yaml > /output/size && cp /input/object.yaml /output/",
        ),
    );
    let second = image(
        "seed-second",
        Some(
            "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: chained\\ndata:\\n  size: %s\\n  files: \"%s\"\\n' \"$(cat /input/size)\" \"$(ls /input | wc -l)\" > /output/configmap.yaml",
        ),
    );
    let seed = format!("  xaasRequestPipeline:\n    - {first}\n    - {second}\n");
    let repo = repo_with(&promise_yaml("app", &seed, "promised.dev/executor: podman"));
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!(repo.show("state/dev/resources/team/app/a/configmap.yaml"), @r#"
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: chained
    data:
      size: small
      files: "2"
    "#);
}

#[test]
fn the_seed_form_refuses_a_subfolder_in_the_final_output() {
    if !crate::podman::here() {
        return;
    }
    let step = image(
        "seed-subfolder",
        Some(
            "mkdir /output/nested && printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: x}\\n' > /output/nested/x.yaml",
        ),
    );
    let seed = format!("  xaasRequestPipeline:\n    - {step}\n");
    let repo = repo_with(&promise_yaml("app", &seed, "promised.dev/executor: podman"));
    assert_eq!(repo.reconcile(&[]).code, 1);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("nested: is a folder; in the chained (xaasRequestPipeline) form"),
        "{status}"
    );
}

#[test]
fn a_container_past_the_timeout_is_killed() {
    if !crate::podman::here() {
        return;
    }
    let image = image("sleeper", Some("sleep 60"));
    let workflows = format!(
        "  workflows:\n    resource:\n      configure:\n        - kind: Pipeline\n          metadata: {{name: slow}}\n          spec:\n            containers:\n              - {{name: sleeper, image: {image}}}\n"
    );
    let repo = repo_with(&promise_yaml("app", &workflows, ""));
    let filter = format!("ancestor={image}");
    let containers = || {
        let listed = Command::new("podman")
            .args(["ps", "--all", "--quiet", "--filter", &filter])
            .output()
            .unwrap();
        let ids = String::from_utf8_lossy(&listed.stdout);
        ids.split_whitespace().map(String::from).collect::<Vec<_>>()
    };
    // Containers of an earlier, interrupted run would be counted below.
    let earlier = containers();
    if !earlier.is_empty() {
        Command::new("podman")
            .args(["rm", "--force"])
            .args(&earlier)
            .output()
            .unwrap();
    }
    let started = std::time::Instant::now();
    let run = repo.reconcile(&["--executor", "podman", "--timeout", "2s"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("ran longer than 2s")
    );
    assert_eq!(
        containers(),
        Vec::<String>::new(),
        "no container is left behind"
    );
}

#[test]
fn pipeline_run_writes_the_folders_for_a_promise_author() {
    if !crate::podman::here() {
        return;
    }
    let image = image("base", None);
    let workflows = format!(
        "  workflows:\n    resource:\n      configure:\n        - kind: Pipeline\n          metadata: {{name: configure}}\n          spec:\n            containers:\n              - name: render\n                image: {image}\n                command: [sh, -c, \"printf 'apiVersion: v1\\\\nkind: Namespace\\\\nmetadata: {{name: x}}\\\\n' > /kratix/output/ns.yaml\"]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("promise.yaml"),
        promise_yaml("app", &workflows, ""),
    )
    .unwrap();
    fs_err::write(
        dir.path().join("request.yaml"),
        request("a", "team", "small"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = crate::support::promised(&[
        "pipeline",
        "run",
        "--executor",
        "podman",
        "--promise",
        dir.path().join("promise.yaml").to_str().unwrap(),
        "--request",
        dir.path().join("request.yaml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  output   ns.yaml"), "{}", run.stdout);
    assert!(out.join("configure/output/ns.yaml").exists());
    assert!(out.join("configure/input/object.yaml").exists());
}

#[test]
fn a_seed_era_promise_runs_on_legacy_clusters_with_map_form_cluster_selectors() {
    if !crate::podman::here() {
        return;
    }
    let render = image(
        "seed-era-render",
        Some(
            "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: seed\\ndata:\\n  size: %s\\n' \"$(sed -n 's/^ *size: *//p' /input/object.yaml)\" > /output/configmap.yaml && printf 'environment: prod\\n' > /metadata/cluster-selectors.yaml",
        ),
    );
    let promise = format!(
        r#"apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata:
  name: app
  annotations: {{promised.dev/executor: podman}}
spec:
  xaasCrd:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    spec:
      group: test.promised.dev
      names: {{kind: App, plural: apps}}
      versions: [{{name: v1, served: true}}]
  workerClusterResources:
    - apiVersion: v1
      kind: Namespace
      metadata: {{name: app-system}}
  xaasRequestPipeline:
    - {render}
"#
    );
    let repo = TestRepo::new();
    repo.write("promises/app.yaml", &promise);
    for environment in ["dev", "prod"] {
        repo.write(
            &format!("destinations/{environment}.yaml"),
            &format!(
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: worker-{environment}\n  labels: {{environment: {environment}}}\n"
            ),
        );
    }
    repo.write("requests/app/a.yaml", &request("a", "team", "large"));
    repo.commit("A seed-era Promise");
    let validate = crate::support::promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert!(
        validate
            .stdout
            .contains("spec.xaasCrd: the seed era's field, deprecated"),
        "{}",
        validate.stdout
    );
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!(repo.managed_files(), @r"
    state/worker-dev/dependencies/app/SHA256SUMS
    state/worker-dev/dependencies/app/static-dependencies.yaml
    state/worker-dev/kustomization.yaml
    state/worker-prod/dependencies/app/SHA256SUMS
    state/worker-prod/dependencies/app/static-dependencies.yaml
    state/worker-prod/kustomization.yaml
    state/worker-prod/resources/team/app/a/SHA256SUMS
    state/worker-prod/resources/team/app/a/configmap.yaml
    status/app.yaml
    status/app/team/a.yaml
    ");
    let output = repo.show("state/worker-prod/resources/team/app/a/configmap.yaml");
    assert!(output.contains("size: large"), "{output}");
}
