//! `promised serve` against a bare remote on disk and a developer's clone.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::daemon_support::{Platform, Serve, http, wait_for};
use crate::support::{CONFIGMAP_SCRIPT, app_repo, promise, request};

const LIMIT: Duration = Duration::from_secs(60);

fn platform_with(script: &str, requests: &[&str]) -> Platform {
    let developer = app_repo(script);
    for name in requests {
        developer.write(
            &format!("requests/app/{name}.yaml"),
            &request(name, "team", "small"),
        );
    }
    developer.commit("The platform");
    Platform::publish(developer)
}

fn status_path(name: &str) -> String {
    format!("status/app/team/{name}.yaml")
}

#[test]
fn a_pushed_request_is_reconciled_and_pushed_back_within_a_poll() {
    let platform = platform_with(CONFIGMAP_SCRIPT, &["a"]);
    let serve = Serve::start(&platform.remote, &["--poll", "200ms"], &[]);
    wait_for(LIMIT, "the first sync", || {
        platform.remote_has("main", &status_path("a"))
    });

    platform
        .developer
        .write("requests/app/b.yaml", &request("b", "team", "large"));
    platform.push("Request b");
    let took = wait_for(LIMIT, "b's status on the remote", || {
        platform.remote_has("main", &status_path("b"))
    });
    eprintln!("push-to-outputs: {} ms (poll 200ms)", took.as_millis());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let subjects = platform.remote_subjects("main");
    assert!(
        subjects.starts_with("promised: reconcile 1 request (1 new)\nRequest b\n"),
        "{subjects}"
    );
    assert_eq!(serve.get("/readyz").0, 200);
    assert!(serve.stop(), "SIGTERM exits cleanly");
}

#[test]
fn an_unchanged_remote_gets_no_pass_and_no_commit() {
    let platform = platform_with(CONFIGMAP_SCRIPT, &["a"]);
    let serve = Serve::start(&platform.remote, &["--poll", "100ms"], &[]);
    wait_for(LIMIT, "the first sync", || {
        platform.remote_has("main", &status_path("a"))
    });
    let head = platform.remote_head("main");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(platform.remote_head("main"), head);
    assert_eq!(serve.metric("promised_passes_total"), 1.0);
    assert_eq!(serve.metric("promised_pipeline_runs_total"), 1.0);
}

