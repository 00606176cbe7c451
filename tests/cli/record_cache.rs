//! The cache of status records (decision 56): kept in the repository's own folder,
//! read by the next full pass, and never the cause of another result.

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, request};

fn cache(repo: &TestRepo) -> std::path::PathBuf {
    let refs = repo.path().join(".git/promised/refs/heads/main");
    refs.join("status-records")
}

#[test]
fn a_full_pass_takes_the_records_the_last_one_cached_and_a_damaged_cache_changes_nothing() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    for name in ["a", "b", "c"] {
        let path = format!("requests/app/{name}.yaml");
        repo.write(&path, &request(name, "team", "small"));
    }
    repo.commit("Three requests");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let head = repo.head();
    let text = fs_err::read_to_string(cache(&repo)).unwrap();
    assert_eq!(
        text.lines().count(),
        4,
        "a header, then a line per request:\n{text}"
    );

    // A rerun, whose log says where the records came from; it commits nothing.
    let rerun = |records: &str| {
        let run = repo.reconcile(&["-vv"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains(records), "{}", run.stderr);
        assert_eq!(
            repo.head(),
            head,
            "a rerun of the same inputs commits nothing"
        );
    };
    rerun("status records cached=3 read=0");

    // A write cut short: its header and half a line.
    let cut = &text[..text.find('\n').unwrap() + 40];
    fs_err::write(cache(&repo), cut).unwrap();
    rerun("status records cached=0 read=3");
    // Its lines in the order the runs ended, which two workers do not fix.
    let lines = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines.sort();
        lines
    };
    let rewritten = fs_err::read_to_string(cache(&repo)).unwrap();
    assert_eq!(lines(&rewritten), lines(&text), "written anew");

    let listed = repo.git(&["ls-tree", "-r", "--name-only", "main"]);
    assert!(!listed.contains("status-records"), "never committed");
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "nor in the worktree"
    );
}
