//! The gix store against the `git` program: what it reads and what it writes.

use std::collections::{BTreeMap, BTreeSet};

use promised::git::{CommitRequest, GitError, GixStore, Store};
use promised::state::{Changes, Content};

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
        upserts: BTreeMap::from([("status/x.yaml".to_string(), Content::Bytes(b"x".to_vec()))]),
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
    assert_eq!(store.blob_id(b"hello\n").to_string(), expected.trim());
}

#[test]
fn blobs_written_ahead_are_committed_by_id() {
    let repo = TestRepo::new();
    repo.write("requests/app/a.yaml", "a");
    repo.commit("First");
    let store = GixStore::open(repo.path(), Some("main")).unwrap();
    let base = store.snapshot().unwrap();
    let ids = store
        .write_blobs(&[
            ("state/dev/a.yaml", b"kind: A\n"),
            ("status/a.yaml", b"s\n"),
        ])
        .unwrap();
    assert_eq!(ids[0], store.blob_id(b"kind: A\n"));
    let changes = Changes {
        upserts: BTreeMap::from([
            ("state/dev/a.yaml".to_string(), Content::Blob(ids[0])),
            ("status/a.yaml".to_string(), Content::Blob(ids[1])),
            ("status/b.yaml".to_string(), Content::Bytes(b"b\n".to_vec())),
        ]),
        removals: BTreeSet::new(),
    };
    store
        .commit(&base, &changes, &author("promised: ids"))
        .unwrap();
    assert_eq!(repo.git(&["show", "main:state/dev/a.yaml"]), "kind: A\n");
    assert_eq!(repo.git(&["show", "main:status/b.yaml"]), "b\n");
    repo.git(&["fsck", "--strict"]);
}

#[test]
fn trees_are_ordered_as_git_orders_them() {
    let repo = TestRepo::new();
    repo.write("state/x/a/b.yaml", "old");
    repo.write("state/y/z", "a file that becomes a folder");
    repo.write("requests/app/a.yaml", "a");
    repo.commit("First");
    let store = GixStore::open(repo.path(), None).unwrap();
    let base = store.snapshot().unwrap();
    let bytes = |text: &str| Content::Bytes(text.as_bytes().to_vec());
    let changes = Changes {
        upserts: BTreeMap::from([
            ("state/x/a-b.yaml".to_string(), bytes("1")),
            ("state/x/a.yaml".to_string(), bytes("2")),
            ("state/x/a/c.yaml".to_string(), bytes("3")),
            ("state/x/a0".to_string(), bytes("4")),
            ("state/y/z/w".to_string(), bytes("5")),
        ]),
        removals: BTreeSet::from(["state/y/z".to_string()]),
    };
    store
        .commit(&base, &changes, &author("promised: edit"))
        .unwrap();
    repo.git(&["fsck", "--strict"]);
    assert_eq!(
        repo.git(&["ls-tree", "-r", "--name-only", "main"]),
        "requests/app/a.yaml\nstate/x/a-b.yaml\nstate/x/a.yaml\nstate/x/a/b.yaml\n\
         state/x/a/c.yaml\nstate/x/a0\nstate/y/z/w\n"
    );
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

#[test]
fn changed_inputs_match_git_diff() {
    let repo = TestRepo::new();
    repo.write("promises/app.yaml", "1");
    repo.write("requests/app/a.yaml", "1");
    repo.write("requests/app/team/b.yaml", "1");
    repo.write("state/dev/x.yaml", "1");
    let old = repo.commit("First");
    repo.write("requests/app/a.yaml", "2");
    repo.remove("requests/app/team/b.yaml");
    repo.write("requests/other/c.yaml", "1");
    repo.write("destinations/dev.yaml", "1");
    repo.write("state/dev/x.yaml", "2");
    repo.write("README.md", "2");
    let new = repo.commit("Second");
    let store = GixStore::open(repo.path(), Some("main")).unwrap();
    let mut ours = store.changed_inputs(&old, &new).unwrap();
    ours.sort();
    let git = repo.git(&[
        "diff",
        "--no-renames",
        "--name-only",
        &old,
        &new,
        "--",
        "promises",
        "destinations",
        "requests",
    ]);
    assert_eq!(ours, git.lines().collect::<Vec<_>>());
    assert_eq!(
        store.changed_inputs(&new, &new).unwrap(),
        Vec::<String>::new()
    );
}

/// How many objects there are in the repository: (loose, packed).
fn object_counts(repo: &TestRepo) -> (usize, usize) {
    let counts = repo.git(&["count-objects", "-v"]);
    let field = |name: &str| -> usize {
        let line = counts.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..].trim().parse().unwrap()
    };
    (field("count:"), field("in-pack:"))
}

/// Writes `n` status files named after `word` as blobs ahead of a commit: the files,
/// and their blob ids.
fn write_ahead(
    store: &GixStore,
    word: &str,
    n: usize,
) -> (Vec<(String, Vec<u8>)>, Vec<promised::git::BlobId>) {
    let files: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let path = format!("status/{word}-{i}.yaml");
            (path, format!("{word} {i}\n").into_bytes())
        })
        .collect();
    let batch: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let ids = store.write_blobs(&batch).unwrap();
    (files, ids)
}

