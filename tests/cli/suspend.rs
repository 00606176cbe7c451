//! Kratix's `workflow-control.yaml`: a pipeline that suspends its workflow, the workflow
//! resumed at that pipeline, `retryAfter` and `maxAttempts`, and the outputs a
//! suspension and a resume keep of the pipelines that do not run.

use crate::lifecycle::{CONFIGMAP, Workflows, app_promise, log_line, pipeline, read_log, repo};
use crate::support::{TestRepo, request};

/// The `app` Promise whose resource configure workflow is `steps` (name, script), each
/// pipeline logging its name first; with request `a` and the one destination `dev`.
fn steps_repo(log: &std::path::Path, steps: &[(&str, &str)]) -> TestRepo {
    steps_on(log, steps, &["dev"])
}

/// As [`steps_repo`], with those of the destinations `dev` and `prod` (labelled `env`)
/// that `destinations` names.
pub(crate) fn steps_on(
    log: &std::path::Path,
    steps: &[(&str, &str)],
    destinations: &[&str],
) -> TestRepo {
    let repo = repo();
    for name in ["dev", "prod"] {
        if !destinations.contains(&name) {
            repo.remove(&format!("destinations/{name}.yaml"));
        }
    }
    let pipelines: Vec<String> = steps
        .iter()
        .map(|(name, script)| pipeline(name, &format!("{}\n{script}", log_line(log, name))))
        .collect();
    repo.write(
        "promises/app.yaml",
        &app_promise(
            "",
            "",
            &Workflows {
                promise_configure: &[],
                promise_delete: &[],
                resource_configure: &pipelines,
                resource_delete: &[],
            },
        ),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Promise and request");
    repo
}

/// `prepare` writes `prepared.yaml` (with the request's size) and `prepared: done` to
/// its status.
const PREPARE: &str = r#"size=$(sed -n 's/^ *size: *//p' "$KRATIX_INPUT/object.yaml")
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prepared}\ndata: {size: %s}\n' "$size" > "$KRATIX_OUTPUT/prepared.yaml"
echo 'prepared: done' > "$KRATIX_METADATA/status.yaml""#;

/// `deploy` writes `configmap.yaml` with the request's size.
const DEPLOY: &str = r#"size=$(sed -n 's/^ *size: *//p' "$KRATIX_INPUT/object.yaml" | head -n 1)
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {size: %s}\n' "$size" > "$KRATIX_OUTPUT/configmap.yaml""#;

/// `approve` suspends the workflow until `approved` exists, and logs whether its
/// `object.yaml` holds the status `prepare` wrote.
fn approve(log: &std::path::Path, approved: &std::path::Path) -> String {
    format!(
        "grep -q 'prepared: done' \"$KRATIX_INPUT/object.yaml\" && echo 'approve reads prepared: done' >> {log}
test -e {approved} || printf 'suspend: true\\nmessage: waiting for approval\\n' > \"$KRATIX_METADATA/workflow-control.yaml\"
echo 'approval: requested' > \"$KRATIX_METADATA/status.yaml\"",
        log = log.display(),
        approved = approved.display(),
    )
}

/// `prepare`, `approve` and `deploy` on request `a`, with the approval given or not.
struct Gate {
    log: tempfile::NamedTempFile,
    _approvals: tempfile::TempDir,
    approved: std::path::PathBuf,
    repo: TestRepo,
}

impl Gate {
    fn new(approved: bool) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let approvals = tempfile::tempdir().unwrap();
        let gate = approvals.path().join("approved");
        let approve = approve(log.path(), &gate);
        let steps = [
            ("prepare", PREPARE),
            ("approve", &approve),
            ("deploy", DEPLOY),
        ];
        let repo = steps_repo(log.path(), &steps);
        let gate = Gate {
            log,
            _approvals: approvals,
            approved: gate,
            repo,
        };
        gate.approve(approved);
        gate
    }

    fn approve(&self, yes: bool) {
        match yes {
            true => fs_err::write(&self.approved, "").unwrap(),
            false => fs_err::remove_file(&self.approved).unwrap_or(()),
        }
    }
}

/// The request's output folder on the branch: its one destination's.
fn unit(repo: &TestRepo) -> String {
    let files = repo.managed_files();
    let sums = files
        .lines()
        .find(|l| l.ends_with("/resources/team/app/a/SHA256SUMS"))
        .unwrap_or_else(|| panic!("no output for a: {files}"));
    sums.trim_end_matches("/SHA256SUMS").to_string()
}

#[test]
fn a_resumed_workflow_starts_at_the_suspending_pipeline_and_keeps_the_earlier_outputs() {
    let gate = Gate::new(false);
    let (log, repo) = (&gate.log, &gate.repo);

    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let unit = unit(repo);
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Suspended"), "{status}");
    assert!(status.contains("prepared: done"), "{status}");
    let prepared = repo.show(&format!("{unit}/prepared.yaml"));
    assert!(
        prepared.contains("size: small"),
        "the pipelines that ran wrote their outputs, as Kratix writes each pipeline's Work: {prepared}"
    );
    assert!(!repo.managed_files().contains("configmap.yaml"));

    gate.approve(true);
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(repo.head(), head, "a full pass leaves it suspended");

    let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        read_log(log.path()),
        "prepare resource configure App a\n\
         approve resource configure App a\napprove reads prepared: done\n\
         approve resource configure App a\napprove reads prepared: done\n\
         deploy resource configure App a\n",
        "the rerun starts at approve, which reads the status prepare wrote"
    );
    assert_eq!(repo.show(&format!("{unit}/prepared.yaml")), prepared);
    assert!(
        repo.show(&format!("{unit}/configmap.yaml"))
            .contains("size: small")
    );
    let sums = repo.show(&format!("{unit}/SHA256SUMS"));
    assert!(
        sums.contains("prepared.yaml") && sums.contains("configmap.yaml"),
        "{sums}"
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Ready"), "{status}");
    assert!(status.contains("prepared: done"), "{status}");

    let head = repo.head();
    assert_eq!(
        repo.reconcile(&["--request", "requests/app/a.yaml"]).code,
        0
    );
    assert_eq!(
        repo.head(),
        head,
        "a rerun from the first pipeline gives the same tree: {}",
        repo.git(&["show", "main"])
    );
}

