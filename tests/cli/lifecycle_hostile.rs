//! The Promise lifecycle under attack: hostile pipelines, removals that go wrong, and
//! reruns that must commit nothing.

use crate::lifecycle::{
    CONFIGMAP, Workflows, api_less, app_promise, deleting_repo, log_line, pipeline, read_log, repo,
    request_ready_on, serving_promise_workflow,
};
use crate::support::{TestRepo, request};

/// The `app` Promise with the Promise configure workflow `install` and a request whose
/// configure workflow logs to `log`.
fn installing_repo(log: &std::path::Path, install: &str) -> TestRepo {
    let repo = repo();
    let configure = format!("{}\n{CONFIGMAP}", log_line(log, "ran"));
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[pipeline("install", install)],
                promise_delete: &[],
                resource_configure: &[pipeline("configure", &configure)],
                resource_delete: &[],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Promise and request");
    repo
}

#[test]
fn a_promise_workflow_that_suspends_holds_back_its_requests_in_the_same_pass() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let install = "printf 'suspend: true\\nmessage: waiting for the operator licence\\n' > \"$KRATIX_METADATA/workflow-control.yaml\"";
    let repo = installing_repo(log.path(), install);
    let run = repo.reconcile(&[]);
    assert!(
        run.stdout.contains("waiting  app/team/a (requests/app/a.yaml): Promise \"app\" is not available: its Promise workflow is suspended by pipeline \"install\": waiting for the operator licence"),
        "{}",
        run.stdout
    );
    assert_eq!(
        read_log(log.path()),
        "",
        "the request's pipeline did not run"
    );
    assert!(repo.show("status/app.yaml").contains("status: Unavailable"));
    assert!(!repo.managed_files().contains("configmap.yaml"));
}

#[test]
fn a_promise_workflow_output_that_clashes_with_static_dependencies_holds_back_its_requests() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let install = r#"cat > "$KRATIX_OUTPUT/static-dependencies.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: hijacked}
YAML"#;
    let repo = repo();
    let configure = format!("{}\n{CONFIGMAP}", log_line(log.path(), "ran"));
    let spec =
        "  dependencies:\n    - {apiVersion: v1, kind: Namespace, metadata: {name: operator}}\n";
    repo.write(
        "promises/app.yaml",
        &app_promise(
            spec,
            "",
            &Workflows {
                promise_configure: &[pipeline("install", install)],
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
        run.stdout.contains("failed   Promise app: output: spec.dependencies and pipeline \"install\" both write static-dependencies.yaml"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("waiting  app/team/a"), "{}", run.stdout);
    assert_eq!(
        read_log(log.path()),
        "",
        "the request's pipeline did not run"
    );
    assert!(!repo.managed_files().contains("hijacked"));
}

#[test]
fn a_waiting_request_s_status_is_the_same_in_a_scoped_pass_as_in_a_full_one() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let install = "echo 'the operator image is missing' >&2; exit 3";
    let repo = installing_repo(log.path(), install);
    assert_eq!(repo.reconcile(&[]).code, 1);
    let head = repo.head();
    let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
    assert!(run.stdout.contains("waiting  app/team/a"), "{}", run.stdout);
    assert_eq!(
        repo.head(),
        head,
        "a scoped pass with the Promise kept writes the same status: {}",
        repo.last_message()
    );
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert_eq!(repo.head(), head, "and so does a full pass again");
}

#[test]
fn a_promise_removed_with_its_requests_waits_for_every_request_delete_to_succeed() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let broken = flag.path().join("broken");
    let repo = deleting_repo(log.path(), &broken);
    fs_err::write(&broken, "").unwrap();
    let dependencies_before = repo.show("status/app.yaml");
    repo.remove("promises/app.yaml");
    repo.remove("requests/app/a.yaml");
    repo.remove("requests/app/b.yaml");
    repo.commit("Remove the Promise and its requests");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        !read_log(log.path()).contains("promise-delete"),
        "the Promise's delete workflow waits for its requests'"
    );
    let files = repo.managed_files();
    assert!(files.contains("status/app.yaml"), "{files}");
    assert!(files.contains("status/app/team/a.yaml"), "{files}");
    assert!(
        files.contains("/resources/team/app/a/configmap.yaml"),
        "{files}"
    );
    assert!(!dependencies_before.is_empty());

    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert_eq!(repo.head(), head, "the same failures commit nothing");

    fs_err::remove_file(&broken).unwrap();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        read_log(log.path()).ends_with("promise-delete promise delete Promise app\n"),
        "{}",
        read_log(log.path())
    );
    assert_eq!(repo.managed_files(), "");
}

