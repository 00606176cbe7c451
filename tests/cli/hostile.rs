//! The hostile-input corpus: every case under `tests/hostile/` is a thing a developer, a
//! Promise author or a pipeline image might commit or do to break the platform. Each runs
//! end to end against a platform of its own, and must leave:
//! - a clear error on the request or file it names, and nowhere else;
//! - the repository intact: `git fsck --strict` clean, a fresh clone that checks out
//!   with `fetch.fsckObjects` on, and none of the case's secrets anywhere in history;
//! - the other request (`requests/app/good.yaml`) reconciled as if nothing happened;
//! - a second pass that commits nothing.
//!
//! A case is a folder holding `case.yaml` (what it is and what must happen) and `files/`
//! (copied over the base platform). With `script.sh` beside them, the case also gets a
//! Promise `hostile` whose one pipeline runs that script, and a request
//! `requests/hostile/victim.yaml` for it (the script may call `configmap PATH` to write a
//! good document). `setup.sh`, if present, runs in the platform's
//! worktree before the commit (for what a folder cannot hold: links, odd names).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{
    CONFIGMAP_SCRIPT, Run, TestRepo, app_repo, promise, request, soundness_problems,
};

/// What `case.yaml` says.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// One line: what the hostile party does.
    about: String,
    /// The problems that must be reported, each on the named file only.
    #[serde(default)]
    errors: Vec<ExpectedError>,
    /// Text that must never reach Git (secrets the case plants).
    #[serde(default)]
    never_committed: Vec<String>,
    /// A trailer the case tries to forge: no commit may carry it.
    #[serde(default)]
    forged_trailer: Option<String>,
    /// Arguments added to `promised reconcile`.
    #[serde(default)]
    args: Vec<String>,
    /// Expected exit code of the first pass.
    #[serde(default = "exit_with_problems")]
    exit: i32,
    /// Status files on `main` may not be larger than this many bytes.
    #[serde(default)]
    max_status_bytes: Option<usize>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    /// The input file whose problem it is: a request's status names it as
    /// `request.path`, any other file is named on a line of the pass's report.
    file: String,
    /// Text the status or the report line must contain.
    contains: String,
}

fn exit_with_problems() -> i32 {
    1
}

/// What every case's script may call: `configmap PATH` writes a good ConfigMap there.
const SCRIPT_PRELUDE: &str = r#"configmap() {
cat > "$1" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
}
"#;

/// A pipeline script for the `hostile` Promise: the case's own script, after
/// [`SCRIPT_PRELUDE`], run in place of a real image.
fn hostile_promise(script: &str) -> String {
    promise("hostile", "", &format!("{SCRIPT_PRELUDE}{script}"))
        .replace("apps.test.promised.dev", "hostiles.test.promised.dev")
        .replace("group: test.promised.dev", "group: hostile.promised.dev")
        .replace("kind: App, plural: apps", "kind: Hostile, plural: hostiles")
}

const VICTIM: &str = "apiVersion: hostile.promised.dev/v1\nkind: Hostile\nmetadata:\n  name: victim\n  namespace: team\nspec:\n  size: small\n";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs_err::read_dir(corpus())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("case.yaml").is_file())
        .collect();
    cases.sort();
    cases
}

fn copy_into(from: &Path, to: &Path) {
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs_err::create_dir_all(&target).unwrap();
            copy_into(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), target).unwrap();
        }
    }
}

