//! How many pipelines the kubernetes executor keeps in flight: N requests through
//! `promised reconcile --executor kubernetes --jobs J` against the API server double
//! (`tests/cli/kube_double.rs`) with a kubelet that runs nothing and takes a set time per
//! Pod.
//!
//!     cargo build --release && cargo run --release --example kube_throughput -- 1000 200 1s
//!
//! Prints the pass's wall time, pipeline runs per second, the ideal time
//! (N × pod time / J) and the ratio of the two. Kratix's own performance rig reports
//! about 3 requests per second, bounded by how fast its Job Pods start.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
#[allow(dead_code)]
#[path = "../tests/cli/kube_double.rs"]
mod kube_double;

use common::{git, promised_binary};

const PROMISE: &str = r#"apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata:
  name: app
spec:
  api:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    spec:
      group: test.promised.dev
      names: {kind: App, plural: apps}
      scope: Namespaced
      versions: [{name: v1, served: true}]
  workflows:
    resource:
      configure:
        - kind: Pipeline
          metadata: {name: configure}
          spec:
            containers:
              - {name: render, image: example.com/render:v1}
"#;

/// What one run measured.
struct Measured {
    wall: Duration,
    runs: usize,
    most_in_flight: usize,
    /// The most threads the `promised` process had at once (Linux only; 0 elsewhere).
    most_threads: usize,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut next = |default: &str| args.next().unwrap_or_else(|| default.to_string());
    let requests: usize = next("1000").parse().expect("requests: a number");
    let jobs: usize = next("200").parse().expect("jobs: a number");
    let pod_time = humantime::parse_duration(&next("1s")).expect("pod time: e.g. 1s");
    let measured = measure(requests, jobs, pod_time);
    let ideal = pod_time.mul_f64(requests as f64 / jobs as f64);
    println!(
        "| requests | jobs | pod time | wall | runs/s | most Pods at once | most threads | ideal | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {requests} | {jobs} | {} | {:.2} s | {:.1} | {} | {} | {:.2} s | {:.2}x |",
        humantime::format_duration(pod_time),
        measured.wall.as_secs_f64(),
        measured.runs as f64 / measured.wall.as_secs_f64(),
        measured.most_in_flight,
        measured.most_threads,
        ideal.as_secs_f64(),
        measured.wall.as_secs_f64() / ideal.as_secs_f64()
    );
}

/// One `promised reconcile` pass over `requests` new requests.
fn measure(requests: usize, jobs: usize, pod_time: Duration) -> Measured {
    let api = kube_double::ApiServer::start_timed(pod_time);
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    write(dir, "promises/app.yaml", PROMISE);
    write(
        dir,
        "destinations/dev.yaml",
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: dev}\n",
    );
    for i in 0..requests {
        let request = format!(
            "apiVersion: test.promised.dev/v1\nkind: App\nmetadata: {{name: r{i}, namespace: team}}\nspec: {{}}\n"
        );
        write(dir, &format!("requests/app/r{i}.yaml"), &request);
    }
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "commit",
            "-qm",
            "platform",
        ],
    );
    let jobs = jobs.to_string();
    let started = Instant::now();
    let child = Command::new(promised_binary())
        .args(["reconcile", "--repo"])
        .arg(dir)
        .args(["--executor", "kubernetes", "--kube-api-server", &api.url])
        .args([
            "--kube-namespace",
            "pipelines",
            "--helper-image",
            "promised:test",
        ])
        .args(["--jobs", &jobs])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let threads = count_threads(child.id());
    let output = child.wait_with_output().unwrap();
    let wall = started.elapsed();
    let most_threads = threads.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with(&format!("{requests} requests, 0 with problems")),
        "{summary}"
    );
    Measured {
        wall,
        runs: stdout.lines().filter(|l| l.starts_with("ready")).count(),
        most_in_flight: api.most_in_flight(),
        most_threads,
    }
}

/// Samples how many threads process `pid` has until it is gone; the most seen.
fn count_threads(pid: u32) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut most = 0;
        while let Ok(status) = fs_err::read_to_string(format!("/proc/{pid}/status")) {
            let threads = status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok());
            match threads {
                // A zombie: it has ended.
                None | Some(0) => break,
                Some(n) => most = most.max(n),
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        most
    })
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

/// CI runs it small and asserts what does not depend on time: every request ran, never
/// more Pods at once than `--jobs`, nor only one, and the Pods in flight held no thread
/// each (the pass uses a thread per core, whatever `--jobs` is).
#[test]
fn many_pods_run_at_once_on_few_threads_and_never_more_than_jobs() {
    // Threads a pass has besides its workers: main, the runtime's, the workers' folder
    // removers, git's; far fewer than `jobs`.
    const NOT_WORKERS: usize = 16;
    let jobs = 48;
    let measured = measure(jobs * 2, jobs, Duration::from_millis(500));
    assert_eq!(measured.runs, jobs * 2);
    assert!(
        measured.most_in_flight <= jobs,
        "{}",
        measured.most_in_flight
    );
    assert!(measured.most_in_flight > 1, "{}", measured.most_in_flight);
    if cfg!(target_os = "linux") {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let bound = cores.min(jobs) + NOT_WORKERS;
        let most = measured.most_threads;
        assert!(
            most > 0 && most <= bound,
            "{most} threads for {jobs} jobs on {cores} cores"
        );
    }
}