#[test]
fn renaming_a_promise_file_runs_no_delete_workflow() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let repo = deleting_repo(log.path(), &flag.path().join("broken"));
    let text = repo.show("promises/app.yaml");
    repo.remove("promises/app.yaml");
    repo.write("promises/app-promise.yaml", &text);
    repo.commit("Move the Promise file");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read_log(log.path()), "", "nothing was deleted");
    let status = repo.show("status/app.yaml");
    assert!(status.contains("promises/app-promise.yaml"), "{status}");
    assert!(repo.managed_files().contains("/a/configmap.yaml"));
}

#[test]
fn a_removed_request_whose_blob_is_gone_from_history_keeps_its_outputs_and_says_so() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let repo = deleting_repo(log.path(), &flag.path().join("broken"));
    let blob = repo.git(&["rev-parse", "HEAD:requests/app/a.yaml"]);
    let blob = blob.trim();
    repo.remove("requests/app/a.yaml");
    repo.commit("Remove a");
    // As after a shallow clone or a `git gc` that dropped it.
    let object = repo
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    fs_err::remove_file(object).unwrap();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("failed   app/team/a (requests/app/a.yaml): delete workflow"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("restore the file and remove it again"),
        "{}",
        run.stdout
    );
    assert_eq!(
        read_log(log.path()),
        "",
        "no delete workflow ran on nothing"
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: DeleteFailed"), "{status}");
    assert!(repo.managed_files().contains("/a/configmap.yaml"));
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert_eq!(repo.head(), head, "the same failure commits nothing");
}

#[test]
fn a_promise_that_waited_for_a_required_promise_runs_its_workflow_once_that_is_installed() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = repo();
    let install = log_line(log.path(), "install");
    let configure = format!("{}\n{CONFIGMAP}", log_line(log.path(), "ran"));
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "  requiredPromises: [{name: db}]\n",
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
    repo.commit("A Promise that needs db");
    let run = repo.reconcile(&[]);
    assert!(
        run.stdout.contains("waiting  Promise app"),
        "{}",
        run.stdout
    );
    assert_eq!(read_log(log.path()), "");

    repo.write("promises/db.yaml", &api_less("db").text());
    repo.commit("Install db");
    // A pass scoped to the request, as serve's passes after a push are scoped.
    let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        read_log(log.path()),
        "install promise configure Promise app\nran resource configure App a\n"
    );
    assert!(repo.show("status/app.yaml").contains("status: Available"));
}

#[test]
fn a_removed_promise_held_for_its_requests_and_a_waiting_promise_commit_nothing_on_a_rerun() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let repo = deleting_repo(log.path(), &flag.path().join("broken"));
    repo.write(
        "promises/needy.yaml",
        &api_less("needy").requiring("missing").text(),
    );
    repo.remove("promises/app.yaml");
    repo.commit("Remove the Promise only; add one that waits");
    assert_eq!(repo.reconcile(&[]).code, 1);
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert_eq!(repo.head(), head, "{}", repo.last_message());
    assert_eq!(
        repo.reconcile(&["--request", "requests/app/a.yaml"]).code,
        1
    );
    assert_eq!(repo.head(), head, "{}", repo.last_message());
}

