//! A narrow pass (after changes to request files alone, read only those requests) leaves
//! exactly the tree and the commit message that a pass reading everything leaves, and
//! reads everything whenever it could not.
//!
//! Each step commits a change, then runs the same scope twice from the same commit: on
//! `main` as the daemon does (with [`Since`]: narrow where it may) and on `full` without
//! it (reading every file). The two branches must end identical.

use promised::executor::ProcessExecutor;
use promised::git::GixStore;
use promised::reconcile::{Options, PassReport, Scope, Since, reconcile};

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, promise, request};

fn pass(repo: &TestRepo, branch: &str, scope: &Scope) -> PassReport {
    let store = GixStore::open(repo.path(), Some(branch)).unwrap();
    let options = Options {
        jobs: 2,
        ..Options::default()
    };
    let executor = ProcessExecutor::default();
    reconcile(&store, None, scope, &executor, &options, &|_| {}).unwrap()
}

/// What the narrow branch's next pass starts from, as the daemon keeps it.
fn since(repo: &TestRepo, read: &str, report: &PassReport) -> Option<Since> {
    report.problems.is_empty().then(|| Since {
        inputs: read.to_string(),
        outputs: repo.head(),
    })
}

const DEPENDENCIES: &str = "  dependencies:\n    - apiVersion: v1\n      kind: Namespace\n      metadata: {name: app-system}\n";

struct Step {
    what: &'static str,
    edit: fn(&TestRepo),
    /// Requests rerun by key, as a retry does.
    rerun: &'static [(&'static str, &'static str)],
    narrow: bool,
}

const STEPS: &[Step] = &[
    Step {
        what: "a request changes",
        edit: |r| {
            r.write("requests/app/a.yaml", &request("a", "team", "large"));
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "a request is added",
        edit: |r| {
            r.write("requests/app/new.yaml", &request("new", "team", "small"));
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "a request file is removed",
        edit: |r| {
            r.remove("requests/app/b.yaml");
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "a request is renamed in its file",
        edit: |r| {
            r.write("requests/app/c.yaml", &request("c2", "team", "small"));
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "a request file moves",
        edit: |r| {
            r.remove("requests/app/d.yaml");
            r.write("requests/app/moved/d.yaml", &request("d", "team", "small"));
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "one document of a file of several changes",
        edit: |r| {
            let both = format!(
                "{}---\n{}",
                request("m1", "other", "small"),
                request("m2", "other", "small")
            );
            r.write("requests/app/many.yaml", &both);
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "a request turns invalid",
        edit: |r| {
            r.write("requests/app/a.yaml", &request("a", "team", "huge"));
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "a request is rerun by key, its file unchanged",
        edit: |_| {},
        rerun: &[("app", "e")],
        narrow: true,
    },
    Step {
        what: "a new file claims an identity another file holds",
        edit: |r| {
            r.write("requests/app/thief.yaml", &request("e", "team", "large"));
        },
        rerun: &[],
        narrow: false,
    },
    Step {
        what: "the claim is withdrawn, after a pass with a problem",
        edit: |r| {
            r.remove("requests/app/thief.yaml");
        },
        rerun: &[],
        narrow: false,
    },
    Step {
        what: "a request changes again",
        edit: |r| {
            r.write("requests/app/e.yaml", &request("e", "team", "large"));
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "a request changes beside a hand edit of the state folder",
        edit: |r| {
            r.write("state/dev/resources/evil.yaml", "kind: Secret\n");
            r.write("requests/app/e.yaml", &request("e", "team", "small"));
        },
        rerun: &[],
        narrow: false,
    },
    Step {
        what: "the Promise changes",
        edit: |r| {
            let script = CONFIGMAP_SCRIPT.replace("size: $size", "size: \"$size\"");
            r.write("promises/app.yaml", &promise("app", DEPENDENCIES, &script));
        },
        rerun: &[],
        narrow: false,
    },
    Step {
        what: "a request file stops reading",
        edit: |r| {
            r.write("requests/app/new.yaml", "metadata: [\n");
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "it reads again",
        edit: |r| {
            r.write("requests/app/new.yaml", &request("new", "team", "large"));
        },
        rerun: &[],
        narrow: true,
    },
    Step {
        what: "and a change after a clean pass is narrow again",
        edit: |r| {
            r.write("requests/app/new.yaml", &request("new", "team", "small"));
        },
        rerun: &[],
        narrow: true,
    },
];

#[test]
fn a_narrow_pass_leaves_what_a_pass_that_reads_everything_leaves() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write(
        "promises/app.yaml",
        &promise("app", DEPENDENCIES, CONFIGMAP_SCRIPT),
    );
    for name in ["a", "b", "c", "d", "e"] {
        repo.write(
            &format!("requests/app/{name}.yaml"),
            &request(name, "team", "small"),
        );
    }
    let both = format!(
        "{}---\n{}",
        request("m1", "other", "small"),
        request("m2", "other", "large")
    );
    repo.write("requests/app/many.yaml", &both);
    let read = repo.commit("The platform");
    let first = pass(&repo, "main", &Scope::all());
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    let mut from = since(&repo, &read, &first);

    for step in STEPS {
        repo.git(&["reset", "-q", "--hard", "main"]);
        (step.edit)(&repo);
        let head = repo.commit(step.what);
        repo.git(&["branch", "-f", "full", &head]);
        let last_read = from.as_ref().map_or(read.clone(), |s| s.inputs.clone());
        let store = GixStore::open(repo.path(), Some("main")).unwrap();
        let changed = store.changed_inputs(&last_read, &head).unwrap();
        let mut scope = Scope::from_changed_paths(&changed);
        for (promise, name) in step.rerun {
            let segment = |s: &str| promised::path_segment::Segment::new(s).unwrap();
            scope.requests.insert(promised::model::RequestKey {
                promise: segment(promise),
                namespace: segment("team"),
                name: segment(name),
            });
        }

        let everything = pass(&repo, "full", &scope);
        assert!(!everything.narrow, "{}", step.what);
        scope.since = from.clone();
        let narrow = pass(&repo, "main", &scope);
        assert_eq!(narrow.narrow, step.narrow, "{}: narrow or not", step.what);
        assert_eq!(
            repo.git(&["diff", "--stat", "full", "main"]),
            "",
            "{}: the trees differ",
            step.what
        );
        let message = |branch: &str| repo.git(&["log", "-1", "--format=%B", branch]);
        assert_eq!(message("main"), message("full"), "{}", step.what);
        assert_eq!(
            narrow.pipelines_run, everything.pipelines_run,
            "{}",
            step.what
        );
        from = since(&repo, &head, &narrow);
        // Whatever came before, the next step starts from one commit.
        repo.git(&["branch", "-f", "full", "main"]);
    }
    let status = repo.managed_files();
    assert!(!status.contains("status/app/team/b.yaml"), "{status}");
    assert!(!status.contains("status/app/team/c.yaml"), "{status}");
    assert!(status.contains("status/app/team/c2.yaml"), "{status}");
}
