//! Several daemons on one branch: the one that holds the lease works, the others stand
//! by, and one of them takes over when the holder dies.

use std::time::Duration;

use crate::daemon_support::{Platform, Serve, http, wait_for};
use crate::kube_double::ApiServer;
use crate::support::{CONFIGMAP_SCRIPT, app_repo, request};

const LIMIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "a-token-of-32-bytes-for-the-test";

/// A replica with a 2 s lease, and `more` arguments.
fn replica_with(platform: &Platform, id: &str, more: &[&str]) -> Serve {
    let mut args = vec![
        "--poll",
        "100ms",
        "--lease-duration",
        "2s",
        "--replica-id",
        id,
    ];
    args.extend(more);
    Serve::start(
        &platform.remote,
        &args,
        &[("PROMISED_RECONCILE_TOKEN", TOKEN)],
    )
}

/// The arguments of a replica whose lease is a Kubernetes `Lease` in namespace
/// `promised` of `api`.
fn kube_lease_args(api: &ApiServer) -> [&str; 6] {
    [
        "--lease",
        "kubernetes",
        "--kube-api-server",
        &api.url,
        "--kube-namespace",
        "promised",
    ]
}

/// The replicas whose `/readyz` says they hold the lease, and what the others say.
fn leaders(replicas: &[&Serve]) -> (Vec<usize>, Vec<String>) {
    let mut leaders = Vec::new();
    let mut others = Vec::new();
    for (i, replica) in replicas.iter().enumerate() {
        match replica.get("/readyz") {
            (200, body) if body == "ready\n" => leaders.push(i),
            (_, body) => others.push(body),
        }
    }
    (leaders, others)
}

fn runs(replicas: &[&Serve]) -> f64 {
    replicas
        .iter()
        .map(|r| r.metric("promised_pipeline_runs_total"))
        .sum()
}

#[test]
fn three_replicas_run_each_change_once_and_another_takes_over_when_the_holder_is_killed() {
    let platform = Platform::with_requests(5);
    three_replicas(&platform, &[]);
    assert!(platform.remote_head("refs/promised/lease/main").is_some());
}

#[test]
fn on_a_kubernetes_lease_three_replicas_run_each_change_once_and_one_takes_over() {
    let api = ApiServer::start();
    let platform = Platform::with_requests(5);
    let args = kube_lease_args(&api);
    let holder = three_replicas(&platform, &args);
    let leases = api.leases();
    assert_eq!(leases.len(), 1, "{leases:?}");
    let lease = &leases[0];
    assert!(
        lease["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("promised-main-"),
        "{lease}"
    );
    assert_eq!(lease["metadata"]["namespace"], "promised");
    assert_eq!(lease["spec"]["holderIdentity"], holder.as_str());
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 2);
    assert!(platform.remote_head("refs/promised/lease/main").is_none());
}

