//! Kratix's Promise lifecycle end to end: Promise configure and delete workflows,
//! resource delete workflows, status between pipelines, required Promises.

use crate::support::{TestRepo, destination, request};

/// One Pipeline running `script` with `sh -c`, as an item of a workflow list (indented
/// for `spec.workflows.<type>.<action>`).
pub(crate) fn pipeline(name: &str, script: &str) -> String {
    let script: String = script
        .lines()
        .map(|l| format!("                    {l}\n"))
        .collect();
    format!(
        "        - apiVersion: platform.kratix.io/v1alpha1
          kind: Pipeline
          metadata: {{name: {name}}}
          spec:
            containers:
              - name: run
                image: test/{name}:v1
                command: [sh, -c]
                args:
                  - |
{script}"
    )
}

/// A Promise `name` with no API, which offers dependencies only: built up with
/// [`ApiLess::labelled`], [`ApiLess::requiring`] and [`ApiLess::with`], each as often
/// as a test needs.
pub(crate) struct ApiLess {
    name: String,
    labels: Vec<String>,
    required: Vec<String>,
    /// Per action of the Promise workflow, its pipelines from [`pipeline`].
    workflows: Vec<(String, Vec<String>)>,
}

pub(crate) fn api_less(name: &str) -> ApiLess {
    ApiLess {
        name: name.to_string(),
        labels: Vec::new(),
        required: Vec::new(),
        workflows: Vec::new(),
    }
}

impl ApiLess {
    /// With the label `key: value`.
    pub(crate) fn labelled(mut self, key: &str, value: &str) -> Self {
        self.labels.push(format!("    {key}: {value}\n"));
        self
    }

    /// Requiring the Promise `name` too.
    pub(crate) fn requiring(mut self, name: &str) -> Self {
        self.required.push(format!("{{name: {name}}}"));
        self
    }

    /// With `pipelines` added to the Promise workflow for `action` (`configure` or
    /// `delete`).
    pub(crate) fn with(mut self, action: &str, pipelines: &[String]) -> Self {
        match self.workflows.iter_mut().find(|(a, _)| a == action) {
            Some((_, listed)) => listed.extend_from_slice(pipelines),
            None => self
                .workflows
                .push((action.to_string(), pipelines.to_vec())),
        }
        self
    }

    pub(crate) fn text(&self) -> String {
        let mut metadata = format!("  name: {}\n", self.name);
        if !self.labels.is_empty() {
            metadata += &format!("  labels:\n{}", self.labels.concat());
        }
        let mut spec = String::new();
        if !self.required.is_empty() {
            spec += &format!("  requiredPromises: [{}]\n", self.required.join(", "));
        }
        if !self.workflows.is_empty() {
            spec += "  workflows:\n    promise:\n";
            for (action, pipelines) in &self.workflows {
                spec += &format!("      {action}:\n{}", pipelines.concat());
            }
        }
        if !spec.is_empty() {
            spec = format!("spec:\n{spec}");
        }
        format!(
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Promise\nmetadata:\n{metadata}{spec}"
        )
    }
}

/// The `app` Promise (kind App) with the given workflows, each a list of pipelines
/// from [`pipeline`], and `spec` lines (at two spaces) before them.
pub(crate) struct Workflows<'a> {
    pub(crate) promise_configure: &'a [String],
    pub(crate) promise_delete: &'a [String],
    pub(crate) resource_configure: &'a [String],
    pub(crate) resource_delete: &'a [String],
}

pub(crate) fn app_promise(spec: &str, metadata: &str, workflows: &Workflows<'_>) -> String {
    let list = |action: &str, pipelines: &[String]| {
        if pipelines.is_empty() {
            String::new()
        } else {
            format!("      {action}:\n{}", pipelines.concat())
        }
    };
    let kind = |name: &str, configure: &[String], delete: &[String]| {
        let body = list("configure", configure) + &list("delete", delete);
        if body.is_empty() {
            String::new()
        } else {
            format!("    {name}:\n{body}")
        }
    };
    format!(
        "apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata:
  name: app
{metadata}spec:
{spec}  api:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {{name: apps.test.promised.dev}}
    spec:
      group: test.promised.dev
      names: {{kind: App, plural: apps}}
      scope: Namespaced
      versions: [{{name: v1, served: true}}]
  workflows:
{}{}",
        kind(
            "promise",
            workflows.promise_configure,
            workflows.promise_delete
        ),
        kind(
            "resource",
            workflows.resource_configure,
            workflows.resource_delete
        ),
    )
}

