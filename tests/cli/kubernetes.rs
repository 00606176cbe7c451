//! The kubernetes executor over HTTP against the API server double (kube_double.rs),
//! whose simulated kubelet runs the Pod's containers with podman. No real cluster.

use std::process::Command;
use std::sync::OnceLock;

use crate::kube_double::ApiServer;
use crate::podman::{image, promise_yaml, repo_with};

/// The helper image: the promised binary under test and the libraries it links, imported
/// into podman as `localhost/promised-helper:test`.
fn helper_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let binary = env!("CARGO_BIN_EXE_promised");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        fs_err::create_dir_all(root.join("bin")).unwrap();
        fs_err::copy(binary, root.join("bin/promised")).unwrap();
        let ldd = Command::new("ldd").arg(binary).output().unwrap();
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let path = line.split_whitespace().find(|word| word.starts_with('/'));
            if let Some(path) = path {
                let target = root.join(path.trim_start_matches('/'));
                fs_err::create_dir_all(target.parent().unwrap()).unwrap();
                fs_err::copy(path, target).unwrap();
            }
        }
        let tar = dir.path().join("helper.tar");
        crate::podman::forget_image("localhost/promised-helper:test");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        let output = Command::new("podman")
            .args(["import", "--quiet"])
            .arg(&tar)
            .arg("localhost/promised-helper:test")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
    "localhost/promised-helper:test"
}

fn reconcile_on(api: &ApiServer, repo: &crate::support::TestRepo) -> crate::support::Run {
    reconcile_with(api, repo, &[])
}

/// `promised reconcile` on the API server double, with `more` arguments.
fn reconcile_with(
    api: &ApiServer,
    repo: &crate::support::TestRepo,
    more: &[&str],
) -> crate::support::Run {
    let mut args = vec![
        "--executor",
        "kubernetes",
        "--kube-api-server",
        &api.url,
        "--kube-namespace",
        "pipelines",
        "--helper-image",
        helper_image(),
    ];
    args.extend(more);
    repo.reconcile(&args)
}

/// A repository whose Promise runs one container, `spec` (a YAML flow mapping's
/// fields after the image), on the busybox image.
fn one_container_repo(name: &str, spec: &str) -> crate::support::TestRepo {
    let image = image("base", None);
    let workflows = format!(
        "  workflows:\n    resource:\n      configure:\n        - kind: Pipeline\n          metadata: {{name: configure}}\n          spec:\n            containers:\n              - {{name: {name}, image: {image}, {spec}}}\n"
    );
    repo_with(&promise_yaml("app", &workflows, ""))
}

#[test]
fn a_pipeline_runs_as_a_pod_and_everything_it_created_is_deleted() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.add_secret("team", "promise-secret", "apikey", "topsecret");
    let image = image("base", None);
    let workflows = format!(
        r#"  workflows:
    resource:
      configure:
        - apiVersion: platform.kratix.io/v1alpha1
          kind: Pipeline
          metadata: {{name: configure}}
          spec:
            imagePullSecrets: [{{name: registry-credentials}}]
            containers:
              - name: render
                image: {image}
                command: [sh, -c]
                args:
                  - |
                    size=$(sed -n 's/^ *size: *//p' /kratix/input/object.yaml)
                    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  size: %s\n' "$KRATIX_OBJECT_NAME" "$size" > /kratix/output/configmap.yaml
                resources:
                  limits: {{memory: 64Mi}}
              - name: report
                image: {image}
                command: [sh, -c, 'printf "message: key %s, files %s\n" "$APIKEY" "$(ls /kratix/output)" > /kratix/metadata/status.yaml']
                env:
                  - name: APIKEY
                    valueFrom:
                      secretKeyRef: {{name: promise-secret, key: apikey}}
"#
    );
    let repo = repo_with(&promise_yaml("app", &workflows, ""));
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        repo.show("state/dev/resources/team/app/a/configmap.yaml")
            .contains("size: small")
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("message: key topsecret, files configmap.yaml"),
        "{status}"
    );

    assert_eq!(
        api.names("pods"),
        Vec::<String>::new(),
        "the Pod is deleted"
    );
    assert_eq!(
        api.names("secrets"),
        ["team/promise-secret"],
        "the request's Secret is deleted"
    );
    assert_eq!(
        api.names("serviceaccounts"),
        ["team/app-default-promise-pipeline"]
    );

    let pods = api.received_pods();
    assert_eq!(pods.len(), 1);
    let name = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    // A hash of the repository's path, which is new in every test.
    let instance = pods[0]["metadata"]["labels"]["promised.dev/instance"]
        .as_str()
        .unwrap()
        .to_string();
    let (name, instance, image) = (
        regex::escape(&name),
        regex::escape(&instance),
        regex::escape(&image),
    );
    let filters = vec![
        (name.as_str(), "[pod]"),
        (instance.as_str(), "[instance]"),
        (image.as_str(), "[image]"),
    ];
    insta::with_settings!({filters => filters}, {
        let text = serde_json::to_string_pretty(&pods[0]).unwrap();
        insta::assert_snapshot!("kubernetes_pod_spec", text);
    });
}

