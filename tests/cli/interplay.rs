//! How the lifecycle features meet: multi-document request files, stored requests,
//! aggregated destinations, suspension, plan and serve, each against delete workflows.

use crate::lifecycle::{CONFIGMAP, Workflows, app_promise, pipeline, read_log, repo};
use crate::support::{TestRepo, request};

/// The versions of the `app` CRD with a schema: `spec.size`, and `spec.tier`
/// defaulted to `gold`.
const SCHEMA_VERSIONS: &str = "versions:
        - name: v1
          served: true
          storage: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: object
                  properties:
                    size: {type: string}
                    tier: {type: string, default: gold}";

/// The `app` Promise with a schema whose resource delete workflow logs each deletion,
/// with the tier it read.
fn deleting_promise(log: &std::path::Path) -> String {
    let delete = format!(
        "echo \"delete $KRATIX_OBJECT_NAME $(sed -n 's/^ *tier: *//p' \"$KRATIX_INPUT/object.yaml\")\" >> {}",
        log.display()
    );
    app_promise(
        "",
        "",
        &Workflows {
            promise_configure: &[],
            promise_delete: &[],
            resource_configure: &[pipeline("configure", CONFIGMAP)],
            resource_delete: &[pipeline("teardown", &delete)],
        },
    )
    .replace("versions: [{name: v1, served: true}]", SCHEMA_VERSIONS)
}

fn team_file(documents: &[String]) -> String {
    format!("# the team's apps\n---\n{}", documents.join("---\n"))
}

/// A repository whose `requests/app/team.yaml` holds a, b and c, reconciled once.
fn three_documents(log: &std::path::Path) -> TestRepo {
    let repo = repo();
    repo.write("promises/app.yaml", &deleting_promise(log));
    let docs = ["a", "b", "c"].map(|n| request(n, "team", "small"));
    repo.write("requests/app/team.yaml", &team_file(&docs));
    repo.commit("Three requests in one file");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    repo
}

fn outputs_of(files: &str, name: &str) -> Vec<String> {
    files
        .lines()
        .filter(|f| f.contains(&format!("/app/{name}/")) || f.ends_with(&format!("/{name}.yaml")))
        .map(String::from)
        .collect()
}

#[test]
fn a_document_removed_while_another_of_its_file_turns_invalid_runs_its_delete_and_keeps_the_rest() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = three_documents(log.path());
    let before = repo.managed_files();
    let b_before = repo.show("status/app/team/b.yaml");
    let broken_c = request("c", "team", "small") + "  colour: red\n";
    repo.write(
        "requests/app/team.yaml",
        &team_file(&[request("b", "team", "small"), broken_c]),
    );
    repo.commit("Remove a, and c gains an unknown field");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let after = repo.managed_files();
    assert_eq!(
        read_log(log.path()),
        "delete a gold\n",
        "the delete workflow reads the defaulted request"
    );
    assert!(outputs_of(&after, "a").is_empty(), "{after}");
    assert_eq!(outputs_of(&after, "b"), outputs_of(&before, "b"));
    let without_blob = |s: String| {
        s.lines()
            .filter(|l| !l.contains("blob:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        without_blob(repo.show("status/app/team/b.yaml")),
        without_blob(b_before)
    );
    let c: Vec<_> = outputs_of(&before, "c")
        .into_iter()
        .filter(|f| !f.starts_with("status/"))
        .collect();
    assert_eq!(
        c,
        outputs_of(&after, "c")
            .into_iter()
            .filter(|f| !f.starts_with("status/"))
            .collect::<Vec<_>>(),
        "an invalid request keeps its outputs"
    );
}

#[test]
fn a_document_removed_while_its_file_stops_parsing_deletes_nothing() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = three_documents(log.path());
    let before = repo.managed_files();
    let broken_c = request("c", "team", "small").replace("spec:\n", "spec: [\n");
    repo.write(
        "requests/app/team.yaml",
        &team_file(&[request("b", "team", "small"), broken_c]),
    );
    repo.commit("Remove a, and c is no longer YAML");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let after = repo.managed_files();
    assert_eq!(
        read_log(log.path()),
        "",
        "no delete workflow runs on a file that does not parse"
    );
    for name in ["b", "c"] {
        assert_eq!(outputs_of(&after, name), outputs_of(&before, name));
    }
}

/// A repository with one request `a` in `requests/app/a.yaml`, reconciled once.
fn one_request(log: &std::path::Path, configure: &str) -> TestRepo {
    let repo = repo();
    let promise = deleting_promise(log).replacen(
        &pipeline("configure", CONFIGMAP),
        &pipeline("configure", &format!("{configure}\n{CONFIGMAP}")),
        1,
    );
    repo.write("promises/app.yaml", &promise);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("A request");
    repo.reconcile(&[]);
    repo
}