#[test]
fn a_promise_change_reruns_only_its_requests() {
    let developer = app_repo(CONFIGMAP_SCRIPT);
    let other = promise("other", "", CONFIGMAP_SCRIPT)
        .replace("apps.test", "others.test")
        .replace("kind: App", "kind: Other")
        .replace("plural: apps", "plural: others");
    developer.write("promises/other.yaml", &other);
    for name in ["a", "b", "c"] {
        developer.write(
            &format!("requests/app/{name}.yaml"),
            &request(name, "team", "small"),
        );
    }
    for name in ["p", "q"] {
        let text = request(name, "team", "small").replace("kind: App", "kind: Other");
        developer.write(&format!("requests/other/{name}.yaml"), &text);
    }
    developer.commit("Two Promises");
    let platform = Platform::publish(developer);
    let serve = Serve::start(&platform.remote, &["--poll", "100ms"], &[]);
    wait_for(LIMIT, "the first sync, pushed", || {
        platform.remote_has("main", "status/other/team/q.yaml")
    });
    assert_eq!(serve.metric("promised_pipeline_runs_total"), 5.0);

    let changed = CONFIGMAP_SCRIPT.replace("data:", "data:\n  tier: gold");
    platform
        .developer
        .write("promises/app.yaml", &promise("app", "", &changed));
    platform.push("Change the app pipeline");
    wait_for(LIMIT, "the app requests' new output", || {
        platform
            .remote_subjects("main")
            .starts_with("promised: reconcile 3 requests")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        serve.metric("promised_pipeline_runs_total"),
        8.0,
        "3 reruns, not 5"
    );
}

#[test]
fn a_push_race_converges_with_both_changes() {
    // Request "slow" holds the pass until the test has pushed something else.
    let gate = tempfile::tempdir().unwrap();
    let script = format!(
        "if [ \"$KRATIX_OBJECT_NAME\" = slow ]; then touch {dir}/started; while [ ! -e {dir}/go ]; do sleep 0.05; done; fi\n{CONFIGMAP_SCRIPT}",
        dir = gate.path().display()
    );
    let platform = platform_with(&script, &["a"]);
    let serve = Serve::start(&platform.remote, &["--poll", "100ms"], &[]);
    wait_for(LIMIT, "the first sync", || {
        platform.remote_has("main", &status_path("a"))
    });

    platform
        .developer
        .write("requests/app/slow.yaml", &request("slow", "team", "small"));
    platform.push("Request slow");
    wait_for(LIMIT, "the slow pipeline to start", || {
        gate.path().join("started").exists()
    });
    platform.developer.write(
        "requests/app/meanwhile.yaml",
        &request("meanwhile", "team", "small"),
    );
    platform.push("Request meanwhile, while a pass is in flight");
    fs_err::write(gate.path().join("go"), "").unwrap();

    wait_for(LIMIT, "both outputs on the remote", || {
        platform.remote_has("main", &status_path("slow"))
            && platform.remote_has("main", &status_path("meanwhile"))
    });
    assert!(serve.metric("promised_push_rejections_total") >= 1.0);
    let subjects = platform.remote_subjects("main");
    assert!(
        subjects.contains("Request meanwhile, while a pass is in flight"),
        "{subjects}"
    );
    assert!(subjects.contains("Request slow"), "{subjects}");
}

#[test]
fn the_webhook_triggers_a_pass_and_refuses_a_bad_signature() {
    let platform = platform_with(CONFIGMAP_SCRIPT, &["a"]);
    let serve = Serve::start(
        &platform.remote,
        &["--poll", "1h"],
        &[("PROMISED_WEBHOOK_SECRET", "s3cret")],
    );
    wait_for(LIMIT, "the first sync", || {
        platform.remote_has("main", &status_path("a"))
    });

    platform
        .developer
        .write("requests/app/b.yaml", &request("b", "team", "small"));
    platform.push("Request b");
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (status, _) = http(
        &serve.addr,
        "POST",
        "/hooks/git",
        &[("X-Hub-Signature-256", "sha256=00")],
        body,
    );
    assert_eq!(status, 401);
    let (status, _) = http(&serve.addr, "POST", "/hooks/git", &[], body);
    assert_eq!(status, 401);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !platform.remote_has("main", &status_path("b")),
        "a refused call syncs nothing"
    );

    let signed = |body: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        http(
            &serve.addr,
            "POST",
            "/hooks/git",
            &[("X-Hub-Signature-256", &signature)],
            body,
        )
    };
    let (status, text) = signed(br#"{"ref":"refs/heads/feature"}"#);
    assert_eq!(
        (status, text.as_str()),
        (
            202,
            "ignored: a push to a branch the daemon does not follow\n"
        )
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !platform.remote_has("main", &status_path("b")),
        "a push to another branch syncs nothing"
    );
    let (status, _) = signed(body);
    assert_eq!(status, 202);
    wait_for(LIMIT, "b's status after the webhook", || {
        platform.remote_has("main", &status_path("b"))
    });
}

#[test]
fn a_one_second_schedule_reruns_and_commits_nothing_new() {
    let platform = platform_with(CONFIGMAP_SCRIPT, &["a", "b"]);
    let serve = Serve::start(
        &platform.remote,
        &["--poll", "1h", "--schedule", "* * * * * *"],
        &[],
    );
    wait_for(LIMIT, "the first sync", || {
        platform.remote_has("main", &status_path("b"))
    });
    let head = platform.remote_head("main");
    wait_for(LIMIT, "two scheduled reruns", || {
        serve.metric("promised_pipeline_runs_total") >= 6.0
    });
    assert_eq!(
        platform.remote_head("main"),
        head,
        "reruns of unchanged inputs commit nothing"
    );
}

