//! The bundled example platform, reconciled as the README's quick start does.

use crate::support::TestRepo;

#[test]
fn the_example_reconciles_into_the_documented_layout() {
    let repo = TestRepo::example();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let _redacted = repo.redactions();
    insta::assert_snapshot!("example_stdout", run.stdout);
    insta::assert_snapshot!("example_tree", repo.managed_files());
    insta::assert_snapshot!("example_commit", repo.last_message());
    insta::assert_snapshot!(
        "example_status_orders",
        repo.show("status/postgres/payments/orders.yaml")
    );
    insta::assert_snapshot!(
        "example_kustomization_dev",
        repo.show("state/dev/kustomization.yaml")
    );
    insta::assert_snapshot!(
        "example_redis_deployment",
        repo.show("state/dev/resources/team-a/redis/team-a-cache/deployment.yaml")
    );
}

#[test]
fn a_second_pass_over_unchanged_inputs_commits_nothing() {
    let repo = TestRepo::example();
    assert_eq!(repo.reconcile(&[]).code, 0);
    let after_first = repo.head();
    let second = repo.reconcile(&[]);
    assert_eq!(second.code, 0);
    assert_eq!(repo.head(), after_first, "the second pass must not commit");
    assert!(
        second.stdout.contains("nothing changed, no commit"),
        "{}",
        second.stdout
    );
}

#[test]
fn every_unit_verifies_with_sha256sum() {
    let repo = TestRepo::example();
    assert_eq!(repo.reconcile(&[]).code, 0);
    let files = repo.managed_files();
    let sums: Vec<&str> = files
        .lines()
        .filter(|p| p.ends_with("/SHA256SUMS"))
        .collect();
    assert_eq!(sums.len(), 7);
    for sum in sums {
        let dir = repo.path().join(sum.trim_end_matches("/SHA256SUMS"));
        let check = std::process::Command::new("sha256sum")
            .args(["--check", "--strict", "SHA256SUMS"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{sum}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
}

#[test]
fn the_checked_out_worktree_follows_the_commit() {
    let repo = TestRepo::example();
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert!(
        repo.path()
            .join("status/redis/team-a/team-a-cache.yaml")
            .exists()
    );
}

#[test]
fn the_same_inputs_give_a_byte_identical_tree_in_another_clone() {
    let first = TestRepo::example();
    let second = TestRepo::example();
    assert_eq!(first.reconcile(&["--jobs", "1"]).code, 0);
    assert_eq!(second.reconcile(&["--jobs", "4"]).code, 0);
    let tree = |repo: &TestRepo| repo.git(&["rev-parse", "main^{tree}"]);
    assert_eq!(tree(&first), tree(&second));
}

#[test]
fn the_quickstart_script_reconciles_the_example() {
    let target = tempfile::tempdir().unwrap();
    let target = target.path().join("platform");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.sh");
    let output = std::process::Command::new(script)
        .arg(&target)
        .env("PROMISED", env!("CARGO_BIN_EXE_promised"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("state/dev/resources/team-a/redis/team-a-cache/deployment.yaml"),
        "{stdout}"
    );
}

#[test]
fn the_repo_layout_skeleton_reconciles() {
    let repo = TestRepo::from_dir("repo-layout/skeleton");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!(repo.show("state/dev/resources/default/hello/world/configmap.yaml"), @r#"
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: hello-world
      namespace: default
    data:
      greeting: "Hello, world"
    "#);
}
