//! A worktree update cut short, and stale locks, are found and named.

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, request};

/// A repository whose first pass committed outputs and updated the worktree; returns
/// it with the commit before the pass.
fn reconciled() -> (TestRepo, String) {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    for name in ["a", "b", "c"] {
        let path = format!("requests/app/{name}.yaml");
        repo.write(&path, &request(name, "team", "small"));
    }
    let before = repo.commit("Three requests");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    (repo, before)
}

fn managed_status(repo: &TestRepo) -> String {
    repo.git(&["status", "--porcelain", "--", "state", "status"])
}

/// Leaves the index and worktree as `git read-tree -m -u OLD NEW` does when killed
/// before it renamed its lock: the index still holds the outputs before the pass.
fn cut_short_update(repo: &TestRepo, before: &str) {
    repo.git(&["read-tree", before]);
    repo.git(&["checkout-index", "-f", "-a"]);
    assert!(
        !managed_status(repo).is_empty(),
        "the outputs show as reverted"
    );
}

#[test]
fn an_index_left_by_a_cut_short_update_is_restored_for_outputs_only() {
    let (repo, before) = reconciled();
    cut_short_update(&repo, &before);
    // The developer's own staged and unstaged edits, which must stay.
    repo.write("README.md", "staged by the developer\n");
    repo.git(&["add", "README.md"]);
    repo.write("notes.txt", "not added\n");

    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("warning  the index held ")
            && run
                .stdout
                .contains("paths of state/ and status/ that differ from HEAD"),
        "{}",
        run.stdout
    );
    assert_eq!(managed_status(&repo), "");
    let status = repo.git(&["status", "--porcelain"]);
    assert_eq!(status, "A  README.md\n?? notes.txt\n");
}

#[test]
fn a_stale_index_lock_is_named_with_what_to_run_and_then_repaired() {
    let (repo, before) = reconciled();
    cut_short_update(&repo, &before);
    let lock = repo.path().join(".git/index.lock");
    fs_err::write(&lock, "").unwrap();

    let run = repo.reconcile(&[]);
    let rm = format!("rm '{}'", lock.display());
    assert!(
        run.stdout
            .contains(&format!("warning  {} exists", lock.display()))
            && run.stdout.contains("no git process runs in this worktree")
            && run.stdout.contains(&rm)
            && run.stdout.contains("run promised reconcile again"),
        "{}",
        run.stdout
    );
    assert!(
        lock.exists(),
        "promised does not remove a lock it did not take"
    );

    fs_err::remove_file(&lock).unwrap();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("warning  the index held "),
        "{}",
        run.stdout
    );
    assert_eq!(managed_status(&repo), "");
}

#[test]
fn a_stale_branch_lock_fails_the_commit_naming_the_lock_file() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    let lock = repo.path().join(".git/refs/heads/main.lock");
    fs_err::write(&lock, "").unwrap();

    let run = repo.reconcile(&[]);
    assert_ne!(run.code, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&lock.display().to_string()) && all.contains("remove it"),
        "{all}"
    );
}

#[test]
fn a_local_edit_that_stops_the_worktree_update_is_restored_with_the_outputs() {
    let (repo, _) = reconciled();
    repo.write("status/app/team/a.yaml", "edited by hand\n");
    repo.write("requests/app/a.yaml", &request("a", "team", "large"));
    repo.commit("Make a large");
    repo.write("status/app/team/a.yaml", "edited by hand again\n");

    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("warning  the commit is made, but the checked-out worktree was left")
            && run.stdout.contains("warning  the index held "),
        "{}",
        run.stdout
    );
    assert_eq!(managed_status(&repo), "");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}
