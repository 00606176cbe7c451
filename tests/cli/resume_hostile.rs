//! A suspended workflow resumed at its suspending pipeline, attacked: records a pull
//! request edits, destinations and labels that change while a request is suspended,
//! output groups that were pending, and status a resume must give as a run from the
//! first pipeline gives it.

use crate::lifecycle::read_log;
use crate::support::{TestRepo, destination, request};
use crate::suspend::steps_on;

/// [`steps_on`] with destinations `dev` and `prod` (labelled `env`), or `dev` alone.
fn steps_repo(log: &std::path::Path, steps: &[(&str, &str)], prod: bool) -> TestRepo {
    let destinations: &[&str] = if prod { &["dev", "prod"] } else { &["dev"] };
    steps_on(log, steps, destinations)
}

/// An approval gate: suspends until `approved` exists; `extra` runs first.
fn gate(approved: &std::path::Path, extra: &str) -> String {
    format!(
        "{extra}\ntest -e {approved} || printf 'suspend: true\\nmessage: waiting for approval\\n' > \"$KRATIX_METADATA/workflow-control.yaml\"",
        approved = approved.display(),
    )
}

/// `prepare` writes `prepared.yaml`, on `env: dev`.
const PREPARE_DEV: &str = r#"printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prepared}\n' > "$KRATIX_OUTPUT/prepared.yaml"
printf -- '- matchLabels: {env: dev}\n' > "$KRATIX_METADATA/destination-selectors.yaml""#;

/// `deploy` writes `configmap.yaml` with the request's size, on `env: dev`.
const DEPLOY_DEV: &str = r#"size=$(sed -n 's/^ *size: *//p' "$KRATIX_INPUT/object.yaml" | head -n 1)
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {size: %s}\n' "$size" > "$KRATIX_OUTPUT/configmap.yaml"
printf -- '- matchLabels: {env: dev}\n' > "$KRATIX_METADATA/destination-selectors.yaml""#;

fn unit_on(destination: &str) -> String {
    format!("state/{destination}/resources/team/app/a")
}

fn ok(run: &crate::support::Run) {
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// A suspension keeps the later pipelines' outputs "as they were, so the running
/// service stays". `deploy` writes one directory group to `dev` and one to `prod`;
/// while the gate is closed, `prod` is removed and the request changes. The `dev` half
/// of deploy's output is on the branch and should stay; `Branch::carry` fails as a
/// whole on the `prod` group, and `Runner::configure` drops every carried group.
#[test]
fn a_suspension_keeps_the_later_outputs_on_a_destination_that_is_still_there() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let approvals = tempfile::tempdir().unwrap();
    let approved = approvals.path().join("approved");
    fs_err::write(&approved, "").unwrap();
    let deploy = r#"mkdir -p "$KRATIX_OUTPUT/dev" "$KRATIX_OUTPUT/prod"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-dev}\n' > "$KRATIX_OUTPUT/dev/app.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-prod}\n' > "$KRATIX_OUTPUT/prod/app.yaml"
printf -- '- directory: dev\n  matchLabels: {env: dev}\n- directory: prod\n  matchLabels: {env: prod}\n' > "$KRATIX_METADATA/destination-selectors.yaml""#;
    let repo = steps_repo(
        log.path(),
        &[
            ("prepare", PREPARE_DEV),
            ("approve", &gate(&approved, "")),
            ("deploy", deploy),
        ],
        true,
    );
    ok(&repo.reconcile(&[]));
    let dev_app = format!("{}/dev/app.yaml", unit_on("dev"));
    assert!(
        repo.managed_files().contains(&dev_app),
        "{}",
        repo.managed_files()
    );

    fs_err::remove_file(&approved).unwrap();
    repo.remove("destinations/prod.yaml");
    repo.write("requests/app/a.yaml", &request("a", "team", "large"));
    repo.commit("prod goes; a larger app");
    ok(&repo.reconcile(&[]));
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("phase: Suspended")
    );
    assert!(
        repo.managed_files().contains(&dev_app),
        "deploy did not run: its output on dev, still there, should stay while the gate \
         waits; files now: {}",
        repo.managed_files()
    );
}