/// The label that gives a Promise's version.
const VERSION: &str = "kratix.io/promise-version";

/// A repository with destinations `dev` and `prod` (labelled `env`).
pub(crate) fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "destinations/dev.yaml",
        &destination("dev", &[("env", "dev")], ""),
    );
    repo.write(
        "destinations/prod.yaml",
        &destination("prod", &[("env", "prod")], ""),
    );
    repo
}

/// A script that appends `<what> $KRATIX_WORKFLOW_TYPE $KRATIX_WORKFLOW_ACTION
/// $KRATIX_OBJECT_NAME` to `log`.
pub(crate) fn log_line(log: &std::path::Path, what: &str) -> String {
    format!(
        "echo \"{what} $KRATIX_WORKFLOW_TYPE $KRATIX_WORKFLOW_ACTION $KRATIX_OBJECT_KIND $KRATIX_OBJECT_NAME\" >> {}",
        log.display()
    )
}

pub(crate) const CONFIGMAP: &str = r#"cat > "$KRATIX_OUTPUT/configmap.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: $KRATIX_OBJECT_NAME, namespace: $KRATIX_OBJECT_NAMESPACE}
YAML"#;

pub(crate) fn read_log(log: &std::path::Path) -> String {
    fs_err::read_to_string(log).unwrap_or_default()
}

#[test]
fn promise_workflow_outputs_go_to_every_matching_destination_and_not_elsewhere() {
    let repo = repo();
    for (name, env) in [("dev", "dev"), ("prod", "prod")] {
        let labels = [("env", env), ("tier", "platform")];
        repo.write(
            &format!("destinations/{name}.yaml"),
            &destination(name, &labels, ""),
        );
    }
    repo.write(
        "destinations/edge.yaml",
        &destination("edge", &[("env", "edge")], ""),
    );
    let install = r#"test "$KRATIX_WORKFLOW_TYPE" = promise && test "$KRATIX_OBJECT_KIND" = Promise
grep -q "kind: Promise" "$KRATIX_INPUT/object.yaml"
mkdir -p "$KRATIX_OUTPUT/crds"
cat > "$KRATIX_OUTPUT/operator.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: app-operator}
YAML
cat > "$KRATIX_OUTPUT/crds/crd.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: app-crds, namespace: default}
YAML
cat > "$KRATIX_METADATA/destination-selectors.yaml" <<YAML
- directory: crds
  matchLabels: {env: prod}
YAML
echo "message: operator installed" > "$KRATIX_METADATA/status.yaml""#;
    let spec = "  destinationSelectors: [{matchLabels: {tier: platform}}]\n";
    repo.write(
        "promises/app.yaml",
        &app_promise(
            spec,
            "",
            &Workflows {
                promise_configure: &[pipeline("install", install)],
                promise_delete: &[],
                resource_configure: &[],
                resource_delete: &[],
            },
        ),
    );
    repo.commit("A Promise that installs an operator");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!(repo.managed_files(), @r"
    state/dev/dependencies/app/SHA256SUMS
    state/dev/dependencies/app/operator.yaml
    state/dev/kustomization.yaml
    state/prod/dependencies/app/SHA256SUMS
    state/prod/dependencies/app/crds/crd.yaml
    state/prod/dependencies/app/operator.yaml
    state/prod/kustomization.yaml
    status/app.yaml
    ");
    let status = repo.show("status/app.yaml");
    assert!(status.contains("message: operator installed"), "{status}");
    assert!(status.contains("status: Available"), "{status}");

    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(
        repo.head(),
        head,
        "a rerun with the same inputs commits nothing"
    );
}

#[test]
fn a_failing_promise_workflow_holds_back_its_requests_until_it_succeeds() {
    let repo = repo();
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let broken = flag.path().join("broken");
    fs_err::write(&broken, "").unwrap();
    let install = format!(
        "test ! -e {} || {{ echo 'the operator image is missing' >&2; exit 3; }}",
        broken.display()
    );
    let configure = format!("{}\n{CONFIGMAP}", log_line(log.path(), "ran"));
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[pipeline("install", &install)],
                promise_delete: &[],
                resource_configure: &[pipeline("configure", &configure)],
                resource_delete: &[],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Promise and request");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("failed   Promise app: pipeline \"install\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "waiting  app/team/a (requests/app/a.yaml): Promise \"app\" is not available"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        read_log(log.path()),
        "",
        "the request's pipeline did not run"
    );
    let status = repo.show("status/app.yaml");
    assert!(status.contains("status: Unavailable"), "{status}");
    assert!(status.contains("the operator image is missing"), "{status}");
    let request_status = repo.show("status/app/team/a.yaml");
    assert!(
        request_status.contains("phase: Waiting"),
        "{request_status}"
    );
    assert!(
        request_status.contains("reason: PromiseUnavailable"),
        "{request_status}"
    );

    fs_err::remove_file(&broken).unwrap();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(read_log(log.path()), "ran resource configure App a\n");
    assert!(repo.show("status/app.yaml").contains("status: Available"));
    assert!(repo.show("status/app/team/a.yaml").contains("phase: Ready"));
}

