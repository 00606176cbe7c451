//! Kratix's controls on a Promise and a request, in Git: `kratix.io/paused` and
//! `kratix.io/reconcile-resources`.

use crate::lifecycle::{Workflows, app_promise, log_line, pipeline, read_log, repo};
use std::time::Duration;

use crate::daemon_support::{Platform, Serve, wait_for};
use crate::support::{CONFIGMAP_SCRIPT, TestRepo, request};

const LIMIT: Duration = Duration::from_secs(60);

/// The `app` Promise with `metadata` lines (labels), whose one configure pipeline logs
/// and writes a ConfigMap with the request's size; requests `a` and `b`.
fn platform(log: &std::path::Path, metadata: &str) -> TestRepo {
    let repo = repo();
    write_promise(&repo, log, metadata);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Promise and requests");
    repo
}

fn write_promise(repo: &TestRepo, log: &std::path::Path, metadata: &str) {
    let configure = format!("{}\n{CONFIGMAP_SCRIPT}", log_line(log, "configure"));
    let workflows = Workflows {
        promise_configure: &[],
        promise_delete: &[],
        resource_configure: &[pipeline("configure", &configure)],
        resource_delete: &[],
    };
    repo.write("promises/app.yaml", &app_promise("", metadata, &workflows));
}

const PAUSED: &str = "  labels:\n    kratix.io/paused: \"true\"\n";

/// Request `name` of size `size`, with the `kratix.io/paused` label when `paused`.
fn request_with(name: &str, size: &str, paused: bool) -> String {
    let text = request(name, "team", size);
    match paused {
        true => text.replacen(
            "metadata:\n",
            "metadata:\n  labels:\n    kratix.io/paused: \"true\"\n",
            1,
        ),
        false => text,
    }
}

fn size_of(repo: &TestRepo, name: &str) -> String {
    let files = repo.managed_files();
    let path = files
        .lines()
        .find(|l| l.ends_with(&format!("/team/app/{name}/configmap.yaml")))
        .unwrap_or_else(|| panic!("no output for {name}: {files}"))
        .to_string();
    let text = repo.show(&path);
    let line = text
        .lines()
        .find(|l| l.contains("size:"))
        .unwrap_or_default();
    line.trim().to_string()
}

#[test]
fn a_paused_request_runs_nothing_keeps_its_outputs_and_says_so_until_the_label_goes() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = platform(log.path(), "");
    assert_eq!(repo.reconcile(&[]).code, 0);
    fs_err::write(log.path(), "").unwrap();

    repo.write("requests/app/a.yaml", &request_with("a", "large", true));
    repo.commit("Pause a, and make it larger");
    let run = repo.reconcile(&[]);
    assert_eq!(
        run.code, 0,
        "a pause is not an error: {}{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains(
            "paused   app/team/a (requests/app/a.yaml): paused: the request carries the label kratix.io/paused: \"true\""
        ),
        "{}",
        run.stdout
    );
    assert!(
        !read_log(log.path()).contains("App a"),
        "no pipeline runs for a paused request: {}",
        read_log(log.path())
    );
    assert_eq!(size_of(&repo, "a"), "size: small", "its outputs stay");
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Paused"), "{status}");
    assert!(status.contains("reason: PausedReconciliation"), "{status}");
    let head = repo.head();
    assert_eq!(
        repo.reconcile(&["--request", "requests/app/a.yaml"]).code,
        0
    );
    assert_eq!(
        repo.head(),
        head,
        "a rerun of a paused request changes nothing"
    );

    repo.write("requests/app/a.yaml", &request_with("a", "large", false));
    repo.commit("Resume a");
    fs_err::write(log.path(), "").unwrap();
    assert_eq!(
        repo.reconcile(&["--request", "requests/app/a.yaml"]).code,
        0
    );
    assert_eq!(read_log(log.path()), "configure resource configure App a\n");
    assert_eq!(size_of(&repo, "a"), "size: large");
    assert!(repo.show("status/app/team/a.yaml").contains("phase: Ready"));
}

#[test]
fn a_paused_promise_pauses_its_requests_and_holds_their_removal() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let repo = platform(log.path(), "");
    assert_eq!(repo.reconcile(&[]).code, 0);
    fs_err::write(log.path(), "").unwrap();

    write_promise(&repo, log.path(), PAUSED);
    repo.write("requests/app/a.yaml", &request("a", "team", "large"));
    repo.remove("requests/app/b.yaml");
    repo.commit("Pause the Promise; change a, remove b");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read_log(log.path()), "");
    assert_eq!(size_of(&repo, "a"), "size: small");
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("phase: Paused") && status.contains("its Promise"),
        "{status}"
    );
    assert!(
        repo.managed_files().contains("/team/app/b/configmap.yaml"),
        "the removal of a paused Promise's request waits, as in Kratix"
    );
    let promise_status = repo.show("status/app.yaml");
    assert!(promise_status.contains("paused"), "{promise_status}");

    write_promise(&repo, log.path(), "");
    repo.commit("Resume the Promise");
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(size_of(&repo, "a"), "size: large");
    assert!(!repo.managed_files().contains("/team/app/b/"));
}

/// `kratix.io/reconcile-resources` is a label of the Promise file: each change of its
/// value is a change of the file, which reruns the Promise's requests once, and the
/// daemon reruns nothing more until the next change.
#[test]
fn each_new_value_of_reconcile_resources_reruns_every_request_of_the_promise_once() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let platform = Platform::publish(platform(log.path(), ""));
    let serve = Serve::start(&platform.remote, &["--poll", "100ms"], &[]);
    let runs = || serve.metric("promised_pipeline_runs_total");
    wait_for(LIMIT, "the first pass", || runs() == 2.0);
    let label =
        |value: &str| format!("  labels:\n    kratix.io/reconcile-resources: \"{value}\"\n");
    for (value, after) in [("true", 4.0), ("2026-12-03", 6.0)] {
        write_promise(&platform.developer, log.path(), &label(value));
        platform.push("Rerun every request of app");
        wait_for(LIMIT, "both requests rerun", || runs() >= after);
        // The runs are counted before the daemon pushes their outputs; a README pushed
        // before that would make it lose the push race and rerun on the new head, by
        // design. A sync that started a second later has seen the push through.
        let counted = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let synced = || serve.metric("promised_last_successful_sync_timestamp_seconds");
        wait_for(LIMIT, "the outputs pushed", || {
            synced() >= counted.floor() + 1.0
        });
        platform.developer.write("README.md", "Not an input.\n");
        platform.push("Touch the README");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(runs(), after, "once per value of the label");
    }
}
