//! The gix store against the `git` program: what it reads and what it writes.

use std::collections::{BTreeMap, BTreeSet};

use promised::git::{CommitRequest, GitError, GixStore, Store};
use promised::state::Changes;

use crate::support::TestRepo;

fn author(message: &str) -> CommitRequest<'_> {
    CommitRequest {
        name: "promised",
        email: "promised@localhost",
        message,
    }
}

#[test]
fn a_concurrent_writer_is_detected_and_never_overwritten() {
    let repo = TestRepo::new();
    repo.write("requests/app/a.yaml", "a");
    repo.commit("First");
    let store = GixStore::open(repo.path(), Some("main")).unwrap();
    let base = store.snapshot().unwrap();

    repo.write("requests/app/b.yaml", "b");
    let theirs = repo.commit("Someone else commits meanwhile");

    let changes = Changes {
        upserts: BTreeMap::from([("status/x.yaml".to_string(), b"x".to_vec())]),
        removals: BTreeSet::new(),
    };
    let err = store
        .commit(&base, &changes, &author("promised: late"))
        .unwrap_err();
    assert!(matches!(err, GitError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("nothing was overwritten"), "{err}");
    assert_eq!(repo.head(), theirs);
}

#[test]
fn blob_ids_match_git_hash_object() {
    let repo = TestRepo::new();
    let store = GixStore::open(repo.path(), Some("main")).unwrap();
    repo.write("x.txt", "hello\n");
    let expected = repo.git(&["hash-object", "x.txt"]);
    assert_eq!(store.blob_id(b"hello\n"), expected.trim());
}

#[test]
fn removing_the_last_file_of_a_folder_removes_the_folder() {
    let repo = TestRepo::new();
    repo.write("status/app/team/a.yaml", "a");
    repo.write("requests/app/a.yaml", "a");
    repo.commit("First");
    let store = GixStore::open(repo.path(), None).unwrap();
    let base = store.snapshot().unwrap();
    let changes = Changes {
        upserts: BTreeMap::new(),
        removals: BTreeSet::from(["status/app/team/a.yaml".to_string()]),
    };
    store
        .commit(&base, &changes, &author("promised: remove"))
        .unwrap();
    assert_eq!(
        repo.git(&["ls-tree", "-r", "-t", "--name-only", "main"]),
        "requests\nrequests/app\nrequests/app/a.yaml\n"
    );
    repo.git(&["fsck", "--strict"]);
}