/// The platform every case starts from: the `app` Promise, destinations `dev` and `prod`,
/// and one good request, reconciled once. Then the case's change is committed, with a
/// change to the good request that the next pass must still carry out.
fn platform(dir: &Path) -> TestRepo {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/good.yaml", &request("good", "team", "small"));
    repo.commit("The platform");
    let first = repo.reconcile(&[]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    repo.write("requests/app/good.yaml", &request("good", "team", "large"));
    if dir.join("files").is_dir() {
        copy_into(&dir.join("files"), repo.path());
    }
    if let Ok(script) = fs_err::read_to_string(dir.join("script.sh")) {
        repo.write("promises/hostile.yaml", &hostile_promise(&script));
        repo.write("requests/hostile/victim.yaml", VICTIM);
    }
    if dir.join("setup.sh").is_file() {
        let status = Command::new("sh")
            .arg(dir.join("setup.sh"))
            .current_dir(repo.path())
            .status()
            .unwrap();
        assert!(status.success(), "setup.sh failed");
    }
    repo.commit("What the case adds");
    repo
}

/// Runs one case; returns what it is about and what went wrong, if anything.
fn run_case(dir: &Path) -> (String, Vec<String>) {
    let text = fs_err::read_to_string(dir.join("case.yaml")).unwrap();
    let case: Case = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("case.yaml").display()));
    let repo = platform(dir);
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };

    let mut args: Vec<&str> = vec!["--timeout", "20s"];
    args.extend(case.args.iter().map(String::as_str));
    let run = reconcile_within_deadline(&repo, &args);
    let output = format!("stdout:\n{}stderr:\n{}", run.stdout, run.stderr);
    check(
        run.code == case.exit,
        format!("exit code {} (expected {})\n{output}", run.code, case.exit),
    );

    let statuses = status_files(&repo);
    let good = statuses
        .iter()
        .find(|(path, _)| path == "status/app/team/good.yaml");
    check(
        good.is_some_and(|(_, text)| text.contains("phase: Ready")),
        format!("the good request is not Ready\n{output}"),
    );
    let managed = repo.managed_files();
    let good_output = managed
        .lines()
        .find(|p| p.ends_with("/resources/team/app/good/configmap.yaml"));
    check(
        good_output.is_some_and(|path| repo.show(path).contains("size: large")),
        format!("the good request's change was not carried out:\n{managed}"),
    );

    for expected in &case.errors {
        // A file of several requests has several statuses: any of them may say it.
        let of_file = format!("  request:\n    path: {}\n", expected.file);
        let mut of_file = statuses.iter().filter(|(_, text)| text.contains(&of_file));
        let status = of_file
            .clone()
            .find(|(_, text)| text.contains(&expected.contains))
            .or_else(|| of_file.next());
        let found = status.is_some_and(|(_, text)| text.contains(&expected.contains))
            || run
                .stdout
                .lines()
                .any(|line| line.contains(&expected.file) && line.contains(&expected.contains));
        check(
            found,
            format!(
                "no error containing {:?} on {} (status found: {})\n{output}\n{}",
                expected.contains,
                expected.file,
                status.map_or("none", |(path, _)| path),
                status.map_or("", |(_, text)| text),
            ),
        );
    }
    let blamed: Vec<&str> = case.errors.iter().map(|e| e.file.as_str()).collect();
    for (path, text) in &statuses {
        let innocent = !blamed
            .iter()
            .any(|file| text.contains(&format!("path: {file}\n")));
        // A request's status says `phase: Ready`; a Promise's `availability: Available`.
        let fine = text.contains("phase: Ready") || text.contains("availability: Available");
        check(
            !innocent || fine,
            format!("{path} is not Ready, but the case blames no such file:\n{text}"),
        );
        if let Some(limit) = case.max_status_bytes {
            check(
                text.len() <= limit,
                format!("{path} holds {} bytes (limit {limit})", text.len()),
            );
        }
    }

    check_repository(&repo, &case, &mut check);

    let head = repo.head();
    let again = reconcile_within_deadline(&repo, &args);
    check(
        again.code == case.exit && repo.head() == head,
        format!(
            "a second pass changed something (exit {}, head moved: {})\n{}{}",
            again.code,
            repo.head() != head,
            again.stdout,
            again.stderr
        ),
    );
    (case.about, failures)
}

/// `git fsck --strict`, a clone that checks every object and checks out, and no planted
/// secret anywhere in history.
fn check_repository(repo: &TestRepo, case: &Case, check: &mut impl FnMut(bool, String)) {
    for problem in soundness_problems(repo.path()) {
        check(false, problem);
    }

    let history = Command::new("git")
        .args(["log", "-p", "--all", "--format=%B"])
        .current_dir(repo.path())
        .output()
        .unwrap()
        .stdout;
    let history = String::from_utf8_lossy(&history);
    if let Some(forged) = &case.forged_trailer {
        let trailers = repo.git(&["log", "--all", "--format=%(trailers:only,unfold)"]);
        check(
            !trailers
                .lines()
                .any(|line| line.starts_with(forged.as_str())),
            format!("a commit carries the forged trailer {forged:?}:\n{trailers}"),
        );
    }
    for secret in &case.never_committed {
        check(
            !history.contains(secret.as_str()),
            format!("{secret:?} reached Git history"),
        );
    }
}

/// `promised reconcile`, killed if it outlives a deadline far past `--timeout`: a case
/// that makes a pass hang (a FIFO read blindly) or grow without bound (`/dev/zero`)
/// fails instead of stopping the test run.
fn reconcile_within_deadline(repo: &TestRepo, args: &[&str]) -> Run {
    let output = Command::new("timeout")
        .args(["--signal=KILL", "45"])
        .arg(env!("CARGO_BIN_EXE_promised"))
        .args(["reconcile", "--repo"])
        .arg(repo.path())
        .args(args)
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every status file on `main`, with its text.
fn status_files(repo: &TestRepo) -> Vec<(String, String)> {
    let listing = repo.git(&["ls-tree", "-r", "-z", "--name-only", "main", "--", "status"]);
    listing
        .split('\0')
        .filter(|path| !path.is_empty())
        .map(|path| (path.to_string(), repo.show(path)))
        .collect()
}

#[test]
fn every_hostile_case_is_contained_to_its_own_file() {
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus lost cases: {}", cases.len());
    let mut report = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (about, failures) = run_case(dir);
        if !failures.is_empty() {
            report.push(format!("## {name}: {about}\n{}", failures.join("\n")));
        }
    }
    assert!(
        report.is_empty(),
        "{} of {} hostile cases failed:\n\n{}",
        report.len(),
        cases.len(),
        report.join("\n\n")
    );
}