#[test]
fn serve_reruns_a_promise_workflow_that_asked_for_a_retry_after_a_while() {
    use crate::daemon_support::wait_for;
    let limit = std::time::Duration::from_secs(60);
    let gate = tempfile::tempdir().unwrap();
    let install = format!(
        "test -e {} || printf 'retryAfter: 1s\\nmessage: operator not ready\\n' > \"$KRATIX_METADATA/workflow-control.yaml\"",
        gate.path().join("ready").display()
    );
    let (platform, _serve) = serving_promise_workflow(&install);
    wait_for(limit, "the suspension", || {
        platform.remote_has("main", "status/app.yaml")
    });
    assert!(
        platform
            .remote_show("main", "status/app.yaml")
            .contains("operator not ready")
    );
    fs_err::write(gate.path().join("ready"), "").unwrap();
    wait_for(limit, "the retry, and the request it held back", || {
        request_ready_on(&platform)
    });
}

#[test]
fn a_removed_promise_whose_status_names_another_promise_s_blob_runs_nothing_and_keeps_its_outputs()
{
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let repo = deleting_repo(log.path(), &flag.path().join("broken"));
    let db_delete = log_line(log.path(), "db-delete");
    let db = api_less("db").with("delete", &[pipeline("drop", &db_delete)]);
    repo.write("promises/db.yaml", &db.text());
    repo.remove("requests/app/a.yaml");
    repo.remove("requests/app/b.yaml");
    repo.commit("db, and app without requests");
    assert_eq!(repo.reconcile(&[]).code, 0);
    fs_err::write(log.path(), "").unwrap();
    let app_blob = repo.git(&["rev-parse", "HEAD:promises/app.yaml"]);
    let db_blob = repo.git(&["rev-parse", "HEAD:promises/db.yaml"]);
    let status = repo.show("status/app.yaml");
    assert!(status.contains(app_blob.trim()), "{status}");
    // A hand edit merged by mistake: the record points at another Promise's file.
    repo.write(
        "status/app.yaml",
        &status.replace(app_blob.trim(), db_blob.trim()),
    );
    repo.remove("promises/app.yaml");
    repo.commit("Remove app, with its status edited");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("the removed Promise cannot be read back"),
        "{}",
        run.stdout
    );
    assert_eq!(read_log(log.path()), "", "no delete workflow ran");
    assert!(repo.managed_files().contains("status/db.yaml"));
    assert!(repo.managed_files().contains("status/app.yaml"));
}

#[test]
fn requests_removed_with_a_promise_that_cannot_be_read_back_keep_their_outputs() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let flag = tempfile::tempdir().unwrap();
    let repo = deleting_repo(log.path(), &flag.path().join("broken"));
    let before = repo.managed_files();
    let blob = repo.git(&["rev-parse", "HEAD:promises/app.yaml"]);
    let blob = blob.trim();
    repo.remove("promises/app.yaml");
    repo.remove("requests/app/a.yaml");
    repo.remove("requests/app/b.yaml");
    repo.commit("Remove the Promise and its requests");
    // As in a shallow clone, or after a `git gc` that dropped it.
    let object = repo
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    fs_err::remove_file(object).unwrap();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("the removed Promise cannot be read back"),
        "{}",
        run.stdout
    );
    assert_eq!(read_log(log.path()), "", "no delete workflow ran");
    assert_eq!(
        repo.managed_files(),
        before,
        "the requests' outputs stay: their delete workflows have not run"
    );
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert_eq!(repo.head(), head, "a rerun commits nothing");
}

#[test]
fn a_retry_after_without_max_attempts_commits_nothing_when_it_asks_again() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = repo();
    let wait = format!(
        "{}\nprintf 'retryAfter: 30s\\nmessage: database not ready\\n' > \"$KRATIX_METADATA/workflow-control.yaml\"",
        log_line(log.path(), "wait")
    );
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[],
                promise_delete: &[],
                resource_configure: &[pipeline("wait", &wait)],
                resource_delete: &[],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("A pipeline that keeps asking for a retry");
    let run = repo.reconcile(&[]);
    assert!(
        run.stdout
            .contains("database not ready; it runs again after 30s"),
        "{}",
        run.stdout
    );
    let head = repo.head();
    // What serve does every 30 s, for as long as the pipeline asks.
    for _ in 0..2 {
        let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
        assert_eq!(run.code, 0, "{}", run.stdout);
    }
    assert_eq!(read_log(log.path()).lines().count(), 3);
    assert_eq!(repo.head(), head, "{}", repo.last_message());
}