/// A resume should give what a run from the first pipeline gives. `prepare`'s output
/// goes to `env: prod`, which no destination has, so the request is Pending once it
/// runs through. Resumed at `approve`, the pending group of `prepare` is not carried
/// (`Branch::carry` skips groups without a destination) and the request reports Ready.
#[test]
fn a_resume_keeps_an_earlier_pipeline_s_pending_group_pending() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let approvals = tempfile::tempdir().unwrap();
    let approved = approvals.path().join("approved");
    let prepare = r#"printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prepared}\n' > "$KRATIX_OUTPUT/prepared.yaml"
printf -- '- matchLabels: {env: prod}\n' > "$KRATIX_METADATA/destination-selectors.yaml""#;
    let repo = steps_repo(
        log.path(),
        &[
            ("prepare", prepare),
            ("approve", &gate(&approved, "")),
            ("deploy", DEPLOY_DEV),
        ],
        false,
    );
    ok(&repo.reconcile(&[]));
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Suspended"), "{status}");
    assert!(status.contains("state: pending"), "{status}");

    fs_err::write(&approved, "").unwrap();
    ok(&repo.reconcile(&["--request", "requests/app/a.yaml"]));
    assert!(
        read_log(log.path())
            .ends_with("approve resource configure App a\ndeploy resource configure App a\n"),
        "{}",
        read_log(log.path())
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("phase: Pending") && status.contains("group: prepare"),
        "prepare's output was never placed: the request is Pending, as a run from the \
         first pipeline says: {status}"
    );

    let head = repo.head();
    ok(&repo.reconcile(&["--request", "requests/app/a.yaml"]));
    assert_eq!(repo.head(), head, "{}", repo.git(&["show", "main"]));
}

/// Same root cause with placement: `prepare`'s group was placed on `dev`; while the
/// gate is closed, `dev`'s labels change so that it no longer matches. A run from the
/// first pipeline reports the group `misplaced`; the resume copies the old record's
/// `placed` without placing it, so the next rerun of the same inputs commits.
#[test]
fn a_resume_places_the_carried_groups_as_a_run_from_the_first_pipeline_would() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let approvals = tempfile::tempdir().unwrap();
    let approved = approvals.path().join("approved");
    let repo = steps_repo(
        log.path(),
        &[
            ("prepare", PREPARE_DEV),
            ("approve", &gate(&approved, "")),
            ("deploy", DEPLOY_DEV),
        ],
        false,
    );
    ok(&repo.reconcile(&[]));
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("phase: Suspended")
    );
    repo.write(
        "destinations/dev.yaml",
        &destination("dev", &[("env", "staging")], ""),
    );
    repo.commit("dev is relabelled");
    fs_err::write(&approved, "").unwrap();
    // deploy needs env: dev too; give it a destination that has it.
    repo.write(
        "destinations/dev2.yaml",
        &destination("dev2", &[("env", "dev")], ""),
    );
    repo.commit("dev2");

    ok(&repo.reconcile(&["--request", "requests/app/a.yaml"]));
    let resumed = repo.show("status/app/team/a.yaml");
    let head = repo.head();
    ok(&repo.reconcile(&["--request", "requests/app/a.yaml"]));
    assert_eq!(
        repo.head(),
        head,
        "the rerun of the same inputs changes the record the resume wrote:\n{resumed}\n{}",
        repo.git(&["show", "main"])
    );
}