#[test]
fn a_renewed_kubernetes_lease_keeps_the_labels_others_set() {
    let api = ApiServer::start();
    let platform = Platform::with_requests(1);
    let args = kube_lease_args(&api);
    let _daemon = replica_with(&platform, "a", &args);
    wait_for(LIMIT, "the lease", || api.leases().len() == 1);
    api.label_leases("team", "platform");
    let labelled = api.leases()[0]["metadata"]["resourceVersion"].clone();
    wait_for(LIMIT, "a renewal", || {
        api.leases()[0]["metadata"]["resourceVersion"] != labelled
    });
    let lease = &api.leases()[0];
    assert_eq!(lease["metadata"]["labels"]["team"], "platform", "{lease}");
    assert_eq!(
        lease["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "promised"
    );
    assert_eq!(lease["spec"]["holderIdentity"], "a");
}

/// Three replicas with `args`: one works, each change runs once, and when it is killed
/// another takes over. Returns the one that holds the lease at the end.
fn three_replicas(platform: &Platform, args: &[&str]) -> String {
    let replicas = [
        replica_with(platform, "a", args),
        replica_with(platform, "b", args),
        replica_with(platform, "c", args),
    ];
    let all: Vec<&Serve> = replicas.iter().collect();
    wait_for(LIMIT, "one leader and two standbys", || {
        let (leaders, others) = leaders(&all);
        leaders.len() == 1 && others.iter().all(|o| o.starts_with("ready: standby; "))
    });
    wait_for(LIMIT, "the first pass", || {
        platform.remote_has("main", "status/app/team/r4.yaml")
    });
    assert_eq!(runs(&all), 5.0, "each request ran once, on the leader");
    let (leader, others) = leaders(&all);
    let holder = ["a", "b", "c"][leader[0]];
    assert!(
        others
            .iter()
            .all(|o| o.contains(&format!("{holder} holds the lease until"))),
        "{others:?}"
    );
    let standby = all[(leader[0] + 1) % 3];
    let bearer = format!("Bearer {TOKEN}");
    let call = [("Authorization", bearer.as_str())];
    let (status, text) = http(
        &standby.addr,
        "POST",
        "/reconcile",
        &call,
        br#"{"all": true}"#,
    );
    assert_eq!(status, 503, "a standby sends reruns to the holder: {text}");

    platform
        .developer
        .write("requests/app/r1.yaml", &request("r1", "team", "large"));
    platform.push("A larger r1");
    wait_for(LIMIT, "r1's rerun", || runs(&all) >= 6.0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs(&all), 6.0, "the change ran once, on one replica");

    let [first, second, third] = replicas;
    let mut survivors = Vec::new();
    for (i, replica) in [first, second, third].into_iter().enumerate() {
        if i == leader[0] {
            replica.kill();
        } else {
            survivors.push(replica);
        }
    }
    let survivors: Vec<&Serve> = survivors.iter().collect();
    wait_for(LIMIT, "a standby takes over", || {
        leaders(&survivors).0.len() == 1
    });
    let before = runs(&survivors);
    platform
        .developer
        .write("requests/app/r2.yaml", &request("r2", "team", "large"));
    platform.push("A larger r2");
    wait_for(LIMIT, "r2's rerun by the new holder", || {
        runs(&survivors) > before
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs(&survivors), before + 1.0, "nothing ran twice");
    let subjects = platform.remote_subjects("main");
    assert!(
        subjects.starts_with("promised: reconcile 1 request (1 updated)\nA larger r2\n"),
        "{subjects}"
    );
    let ids = ["a", "b", "c"];
    let survivors_ids: Vec<&str> = (0..3).filter(|i| *i != leader[0]).map(|i| ids[i]).collect();
    survivors_ids[leaders(&survivors).0[0]].to_string()
}

#[test]
fn a_pass_that_outlasts_the_lease_keeps_it_and_nothing_runs_twice() {
    let developer = app_repo(&format!("sleep 2\n{CONFIGMAP_SCRIPT}"));
    developer.write("requests/app/a.yaml", &request("a", "team", "small"));
    developer.commit("The platform");
    let platform = Platform::publish(developer);
    let args = |id| {
        [
            "--poll",
            "100ms",
            "--lease-duration",
            "1s",
            "--replica-id",
            id,
        ]
    };
    let first = Serve::start(&platform.remote, &args("a"), &[]);
    wait_for(LIMIT, "a holds the lease", || {
        first.metric("promised_leader") == 1.0
    });
    let second = Serve::start(&platform.remote, &args("b"), &[]);
    wait_for(LIMIT, "the pass", || {
        platform.remote_has("main", "status/app/team/a.yaml")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let both = [&first, &second];
    assert_eq!(
        runs(&both),
        1.0,
        "the 2 s pipeline ran once, under a 1 s lease"
    );
    assert_eq!(second.metric("promised_leader"), 0.0);
}

#[test]
fn a_stopped_holder_hands_the_lease_back_so_the_next_daemon_takes_over_at_once() {
    hand_back(&[]);
}

#[test]
fn a_stopped_holder_hands_a_kubernetes_lease_back_too() {
    let api = ApiServer::start();
    hand_back(&["--lease", "kubernetes", "--kube-api-server", &api.url]);
    let leases = api.leases();
    assert_eq!(leases[0]["spec"]["holderIdentity"], "new-pod", "{leases:?}");
}

/// A daemon stopped with SIGTERM under an hour-long lease, then a new one: only a lease
/// handed back lets the new daemon work.
fn hand_back(more: &[&str]) {
    let platform = Platform::with_requests(1);
    let args = |id| {
        let mut args = vec![
            "--poll",
            "100ms",
            "--lease-duration",
            "1h",
            "--replica-id",
            id,
        ];
        args.extend(more);
        args
    };
    let first = Serve::start(&platform.remote, &args("old-pod"), &[]);
    wait_for(LIMIT, "the first pass", || {
        platform.remote_has("main", "status/app/team/r0.yaml")
    });
    assert!(first.stop(), "SIGTERM exits cleanly");
    let second = Serve::start(&platform.remote, &args("new-pod"), &[]);
    wait_for(LIMIT, "the new daemon holds the lease", || {
        second.get("/readyz").1 == "ready\n"
    });
    assert_eq!(second.metric("promised_leader"), 1.0);
}

/// A holder that stalls (SIGSTOP) past its lease while another daemon works, then takes
/// the ended lease back, starts from what the other saved: it does not run again what
/// the other ran. Found by a review: it kept its old memory and reran the change.
#[test]
fn a_stalled_holder_that_takes_the_lease_back_does_not_rerun_what_another_ran() {
    let platform = Platform::with_requests(1);
    let first = replica_with(&platform, "a", &[]);
    wait_for(LIMIT, "the first pass", || {
        platform.remote_has("main", "status/app/team/r0.yaml")
    });
    let pid = first.pid().to_string();
    let signal = |which: &str| {
        let status = std::process::Command::new("kill")
            .args([which, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let second = replica_with(&platform, "b", &[]);
    wait_for(LIMIT, "b takes over", || {
        second.get("/readyz").1 == "ready\n"
    });
    platform
        .developer
        .write("requests/app/r0.yaml", &request("r0", "team", "large"));
    platform.push("A larger r0");
    wait_for(LIMIT, "b reruns r0", || {
        second.metric("promised_pipeline_runs_total") >= 1.0
    });
    assert!(second.stop(), "b hands the lease back");
    signal("-CONT");
    wait_for(LIMIT, "a holds the lease again", || {
        first.get("/readyz").1 == "ready\n" && first.metric("promised_leader") == 1.0
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        first.metric("promised_pipeline_runs_total"),
        1.0,
        "a ran r0 once, in the first pass; b ran the change"
    );
}

/// While the API server that holds the lease cannot be reached, every sync fails; the
/// daemon waits longer after each (1 s, 2 s, 4 s …, at most a poll) instead of asking
/// again at once. Found by a review: once the lease's renewal time had passed, it
/// retried about 25 times a second, each time with a fetch.
#[test]
fn an_unreachable_lease_is_not_asked_again_at_once() {
    let api = ApiServer::start();
    let platform = Platform::with_requests(1);
    let url = api.url.clone();
    let args = [
        "--poll",
        "10s",
        "--lease-duration",
        "3s",
        "--replica-id",
        "a",
        "--lease",
        "kubernetes",
        "--kube-api-server",
        &url,
    ];
    let serve = Serve::start(&platform.remote, &args, &[]);
    wait_for(LIMIT, "the first pass", || {
        platform.remote_has("main", "status/app/team/r0.yaml")
    });
    drop(api);
    std::thread::sleep(Duration::from_secs(5));
    let errors = serve.metric("promised_sync_errors_total");
    assert!(errors >= 1.0, "the lease cannot be read: {errors}");
    assert!(errors <= 4.0, "{errors} failed syncs in 5 s");
}