#[test]
fn a_failed_pipeline_is_retried_with_backoff() {
    let gate = tempfile::tempdir().unwrap();
    let script = format!(
        "[ -e {dir}/fixed ] || {{ echo 'backend unavailable' >&2; exit 1; }}\n{CONFIGMAP_SCRIPT}",
        dir = gate.path().display()
    );
    let platform = platform_with(&script, &["a"]);
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
    wait_for(LIMIT, "the failure", || {
        platform.remote_has("main", &status_path("a"))
    });
    assert!(
        platform
            .remote_show("main", &status_path("a"))
            .contains("backend unavailable")
    );
    wait_for(LIMIT, "a retry", || {
        serve.metric("promised_pipeline_failures_total") >= 2.0
    });
    fs_err::write(gate.path().join("fixed"), "").unwrap();
    wait_for(LIMIT, "the retry that succeeds", || {
        platform
            .remote_show("main", &status_path("a"))
            .contains("phase: Ready")
    });
}

#[test]
fn outputs_can_go_to_another_branch() {
    let platform = platform_with(CONFIGMAP_SCRIPT, &["a"]);
    let input_head = platform.remote_head("main");
    let serve = Serve::start(
        &platform.remote,
        &["--poll", "100ms", "--output-branch", "state"],
        &[],
    );
    wait_for(LIMIT, "outputs on the state branch", || {
        platform.remote_has("state", &status_path("a"))
    });
    assert_eq!(
        platform.remote_head("main"),
        input_head,
        "the input branch is not written"
    );
    assert!(
        !platform.remote_has("state", "requests/app/a.yaml"),
        "the output branch holds outputs only"
    );

    platform
        .developer
        .write("requests/app/b.yaml", &request("b", "team", "small"));
    platform.push("Request b");
    wait_for(LIMIT, "b on the state branch", || {
        platform.remote_has("state", &status_path("b"))
    });
    assert!(platform.remote_has("state", &status_path("a")));
    assert_eq!(
        serve.metric("promised_narrow_passes_total"),
        1.0,
        "the pass for b read only b, with the outputs on their own branch"
    );
}