#[test]
fn a_failing_container_reports_its_log_tail_and_is_cleaned_up() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    let repo = one_container_repo(
        "broken",
        "command: [sh, -c, 'echo no quota left >&2; exit 3']",
    );
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("container \"broken\" failed (exit code 3)"),
        "{status}"
    );
    assert!(status.contains("no quota left"), "{status}");
    assert_eq!(api.names("pods"), Vec::<String>::new());
    assert_eq!(api.names("secrets"), Vec::<String>::new());
}

#[test]
fn a_log_tail_that_is_not_utf8_is_kept_with_the_bad_bytes_replaced() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    let repo = one_container_repo(
        "broken",
        r#"command: [sh, -c, 'printf "quota \\377\\376 exceeded\\n" >&2; exit 4']"#,
    );
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    // Read as text, the log failed to decode and its tail was lost.
    assert!(
        status.contains("quota \u{FFFD}\u{FFFD} exceeded"),
        "{status}"
    );
}

#[test]
fn a_watch_that_falls_silent_is_given_up_and_the_pod_listed_anew() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    // The first plain watch and the watcher's first watch both go silent.
    api.silence_next_watches(2);
    let repo = one_container_repo("render", "command: [sh, -c, 'true']");
    // Without the recheck, the run waits on the silent watch until its timeout (the
    // client's read timeout is 295 s) and fails.
    let run = reconcile_with(
        &api,
        &repo,
        &["--kube-watch-recheck", "2s", "--timeout", "60s"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(api.names("pods"), Vec::<String>::new());
}

#[test]
fn a_pull_that_fails_for_a_while_is_waited_for_and_one_the_registry_refuses_fails_at_once() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    // Before, any ErrImagePull failed the run at once.
    api.fail_pulls_with(&[
        "429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit",
        "dial tcp 10.0.0.1:443: i/o timeout",
    ]);
    let repo = one_container_repo("render", "command: [sh, -c, 'true']");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    api.fail_pulls_with(&["docker.io/library/nope:1: not found"]);
    let run = reconcile_with(&api, &repo, &["--timeout", "60s"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status
            .contains(r#"container \"render\": ErrImagePull: docker.io/library/nope:1: not found"#),
        "{status}"
    );
    assert_eq!(api.names("pods"), Vec::<String>::new());
}

#[test]
fn a_pod_whose_volume_never_mounts_says_so_at_the_timeout() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    let message =
        r#"MountVolume.SetUp failed for volume "config" : configmap "app-config" not found"#;
    api.fail_mounts_with(message);
    let repo = one_container_repo("render", "command: [sh, -c, 'true']");
    let run = reconcile_with(&api, &repo, &["--timeout", "3s"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    // Before, the run said `container "(not started)" was killed`.
    assert!(
        status.contains("the Pod did not start within the timeout (3s): FailedMount: MountVolume.SetUp failed for volume"),
        "{status}"
    );
    assert_eq!(api.names("pods"), Vec::<String>::new());
}

#[test]
fn names_and_labels_from_long_and_dotted_names_are_ones_the_api_server_takes() {
    if !crate::podman::here() {
        return;
    }
    // The double refuses (422) what the API server refuses: a Pod or Secret name that
    // is not a DNS-1123 subdomain, a label value past 63 characters or with a character
    // a label may not hold, a container or volume name that is not a DNS-1123 label.
    let api = ApiServer::start();
    let long_pipeline = format!("configure.{}", "x".repeat(53));
    let long_request = format!("team.a.{}", "b".repeat(56));
    let image = image("base", None);
    let workflows = format!(
        "  workflows:\n    resource:\n      configure:\n        - kind: Pipeline\n          metadata: {{name: {long_pipeline}}}\n          spec:\n            containers:\n              - {{name: render, image: {image}, command: [sh, -c, 'true']}}\n"
    );
    let repo = repo_with(&promise_yaml("app", &workflows, ""));
    repo.write(
        "requests/app/a.yaml",
        &crate::support::request(&long_request, "team", "small"),
    )
    .commit("names at their longest");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let pod = &api.received_pods()[0];
    let labels = pod["metadata"]["labels"].as_object().unwrap();
    assert!(
        labels.values().all(|v| v.as_str().unwrap().len() <= 63),
        "{labels:?}"
    );
}

#[test]
fn a_container_killed_for_its_memory_says_so_and_what_to_raise() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.oom_kill("render");
    let repo = one_container_repo("render", "command: [sh, -c, 'true']");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("killed for using more memory than its limit (OOMKilled, exit code 137)")
            && status.contains("resources.limits.memory"),
        "{status}"
    );
    assert_eq!(api.names("pods"), Vec::<String>::new());
}

#[test]
fn watches_the_api_server_ends_and_a_slow_api_server_do_not_fail_the_run() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    // Every watch ends cleanly after a second, as the API server ends one at its
    // timeoutSeconds; each call takes 200 ms. The Pod itself takes longer than both.
    api.end_watches_after(std::time::Duration::from_secs(1));
    api.answer_after(std::time::Duration::from_millis(200));
    let repo = one_container_repo("render", "command: [sh, -c, 'sleep 3']");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(api.names("pods"), Vec::<String>::new());
    assert_eq!(api.names("secrets"), Vec::<String>::new());
}