/// The `app` Promise whose requests write a ConfigMap and whose delete workflow logs
/// and fails while `broken` exists.
pub(crate) fn deleting_repo(log: &std::path::Path, broken: &std::path::Path) -> TestRepo {
    let repo = repo();
    let delete = format!(
        "{}\ngrep -q 'size: small' \"$KRATIX_INPUT/object.yaml\"\ntest ! -e {} || {{ echo 'the database is still in use' >&2; exit 1; }}",
        log_line(log, "delete"),
        broken.display()
    );
    let promise_delete = log_line(log, "promise-delete");
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[],
                promise_delete: &[pipeline("uninstall", &promise_delete)],
                resource_configure: &[pipeline("configure", CONFIGMAP)],
                resource_delete: &[pipeline("teardown", &delete)],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Promise and requests");
    assert_eq!(repo.reconcile(&[]).code, 0);
    repo
}

#[test]
fn a_removed_request_runs_its_delete_workflow_before_its_outputs_go() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let repo = deleting_repo(log.path(), &flag.path().join("broken"));
    repo.remove("requests/app/a.yaml");
    repo.commit("Remove a");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read_log(log.path()), "delete resource delete App a\n");
    let files = repo.managed_files();
    assert!(
        !files.contains("/a/") && !files.contains("a.yaml"),
        "{files}"
    );
    assert!(files.contains("status/app/team/b.yaml"), "{files}");
}

#[test]
fn a_failing_delete_workflow_keeps_outputs_and_status_until_it_succeeds() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let broken = flag.path().join("broken");
    let repo = deleting_repo(log.path(), &broken);
    fs_err::write(&broken, "").unwrap();
    repo.remove("requests/app/a.yaml");
    repo.commit("Remove a");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("failed   app/team/a (requests/app/a.yaml): delete workflow failed"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("removed  app/team/a"),
        "a request whose delete workflow failed is not removed: {}",
        run.stdout
    );
    let message = repo.last_message();
    assert!(!message.contains("removed"), "{message}");
    let files = repo.managed_files();
    assert!(
        files.contains("/resources/team/app/a/configmap.yaml"),
        "{files}"
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: DeleteFailed"), "{status}");
    assert!(status.contains("reason: DeleteWorkflowFailed"), "{status}");
    assert!(status.contains("the database is still in use"), "{status}");

    let head = repo.head();
    assert_eq!(
        repo.reconcile(&[]).code,
        1,
        "it is retried, and fails again"
    );
    assert_eq!(repo.head(), head, "the same failure commits nothing");

    fs_err::remove_file(&broken).unwrap();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        read_log(log.path()),
        "delete resource delete App a\n".repeat(3)
    );
    let files = repo.managed_files();
    assert!(
        !files.contains("/a/") && !files.contains("a.yaml"),
        "{files}"
    );
}

