//! The compatibility corpus, `tests/compat/`: Promises written for this project in the
//! shapes Kratix documents (marketplace Promises, Promise workflows, delete workflows,
//! required Promises, the seed era's form, Terraform writers, ...). Each case folder is
//! one platform repository (its `promises/`, `destinations/` and `requests/`, with the
//! destinations of `_shared/` added); see `tests/compat/README.md`.
//!
//! For every case: `validate` passes (its warnings are snapshotted), `reconcile` runs
//! it end to end on the process executor, the managed tree (every file under `state/`
//! and `status/`, with its content) is snapshotted, and a second `reconcile` commits
//! nothing. A case with a `then-remove` file then has those files removed and is
//! reconciled again (delete workflows), snapshotted and rerun the same way.

use std::path::{Path, PathBuf};

use crate::podman::image;
use crate::support::{TestRepo, copy_dir, promised};

/// Cases where `reconcile` exits 1 on the process executor by design, and why; every
/// other case must reconcile with exit code 0.
const EXIT_1_ON_PROCESS: [(&str, &str); 1] = [(
    "seed-era-pipeline",
    "xaasRequestPipeline images have no command; the process executor runs commands",
)];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat")
}

/// The case folders, sorted: every folder of `tests/compat/` but `_shared`.
fn cases() -> Vec<String> {
    let mut cases: Vec<String> = fs_err::read_dir(corpus())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().into_string().unwrap())
        .filter(|name| !name.starts_with('_'))
        .collect();
    cases.sort();
    cases
}

/// A repository holding the shared destinations and the case's inputs, committed.
fn case_repo(case: &str) -> TestRepo {
    let repo = TestRepo::new();
    copy_dir(&corpus().join("_shared"), repo.path());
    for folder in ["promises", "destinations", "requests"] {
        let source = corpus().join(case).join(folder);
        if source.exists() {
            let target = repo.path().join(folder);
            fs_err::create_dir_all(&target).unwrap();
            copy_dir(&source, &target);
        }
    }
    repo.commit(&format!("The {case} case of the compatibility corpus"));
    repo
}

/// Every file under `state/` and `status/` on `main`, each with its content.
fn managed_tree(repo: &TestRepo) -> String {
    let files = repo.managed_files();
    let mut tree = String::new();
    for path in files.lines() {
        tree.push_str(&format!("--- {path}\n"));
        tree.push_str(&repo.show(path));
        if !tree.ends_with('\n') {
            tree.push('\n');
        }
    }
    tree
}

/// Runs `reconcile` with `args` and checks its exit code, then runs it with `rerun` and
/// checks that nothing was committed. Returns the first run's report and the managed
/// tree.
fn reconcile_twice(
    repo: &TestRepo,
    case: &str,
    (args, rerun): (&[&str], &[&str]),
    expected_code: i32,
) -> String {
    let run = repo.reconcile(args);
    assert_eq!(
        run.code, expected_code,
        "{case}: reconcile {args:?}\n{}{}",
        run.stdout, run.stderr
    );
    let head = repo.head();
    let rerun = repo.reconcile(rerun);
    assert_eq!(
        rerun.code, expected_code,
        "{case}: the rerun\n{}",
        rerun.stdout
    );
    assert_eq!(
        repo.head(),
        head,
        "{case}: a rerun with the same inputs commits nothing\n{}",
        rerun.stdout
    );
    format!(
        "exit code {}\n{}\n{}",
        run.code,
        run.stdout,
        managed_tree(repo)
    )
}