#[test]
fn a_pipeline_past_its_timeout_names_the_running_container_and_is_cleaned_up() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    let repo = one_container_repo("slow", "command: [sleep, '20']");
    let started = std::time::Instant::now();
    let run = reconcile_with(&api, &repo, &["--timeout", "3s"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains(r#"container \"slow\" was killed: the pipeline ran longer than 3s"#),
        "{status}"
    );
    assert_eq!(api.names("pods"), Vec::<String>::new());
    assert_eq!(api.names("secrets"), Vec::<String>::new());
}

/// A Pod no node takes stays Pending; at the timeout the status says it was never
/// scheduled and what the scheduler said, not that a container "(not started)" was
/// killed.
#[test]
fn a_pod_never_scheduled_says_why_at_the_timeout_and_is_cleaned_up() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.leave_pods_unscheduled("0/3 nodes are available: 3 Insufficient memory.");
    let repo = one_container_repo("render", "command: [sh, -c, 'true']");
    let run = reconcile_with(&api, &repo, &["--timeout", "2s"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains(
            "the Pod was not scheduled within the timeout (2s): Unschedulable: 0/3 nodes are available: 3 Insufficient memory."
        ),
        "{status}"
    );
    assert_eq!(api.names("pods"), Vec::<String>::new());
    assert_eq!(api.names("secrets"), Vec::<String>::new());
}

/// A watch that ends with an ERROR event (an API server restart, a compaction past its
/// version) is listed and watched again: the run goes on. Before, the first such event
/// failed every pipeline in flight.
#[test]
fn a_watch_that_fails_is_watched_again_and_the_run_goes_on() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.break_next_watches(3);
    let repo = one_container_repo(
        "render",
        "command: [sh, -c, 'sleep 1; printf \"kind: ConfigMap\\napiVersion: v1\\nmetadata: {name: c}\\n\" > /kratix/output/c.yaml']",
    );
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(repo.managed_files().contains("/team/app/a/c.yaml"));
}