#[test]
fn a_removed_promise_keeps_everything_while_its_requests_remain_then_deletes_in_order() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let repo = deleting_repo(log.path(), &flag.path().join("broken"));
    let before = repo.managed_files();
    repo.remove("promises/app.yaml");
    repo.commit("Remove the Promise only");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "error    promises/app.yaml: promises/app.yaml was removed while request files under requests/app/ remain"
        ),
        "{}",
        run.stdout
    );
    let after = repo.managed_files();
    assert_eq!(after, before, "nothing is removed");
    assert_eq!(read_log(log.path()), "");
    let status = repo.show("status/app.yaml");
    assert!(status.contains("status: Unavailable"), "{status}");
    assert!(
        status.contains("was removed while request files"),
        "{status}"
    );
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert_eq!(repo.head(), head, "holding commits nothing more");

    repo.remove("requests/app/a.yaml");
    repo.remove("requests/app/b.yaml");
    repo.commit("Remove the requests too");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines: Vec<String> = read_log(log.path()).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[2], "promise-delete promise delete Promise app",
        "the Promise's delete workflow runs last, on the Promise as last committed"
    );
    let mut requests = lines[..2].to_vec();
    requests.sort();
    assert_eq!(
        requests,
        [
            "delete resource delete App a",
            "delete resource delete App b"
        ]
    );
    assert_eq!(
        repo.managed_files(),
        "",
        "everything of the Promise is gone"
    );
}

#[test]
fn each_pipeline_reads_the_status_the_earlier_ones_wrote() {
    let repo = repo();
    let first = r#"cat > "$KRATIX_METADATA/status.yaml" <<YAML
url: redis://a
conditions: [{type: Database, status: "False"}]
YAML"#;
    let second = r#"cp "$KRATIX_INPUT/object.yaml" "$KRATIX_OUTPUT/seen.yaml.txt"
cat > "$KRATIX_METADATA/status.yaml" <<YAML
conditions: [{type: Database, status: "True"}]
YAML"#;
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[],
                promise_delete: &[],
                resource_configure: &[pipeline("first", first), pipeline("second", second)],
                resource_delete: &[],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Two pipelines");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let files = repo.managed_files();
    let seen = files.lines().find(|f| f.ends_with("/a/seen.yaml.txt"));
    let seen = repo.show(seen.expect("the second pipeline's output is written"));
    assert!(seen.contains("status:"), "{seen}");
    assert!(seen.contains("url: redis://a"), "{seen}");
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("url: redis://a"), "{status}");
    assert!(
        !status.contains("'False'"),
        "conditions merge by type: {status}"
    );
}