#[test]
fn many_objects_are_written_as_a_pack_and_few_loose() {
    let repo = TestRepo::new();
    repo.write("requests/app/a.yaml", "a");
    repo.commit("First");
    repo.git(&["repack", "-a", "-d", "-q"]);
    let store = GixStore::open(repo.path(), Some("main")).unwrap();
    let (none, first) = object_counts(&repo);
    assert_eq!(none, 0);

    // Few blobs written ahead stay loose.
    let (few, few_ids) = write_ahead(&store, "few", 3);
    assert_eq!(object_counts(&repo), (3, first));

    // Many go into one pack, and so do the blobs and trees of a large commit.
    let (many, many_ids) = write_ahead(&store, "many", 150);
    assert_eq!(object_counts(&repo), (3, first + 150));

    let base = store.snapshot().unwrap();
    let mut upserts = BTreeMap::new();
    for ((path, _), id) in few.iter().zip(&few_ids).chain(many.iter().zip(&many_ids)) {
        upserts.insert(path.clone(), Content::Blob(*id));
    }
    for i in 0..120 {
        let path = format!("state/dev/unit-{i}/cm.yaml");
        upserts.insert(path, Content::Bytes(format!("unit {i}\n").into_bytes()));
    }
    let changes = Changes {
        upserts,
        removals: BTreeSet::new(),
    };
    store
        .commit(&base, &changes, &author("promised: many"))
        .unwrap();
    // 120 blobs; 120 unit trees, state/dev, state, status and the root; the commit.
    let (loose, packed) = object_counts(&repo);
    assert_eq!((loose, packed), (3 + 1, first + 150 + 120 + 124));
    repo.git(&["fsck", "--strict"]);
    assert_eq!(repo.git(&["show", "main:status/many-7.yaml"]), "many 7\n");
    assert_eq!(
        repo.git(&["show", "main:state/dev/unit-119/cm.yaml"]),
        "unit 119\n"
    );
    let packs = fs_err::read_dir(repo.path().join(".git/objects/pack")).unwrap();
    let names: Vec<String> = packs
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".keep")), "{names:?}");

    // A later pass reads what is packed.
    let again = GixStore::open(repo.path(), Some("main")).unwrap();
    let snapshot = again.snapshot().unwrap();
    let files = again
        .read(&snapshot, &["state/dev/unit-3/cm.yaml"])
        .unwrap();
    assert_eq!(files[0].bytes, b"unit 3\n");
}

#[test]
fn a_large_read_gives_every_file_in_order() {
    // More files than one reader reads (1024): the chunks join up in order.
    let repo = TestRepo::new();
    let paths: Vec<String> = (0..1100)
        .map(|i| format!("requests/app/r{i:04}.yaml"))
        .collect();
    for (i, path) in paths.iter().enumerate() {
        repo.write(path, &format!("n: {i}\n"));
    }
    repo.commit("Many");
    let store = GixStore::open(repo.path(), Some("main")).unwrap();
    let snapshot = store.snapshot().unwrap();
    let wanted: Vec<&str> = paths.iter().rev().map(String::as_str).collect();
    let files = store.read(&snapshot, &wanted).unwrap();
    assert_eq!(files.len(), 1100);
    for (file, path) in files.iter().zip(&wanted) {
        assert_eq!(file.path, *path);
        let i: usize = path[14..18].parse().unwrap();
        assert_eq!(file.bytes, format!("n: {i}\n").into_bytes());
    }
}

/// A crafted commit can hold tree entries git itself would never check out (`..`,
/// `.git`): exporting `pipelines/` writes none of them, and nothing outside its folder.
#[test]
fn exporting_a_folder_writes_nothing_outside_it_whatever_the_tree_names() {
    use crate::support::git_with_input;
    let repo = TestRepo::new();
    let dir = repo.path();
    let hash = |text: &str| git_with_input(dir, &["hash-object", "-w", "--stdin"], text).1;
    let mktree = |entries: &str| git_with_input(dir, &["mktree"], entries).1;
    let (escape, script) = (hash("escaped\n"), hash("#!/bin/sh\necho ok\n"));
    let climbing = mktree(&format!("100644 blob {}\tescape\n", escape.trim()));
    let app = mktree(&format!("100755 blob {}\trender\n", script.trim()));
    let pipelines = mktree(&format!(
        "040000 tree {}\t..\n040000 tree {}\t.git\n040000 tree {}\tapp\n",
        climbing.trim(),
        climbing.trim(),
        app.trim()
    ));
    let root = mktree(&format!("040000 tree {}\tpipelines\n", pipelines.trim()));
    let commit = repo.git(&["commit-tree", root.trim(), "-m", "crafted"]);
    repo.git(&["update-ref", "refs/heads/main", commit.trim()]);

    let store = GixStore::open(dir, Some("main")).unwrap();
    let into = store
        .export_folder(commit.trim(), "pipelines")
        .unwrap()
        .expect("the commit has pipelines/");
    let render = into.path().join("pipelines/app/render");
    use std::os::unix::fs::PermissionsExt;
    let mode = fs_err::metadata(&render).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "executable as committed");
    assert!(!into.path().join("escape").exists(), "nothing climbs out");
    assert!(!into.path().join("pipelines/.git").exists());
    let missing = store.export_folder(commit.trim(), "scripts").unwrap();
    assert!(missing.is_none(), "a folder the commit lacks is none");
}
