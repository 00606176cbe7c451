//! Hostile and awkward situations for the daemon's lease and saved state.

use std::time::Duration;

use crate::daemon_support::{Platform, Serve, wait_for};
use crate::support::{CONFIGMAP_SCRIPT, app_repo, git_in, git_with_input, request};

const LIMIT: Duration = Duration::from_secs(60);

/// `(commit, committer time, lease.yaml)` of the remote's lease ref, newest first.
fn lease_history(platform: &Platform) -> Vec<(String, i64, String)> {
    let log = git_in(
        &platform.remote,
        &[
            "log",
            "--first-parent",
            "--format=%H %ct",
            "refs/promised/lease/main",
        ],
    );
    log.lines()
        .map(|line| {
            let (commit, time) = line.split_once(' ').unwrap();
            let lease = git_in(&platform.remote, &["show", &format!("{commit}:lease.yaml")]);
            (commit.to_string(), time.parse().unwrap(), lease)
        })
        .collect()
}

fn field<'a>(lease: &'a str, name: &str) -> &'a str {
    lease
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {lease}"))
        .trim_matches('"')
}

/// A pass that outlasts the lease is renewed by a second thread; the push of its
/// outputs moves the lease again. That last lease must not be older than the renewals
/// before it, nor already over when it is pushed: otherwise a standby takes the lease
/// from a holder that is alive and well, after every long pass.
#[test]
fn the_lease_pushed_with_the_outputs_of_a_long_pass_is_not_already_over() {
    let developer = app_repo(&format!("sleep 3\n{CONFIGMAP_SCRIPT}"));
    developer.write("requests/app/a.yaml", &request("a", "team", "small"));
    developer.commit("The platform");
    let platform = Platform::publish(developer);
    let args = [
        "--poll",
        "100ms",
        "--lease-duration",
        "1s",
        "--replica-id",
        "a",
    ];
    let daemon = Serve::start(&platform.remote, &args, &[]);
    wait_for(LIMIT, "the pass", || {
        platform.remote_has("main", "status/app/team/a.yaml")
    });
    // The lease commit pushed with the outputs: the one the output push moved.
    let history = lease_history(&platform);
    drop(daemon);
    let mut problems = Vec::new();
    for pair in history.windows(2) {
        let ((commit, time, lease), (_, _, before)) = (&pair[0], &pair[1]);
        let renewed = chrono::DateTime::parse_from_rfc3339(field(lease, "renewed")).unwrap();
        let previous = chrono::DateTime::parse_from_rfc3339(field(before, "renewed")).unwrap();
        if field(lease, "duration") == "0s" {
            continue;
        }
        if renewed < previous {
            problems.push(format!(
                "{commit}: renewed {renewed} goes back from {previous}"
            ));
        }
        let ends = renewed.timestamp() + 1;
        if ends < *time - 1 {
            problems.push(format!(
                "{commit}: committed at {time}, but the lease it pushes ended at {ends}"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Puts `lease` in the remote's lease ref, as a hostile or confused party could.
fn plant_lease(platform: &Platform, lease: &str) {
    let (ok, blob) = git_with_input(&platform.remote, &["hash-object", "-w", "--stdin"], lease);
    assert!(ok);
    let (ok, tree) = git_with_input(
        &platform.remote,
        &["mktree"],
        &format!("100644 blob {}\tlease.yaml\n", blob.trim()),
    );
    assert!(ok);
    let commit = git_in(
        &platform.remote,
        &["commit-tree", tree.trim(), "-m", "a lease"],
    );
    git_in(
        &platform.remote,
        &["update-ref", "refs/promised/lease/main", commit.trim()],
    );
}

/// A lease renewed in the far future (a holder whose clock was wrong, or a hand-made
/// one) must not keep every daemon standing by until then: one that does not move ends
/// one duration (here 3 s) after a daemon first saw it.
#[test]
fn a_lease_renewed_in_the_far_future_does_not_stop_every_daemon_for_ever() {
    let developer = app_repo(CONFIGMAP_SCRIPT);
    developer.write("requests/app/a.yaml", &request("a", "team", "small"));
    developer.commit("The platform");
    let platform = Platform::publish(developer);
    plant_lease(
        &platform,
        "holder: ghost\nrenewed: \"2126-01-01T00:00:00Z\"\nduration: 3s\n",
    );
    let args = [
        "--poll",
        "100ms",
        "--lease-duration",
        "2s",
        "--replica-id",
        "a",
    ];
    let daemon = Serve::start(&platform.remote, &args, &[]);
    let waited = std::panic::catch_unwind(|| {
        wait_for(Duration::from_secs(15), "a daemon works", || {
            platform.remote_has("main", "status/app/team/a.yaml")
        })
    });
    let readyz = daemon.get("/readyz").1;
    assert!(waited.is_ok(), "nobody works; /readyz: {readyz}");
}

/// A daemon that moves to another output branch (same input branch, same remote) reads
/// the state saved for the old one, and thinks the new branch is up to date.
#[test]
fn a_restart_onto_another_output_branch_still_writes_the_outputs_there() {
    let developer = app_repo(CONFIGMAP_SCRIPT);
    developer.write("requests/app/a.yaml", &request("a", "team", "small"));
    developer.commit("The platform");
    let platform = Platform::publish(developer);
    let first = Serve::start(
        &platform.remote,
        &[
            "--poll",
            "100ms",
            "--output-branch",
            "cluster-a",
            "--lease",
            "none",
        ],
        &[],
    );
    wait_for(LIMIT, "outputs on cluster-a", || {
        platform.remote_has("cluster-a", "status/app/team/a.yaml")
    });
    assert!(first.stop());
    let _second = Serve::start(
        &platform.remote,
        &[
            "--poll",
            "100ms",
            "--output-branch",
            "cluster-b",
            "--lease",
            "none",
        ],
        &[],
    );
    let waited = std::panic::catch_unwind(|| {
        wait_for(Duration::from_secs(15), "outputs on cluster-b", || {
            platform.remote_has("cluster-b", "status/app/team/a.yaml")
        })
    });
    assert!(waited.is_ok(), "cluster-b never gets the outputs");
}

/// Two daemons on one input branch, each writing its own output branch (one per
/// cluster), share the lease of the input branch: one of them never works.
#[test]
fn daemons_writing_different_output_branches_do_not_block_each_other() {
    let developer = app_repo(CONFIGMAP_SCRIPT);
    developer.write("requests/app/a.yaml", &request("a", "team", "small"));
    developer.commit("The platform");
    let platform = Platform::publish(developer);
    let start = |branch: &str, id: &str| {
        let args = [
            "--poll",
            "100ms",
            "--lease-duration",
            "2s",
            "--output-branch",
            branch,
            "--replica-id",
            id,
        ];
        Serve::start(&platform.remote, &args, &[])
    };
    let _a = start("cluster-a", "a");
    let _b = start("cluster-b", "b");
    let waited = std::panic::catch_unwind(|| {
        wait_for(Duration::from_secs(15), "outputs on both branches", || {
            platform.remote_has("cluster-a", "status/app/team/a.yaml")
                && platform.remote_has("cluster-b", "status/app/team/a.yaml")
        })
    });
    assert!(waited.is_ok(), "one output branch never gets its outputs");
}

/// A merged pull request adds a file inside another request's output folder (where a
/// pass that does not rerun that request would keep it, listed in the destination's
/// index, for Flux to apply) and edits that request's status: the daemon sees that the
/// managed folders moved without it, and reruns the request, which writes its folder
/// and status again.
#[test]
fn a_file_slipped_into_another_request_s_folder_is_removed_at_the_next_sync() {
    let developer = app_repo(CONFIGMAP_SCRIPT);
    for name in ["a", "b"] {
        let path = format!("requests/app/{name}.yaml");
        developer.write(&path, &request(name, "team", "small"));
    }
    developer.commit("The platform");
    let platform = Platform::publish(developer);
    let serve = Serve::start(&platform.remote, &["--poll", "100ms"], &[]);
    wait_for(LIMIT, "the first pass", || {
        platform.remote_has("main", "status/app/team/b.yaml")
    });
    let files = git_in(
        &platform.remote,
        &["ls-tree", "-r", "--name-only", "main", "state"],
    );
    let a_output = files
        .lines()
        .find(|path| path.contains("/resources/team/app/a/") && path.ends_with(".yaml"))
        .expect("a has an output");
    let folder = a_output.rsplit_once('/').unwrap().0.to_string();
    let evil = format!("{folder}/evil.yaml");
    let runs = serve.metric("promised_pipeline_runs_total");

    platform
        .developer
        .git(&["pull", "-q", "--rebase", "origin", "main"]);
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: evil, namespace: kube-system}\n";
    platform.developer.write(&evil, secret);
    platform
        .developer
        .write("status/app/team/a.yaml", "promised: {phase: Ready}\n");
    platform.push("Slip a Secret into a's folder");
    wait_for(LIMIT, "the slipped file is gone", || {
        !platform.remote_has("main", &evil)
    });
    let index = format!(
        "{}/kustomization.yaml",
        folder.split("/resources/").next().unwrap()
    );
    assert!(!platform.remote_show("main", &index).contains("evil.yaml"));
    let status = platform.remote_show("main", "status/app/team/a.yaml");
    assert!(status.contains("requests/app/a.yaml"), "{status}");
    assert_eq!(
        serve.metric("promised_pipeline_runs_total"),
        runs + 1.0,
        "a reran, b did not"
    );
    assert_eq!(serve.metric("promised_narrow_passes_total"), 0.0);
}
