//! Symbolic links and submodules under the input folders are reported, never followed.

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, promised, request};

/// A repository with request `a`, a link to a file outside the repository beside it,
/// a link under `destinations/`, and a submodule under `requests/app/`.
fn repo_with_links() -> TestRepo {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("outside.yaml", &request("secret", "team", "small"));
    let outside = repo.path().join("outside.yaml");
    std::os::unix::fs::symlink(&outside, repo.path().join("requests/app/link.yaml")).unwrap();
    std::os::unix::fs::symlink("dev.yaml", repo.path().join("destinations/copy.yaml")).unwrap();
    repo.commit("Request a, and links");
    let head = repo.head();
    let gitlink = format!("160000,{head},requests/app/vendor");
    repo.git(&["update-index", "--add", "--cacheinfo", &gitlink]);
    repo.git(&["commit", "-q", "-m", "A submodule"]);
    repo
}

#[test]
fn validate_names_each_link_and_submodule_under_the_input_folders() {
    let repo = repo_with_links();
    let run = promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "destinations/copy.yaml:1: a symbolic link, which promised does not follow: commit the file itself"
        ) && run.stdout.contains(
            "requests/app/link.yaml:1: a symbolic link, which promised does not follow: commit the file itself"
        ) && run.stdout.contains(
            "requests/app/vendor:1: a submodule, whose files promised does not read: commit the files themselves"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_pass_reports_links_and_submodules_as_unreadable_and_reconciles_the_rest() {
    let repo = repo_with_links();
    let run = repo.reconcile(&[]);
    assert!(
        run.stdout.contains(
            "error    requests/app/link.yaml: a symbolic link, which promised does not follow"
        ) && run
            .stdout
            .contains("error    requests/app/vendor: a submodule")
            && run.stdout.contains("3 unreadable files"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ready    app/team/a"), "{}", run.stdout);
    let managed = repo.managed_files();
    assert!(
        !managed.contains("secret"),
        "the link is not followed: {managed}"
    );
}