/// A pipeline's `message` in `status.yaml` is shown once the request is Ready. Run from
/// the first pipeline, `prepare`'s message is the Ready status's; resumed at `approve`,
/// it is lost (`status_so_far` drops `message`), so the request's status differs and
/// the next rerun of the same inputs commits.
#[test]
fn a_resume_keeps_an_earlier_pipeline_s_status_message() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let approvals = tempfile::tempdir().unwrap();
    let approved = approvals.path().join("approved");
    let prepare = format!(
        "{PREPARE_DEV}\nprintf 'message: prepared by prepare\\nprepared: done\\n' > \"$KRATIX_METADATA/status.yaml\""
    );
    let repo = steps_repo(
        log.path(),
        &[
            ("prepare", &prepare),
            ("approve", &gate(&approved, "")),
            ("deploy", DEPLOY_DEV),
        ],
        false,
    );
    ok(&repo.reconcile(&[]));
    fs_err::write(&approved, "").unwrap();
    ok(&repo.reconcile(&["--request", "requests/app/a.yaml"]));
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Ready"), "{status}");
    assert!(
        status.contains("message: prepared by prepare"),
        "a run from the first pipeline shows prepare's message: {status}"
    );
    let head = repo.head();
    ok(&repo.reconcile(&["--request", "requests/app/a.yaml"]));
    assert_eq!(repo.head(), head, "{}", repo.git(&["show", "main"]));
}

/// The suspending pipeline's own status from its suspended run is fed back into the
/// resumed run and ends up in the Ready status, which a run from the first pipeline
/// never has: the next rerun of the same inputs removes it and commits.
#[test]
fn a_resume_leaves_no_status_of_the_suspended_run_behind() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let approvals = tempfile::tempdir().unwrap();
    let approved = approvals.path().join("approved");
    let approve = format!(
        "test -e {approved} || printf 'waitingFor: security review\\n' > \"$KRATIX_METADATA/status.yaml\"\n{}",
        gate(&approved, ""),
        approved = approved.display()
    );
    let repo = steps_repo(
        log.path(),
        &[
            ("prepare", PREPARE_DEV),
            ("approve", &approve),
            ("deploy", DEPLOY_DEV),
        ],
        false,
    );
    ok(&repo.reconcile(&[]));
    assert!(
        repo.show("status/app/team/a.yaml")
            .contains("waitingFor: security review")
    );
    fs_err::write(&approved, "").unwrap();
    ok(&repo.reconcile(&["--request", "requests/app/a.yaml"]));
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Ready"), "{status}");
    let head = repo.head();
    ok(&repo.reconcile(&["--request", "requests/app/a.yaml"]));
    assert_eq!(
        repo.head(),
        head,
        "the resumed Ready status must be the one a run from the first pipeline gives: \
         {status}\n{}",
        repo.git(&["show", "main"])
    );
}

/// The record is a file a pull request can edit, and it says where a resume starts:
/// editing `suspended.pipeline` from `approve` to `deploy` would skip the approval gate.
/// Records are trusted as placements are (see docs/security.md); what stops the edit is
/// `promised plan`, which fails a pull request that edits a file under `status/`.
#[test]
fn a_pull_request_that_edits_the_resume_point_fails_its_plan() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let approvals = tempfile::tempdir().unwrap();
    let approved = approvals.path().join("approved");
    let repo = steps_repo(
        log.path(),
        &[
            ("prepare", PREPARE_DEV),
            ("approve", &gate(&approved, "")),
            ("deploy", DEPLOY_DEV),
        ],
        false,
    );
    ok(&repo.reconcile(&[]));
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("pipeline: approve"), "{status}");
    repo.git(&["checkout", "-q", "-b", "skip-the-gate"]);
    repo.write(
        "status/app/team/a.yaml",
        &status.replace("pipeline: approve", "pipeline: deploy"),
    );
    repo.commit("Developer's pull request: resume at deploy");

    let run = crate::support::promised(&[
        "plan",
        "--repo",
        repo.path().to_str().unwrap(),
        "--base",
        "main",
        "--head",
        "skip-the-gate",
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("status/app/team/a.yaml")
            && run
                .stdout
                .contains("this change edits a file promised writes"),
        "{}",
        run.stdout
    );
}
