//! promised's performance figures, each against a baseline measured in the same run.
//!
//!     cargo build --release && cargo run --release --example bench -- --sizes 1000,10000,100000
//!
//! For each size it generates a platform repository (`--promises` Promises with one-step
//! process pipelines, `--destinations` destinations, N requests) with `git fast-import`,
//! then measures:
//! - a full rerun of N pipelines by `promised reconcile` against a plain loop spawning
//!   the same step N times with the same parallelism (both make their folders under
//!   `TMPDIR`), in `--rounds` rounds (3 by default; 1 above 10k requests), each a rerun
//!   then the loop: the ratio is the median of the rounds', so that the machine's
//!   drift over the seconds between two runs does not decide it;
//! - a no-op sync (nothing changed for promised) against `git diff --name-only A B`;
//! - a pass after one changed request, as the daemon runs it (its repository open since
//!   an earlier sync, a new store on it for each sync; narrow: it reads only
//!   that request; median of 5), against the same pass reading the whole branch; each
//!   must run one pipeline, and the last lines give the narrow pass's time at the largest
//!   size against the smallest;
//! - the same after a new request (median of 5), whose file its destination's index,
//!   which lists every document of the destination, must now list too;
//! - the pass a restarted `promised serve` runs first when nothing changed (it reads the
//!   status records to rebuild its retries): pipeline runs (must be 0) and time against
//!   the one-request pass reading everything;
//! - committing min(N, 10k) changed output files against git plumbing doing the same;
//! - the peak RSS of the `promised reconcile` process for the first full pass and for
//!   the rerun;
//! - the full rerun's CPU time per pipeline run, promised's own and its pipelines',
//!   beside the plain loop's: where the difference in wall time goes.
//!
//! Absolute times depend on the machine; the ratios are what to compare.
//!
//! `--narrow-on DIR` measures only the one-request pass, 30 times, on a repository this
//! harness generated (`--generate-only`, then one `promised reconcile` in it): on a
//! machine left alone for a few minutes, so that the file system's handling of the
//! files the full passes removed does not count (see docs/performance.md).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{git, promised_binary};
use promised::git::{CommitRequest, GixStore, Store};
use promised::reconcile::{Options, PassReport, Scope, Since, reconcile};
use promised::state::{Changes, Content};

/// The allocator of the `promised` binary, so that in-process figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The pipeline step every generated Promise runs.
const STEP: &str = r#"size=$(sed -n 's/^ *size: *//p' "$KRATIX_INPUT/object.yaml"); printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  size: %s\n' "$KRATIX_OBJECT_NAME" "$KRATIX_OBJECT_NAMESPACE" "$size" > "$KRATIX_OUTPUT/configmap.yaml""#;

struct Args {
    sizes: Vec<usize>,
    work: PathBuf,
    jobs: usize,
    promises: usize,
    destinations: usize,
    /// Only generate the repositories (for profiling by hand), measure nothing.
    generate_only: bool,
    /// Only time one-request passes on this generated and reconciled repository.
    narrow_on: Option<PathBuf>,
    /// Rounds of a full rerun and the plain loop, at 10k requests or fewer.
    rounds: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        sizes: vec![1000],
        work: std::env::temp_dir().join("promised-bench"),
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        promises: 5,
        destinations: 10,
        generate_only: false,
        narrow_on: None,
        rounds: 3,
    };
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        if flag == "--generate-only" {
            args.generate_only = true;
            continue;
        }
        let value = words
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--sizes" => {
                args.sizes = value
                    .split(',')
                    .map(|s| s.parse().expect("a number"))
                    .collect()
            }
            "--work" => args.work = PathBuf::from(value),
            "--jobs" => args.jobs = value.parse().expect("a number"),
            "--promises" => args.promises = value.parse().expect("a number"),
            "--destinations" => args.destinations = value.parse().expect("a number"),
            "--narrow-on" => args.narrow_on = Some(PathBuf::from(value)),
            "--rounds" => args.rounds = value.parse().expect("a number"),
            other => {
                panic!(
                    "unknown flag {other}: --sizes, --work, --jobs, --promises, --destinations, --rounds, --generate-only, --narrow-on"
                )
            }
        }
    }
    args
}