#[test]
fn a_status_nested_as_deep_as_a_pipeline_may_write_reads_back_and_reaches_the_next_pipeline() {
    let repo = repo();
    // 63 levels under the file's own mapping: the deepest a metadata file may be.
    let first = r#"{ i=0; while [ $i -lt 63 ]; do printf '{a: '; i=$((i+1)); done; printf '1'; i=0; while [ $i -lt 63 ]; do printf '}'; i=$((i+1)); done; echo; } > "$KRATIX_METADATA/deep.txt"
printf 'deep: ' > "$KRATIX_METADATA/status.yaml"
cat "$KRATIX_METADATA/deep.txt" >> "$KRATIX_METADATA/status.yaml""#;
    let second = r#"grep -q 'deep:' "$KRATIX_INPUT/object.yaml"
cp "$KRATIX_INPUT/object.yaml" "$KRATIX_OUTPUT/seen.yaml.txt""#;
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
    repo.commit("A pipeline that writes a deep status");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let head = repo.head();
    assert_eq!(
        repo.reconcile(&["--request", "requests/app/a.yaml"]).code,
        0
    );
    assert_eq!(
        repo.head(),
        head,
        "the status reads back: {}",
        repo.last_message()
    );
    repo.remove("requests/app/a.yaml");
    repo.commit("Remove it");
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(
        repo.managed_files(),
        "status/app.yaml\n",
        "its record read back, so it is removed"
    );
}

#[test]
fn a_promise_nested_deeper_than_a_request_may_still_shows_its_workflow_the_status_so_far() {
    let repo = repo();
    let deep: String = (0..80)
        .map(|level| format!("{}a:\n", " ".repeat(8 + 2 * level)))
        .collect::<String>()
        + &format!("{}b: 1\n", " ".repeat(8 + 2 * 80));
    let first = "echo 'url: https://operator' > \"$KRATIX_METADATA/status.yaml\"";
    // `^status:`: the Promise's own text holds these scripts, indented.
    let second = "grep -q '^status:' \"$KRATIX_INPUT/object.yaml\" || { echo 'no status in object.yaml' >&2; exit 1; }";
    let spec = format!(
        "  dependencies:\n    - apiVersion: test.promised.dev/v1\n      kind: Deep\n      metadata: {{name: d}}\n      spec:\n{deep}"
    );
    repo.write(
        "promises/app.yaml",
        &app_promise(
            &spec,
            "",
            &Workflows {
                promise_configure: &[pipeline("first", first), pipeline("second", second)],
                promise_delete: &[],
                resource_configure: &[],
                resource_delete: &[],
            },
        ),
    );
    repo.commit("A Promise with a deep dependency and two pipelines");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(repo.show("status/app.yaml").contains("status: Available"));
}

#[test]
fn a_promise_workflow_folder_named_like_a_file_promised_writes_is_refused() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = repo();
    let install = r#"mkdir -p "$KRATIX_OUTPUT/static-dependencies.yaml"
cat > "$KRATIX_OUTPUT/static-dependencies.yaml/ns.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: sneaky}
YAML"#;
    let configure = format!("{}\n{CONFIGMAP}", log_line(log.path(), "ran"));
    let spec =
        "  dependencies:\n    - {apiVersion: v1, kind: Namespace, metadata: {name: operator}}\n";
    repo.write(
        "promises/app.yaml",
        &app_promise(
            spec,
            "",
            &Workflows {
                promise_configure: &[pipeline("install", install)],
                promise_delete: &[],
                resource_configure: &[pipeline("configure", &configure)],
                resource_delete: &[],
            },
        ),
    );
    repo.commit("A Promise workflow that writes a folder named like the static file");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("failed   Promise app: output: spec.dependencies writes the file static-dependencies.yaml and pipeline \"install\" writes static-dependencies.yaml/ns.yaml"),
        "{}",
        run.stdout
    );
    assert!(crate::support::soundness_problems(repo.path()).is_empty());
}

