//! Bad input and failing pipelines: clear statuses, exit code 1, nothing lost.

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, request};

/// A repository whose `a` request has been reconciled once with CONFIGMAP_SCRIPT, and
/// whose Promise now runs `script` instead.
fn reconciled_then(script: &str) -> TestRepo {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Requests a and b");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let script =
        format!("if [ \"$KRATIX_OBJECT_NAME\" = a ]; then\n{script}\nfi\n{CONFIGMAP_SCRIPT}");
    repo.write(
        "promises/app.yaml",
        &crate::support::promise("app", "", &script),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "large"));
    repo.commit("Change the pipeline and request a");
    repo
}

/// Reconciles, expecting exit 1, that a's outputs are unchanged and that b was updated.
fn assert_a_failed_and_kept(repo: &TestRepo) -> String {
    let outputs = |repo: &TestRepo| {
        let files = repo.managed_files();
        let a: Vec<String> = files
            .lines()
            .filter(|p| p.contains("/team/app/a/"))
            .map(|p| format!("{p}\n{}", repo.show(p)))
            .collect();
        a.join("\n")
    };
    let before = outputs(repo);
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        outputs(repo),
        before,
        "a failed run must not touch earlier outputs"
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Failed"), "{status}");
    assert!(status.contains("reason: PipelineFailed"), "{status}");
    assert!(repo.show("status/app/team/b.yaml").contains("phase: Ready"));
    status
}

#[test]
fn a_failing_pipeline_reports_its_stderr_tail_and_keeps_the_earlier_outputs() {
    let repo = reconciled_then("echo 'warming up'\necho 'quota exceeded for team' >&2\nexit 4");
    let status = assert_a_failed_and_kept(&repo);
    assert!(
        status.contains("container \"render\" failed (exit code 4)"),
        "{status}"
    );
    assert!(status.contains("quota exceeded for team"), "{status}");
    assert!(
        !status.contains("warming up"),
        "stdout is not stderr: {status}"
    );
}

#[test]
fn a_pipeline_past_its_timeout_is_killed_and_reported() {
    let repo = reconciled_then("sleep 30");
    let started = std::time::Instant::now();
    let run = repo.reconcile(&["--timeout", "1s"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(run.code, 1);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("the pipeline ran longer than 1s"),
        "{status}"
    );
}

#[test]
fn a_symlink_in_the_output_fails_the_run() {
    let repo = reconciled_then("ln -s /etc/passwd \"$KRATIX_OUTPUT/passwd.yaml\"");
    let status = assert_a_failed_and_kept(&repo);
    assert!(
        status.contains("passwd.yaml: is a symbolic link"),
        "{status}"
    );
}

#[test]
fn a_symlinked_folder_that_escapes_the_output_fails_the_run() {
    let repo = reconciled_then("ln -s / \"$KRATIX_OUTPUT/escape\"");
    let status = assert_a_failed_and_kept(&repo);
    assert!(status.contains("escape: is a symbolic link"), "{status}");
}

#[test]
fn a_file_that_is_not_a_kubernetes_document_fails_the_run() {
    let repo = reconciled_then("printf 'just: data\\n' > \"$KRATIX_OUTPUT/notes.yaml\"");
    let status = assert_a_failed_and_kept(&repo);
    assert!(status.contains("notes.yaml: document 1 is not a Kubernetes object: apiVersion, kind, metadata.name missing"), "{status}");
}

#[test]
fn a_file_that_is_not_yaml_fails_the_run() {
    let repo = reconciled_then("printf 'key: [unclosed\\n' > \"$KRATIX_OUTPUT/broken.yaml\"");
    let status = assert_a_failed_and_kept(&repo);
    assert!(
        status.contains("broken.yaml: is not YAML: line 1"),
        "{status}"
    );
}

#[test]
fn a_malformed_selector_file_fails_the_run_with_the_field() {
    let repo = reconciled_then(
        "printf -- '- matchLabels: {}\\n' > \"$KRATIX_METADATA/destination-selectors.yaml\"",
    );
    let status = assert_a_failed_and_kept(&repo);
    assert!(
        status
            .contains("destination-selectors.yaml: [0].matchLabels: must name at least one label"),
        "{status}"
    );
}

#[test]
fn a_request_that_fails_the_schema_names_the_field_and_runs_nothing() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/good.yaml", &request("good", "team", "small"));
    repo.write("requests/app/bad.yaml", &request("bad", "team", "huge"));
    repo.commit("Two requests, one invalid");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1);
    let _redacted = repo.redactions();
    insta::assert_snapshot!(run.stdout, @r#"
    invalid  app/team/bad (requests/app/bad.yaml): the request does not match the schema of test.promised.dev/v1:
             spec.size: "huge" is not one of "small" or "large"
    ready    app/team/good (requests/app/good.yaml): output written to prod
    2 requests, 1 with problems, 0 unreadable files; committed [commit] (6 files changed) in [time]
    "#);
    let files = repo.managed_files();
    assert!(
        !files.contains("/app/bad/"),
        "an invalid request runs no pipeline: {files}"
    );
    let status = repo.show("status/app/team/bad.yaml");
    assert!(status.contains("reason: InvalidRequest"), "{status}");
    assert!(
        status.contains("spec.size: \\\"huge\\\" is not one of")
            || status.contains("spec.size: \"huge\" is not one of"),
        "{status}"
    );
}