#[test]
fn one_change_in_a_thousand_requests_runs_one_pipeline() {
    let names: Vec<String> = (0..1000).map(|i| format!("r{i:04}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let platform = platform_with(CONFIGMAP_SCRIPT, &refs);
    let serve = Serve::start(&platform.remote, &["--poll", "100ms"], &[]);
    wait_for(
        Duration::from_secs(300),
        "the first full pass, pushed",
        || platform.remote_has("main", &status_path("r0999")),
    );
    assert_eq!(serve.metric("promised_pipeline_runs_total"), 1000.0);

    platform.developer.write(
        "requests/app/r0500.yaml",
        &request("r0500", "team", "large"),
    );
    platform.push("Make r0500 large");
    wait_for(LIMIT, "r0500's new output", || {
        platform
            .remote_subjects("main")
            .starts_with("promised: reconcile 1 request (1 updated)")
    });
    assert_eq!(
        serve.metric("promised_pipeline_runs_total"),
        1001.0,
        "one change, one pipeline run"
    );
    assert_eq!(
        serve.metric("promised_narrow_passes_total"),
        1.0,
        "the pass after one change reads only that request"
    );
}

#[test]
fn watching_a_local_remote_syncs_without_waiting_for_the_poll() {
    let platform = platform_with(CONFIGMAP_SCRIPT, &["a"]);
    let _serve = Serve::start(&platform.remote, &["--poll", "1h", "--watch"], &[]);
    wait_for(LIMIT, "the first sync", || {
        platform.remote_has("main", &status_path("a"))
    });
    platform
        .developer
        .write("requests/app/b.yaml", &request("b", "team", "small"));
    platform.push("Request b");
    let took = wait_for(LIMIT, "b's status, woken by the watcher", || {
        platform.remote_has("main", &status_path("b"))
    });
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn a_change_to_one_document_of_a_file_of_several_reruns_only_its_request() {
    let developer = app_repo(CONFIGMAP_SCRIPT);
    let file = |b_size: &str| {
        let documents = [
            request("a", "team", "small"),
            request("b", "team", b_size),
            request("c", "team", "small"),
        ];
        documents.join("---\n")
    };
    developer.write("requests/app/team.yaml", &file("small"));
    developer.commit("Three requests in one file");
    let platform = Platform::publish(developer);
    let serve = Serve::start(&platform.remote, &["--poll", "100ms"], &[]);
    wait_for(LIMIT, "the first sync, pushed", || {
        platform.remote_has("main", &status_path("c"))
    });
    assert_eq!(serve.metric("promised_pipeline_runs_total"), 3.0);
    let a_status = platform.remote_show("main", &status_path("a"));

    platform
        .developer
        .write("requests/app/team.yaml", &file("large"));
    platform.push("Make b large");
    wait_for(LIMIT, "b's new output", || {
        platform
            .remote_subjects("main")
            .starts_with("promised: reconcile 1 request (1 updated)")
    });
    assert_eq!(
        serve.metric("promised_pipeline_runs_total"),
        4.0,
        "one document changed, one pipeline run"
    );
    assert_eq!(
        platform.remote_show("main", &status_path("a")),
        a_status,
        "a's status, blob included, is left as it was"
    );
}

#[test]
fn post_reconcile_reruns_what_it_names_with_the_right_token_only() {
    let platform = platform_with(CONFIGMAP_SCRIPT, &["a", "b"]);
    let token = "a-token-of-32-bytes-for-the-test";
    let serve = Serve::start(
        &platform.remote,
        &["--poll", "1h"],
        &[("PROMISED_RECONCILE_TOKEN", token)],
    );
    let runs = || serve.metric("promised_pipeline_runs_total");
    wait_for(LIMIT, "the first pass", || runs() == 2.0);
    let post = |authorization: Option<&str>, body: &str| {
        let headers: Vec<(&str, &str)> = authorization
            .map(|value| ("Authorization", value))
            .into_iter()
            .collect();
        http(&serve.addr, "POST", "/reconcile", &headers, body.as_bytes())
    };
    let one = r#"{"request": "requests/app/a.yaml"}"#;
    assert_eq!(post(None, one).0, 401);
    assert_eq!(post(Some("Bearer not-the-token-at-all-no"), one).0, 401);
    assert_eq!(post(Some(token), one).0, 401, "the scheme is required");
    let bearer = format!("Bearer {token}");
    let (status, text) = post(Some(&bearer), r#"{"request": "status/app.yaml"}"#);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("is not a request file's path"), "{text}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(runs(), 2.0, "refused calls rerun nothing");

    let (status, text) = post(Some(&bearer), one);
    assert_eq!(
        (status, text.as_str()),
        (202, "rerun queued: request file requests/app/a.yaml\n")
    );
    wait_for(LIMIT, "a's rerun", || runs() == 3.0);
    let (status, _) = post(Some(&bearer), r#"{"promise": "app"}"#);
    assert_eq!(status, 202);
    wait_for(LIMIT, "the Promise's requests rerun", || runs() == 5.0);
}

#[test]
fn post_reconcile_is_off_without_a_token_and_a_short_token_is_refused_at_start() {
    let platform = platform_with(CONFIGMAP_SCRIPT, &["a"]);
    let serve = Serve::start(&platform.remote, &["--poll", "1h"], &[]);
    let (status, text) = http(&serve.addr, "POST", "/reconcile", &[], b"{}");
    assert_eq!(status, 404, "{text}");

    let workdir = tempfile::tempdir().unwrap();
    // Under `timeout`: were the token taken, the daemon would run until killed.
    let run = std::process::Command::new("timeout")
        .args(["30", env!("CARGO_BIN_EXE_promised"), "serve", "--remote"])
        .arg(&platform.remote)
        .arg("--workdir")
        .arg(workdir.path())
        .env("PROMISED_RECONCILE_TOKEN", "short")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("PROMISED_RECONCILE_TOKEN: the token has 5 bytes; give at least 16"),
        "{stderr}"
    );
}