#[test]
fn the_seed_form_chains_through_step_volumes() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    let first = image(
        "k8s-seed-first",
        Some("sed -n 's/^ *size: *//p' /input/object.yaml > /output/size"),
    );
    let second = image(
        "k8s-seed-second",
        Some(
            "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: chained\\ndata:\\n  size: %s\\n' \"$(cat /input/size)\" > /output/configmap.yaml",
        ),
    );
    let seed = format!("  xaasRequestPipeline:\n    - {first}\n    - {second}\n");
    let repo = repo_with(&promise_yaml("app", &seed, ""));
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        repo.show("state/dev/resources/team/app/a/configmap.yaml")
            .contains("size: small")
    );
    let pod = &api.received_pods()[0];
    let volumes: Vec<&str> = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        volumes,
        [
            "promised-input",
            "promised-output",
            "promised-metadata",
            "promised-step-0"
        ]
    );
}

/// In a namespace that enforces the `restricted` Pod Security Standard, a Pipeline whose
/// containers give a restricted securityContext runs: promised's own container and the
/// Pod's settings comply. (Before, the handback container had no context, and no
/// Pipeline could make the Pod admissible.)
#[test]
fn a_pipeline_with_restricted_containers_runs_where_the_namespace_enforces_restricted() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.enforce_restricted_pod_security();
    let repo = one_container_repo(
        "render",
        "command: [sh, -c, 'printf \"kind: ConfigMap\\napiVersion: v1\\nmetadata: {name: c}\\n\" > /kratix/output/c.yaml'], \
         securityContext: {runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}",
    );
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(repo.managed_files().contains("/team/app/a/c.yaml"));
}

/// A container without a restricted context is refused by admission, and the status
/// says which container must set what; promised's own container is not among them.
#[test]
fn a_container_without_a_restricted_context_is_refused_naming_what_it_must_set() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.enforce_restricted_pod_security();
    let repo = one_container_repo("render", "command: [sh, -c, 'true']");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("violates PodSecurity") && status.contains("render\\\" must set it"),
        "{status}"
    );
    assert!(!status.contains("promised-handback"), "{status}");
    assert_eq!(api.names("pods"), Vec::<String>::new());
    assert_eq!(api.names("secrets"), Vec::<String>::new());
}

/// The kubelet rotates a running container's log at `containerLogMaxSize` (10 MiB by
/// default, the runtime's prefix included), and `pods/log` serves the newest file only.
/// 6 MB of output that compresses well crosses such a log; before it was compressed,
/// its 8 MB of base64 (about 12 MB on disk) were cut and the run failed with "printed
/// no archive".
#[test]
fn a_large_output_crosses_a_log_that_rotates_at_ten_mebibytes() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.rotate_logs_at(10 << 20);
    let repo = one_container_repo(
        "render",
        r#"command: [sh, -c, 'o=/kratix/output/big.yaml; printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: " > $o; head -c 6000000 /dev/zero | tr "\0" a >> $o; echo >> $o']"#,
    );
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let big = repo.show("state/dev/resources/team/app/a/big.yaml");
    assert!(big.len() > 6_000_000, "{}", big.len());
}

/// Output that does not compress, past what the log carries: the helper refuses it and
/// says why, instead of printing what the kubelet would cut.
#[test]
fn an_output_past_what_the_log_carries_is_refused_naming_the_limit() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.rotate_logs_at(10 << 20);
    let repo = one_container_repo(
        "render",
        r#"command: [sh, -c, 'head -c 6000000 /dev/urandom > /kratix/output/noise.bin']"#,
    );
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("promised-handback") && status.contains("--kube-max-handback-bytes"),
        "{status}"
    );
}