#[test]
fn unmet_required_promises_hold_a_promise_and_its_requests() {
    let repo = repo();
    let log = tempfile::NamedTempFile::new().unwrap();
    let configure = format!("{}\n{CONFIGMAP}", log_line(log.path(), "ran"));
    let spec = "  requiredPromises: [{name: db, version: v2}]\n";
    repo.write(
        "promises/app.yaml",
        &app_promise(
            spec,
            "",
            &Workflows {
                promise_configure: &[],
                promise_delete: &[],
                resource_configure: &[pipeline("configure", &configure)],
                resource_delete: &[],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("A Promise that needs db");
    let run = repo.reconcile(&[]);
    assert!(
        run.stdout
            .contains("waiting  Promise app: requires Promise \"db\" is not installed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("waiting  app/team/a"), "{}", run.stdout);
    assert_eq!(read_log(log.path()), "");
    let status = repo.show("status/app.yaml");
    assert!(
        status.contains("reason: RequirementsNotInstalled"),
        "{status}"
    );

    repo.write(
        "promises/db.yaml",
        &api_less("db").labelled(VERSION, "v1").text(),
    );
    repo.commit("db at v1");
    let run = repo.reconcile(&[]);
    assert!(
        run.stdout.contains("Promise \"db\" is at v1, not v2"),
        "{}",
        run.stdout
    );
    repo.write(
        "promises/db.yaml",
        &api_less("db").labelled(VERSION, "v2").text(),
    );
    repo.commit("db at v2");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(read_log(log.path()), "ran resource configure App a\n");
    assert!(repo.show("status/app.yaml").contains("status: Available"));
}

#[test]
fn plan_says_a_removed_request_s_delete_workflow_runs_first_and_runs_nothing() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let repo = deleting_repo(log.path(), &flag.path().join("broken"));
    let base = repo.head();
    repo.git(&["checkout", "-q", "-b", "remove-a"]);
    repo.remove("requests/app/a.yaml");
    repo.commit("Remove a");
    let run = crate::support::promised(&[
        "plan",
        "--repo",
        repo.path().to_str().unwrap(),
        "--base",
        &base,
        "--head",
        "remove-a",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "removed  app/team/a (requests/app/a.yaml): its delete workflow runs first (teardown)"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(read_log(log.path()), "", "a plan runs no delete workflow");

    repo.remove("promises/app.yaml");
    repo.remove("requests/app/b.yaml");
    repo.commit("Remove the Promise and its last request");
    let run = crate::support::promised(&[
        "plan",
        "--repo",
        repo.path().to_str().unwrap(),
        "--base",
        &base,
        "--head",
        "remove-a",
    ]);
    assert!(
        run.stdout.contains(
            "removed  Promise app: its delete workflow runs first (uninstall), then its dependencies and status are removed"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        read_log(log.path()),
        "",
        "a plan runs no Promise delete workflow"
    );
}

#[test]
fn removing_one_document_of_a_file_of_several_runs_that_request_s_delete_workflow_only() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let repo = deleting_repo(log.path(), &flag.path().join("broken"));
    repo.remove("requests/app/a.yaml");
    repo.remove("requests/app/b.yaml");
    repo.write(
        "requests/app/team.yaml",
        &format!(
            "{}---\n{}",
            request("c", "team", "small"),
            request("d", "team", "small")
        ),
    );
    repo.commit("Two requests in one file");
    assert_eq!(repo.reconcile(&[]).code, 0);
    fs_err::write(log.path(), "").unwrap();
    repo.write("requests/app/team.yaml", &request("c", "team", "small"));
    repo.commit("Remove d from the file");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read_log(log.path()), "delete resource delete App d\n");
    let files = repo.managed_files();
    assert!(
        !files.contains("/d/") && !files.contains("d.yaml"),
        "{files}"
    );
    assert!(files.contains("status/app/team/c.yaml"), "{files}");
}

#[test]
fn pipeline_run_runs_a_promise_workflow_on_the_promise_file() {
    let out = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let install = r#"cp "$KRATIX_INPUT/object.yaml" "$KRATIX_OUTPUT/promise.yaml.txt"
echo "$KRATIX_WORKFLOW_TYPE $KRATIX_WORKFLOW_ACTION $KRATIX_OBJECT_KIND $KRATIX_OBJECT_NAME" > "$KRATIX_OUTPUT/env.txt""#;
    let promise = app_promise(
        "",
        "",
        &Workflows {
            promise_configure: &[],
            promise_delete: &[pipeline("uninstall", install)],
            resource_configure: &[],
            resource_delete: &[],
        },
    );
    let path = dir.path().join("promise.yaml");
    fs_err::write(&path, &promise).unwrap();
    let run = crate::support::promised(&[
        "pipeline",
        "run",
        "--promise",
        path.to_str().unwrap(),
        "--workflow",
        "promise",
        "--action",
        "delete",
        "--out",
        out.path().join("run").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("pipeline uninstall: succeeded"),
        "{}",
        run.stdout
    );
    let env = fs_err::read_to_string(out.path().join("run/uninstall/output/env.txt")).unwrap();
    assert_eq!(env, "promise delete Promise app\n");
    let object =
        fs_err::read_to_string(out.path().join("run/uninstall/output/promise.yaml.txt")).unwrap();
    assert_eq!(object, promise);

    let missing = crate::support::promised(&[
        "pipeline",
        "run",
        "--promise",
        path.to_str().unwrap(),
        "--workflow",
        "promise",
        "--out",
        out.path().join("again").to_str().unwrap(),
    ]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stdout
            .contains("Promise \"app\" has no spec.workflows.promise.configure pipelines"),
        "{}",
        missing.stdout
    );
}

/// A remote holding the `app` Promise, whose Promise configure workflow runs `install`,
/// and one request of it, with `promised serve` on it retrying fast.
pub(crate) fn serving_promise_workflow(
    install: &str,
) -> (
    crate::daemon_support::Platform,
    crate::daemon_support::Serve,
) {
    use crate::daemon_support::{Platform, Serve};
    let developer = repo();
    developer.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[pipeline("install", install)],
                promise_delete: &[],
                resource_configure: &[pipeline("configure", CONFIGMAP)],
                resource_delete: &[],
            },
        ),
    );
    developer.write("requests/app/a.yaml", &request("a", "team", "small"));
    developer.commit("The platform");
    let platform = Platform::publish(developer);
    let serve = Serve::start(
        &platform.remote,
        &[
            "--poll",
            "1h",
            "--retry-base",
            "200ms",
            "--retry-max",
            "400ms",
        ],
        &[],
    );
    (platform, serve)
}

/// Whether the request of [`serving_promise_workflow`] is Ready on the remote.
pub(crate) fn request_ready_on(platform: &crate::daemon_support::Platform) -> bool {
    platform.remote_has("main", "status/app/team/a.yaml")
        && platform
            .remote_show("main", "status/app/team/a.yaml")
            .contains("phase: Ready")
}

#[test]
fn serve_retries_a_failed_promise_workflow_with_backoff_and_then_runs_its_requests() {
    use crate::daemon_support::wait_for;
    let limit = std::time::Duration::from_secs(60);
    let gate = tempfile::tempdir().unwrap();
    let install = format!(
        "test -e {} || {{ echo 'registry unavailable' >&2; exit 1; }}",
        gate.path().join("fixed").display()
    );
    let (platform, serve) = serving_promise_workflow(&install);
    wait_for(limit, "the failure", || {
        platform.remote_has("main", "status/app.yaml")
    });
    assert!(
        platform
            .remote_show("main", "status/app.yaml")
            .contains("registry unavailable")
    );
    wait_for(limit, "a retry", || {
        serve.metric("promised_pipeline_failures_total") >= 2.0
    });
    fs_err::write(gate.path().join("fixed"), "").unwrap();
    wait_for(
        limit,
        "the retry that succeeds, and the request it held back",
        || request_ready_on(&platform),
    );
}

#[test]
fn a_required_promise_s_workflow_runs_first_and_its_failure_holds_back_the_dependent_in_the_same_pass()
 {
    let repo = repo();
    let log = tempfile::NamedTempFile::new().unwrap();
    let gate = tempfile::tempdir().unwrap();
    let broken = gate.path().join("broken");
    fs_err::write(&broken, "").unwrap();
    let install_db = format!(
        "{}\ntest ! -e {} || {{ echo 'db operator image missing' >&2; exit 1; }}",
        log_line(log.path(), "install-db"),
        broken.display()
    );
    repo.write(
        "promises/db.yaml",
        &api_less("db")
            .with("configure", &[pipeline("install-db", &install_db)])
            .text(),
    );
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "  requiredPromises: [{name: db}]\n",
            "",
            &Workflows {
                promise_configure: &[pipeline("install", &log_line(log.path(), "install-app"))],
                promise_delete: &[],
                resource_configure: &[pipeline("configure", CONFIGMAP)],
                resource_delete: &[],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("app requires db; both install an operator");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        read_log(log.path()),
        "install-db promise configure Promise db\n",
        "db's workflow ran first, and app's did not run after it failed"
    );
    assert!(
        run.stdout
            .contains("waiting  Promise app: requires Promise \"db\", which is not available"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("waiting  app/team/a"), "{}", run.stdout);

    fs_err::remove_file(&broken).unwrap();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        read_log(log.path()),
        "install-db promise configure Promise db\n".repeat(2)
            + "install-app promise configure Promise app\n"
    );
    assert!(repo.show("status/app/team/a.yaml").contains("phase: Ready"));
}