#[test]
fn a_request_that_turned_invalid_and_is_then_removed_runs_its_delete_on_the_last_valid_object() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = one_request(log.path(), "true");
    repo.write(
        "requests/app/a.yaml",
        &(request("a", "team", "large") + "  colour: red\n"),
    );
    repo.commit("a gains an unknown field");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(repo.managed_files().contains("/app/a/configmap.yaml"));
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert_eq!(
        repo.head(),
        head,
        "an invalid request commits nothing on a rerun"
    );
    repo.write(
        "requests/app/a.yaml",
        &(request("a", "team", "large") + "  colour: blue\n"),
    );
    repo.commit("a is edited, still invalid");
    assert_eq!(repo.reconcile(&[]).code, 1);
    repo.remove("requests/app/a.yaml");
    repo.commit("Remove a");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read_log(log.path()), "delete a gold\n");
    let files = repo.managed_files();
    assert!(
        !files.contains("/a/") && !files.contains("a.yaml"),
        "{files}"
    );
}

#[test]
fn a_suspended_request_that_is_removed_runs_its_delete_workflow() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let suspend = "printf 'suspend: true\\nmessage: waiting for approval\\n' > \"$KRATIX_METADATA/workflow-control.yaml\"";
    let repo = one_request(log.path(), suspend);
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("phase: Suspended")
    );
    repo.remove("requests/app/a.yaml");
    repo.commit("Remove a");
    let path = repo.path().to_str().unwrap().to_string();
    let plan = crate::support::promised(&[
        "plan", "--repo", &path, "--base", "HEAD~1", "--head", "HEAD",
    ]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains(
            "removed  app/team/a (requests/app/a.yaml): its delete workflow runs first (teardown)"
        ),
        "{}",
        plan.stdout
    );
    assert_eq!(read_log(log.path()), "", "plan runs no delete workflow");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read_log(log.path()), "delete a gold\n");
    let files = repo.managed_files();
    assert!(
        !files.contains("/a/") && !files.contains("a.yaml"),
        "{files}"
    );
}

#[test]
fn a_suspended_request_restarts_when_its_promise_changes_even_in_a_full_pass() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let suspend = "printf 'suspend: true\\nmessage: waiting for approval\\n' > \"$KRATIX_METADATA/workflow-control.yaml\"";
    let repo = one_request(log.path(), suspend);
    let before = repo.show("status/app/team/a.yaml");
    assert!(before.contains("phase: Suspended"), "{before}");
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(repo.head(), head, "a full pass leaves it suspended");
    let promise = repo
        .show("promises/app.yaml")
        .replace("test/configure:v1", "test/configure:v2");
    repo.write("promises/app.yaml", &promise);
    repo.commit("A new configure image");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let after = repo.show("status/app/team/a.yaml");
    assert_ne!(
        after, before,
        "a changed Promise reruns the suspended request from its first pipeline, as Kratix does"
    );
    assert!(after.contains("test/configure:v2"), "{after}");
    assert!(after.contains("phase: Suspended"), "{after}");
}

#[test]
fn an_aggregated_destination_keeps_the_outputs_of_a_request_whose_delete_failed() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let broken = flag.path().join("broken");
    let repo = TestRepo::new();
    repo.write(
        "destinations/prod.yaml",
        &crate::support::destination(
            "prod",
            &[("env", "prod")],
            "filepath: {mode: aggregatedYAML, filename: all.yaml}",
        ),
    );
    let install = r#"cat > "$KRATIX_OUTPUT/operator.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: app-operator}
YAML"#;
    let delete = format!(
        "{}\ntest ! -e {} || {{ echo 'still in use' >&2; exit 1; }}",
        crate::lifecycle::log_line(log.path(), "delete"),
        broken.display()
    );
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[pipeline("install", install)],
                promise_delete: &[],
                resource_configure: &[pipeline("configure", CONFIGMAP)],
                resource_delete: &[pipeline("teardown", &delete)],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Promise and requests on an aggregated destination");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let all = repo.show("state/prod/all.yaml");
    for name in ["app-operator", "name: a,", "name: b,"] {
        assert!(all.contains(name), "{name}: {all}");
    }
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(repo.head(), head, "a rerun commits nothing");

    fs_err::write(&broken, "").unwrap();
    repo.remove("requests/app/a.yaml");
    repo.commit("Remove a");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        repo.show("state/prod/all.yaml"),
        all,
        "the aggregate keeps a while its delete fails"
    );
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert_eq!(repo.head(), head, "the same failure commits nothing");

    fs_err::remove_file(&broken).unwrap();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let all = repo.show("state/prod/all.yaml");
    assert!(!all.contains("name: a,"), "{all}");
    assert!(
        all.contains("name: b,") && all.contains("app-operator"),
        "{all}"
    );
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(repo.head(), head, "a rerun commits nothing");
}