fn main() {
    let args = parse_args();
    if let Some(dir) = &args.narrow_on {
        narrow_on(dir, &args);
        return;
    }
    println!(
        "# promised bench: {} cores, {} jobs, {}",
        cores(),
        args.jobs,
        git(Path::new("."), &["--version"]).trim()
    );
    println!();
    println!("| size | measure | promised | baseline | ratio | target |");
    println!("|---|---|---|---|---|---|");
    let mut narrow_passes = Vec::new();
    for &size in &args.sizes {
        for row in run_size(&args, size, &mut narrow_passes) {
            println!("{row}");
            std::io::stdout().flush().unwrap();
        }
    }
    if let (Some(small), Some(large)) = (narrow_passes.first(), narrow_passes.last())
        && large.size > small.size
    {
        let line = |what: &str, small_time: Duration, large_time: Duration, target: &str| {
            println!(
                "{what}: {:.3} s at {} requests, {:.3} s at {}: {:.2}x{target}",
                small_time.as_secs_f64(),
                small.size,
                large_time.as_secs_f64(),
                large.size,
                large_time.as_secs_f64() / small_time.as_secs_f64()
            );
        };
        println!();
        line(
            "one-request narrow pass",
            small.changed,
            large.changed,
            " (target ≤ 1.5x)",
        );
        line("one new request, narrow pass", small.added, large.added, "");
    }
}

