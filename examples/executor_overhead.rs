//! What an executor adds to each pipeline step, against running the same step by hand.
//!
//!     cargo run --release --example executor_overhead -- process 200
//!     cargo run --release --example executor_overhead -- podman 30 localhost/promised-test-busybox:1
//!
//! Prints the mean time per step both ways and their ratio; both are measured in the
//! same run, so the ratio holds on a noisy machine where absolute times do not.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use promised::executor::{Executor, OciExecutor, ProcessExecutor};
use promised::model::{Action, Platform, SourceFile, WorkflowType};
use promised::pipeline::{Job, RunFolder, Subject};

/// The allocator of the `promised` binary, so that in-process figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STEP: &str = r#"printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n' > "$KRATIX_OUTPUT/cm.yaml""#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map(String::as_str).unwrap_or("process");
    let runs: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(50);
    let image = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "localhost/promised-test-busybox:1".into());
    let (hand, through) = measure(kind, runs, &image);
    println!("executor  runs  by hand (ms/step)  through promised (ms/step)  ratio");
    println!(
        "{kind:<8}  {runs:>4}  {:>17.2}  {:>26.2}  {:>5.2}",
        hand.as_secs_f64() * 1e3,
        through.as_secs_f64() * 1e3,
        through.as_secs_f64() / hand.as_secs_f64()
    );
}

/// Mean time per step by hand and through the executor.
fn measure(kind: &str, runs: usize, image: &str) -> (Duration, Duration) {
    let executor: Box<dyn Executor> = match kind {
        "process" => Box::new(ProcessExecutor::default()),
        "podman" => Box::new(OciExecutor::new("podman")),
        other => panic!("unknown executor {other}: process or podman"),
    };
    let platform = platform(image);
    let promise = &platform.promises["bench"];
    let request = &platform.requests[0];
    let job = Job {
        promise,
        pipeline: &promise.workflows.resource.configure[0],
        workflow: (WorkflowType::Resource, Action::Configure),
        object: Subject::request(&request.key, request.document().unwrap()),
        object_yaml: &request.bytes,
        timeout: Duration::from_secs(60),
        limits: Default::default(),
        stop: &Default::default(),
        pipelines: None,
    };
    // One warm-up each: the podman executor probes the host's flags on first use.
    // Runs go through one RunFolder (a new folder inside it per run), as each worker of
    // a reconcile pass does.
    let folder = RunFolder::new();
    // A run is a future; a pass polls it on its worker's thread, as this does.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = || runtime.block_on(folder.run(executor.as_ref(), &job));
    run().expect("the step runs");
    let work = tempfile::tempdir().unwrap();
    by_hand(kind, image, work.path());

    let started = Instant::now();
    for _ in 0..runs {
        run().expect("the step runs");
    }
    let through = started.elapsed() / runs as u32;
    let started = Instant::now();
    for _ in 0..runs {
        by_hand(kind, image, work.path());
    }
    let hand = started.elapsed() / runs as u32;
    (hand, through)
}

#[test]
fn the_measurement_runs() {
    let (hand, through) = measure("process", 3, "unused");
    assert!(hand > Duration::ZERO && through > Duration::ZERO);
}

/// The same step, started the plainest way: `sh -c`, or `podman run` with the flags
/// this host needs, writing into a folder.
fn by_hand(kind: &str, image: &str, dir: &Path) {
    let status = match kind {
        "process" => Command::new("sh")
            .arg("-c")
            .arg(STEP)
            .env("KRATIX_OUTPUT", dir)
            .status(),
        _ => Command::new("podman")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
            ])
            .arg("--volume")
            .arg(format!("{}:/kratix/output", dir.display()))
            .args([
                "--env",
                "KRATIX_OUTPUT=/kratix/output",
                image,
                "sh",
                "-c",
                STEP,
            ])
            .status(),
    };
    assert!(status.expect("the step starts").success());
}

fn platform(image: &str) -> Platform {
    let promise = format!(
        r#"kind: Promise
metadata: {{name: bench}}
spec:
  api:
    spec:
      group: bench.promised.dev
      names: {{kind: Bench}}
      versions: [{{name: v1}}]
  workflows:
    resource:
      configure:
        - kind: Pipeline
          metadata: {{name: step}}
          spec:
            containers:
              - name: step
                image: {image}
                command: [sh, -c]
                args: ['{}']
"#,
        STEP.replace('\'', "''")
    );
    let file = |path: &str, text: String| SourceFile {
        path: path.into(),
        blob: String::new(),
        bytes: text.into_bytes(),
    };
    Platform::load([
        file("promises/bench.yaml", promise),
        file(
            "requests/bench/a.yaml",
            "apiVersion: bench.promised.dev/v1\nkind: Bench\nmetadata: {name: a}\n".into(),
        ),
    ])
}