#[test]
fn a_request_reverted_after_an_invalid_edit_is_ready_again() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = one_request(log.path(), "true");
    repo.write(
        "requests/app/a.yaml",
        &(request("a", "team", "small") + "  colour: red\n"),
    );
    repo.commit("a gains an unknown field");
    assert_eq!(repo.reconcile(&[]).code, 1);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Revert a");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Ready"), "{status}");
}

#[test]
fn serve_removes_a_promise_and_its_requests_in_one_pass_requests_first_then_rests() {
    use crate::daemon_support::{Platform, Serve, wait_for};
    let log = tempfile::NamedTempFile::new().unwrap();
    let developer = crate::lifecycle::deleting_repo(log.path(), &log.path().join("never"));
    let platform = Platform::publish(developer);
    let serve = Serve::start(&platform.remote, &["--poll", "100ms"], &[]);
    let limit = std::time::Duration::from_secs(60);
    let subjects = platform.remote_subjects("main");
    platform.developer.remove("promises/app.yaml");
    platform.developer.remove("requests/app/a.yaml");
    platform.developer.remove("requests/app/b.yaml");
    platform.push("Remove the app Promise and its requests");
    wait_for(limit, "the Promise's status, removed", || {
        !platform.remote_has("main", "status/app.yaml")
    });
    let lines: Vec<String> = read_log(log.path()).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[2], "promise-delete promise delete Promise app");
    let after = platform.remote_subjects("main");
    assert_eq!(
        after.lines().count(),
        subjects.lines().count() + 2,
        "the developer's commit and one pass: {after}"
    );
    let runs = serve.metric("promised_pipeline_runs_total");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        serve.metric("promised_pipeline_runs_total"),
        runs,
        "no delete runs again"
    );
    assert_eq!(read_log(log.path()).lines().count(), 3);
    assert_eq!(
        platform.remote_subjects("main"),
        after,
        "nothing more is committed"
    );
    assert!(serve.stop());
}

#[test]
fn a_promise_removed_with_its_requests_waits_for_a_failing_request_delete() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let broken = flag.path().join("broken");
    let repo = crate::lifecycle::deleting_repo(log.path(), &broken);
    fs_err::write(&broken, "").unwrap();
    repo.remove("promises/app.yaml");
    repo.remove("requests/app/a.yaml");
    repo.remove("requests/app/b.yaml");
    repo.commit("Remove the Promise and its requests");
    let path = repo.path().to_str().unwrap().to_string();
    let plan = crate::support::promised(&[
        "plan", "--repo", &path, "--base", "HEAD~1", "--head", "HEAD",
    ]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert_eq!(read_log(log.path()), "", "plan runs no delete workflow");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        !read_log(log.path()).contains("promise-delete"),
        "the Promise's delete waits for its requests: {}",
        read_log(log.path())
    );
    let files = repo.managed_files();
    assert!(files.contains("status/app.yaml"), "{files}");
    assert!(files.contains("/app/a/configmap.yaml"), "{files}");
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert_eq!(repo.head(), head, "the same failure commits nothing");

    fs_err::remove_file(&broken).unwrap();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(read_log(log.path()).ends_with("promise-delete promise delete Promise app\n"));
    assert_eq!(repo.managed_files(), "");
}

#[test]
fn a_document_moved_to_another_file_runs_no_delete_workflow() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = three_documents(log.path());
    let before = repo.managed_files();
    repo.write(
        "requests/app/team.yaml",
        &team_file(&["b", "c"].map(|n| request(n, "team", "small"))),
    );
    repo.write("requests/app/moved.yaml", &request("a", "team", "small"));
    repo.commit("Move a to a file of its own");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read_log(log.path()), "", "a was moved, not removed");
    let after = repo.managed_files();
    assert_eq!(outputs_of(&after, "a"), outputs_of(&before, "a"));
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("path: requests/app/moved.yaml")
    );
}

#[test]
fn a_request_never_admitted_and_then_removed_runs_no_delete_workflow() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = one_request(log.path(), "true");
    repo.write(
        "requests/app/new.yaml",
        &(request("new", "team", "small") + "  colour: red\n"),
    );
    repo.commit("An invalid request");
    assert_eq!(repo.reconcile(&[]).code, 1);
    repo.remove("requests/app/new.yaml");
    repo.commit("Remove it");
    let run = repo.reconcile(&[]);
    eprintln!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read_log(log.path()), "", "the API server never held it");
    assert!(!repo.managed_files().contains("new.yaml"));
}