/// Times 30 one-request passes on the reconciled repository `dir`, each after a commit
/// that changes request 0, and prints their median, least and most.
fn narrow_on(dir: &Path, args: &Args) {
    let store = GixStore::open(dir, Some("main")).unwrap();
    let options = Options {
        jobs: args.jobs,
        ..Options::default()
    };
    let mut times: Vec<Duration> = (0..30)
        .map(|_| {
            let read = git(dir, &["rev-parse", "main"]).trim().to_string();
            let path = request_path(0, args.promises);
            // The other size than the request has now, whatever rounds ran before
            // (the harness's own leave it large): a round that changed nothing would
            // run nothing.
            let now = git(dir, &["show", &format!("main:{path}")]);
            let size = if now.contains("size: large") {
                "small"
            } else {
                "large"
            };
            append_commit(dir, &path, &request_text(0, args.promises, size));
            let head = git(dir, &["rev-parse", "main"]).trim().to_string();
            let since = Since {
                inputs: read.clone(),
                outputs: read.clone(),
            };
            let (took, report) = daemon_sync(&store, &read, &head, since, &options);
            assert!(report.narrow && report.pipelines_run == 1);
            took
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{}: one-request narrow pass, 30 rounds: median {:.2} ms, least {:.2} ms, most {:.2} ms",
        dir.display(),
        ms(times[15]),
        ms(times[0]),
        ms(times[29])
    );
}

/// The daemon's narrow passes at one size: after a changed request, and after a new one.
struct NarrowPasses {
    size: usize,
    changed: Duration,
    added: Duration,
}

/// One line of the table.
struct Row {
    size: usize,
    what: String,
    ours: String,
    baseline: String,
    ratio: Option<f64>,
    target: &'static str,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ratio = self.ratio.map_or("".to_string(), |r| format!("{r:.2}x"));
        write!(
            f,
            "| {} | {} | {} | {} | {ratio} | {} |",
            self.size, self.what, self.ours, self.baseline, self.target
        )
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn run_size(args: &Args, size: usize, narrow_passes: &mut Vec<NarrowPasses>) -> Vec<Row> {
    let dir = args.work.join(format!("platform-{size}"));
    if dir.exists() {
        fs_err::remove_dir_all(&dir).unwrap();
    }
    fs_err::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    generate(&dir, size, args.promises, args.destinations);
    eprintln!(
        "size {size}: generated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut rows = Vec::new();
    if args.generate_only {
        eprintln!("size {size}: {}", dir.display());
        return rows;
    }

    // A full pass by the binary: its time, its output and its peak RSS.
    let jobs = args.jobs.to_string();
    let full_pass = || {
        let started = Instant::now();
        let repo = dir.to_str().unwrap();
        let (stdout, usage) = run_promised(&dir, &["reconcile", "--repo", repo, "--jobs", &jobs]);
        (started.elapsed(), stdout, usage)
    };

    // The first full pass: everything is new.
    let (first, _, usage) = full_pass();
    eprintln!("size {size}: first pass in {:.1} s", first.as_secs_f64());
    rows.push(Row {
        size,
        what: "peak RSS of the first full pass (`promised reconcile`)".into(),
        ours: format!("{} MiB", usage.peak_rss_kib / 1024),
        baseline: "".into(),
        ratio: None,
        target: "≤ 256 MiB at 100k",
    });

    // A full rerun: every pipeline runs again, nothing changes. Then the plain loop;
    // in rounds, each a rerun then the loop, so that each ratio compares two runs made
    // seconds apart.
    let rounds = if size <= 10_000 {
        args.rounds.max(1)
    } else {
        1
    };
    let mut measured: Vec<Rerun> = (0..rounds)
        .map(|round| {
            let (rerun, stdout, usage) = full_pass();
            assert!(
                stdout.contains(&format!(
                    "{size} requests ({size} ready and unchanged), 0 with problems"
                )) && stdout.contains("nothing changed, no commit"),
                "a rerun of unchanged inputs commits nothing: {}",
                stdout.lines().last().unwrap_or_default()
            );
            let (plain, plain_cpu) = plain_loop(size, args.jobs);
            let ratio = rerun.as_secs_f64() / plain.as_secs_f64();
            eprintln!(
                "size {size}: rerun round {}: {:.3} s, plain loop {:.3} s: {ratio:.2}x",
                round + 1,
                rerun.as_secs_f64(),
                plain.as_secs_f64()
            );
            Rerun {
                rerun,
                usage,
                plain,
                plain_cpu,
                ratio,
            }
        })
        .collect();
    let peak = measured.iter().map(|m| m.usage.peak_rss_kib).max().unwrap();
    rows.push(Row {
        size,
        what: "peak RSS of a full rerun (`promised reconcile`, nothing to commit)".into(),
        ours: format!("{} MiB", peak / 1024),
        baseline: "".into(),
        ratio: None,
        target: "≤ 256 MiB at 100k",
    });
    let ratios: Vec<String> = measured
        .iter()
        .map(|m| format!("{:.2}x", m.ratio))
        .collect();
    measured.sort_by(|a, b| a.ratio.total_cmp(&b.ratio));
    let Rerun {
        rerun,
        usage: rerun_usage,
        plain,
        plain_cpu,
        ratio,
    } = measured.swap_remove(rounds / 2);
    rows.push(Row {
        size,
        what: match rounds {
            1 => format!(
                "full rerun of {size} one-step pipelines (process) vs a plain loop spawning the step"
            ),
            _ => format!(
                "full rerun of {size} one-step pipelines (process) vs a plain loop spawning the step: the median of {rounds} rounds ({})",
                ratios.join(", ")
            ),
        },
        ours: seconds(rerun),
        baseline: seconds(plain),
        ratio: Some(ratio),
        target: "≤ 1.2x at 10k",
    });
    // The same two, in CPU time per pipeline run (of the median round): steadier than
    // wall time, and it tells promised's own work from its pipelines'.
    let per_run = |ms: u64| format!("{:.0} µs", ms as f64 * 1000.0 / size as f64);
    rows.push(Row {
        size,
        what: "the full rerun's CPU per pipeline run: promised's own vs the plain loop's own"
            .into(),
        ours: per_run(rerun_usage.own_cpu_ms),
        baseline: per_run(plain_cpu.own_ms),
        ratio: None,
        target: "",
    });
    rows.push(Row {
        size,
        what: "the full rerun's CPU per pipeline run: the pipelines' (`sh`, `sed`) under promised vs under the plain loop".into(),
        ours: per_run(rerun_usage.children_cpu_ms),
        baseline: per_run(plain_cpu.children_ms),
        ratio: Some(rerun_usage.children_cpu_ms as f64 / plain_cpu.children_ms as f64),
        target: "",
    });

    let store = GixStore::open(&dir, Some("main")).unwrap();
    let options = Options {
        jobs: args.jobs,
        ..Options::default()
    };
    let process = promised::executor::ProcessExecutor::default();

    // A no-op sync: the commit changes only a file promised does not read.
    let a = git(&dir, &["rev-parse", "main"]).trim().to_string();
    append_commit(&dir, "README.md", "A platform.\n");
    let b = git(&dir, &["rev-parse", "main"]).trim().to_string();
    let noop = median(|| {
        // As a daemon's sync: its repository stays open, each sync's store is new.
        let changed = store
            .at_reference("refs/heads/main")
            .changed_inputs(&a, &b)
            .unwrap();
        assert!(Scope::from_changed_paths(&changed).is_empty());
    });
    let diff = median(|| {
        git(&dir, &["diff", "--name-only", &a, &b]);
    });
    rows.push(Row {
        size,
        what: "no-op sync vs `git diff --name-only A B`".into(),
        ours: format!("{:.2} ms", noop.as_secs_f64() * 1e3),
        baseline: format!("{:.2} ms", diff.as_secs_f64() * 1e3),
        ratio: Some(noop.as_secs_f64() / diff.as_secs_f64()),
        target: "≤ 2x at 100k",
    });

    // One changed request, as the daemon's next sync sees it: one pipeline run, read
    // narrowly (only that request), against the same pass reading the whole branch.
    let since = Since {
        inputs: b.clone(),
        outputs: a.clone(),
    };
    append_commit(
        &dir,
        &request_path(0, args.promises),
        &request_text(0, args.promises, "large"),
    );
    let c = git(&dir, &["rev-parse", "main"]).trim().to_string();
    git(&dir, &["branch", "--force", "wide", &c]);
    let wide_store = GixStore::open(&dir, Some("wide")).unwrap();
    let started = Instant::now();
    let scope = Scope::from_changed_paths(&store.changed_inputs(&b, &c).unwrap());
    let report = reconcile(&wide_store, None, &scope, &process, &options, &|_| {}).unwrap();
    let wide = started.elapsed();
    assert_eq!(report.pipelines_run, 1, "one change, one pipeline run");
    assert!(!report.narrow);
    let narrow = median_of(5, |round| {
        let (read, size) = match round {
            0 => (b.clone(), "large"),
            _ => (
                git(&dir, &["rev-parse", "main"]).trim().to_string(),
                ["large", "small"][round % 2],
            ),
        };
        if round > 0 {
            append_commit(
                &dir,
                &request_path(0, args.promises),
                &request_text(0, args.promises, size),
            );
        }
        let head = git(&dir, &["rev-parse", "main"]).trim().to_string();
        let since = match round {
            0 => since.clone(),
            _ => Since {
                inputs: read.clone(),
                outputs: read.clone(),
            },
        };
        let (took, report) = daemon_sync(&store, &read, &head, since, &options);
        assert!(
            report.narrow,
            "the pass after one changed request is narrow"
        );
        assert_eq!(report.pipelines_run, 1, "one change, one pipeline run");
        took
    });
    rows.push(Row {
        size,
        what: "one changed request: 1 pipeline run, narrow pass (median of 5) vs the same pass reading everything".into(),
        ours: seconds(narrow),
        baseline: seconds(wide),
        ratio: Some(narrow.as_secs_f64() / wide.as_secs_f64()),
        target: "100k within 1.5x of 1k",
    });

    // A new request: its file comes into its destination's index, which lists every
    // document of the destination and is read and written again whole.
    let added = median_of(5, |round| {
        let read = git(&dir, &["rev-parse", "main"]).trim().to_string();
        let i = size + round;
        append_commit(
            &dir,
            &request_path(i, args.promises),
            &request_text(i, args.promises, "small"),
        );
        let head = git(&dir, &["rev-parse", "main"]).trim().to_string();
        let since = Since {
            inputs: read.clone(),
            outputs: read.clone(),
        };
        let (took, report) = daemon_sync(&store, &read, &head, since, &options);
        assert!(report.narrow, "the pass after one new request is narrow");
        assert_eq!(report.pipelines_run, 1, "one new request, one pipeline run");
        took
    });
    rows.push(Row {
        size,
        what: "one new request: 1 pipeline run, narrow pass that rewrites its destination's index (median of 5)".into(),
        ours: seconds(added),
        baseline: "".into(),
        ratio: None,
        target: "",
    });
    narrow_passes.push(NarrowPasses {
        size,
        changed: narrow,
        added,
    });
    let one = wide;

    // A restart with nothing changed meanwhile: the first sync's pass, of an empty scope.
    let started = Instant::now();
    let report = reconcile(&store, None, &Scope::default(), &process, &options, &|_| {}).unwrap();
    let restart = started.elapsed();
    assert_eq!(report.pipelines_run, 0, "a restart reruns nothing");
    assert_eq!(report.output_commit, None, "and commits nothing");
    rows.push(Row {
        size,
        what: format!(
            "restart of serve, nothing changed: {} pipeline runs, first pass (reads everything) vs the one-request pass reading everything",
            report.pipelines_run
        ),
        ours: seconds(restart),
        baseline: seconds(one),
        ratio: Some(restart.as_secs_f64() / one.as_secs_f64()),
        target: "0 runs",
    });

    // Writing and committing changed output files.
    let files = size.min(10_000);
    let (ours, plumbing) = commit_files(&dir, &store, files);
    rows.push(Row {
        size,
        what: format!("write and commit {files} changed files vs git plumbing"),
        ours: seconds(ours),
        baseline: seconds(plumbing),
        ratio: Some(ours.as_secs_f64() / plumbing.as_secs_f64()),
        target: "≤ 1x",
    });
    rows
}

/// The pass of a daemon's sync from input commit `read` to `head`, timed: a new store
/// on the repository `store` keeps open (as the daemon's), the changed inputs, and a
/// pass that may be narrow after one that left `since`.
fn daemon_sync(
    store: &GixStore,
    read: &str,
    head: &str,
    since: Since,
    options: &Options,
) -> (Duration, PassReport) {
    let process = promised::executor::ProcessExecutor::default();
    let started = Instant::now();
    let sync = store.at_reference("refs/heads/main");
    let mut scope = Scope::from_changed_paths(&sync.changed_inputs(read, head).unwrap());
    scope.since = Some(since);
    let report = reconcile(&sync, None, &scope, &process, options, &|_| {}).unwrap();
    (started.elapsed(), report)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What a run of the promised binary used, as it reports it.
struct Usage {
    peak_rss_kib: u64,
    own_cpu_ms: u64,
    /// Of the processes it started and waited for: its pipelines.
    children_cpu_ms: u64,
}

/// Runs the promised binary next to this example; returns its stdout and what it used.
fn run_promised(dir: &Path, args: &[&str]) -> (String, Usage) {
    let binary = promised_binary();
    let output = Command::new(&binary)
        .args(args)
        .env("PROMISED_REPORT_USAGE", "1")
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; build it first with cargo build --release",
                binary.display()
            )
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let peak_rss_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("promised: peak RSS "))
        .and_then(|rest| rest.trim_end_matches(" KiB").parse().ok())
        .expect("the binary reports its peak RSS");
    // "promised: CPU 1234 ms own, 5678 ms of its children"
    let (own_cpu_ms, children_cpu_ms) = stderr
        .lines()
        .find_map(|l| l.strip_prefix("promised: CPU "))
        .and_then(|rest| {
            let (own, children) = rest.split_once(" ms own, ")?;
            let children = children.strip_suffix(" ms of its children")?;
            Some((own.parse().ok()?, children.parse().ok()?))
        })
        .expect("the binary reports its CPU time");
    let usage = Usage {
        peak_rss_kib,
        own_cpu_ms,
        children_cpu_ms,
    };
    (String::from_utf8_lossy(&output.stdout).into_owned(), usage)
}

fn request_path(i: usize, promises: usize) -> String {
    format!("requests/p{}/team-{}/r{i}.yaml", i % promises, i % 50)
}

fn request_text(i: usize, promises: usize, size: &str) -> String {
    format!(
        "apiVersion: bench.promised.dev/v1\nkind: Bench{}\nmetadata:\n  name: r{i}\n  namespace: team-{}\nspec:\n  size: {size}\n",
        i % promises,
        i % 50
    )
}

fn promise_text(p: usize) -> String {
    format!(
        r#"apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata:
  name: p{p}
spec:
  api:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    spec:
      group: bench.promised.dev
      names: {{kind: Bench{p}, plural: bench{p}s}}
      scope: Namespaced
      versions:
        - name: v1
          served: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: object
                  required: [size]
                  properties:
                    size: {{type: string, enum: [small, large]}}
  workflows:
    resource:
      configure:
        - apiVersion: platform.kratix.io/v1alpha1
          kind: Pipeline
          metadata: {{name: configure}}
          spec:
            containers:
              - name: render
                image: bench/p{p}:v1
                command: [sh, -c]
                args: ['{}']
"#,
        STEP.replace('\'', "''")
    )
}

/// A bare repository with the platform on `main`, written by `git fast-import`.
fn generate(dir: &Path, requests: usize, promises: usize, destinations: usize) {
    git(dir, &["init", "--quiet", "--bare", "--initial-branch=main"]);
    let mut files: Vec<(String, String)> = Vec::new();
    for p in 0..promises {
        files.push((format!("promises/p{p}.yaml"), promise_text(p)));
    }
    for d in 0..destinations {
        files.push((
            format!("destinations/d{d}.yaml"),
            format!("apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata:\n  name: d{d}\n  labels:\n    region: r{}\n", d % 3),
        ));
    }
    for i in 0..requests {
        files.push((
            request_path(i, promises),
            request_text(i, promises, "small"),
        ));
    }
    fast_import(dir, None, &files, "The platform");
}

fn append_commit(dir: &Path, path: &str, text: &str) {
    fast_import(
        dir,
        Some("main"),
        &[(path.to_string(), text.to_string())],
        "A change",
    );
}

fn fast_import(dir: &Path, parent: Option<&str>, files: &[(String, String)], message: &str) {
    let mut stream = Vec::new();
    writeln!(stream, "commit refs/heads/main").unwrap();
    writeln!(
        stream,
        "committer Bench <bench@example.com> 1800000000 +0000"
    )
    .unwrap();
    writeln!(stream, "data {}\n{message}", message.len()).unwrap();
    if let Some(parent) = parent {
        let id = git(dir, &["rev-parse", parent]);
        writeln!(stream, "from {}", id.trim()).unwrap();
    }
    for (path, text) in files {
        writeln!(
            stream,
            "M 100644 inline {path}\ndata {}\n{text}",
            text.len()
        )
        .unwrap();
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", "--force"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
}

/// One round of a full rerun and the plain loop.
struct Rerun {
    rerun: Duration,
    usage: Usage,
    plain: Duration,
    plain_cpu: PlainCpu,
    /// The rerun's time over the loop's.
    ratio: f64,
}

/// CPU time used by the plain loop: its threads', and its children's.
struct PlainCpu {
    own_ms: u64,
    children_ms: u64,
}

/// The baseline for a full pass: the same step spawned `n` times by `jobs` threads,
/// each with its own input and output folder. Also the CPU time it took, measured as
/// this process's before and after (nothing else runs meanwhile).
fn plain_loop(n: usize, jobs: usize) -> (Duration, PlainCpu) {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    let cpu_ms = |who| {
        let usage = getrusage(who).unwrap();
        (usage.user_time().num_milliseconds() + usage.system_time().num_milliseconds()) as u64
    };
    let before = (
        cpu_ms(UsageWho::RUSAGE_SELF),
        cpu_ms(UsageWho::RUSAGE_CHILDREN),
    );
    let work = tempfile::tempdir().unwrap();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for worker in 0..jobs {
            let dir = work.path().join(worker.to_string());
            let next = &next;
            scope.spawn(move || {
                let (input, output) = (dir.join("input"), dir.join("output"));
                fs_err::create_dir_all(&input).unwrap();
                fs_err::create_dir_all(&output).unwrap();
                fs_err::write(input.join("object.yaml"), request_text(0, 1, "small")).unwrap();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    let status = Command::new("sh")
                        .args(["-c", STEP])
                        .env("KRATIX_INPUT", &input)
                        .env("KRATIX_OUTPUT", &output)
                        .env("KRATIX_OBJECT_NAME", "r0")
                        .env("KRATIX_OBJECT_NAMESPACE", "team-0")
                        .status()
                        .unwrap();
                    assert!(status.success());
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let cpu = PlainCpu {
        own_ms: cpu_ms(UsageWho::RUSAGE_SELF) - before.0,
        children_ms: cpu_ms(UsageWho::RUSAGE_CHILDREN) - before.1,
    };
    (elapsed, cpu)
}

/// The median of seven runs.
/// The median of `rounds` times that `f` reports for round 0, 1, …
fn median_of(rounds: usize, mut f: impl FnMut(usize) -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..rounds).map(&mut f).collect();
    times.sort();
    times[rounds / 2]
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..7)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[3]
}

/// Commits `n` changed files with the gix store, and then the same files with git
/// plumbing (hash-object, update-index, write-tree, commit-tree) on a temporary index.
fn commit_files(dir: &Path, store: &GixStore, n: usize) -> (Duration, Duration) {
    let content = |round: usize, i: usize| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f{i}\ndata:\n  round: \"{round}\"\n"
        )
    };
    let path = |i: usize| format!("state/bench/f{}/f{i}.yaml", i % 100);
    let base = store.snapshot().unwrap();
    let changes = Changes {
        upserts: (0..n)
            .map(|i| (path(i), Content::Bytes(content(1, i).into_bytes())))
            .collect(),
        removals: Default::default(),
    };
    let request = CommitRequest {
        name: "bench",
        email: "bench@example.com",
        message: "bench: write files",
    };
    let started = Instant::now();
    store.commit(&base, &changes, &request).unwrap();
    let ours = started.elapsed();

    let files = tempfile::tempdir().unwrap();
    for i in 0..n {
        fs_err::write(files.path().join(format!("f{i}")), content(2, i)).unwrap();
    }
    let index = files.path().join("index");
    let started = Instant::now();
    let head = git(dir, &["rev-parse", "main"]);
    let plumbing = |args: &[&str], input: Option<String>| -> String {
        let mut child = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_INDEX_FILE", &index)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            if let Some(input) = input {
                stdin.write_all(input.as_bytes()).unwrap();
            }
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(output.status.success(), "git {args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    plumbing(&["read-tree", head.trim()], None);
    let paths: String = (0..n)
        .map(|i| format!("{}\n", files.path().join(format!("f{i}")).display()))
        .collect();
    let ids = plumbing(&["hash-object", "-w", "--stdin-paths"], Some(paths));
    let info: String = ids
        .lines()
        .enumerate()
        .map(|(i, id)| format!("100644 {id}\t{}\n", path(i)))
        .collect();
    plumbing(&["update-index", "--index-info"], Some(info));
    let tree = plumbing(&["write-tree"], None);
    let commit = plumbing(
        &[
            "commit-tree",
            tree.trim(),
            "-p",
            head.trim(),
            "-m",
            "plumbing: write files",
        ],
        None,
    );
    plumbing(
        &["update-ref", "refs/heads/main", commit.trim(), head.trim()],
        None,
    );
    (ours, started.elapsed())
}

/// CI runs the harness at 1k requests and asserts what it asserts (one change, one
/// pipeline run; a rerun of unchanged inputs commits nothing), never timings.
#[test]
fn the_harness_runs_at_1k() {
    let work = tempfile::tempdir().unwrap();
    let args = Args {
        sizes: vec![1000],
        work: work.path().to_path_buf(),
        jobs: 2,
        promises: 5,
        destinations: 10,
        generate_only: false,
        narrow_on: None,
        // Two, so that the rounds are taken apart as at 10k; each is a rerun and a loop.
        rounds: 2,
    };
    promised_binary();
    let mut narrow_passes = Vec::new();
    let rows = run_size(&args, 1000, &mut narrow_passes);
    // `--narrow-on`, as the docs say to use it: every pass narrow, one run each.
    let dir = work.path().join("narrow-on");
    fs_err::create_dir_all(&dir).unwrap();
    generate(&dir, 200, args.promises, args.destinations);
    run_promised(&dir, &["reconcile", "--repo", dir.to_str().unwrap()]);
    narrow_on(&dir, &args);
    assert_eq!(rows.len(), 10);
    assert_eq!(narrow_passes.len(), 1, "the one-request passes were narrow");
    for row in rows {
        eprintln!("{row}");
    }
}