#[test]
fn a_suspension_keeps_the_later_pipelines_outputs_as_they_were() {
    let gate = Gate::new(true);
    let repo = &gate.repo;
    assert_eq!(repo.reconcile(&[]).code, 0);
    let unit = unit(repo);
    assert!(
        repo.show(&format!("{unit}/configmap.yaml"))
            .contains("size: small")
    );

    gate.approve(false);
    repo.write("requests/app/a.yaml", &request("a", "team", "large"));
    repo.commit("A larger app");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("phase: Suspended")
    );
    assert!(
        repo.show(&format!("{unit}/prepared.yaml"))
            .contains("size: large")
    );
    assert!(
        repo.show(&format!("{unit}/configmap.yaml"))
            .contains("size: small"),
        "deploy did not run: what it wrote before stays, so the running service stays"
    );

    gate.approve(true);
    let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        repo.show(&format!("{unit}/configmap.yaml"))
            .contains("size: large")
    );
    assert!(repo.show("status/app/team/a.yaml").contains("phase: Ready"));
}

#[test]
fn a_record_edited_to_name_a_file_outside_the_request_s_folder_resumes_from_the_first_pipeline() {
    let gate = Gate::new(false);
    let (log, repo) = (&gate.log, &gate.repo);
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Request b");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("- prepared.yaml"), "{status}");
    repo.write(
        "status/app/team/a.yaml",
        &status.replace("- prepared.yaml", "- ../b/prepared.yaml"),
    );
    repo.commit("Point a's record at b's output");
    gate.approve(true);
    fs_err::write(log.path(), "").unwrap();

    let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        read_log(log.path()).starts_with("prepare resource configure App a\n"),
        "{}",
        read_log(log.path())
    );
    let unit = unit(repo);
    let sums = repo.show(&format!("{unit}/SHA256SUMS"));
    assert!(!sums.contains(".."), "{sums}");
    assert!(repo.show("status/app/team/a.yaml").contains("phase: Ready"));
}

#[test]
fn a_suspended_workflow_stays_suspended_through_full_passes_and_resumes_on_an_explicit_rerun() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let approvals = tempfile::tempdir().unwrap();
    let approved = approvals.path().join("approved");
    let approve = format!(
        "test -e {} || printf 'suspend: true\\nmessage: waiting for approval\\n' > \"$KRATIX_METADATA/workflow-control.yaml\"\necho 'approval: requested' > \"$KRATIX_METADATA/status.yaml\"",
        approved.display()
    );
    let repo = steps_repo(log.path(), &[("approve", &approve), ("deploy", CONFIGMAP)]);
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "a suspension is not an error: {}", run.stdout);
    assert!(
        run.stdout.contains(
            "suspended app/team/a (requests/app/a.yaml): suspended by pipeline \"approve\": waiting for approval; resume it with `promised reconcile --request requests/app/a.yaml`"
        ),
        "{}",
        run.stdout
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Suspended"), "{status}");
    assert!(status.contains("reason: WorkflowSuspended"), "{status}");
    assert!(
        status.contains("approval: requested"),
        "the suspending pipeline's status is kept: {status}"
    );
    assert!(
        !repo.managed_files().contains("configmap.yaml"),
        "deploy did not run"
    );

    fs_err::write(&approved, "").unwrap();
    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(repo.head(), head, "a full pass leaves it suspended");
    assert_eq!(read_log(log.path()), "approve resource configure App a\n");

    let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        read_log(log.path()),
        "approve resource configure App a\n".repeat(2) + "deploy resource configure App a\n",
        "the explicit rerun runs the workflow through"
    );
    assert!(repo.show("status/app/team/a.yaml").contains("phase: Ready"));
    assert!(repo.managed_files().contains("/a/configmap.yaml"));
}

#[test]
fn retry_after_is_reported_and_max_attempts_bounds_the_retries() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let approve = "printf 'retryAfter: 10s\\nmessage: database not ready\\nmaxAttempts: 2\\n' > \"$KRATIX_METADATA/workflow-control.yaml\"";
    let repo = steps_repo(log.path(), &[("approve", approve), ("deploy", CONFIGMAP)]);
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "suspended by pipeline \"approve\": database not ready; it runs again after 10s (attempt 1 of 2)"
        ),
        "{}",
        run.stdout
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("retryAfter: 10s"), "{status}");
    let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
    assert!(run.stdout.contains("(attempt 2 of 2)"), "{}", run.stdout);
    let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "failed   app/team/a (requests/app/a.yaml): pipeline \"approve\" asked for a retry 3 times in a row, more than its maxAttempts (2): database not ready"
        ),
        "{}",
        run.stdout
    );
    assert!(!read_log(log.path()).contains("deploy"));
}