#[test]
fn a_broken_promise_file_is_named_and_the_others_go_on() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let before = repo.managed_files();

    repo.write(
        "promises/app.yaml",
        &crate::support::promise("app", "", CONFIGMAP_SCRIPT)
            .replace("name: render", "name: [render]"),
    );
    repo.write(
        "promises/other.yaml",
        &crate::support::promise("other", "", CONFIGMAP_SCRIPT)
            .replace("apps.test", "others.test")
            .replace("kind: App", "kind: Other"),
    );
    repo.commit("Break the app Promise");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("error    promises/app.yaml: spec.workflows.resource.configure[0].spec.containers[0].name: invalid type"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("skipped  app/team/a"), "{}", run.stdout);
    let after = repo.managed_files().replace("status/other.yaml\n", "");
    assert_eq!(after, before, "nothing of the app Promise may change");
}

#[test]
fn a_request_without_a_promise_is_invalid_and_says_what_to_add() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/cache/a.yaml", &request("a", "team", "small"));
    repo.commit("A request for a Promise that does not exist");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("invalid  cache/team/a (requests/cache/a.yaml): no Promise named \"cache\""),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unreadable_request_gets_a_status_named_after_its_file() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write(
        "requests/app/typo.yaml",
        "apiVersion: test.promised.dev/v1\nkind: App\nmetadata: {name: x\n",
    );
    repo.commit("A request with a YAML error");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1);
    let status = repo.show("status/app/default/typo.yaml");
    assert!(status.contains("phase: Invalid"), "{status}");
    assert!(status.contains("line "), "{status}");
}

#[test]
fn a_container_without_a_command_is_named_and_pointed_to_an_oci_executor() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    let text = crate::support::promise("app", "", CONFIGMAP_SCRIPT)
        .replace("command: [sh, -c]", "command: []");
    repo.write("promises/app.yaml", &text);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("A container with no command");
    assert_eq!(repo.reconcile(&[]).code, 1);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("container \\\"render\\\" has no command")
            || status.contains("container \"render\" has no command"),
        "{status}"
    );
    assert!(status.contains("podman"), "{status}");
}

#[test]
fn a_request_broken_after_it_ran_keeps_its_outputs_and_identity() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write(
        "requests/app/cache.yaml",
        &request("redis-cache", "team", "small"),
    );
    repo.commit("Request redis-cache");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let before: Vec<String> = repo
        .managed_files()
        .lines()
        .filter(|p| p.starts_with("state/"))
        .map(String::from)
        .collect();

    repo.write(
        "requests/app/cache.yaml",
        "apiVersion: test.promised.dev/v1\nkind: App\nmetadata: {name: [\n",
    );
    repo.commit("Break the request's YAML");
    assert_eq!(repo.reconcile(&[]).code, 1);
    let after: Vec<String> = repo
        .managed_files()
        .lines()
        .filter(|p| p.starts_with("state/"))
        .map(String::from)
        .collect();
    assert_eq!(before, after, "a typo must not take a running service away");
    let status = repo.show("status/app/team/redis-cache.yaml");
    assert!(status.contains("phase: Invalid"), "{status}");
    assert!(
        !repo
            .managed_files()
            .contains("status/app/default/cache.yaml")
    );
}