/// `promised reconcile` on the double, started and left running: the caller kills it.
fn spawn_reconcile(api: &ApiServer, repo: &crate::support::TestRepo) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_promised"))
        .args(["reconcile", "--repo", repo.path().to_str().unwrap()])
        .args(["--executor", "kubernetes", "--kube-api-server", &api.url])
        .args([
            "--kube-namespace",
            "pipelines",
            "--helper-image",
            helper_image(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the double holds a Pod and its Secret: the run is under way.
fn wait_for_a_pod(api: &ApiServer) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while api.names("pods").is_empty() || api.names("secrets").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no Pod was created");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_name_another_run_holds_fails_this_run_and_leaves_the_other_pod_alone() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.collide_next_pod();
    let repo = one_container_repo("render", "command: [sh, -c, 'true']");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("already exists"), "{status}");
    // Before the UID preconditions, the cleanup deleted the other run's Pod by name.
    let pods = api.names("pods");
    assert_eq!(
        pods.len(),
        1,
        "the other run's Pod is still there: {pods:?}"
    );
    assert_eq!(api.names("secrets"), Vec::<String>::new());
}

#[test]
fn the_secret_is_made_after_its_pod_and_owned_by_it() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    let repo = one_container_repo("render", "command: [sh, -c, 'true']");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let secrets = api.received_secrets();
    assert_eq!(secrets.len(), 1);
    let owner = &secrets[0]["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Pod");
    assert_eq!(owner["name"], secrets[0]["metadata"]["name"]);
    assert!(
        owner["uid"]
            .as_str()
            .is_some_and(|uid| uid.starts_with("uid-")),
        "the Pod's UID, which only a Pod made first has: {owner}"
    );
    assert!(owner.get("blockOwnerDeletion").is_none());
    assert_eq!(api.names("pods"), Vec::<String>::new());
    assert_eq!(api.names("secrets"), Vec::<String>::new());
}

#[test]
fn a_reconciler_killed_while_its_pod_runs_removes_what_it_left_when_it_starts_again() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    let repo = one_container_repo("render", "command: [sh, -c, 'sleep 30']");
    let mut first = spawn_reconcile(&api, &repo);
    wait_for_a_pod(&api);
    first.kill().unwrap();
    first.wait().unwrap();
    let left = api.names("pods");
    assert_eq!(left.len(), 1, "kill -9 leaves the Pod: {left:?}");
    assert_eq!(api.names("secrets").len(), 1, "and its Secret");
    // Another reconciler's run in the same namespace, which must be left alone.
    api.add_leftover("team", "promised-other-run", "someone-else");

    // The Promise changes meanwhile, so that the next run is quick.
    let quick = one_container_repo("render", "command: [sh, -c, 'true']");
    let promise = fs_err::read_to_string(quick.path().join("promises/app.yaml")).unwrap();
    repo.write("promises/app.yaml", &promise)
        .commit("a quick pipeline");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(api.names("pods"), ["team/promised-other-run"]);
    assert_eq!(api.names("secrets"), ["team/promised-other-run"]);
}

#[test]
fn sigterm_ends_the_pods_in_flight_removes_them_and_leaves_their_requests_for_the_next_pass() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    let repo = one_container_repo("render", "command: [sh, -c, 'sleep 120']");
    let before = repo.head();
    let mut child = spawn_reconcile(&api, &repo);
    wait_for_a_pod(&api);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // Without the cancel, the run would wait for its Pod's 120 s; with it, the run
    // ends at once. Generous: this is not a measurement.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("reconcile did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("stopped  by a signal: 1 request not run"),
        "{stdout}"
    );
    assert_eq!(api.names("pods"), Vec::<String>::new());
    assert_eq!(api.names("secrets"), Vec::<String>::new());
    // Not recorded as failed: the request is left for the next pass (the Promise's
    // own status is committed, as on any first pass).
    let managed = repo.managed_files();
    assert!(!managed.contains("status/app/team/a.yaml"), "{managed}");
    assert_ne!(repo.head(), before);
}