/// What the case shows on the process executor, as one text to snapshot, and the
/// repository it ran in.
fn run_case(case: &str) -> (TestRepo, String) {
    let repo = case_repo(case);
    let validate = promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(
        validate.code, 0,
        "{case}: validate\n{}{}",
        validate.stdout, validate.stderr
    );
    let expected = match EXIT_1_ON_PROCESS.iter().find(|(name, _)| *name == case) {
        Some(_) => 1,
        None => 0,
    };
    let mut text = format!("=== validate\n{}", validate.stdout);
    text.push_str("=== reconcile\n");
    text.push_str(&reconcile_twice(&repo, case, (&[], &[]), expected));
    text.push_str(&status(&repo));
    let then = corpus().join(case).join("then");
    if then.exists() {
        let base = repo.head();
        copy_dir(&then, repo.path());
        let head = repo.commit("Change the files of then/");
        text.push_str(&plan(&repo, case, &base, &head));
        text.push_str("=== reconcile after the changes of then/\n");
        text.push_str(&reconcile_twice(&repo, case, (&[], &[]), 0));
        text.push_str(&status(&repo));
    }
    let then_remove = corpus().join(case).join("then-remove");
    if then_remove.exists() {
        let base = repo.head();
        let paths = fs_err::read_to_string(&then_remove).unwrap();
        for path in paths.lines().filter(|line| !line.trim().is_empty()) {
            repo.remove(path.trim());
        }
        let head = repo.commit(&format!("Remove {}", paths.trim().replace('\n', ", ")));
        text.push_str(&plan(&repo, case, &base, &head));
        text.push_str("=== reconcile after removing the files of then-remove\n");
        text.push_str(&reconcile_twice(&repo, case, (&[], &[]), 0));
        text.push_str(&status(&repo));
    }
    (repo, text)
}

/// What `promised plan` says of the change from `base` to `head`; it must exit 0.
fn plan(repo: &TestRepo, case: &str, base: &str, head: &str) -> String {
    let repo_dir = repo.path().to_str().unwrap();
    let plan = promised(&["plan", "--repo", repo_dir, "--base", base, "--head", head]);
    assert_eq!(plan.code, 0, "{case}: plan\n{}{}", plan.stdout, plan.stderr);
    format!("=== plan\n{}", plan.stdout)
}

/// What `promised status` prints for the repository, and its exit code (1 when a
/// request has a problem).
fn status(repo: &TestRepo) -> String {
    let run = promised(&["status", "--repo", repo.path().to_str().unwrap()]);
    assert!(run.stderr.is_empty(), "status\n{}", run.stderr);
    format!("=== status (exit code {})\n{}", run.code, run.stdout)
}

#[test]
fn every_case_of_the_corpus_validates_reconciles_and_reruns_without_a_commit() {
    let cases = cases();
    assert!(cases.len() >= 15, "the corpus holds {cases:?}");
    for case in &cases {
        let (repo, text) = run_case(case);
        let _redacted = repo.redactions();
        insta::assert_snapshot!(format!("compat_{case}"), text);
    }
}

#[test]
fn the_corpus_holds_at_least_twenty_promises() {
    let promises: usize = cases()
        .iter()
        .map(|case| {
            let folder = corpus().join(case).join("promises");
            fs_err::read_dir(folder).map_or(0, |entries| entries.count())
        })
        .sum();
    assert!(promises >= 20, "{promises} Promises");
}

/// Builds the images a case names: the busybox base, and one image per
/// `images/<name>.sh` of the case, tagged `localhost/promised-test-compat-<name>:1`,
/// whose entrypoint runs that script.
fn build_images(case: &str) {
    image("base", None);
    let folder = corpus().join(case).join("images");
    let Ok(entries) = fs_err::read_dir(folder) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let script = fs_err::read_to_string(&path).unwrap();
        image(&format!("compat-{stem}"), Some(&script));
    }
}

#[test]
fn the_podman_cases_write_on_podman_what_they_write_on_the_process_executor() {
    if !crate::podman::here() {
        return;
    }
    for case in ["redis", "jenkins"] {
        build_images(case);
        let process = case_repo(case);
        assert_eq!(process.reconcile(&[]).code, 0, "{case} on process");
        let podman = case_repo(case);
        let run = podman.reconcile(&["--executor", "podman"]);
        assert_eq!(
            run.code, 0,
            "{case} on podman\n{}{}",
            run.stdout, run.stderr
        );
        assert_eq!(
            managed_tree(&podman),
            managed_tree(&process),
            "{case}: podman and process differ"
        );
    }
}

#[test]
fn the_seed_era_pipeline_runs_its_images_chained_on_podman() {
    if !crate::podman::here() {
        return;
    }
    let case = "seed-era-pipeline";
    build_images(case);
    let repo = case_repo(case);
    let podman: &[&str] = &["--executor", "podman"];
    let text = reconcile_twice(&repo, case, (podman, podman), 0);
    let _redacted = repo.redactions();
    insta::assert_snapshot!("compat_seed-era-pipeline_on_podman", text);
}