#[test]
fn a_request_output_folder_named_like_the_digest_file_is_refused() {
    let repo = repo();
    let configure = r#"mkdir -p "$KRATIX_OUTPUT/SHA256SUMS"
cat > "$KRATIX_OUTPUT/SHA256SUMS/cm.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: sneaky, namespace: team}
YAML"#;
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[],
                promise_delete: &[],
                resource_configure: &[pipeline("configure", configure)],
                resource_delete: &[],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("A request whose output has a folder named SHA256SUMS");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("SHA256SUMS"), "{}", run.stdout);
    assert!(crate::support::soundness_problems(repo.path()).is_empty());
}

#[test]
fn two_pipelines_writing_a_file_and_a_folder_of_one_name_are_refused() {
    let repo = repo();
    let first = r#"echo 'plain text' > "$KRATIX_OUTPUT/cm""#;
    let second = r#"mkdir -p "$KRATIX_OUTPUT/cm"
cat > "$KRATIX_OUTPUT/cm/cm.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: nested, namespace: team}
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
    repo.commit("Two pipelines: a file cm, then a folder cm");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("output: pipeline \"first\" writes the file cm and pipeline \"second\" writes cm/cm.yaml"),
        "{}",
        run.stdout
    );
    assert!(crate::support::soundness_problems(repo.path()).is_empty());
}

#[test]
fn a_pipeline_s_messages_cannot_hide_the_rest_of_a_plan_or_write_to_the_terminal() {
    let repo = repo();
    let configure = r#"if [ "$KRATIX_OBJECT_NAME" = a ]; then
  printf 'suspend: true\nmessage: "<!-- the rest is hidden"\n' > "$KRATIX_METADATA/workflow-control.yaml"
else
  printf 'failed \033[2J\033]0;owned\007 <!-- also hidden\n' >&2; exit 1
fi"#;
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[],
                promise_delete: &[],
                resource_configure: &[pipeline("configure", configure)],
                resource_delete: &[],
            },
        ),
    );
    repo.commit("The platform");
    let base = repo.head();
    repo.git(&["checkout", "-q", "-b", "pr"]);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Two requests");
    let plan = |format: &str| {
        crate::support::promised(&[
            "plan",
            "--repo",
            repo.path().to_str().unwrap(),
            "--base",
            &base,
            "--head",
            "pr",
            "--format",
            format,
        ])
    };
    let markdown = plan("markdown").stdout;
    // Diffs quote the status files in fenced code blocks, where `<!--` is text.
    let mut table = markdown.lines().filter(|line| line.starts_with('|'));
    assert!(table.all(|row| !row.contains("<!--")), "{markdown}");
    assert!(
        markdown.contains("&lt;!-- the rest is hidden"),
        "{markdown}"
    );
    let text = plan("text").stdout;
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains("also hidden"), "{text}");
}

#[test]
fn a_promise_or_request_folder_named_like_a_promise_s_status_file_is_refused() {
    let repo = repo();
    repo.write("promises/x.yaml", &api_less("x").text());
    repo.write(
        "promises/x-yaml.yaml",
        &crate::support::promise("x.yaml", "", CONFIGMAP),
    );
    // A developer's folder alone would do it: its requests' status folder would take
    // the place of Promise x's status file, which Git holds as one or the other.
    repo.write("requests/x.yaml/a.yaml", &request("a", "team", "small"));
    repo.commit("Promise x, and Promise x.yaml with a request");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "error    promises/x-yaml.yaml: metadata.name: \"x.yaml\" ends in .yaml: as a Promise's name it would put its requests' status folder status/x.yaml/ where the status file of Promise \"x\" is (status/x.yaml); rename it"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("the folder \"x.yaml\" under requests/ ends in .yaml"),
        "{}",
        run.stdout
    );
    let files = repo.managed_files();
    assert!(files.contains("status/x.yaml\n"), "{files}");
    assert!(!files.contains("status/x.yaml/"), "{files}");
    assert!(crate::support::soundness_problems(repo.path()).is_empty());
}