/// A Promise with a Promise workflow and a request workflow that reads a Secret;
/// `config` goes under `spec.workflows`.
fn two_workflows_repo(config: &str) -> crate::support::TestRepo {
    let image = image("base", None);
    let pipeline = |name: &str, env: &str| {
        format!(
            "        - kind: Pipeline\n          metadata: {{name: {name}}}\n          spec:\n            containers:\n              - {{name: run, image: {image}, command: [sh, -c, 'echo \"message: $KEY\" > /kratix/metadata/status.yaml']{env}}}\n"
        )
    };
    let from_secret =
        ", env: [{name: KEY, valueFrom: {secretKeyRef: {name: team-secret, key: key}}}]";
    let workflows = format!(
        "  workflows:\n{config}    promise:\n      configure:\n{}    resource:\n      configure:\n{}",
        pipeline("setup", ""),
        pipeline("configure", from_secret),
    );
    repo_with(&promise_yaml("app", &workflows, ""))
}

/// The namespaces of the Pods received since `seen` of them, in order.
fn namespaces_since(api: &ApiServer, seen: &mut usize) -> Vec<String> {
    let pods = api.received_pods();
    let new = pods[*seen..]
        .iter()
        .map(|pod| pod["metadata"]["namespace"].as_str().unwrap().to_string());
    let new = new.collect();
    *seen = pods.len();
    new
}

#[test]
fn request_pipelines_run_in_the_requests_namespace_as_in_kratix_unless_told_otherwise() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.add_secret("team", "team-secret", "key", "from-team");
    api.add_secret("pipelines", "team-secret", "key", "from-pipelines");
    api.add_secret("app-runs", "team-secret", "key", "from-app-runs");
    let repo = two_workflows_repo("");
    let mut seen = 0;

    // Kratix's placement: the Promise's pipeline in --kube-namespace, the request's in
    // its own namespace, where its secretKeyRef finds the team's Secret.
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(namespaces_since(&api, &mut seen), ["pipelines", "team"]);
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("message: from-team")
    );
    assert_eq!(
        api.names("serviceaccounts"),
        [
            "pipelines/app-default-promise-pipeline",
            "team/app-default-promise-pipeline"
        ]
    );

    // --kube-one-namespace keeps every pipeline in --kube-namespace.
    let run = reconcile_with(&api, &repo, &["--kube-one-namespace"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        namespaces_since(&api, &mut seen),
        ["pipelines", "pipelines"]
    );
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("message: from-pipelines")
    );

    // The Promise's pipelineNamespace places both of its workflows.
    let moved = two_workflows_repo("    config: {pipelineNamespace: app-runs}\n");
    let promise = fs_err::read_to_string(moved.path().join("promises/app.yaml")).unwrap();
    repo.write("promises/app.yaml", &promise)
        .commit("the Promise names its pipeline namespace");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(namespaces_since(&api, &mut seen), ["app-runs", "app-runs"]);
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("message: from-app-runs")
    );
    assert_eq!(api.names("pods"), Vec::<String>::new());
}

#[test]
fn a_request_whose_namespace_the_cluster_lacks_fails_and_says_what_to_do() {
    if !crate::podman::here() {
        return;
    }
    let api = ApiServer::start();
    api.only_namespaces(&["pipelines"]);
    let repo = one_container_repo("render", "command: [sh, -c, 'true']");
    let run = reconcile_on(&api, &repo);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains(
            r#"namespace \"team\" does not exist (it is the request's metadata.namespace)"#
        ) && status.contains("--kube-one-namespace"),
        "{status}"
    );
    let run = reconcile_with(&api, &repo, &["--kube-one-namespace"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}
