//! A restarted daemon reruns nothing that already ran: what it needs is saved in Git
//! (`refs/promised/daemon/<branch>`), not in memory or in its work folder.

use std::time::Duration;

use crate::daemon_support::{Platform, Serve, wait_for};
use crate::support::{CONFIGMAP_SCRIPT, app_repo, request};

const LIMIT: Duration = Duration::from_secs(60);

/// Starts the daemon on `workdir` and waits for its first sync.
fn start(platform: &Platform, workdir: &std::path::Path) -> Serve {
    // The same replica id: the restarted daemon holds the lease it held, at once.
    let args = ["--poll", "200ms", "--replica-id", "only"];
    let serve = Serve::start_in(&platform.remote, workdir, &args, &[]);
    wait_for(LIMIT, "the first sync", || serve.get("/readyz").0 == 200);
    serve
}

#[test]
fn a_daemon_killed_and_restarted_on_the_same_or_an_empty_workdir_reruns_nothing() {
    let platform = Platform::with_requests(20);
    let workdirs = tempfile::tempdir().unwrap();
    let first = start(&platform, &workdirs.path().join("a"));
    wait_for(LIMIT, "the first pass", || {
        platform.remote_has("main", "status/app/team/r19.yaml")
    });
    assert_eq!(first.metric("promised_pipeline_runs_total"), 20.0);
    let head = platform.remote_head("main");
    first.kill();

    for workdir in ["a", "b"] {
        let serve = start(&platform, &workdirs.path().join(workdir));
        assert_eq!(
            serve.metric("promised_pipeline_runs_total"),
            0.0,
            "a restart on workdir {workdir} reruns nothing"
        );
        assert_eq!(platform.remote_head("main"), head, "and commits nothing");
        serve.kill();
    }

    platform
        .developer
        .write("requests/app/r7.yaml", &request("r7", "team", "large"));
    platform.push("A larger r7 while no daemon runs");
    let pushed = platform.remote_head("main");
    let serve = start(&platform, &workdirs.path().join("c"));
    wait_for(LIMIT, "r7's rerun pushed", || {
        platform.remote_head("main") != pushed
    });
    assert!(
        platform
            .remote_subjects("main")
            .starts_with("promised: reconcile 1 request (1 updated)\n"),
        "{}",
        platform.remote_subjects("main")
    );
    assert_eq!(
        serve.metric("promised_pipeline_runs_total"),
        1.0,
        "only what changed while it was down reruns"
    );
}

#[test]
fn a_request_that_failed_before_the_restart_is_retried_after_it() {
    let gate = tempfile::tempdir().unwrap();
    let script = format!(
        "[ -e {dir}/fixed ] || {{ echo 'backend unavailable' >&2; exit 1; }}\n{CONFIGMAP_SCRIPT}",
        dir = gate.path().display()
    );
    let developer = app_repo(&script);
    developer.write("requests/app/a.yaml", &request("a", "team", "small"));
    developer.commit("The platform");
    let platform = Platform::publish(developer);
    let workdir = tempfile::tempdir().unwrap();
    let args = [
        "--poll",
        "200ms",
        "--retry-base",
        "1h",
        "--retry-max",
        "1h",
        "--replica-id",
        "only",
    ];
    let first = Serve::start_in(&platform.remote, workdir.path(), &args, &[]);
    wait_for(LIMIT, "the failure", || {
        platform.remote_has("main", "status/app/team/a.yaml")
    });
    first.kill();

    fs_err::write(gate.path().join("fixed"), "").unwrap();
    let args = [
        "--poll",
        "200ms",
        "--retry-base",
        "200ms",
        "--replica-id",
        "only",
    ];
    let _serve = Serve::start_in(&platform.remote, workdir.path(), &args, &[]);
    wait_for(LIMIT, "the retry after the restart", || {
        platform
            .remote_show("main", "status/app/team/a.yaml")
            .contains("phase: Ready")
    });
}
