//! Request files of several documents: each document is a request of its own.

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, promised, request};

/// The requests of `requests/app/team.yaml`, one document each, as `name=size` pairs.
fn team_file(requests: &[(&str, &str)]) -> String {
    let documents: Vec<String> = requests
        .iter()
        .map(|(name, size)| request(name, "team", size))
        .collect();
    format!("# the team's apps\n---\n{}", documents.join("---\n"))
}

/// A repository whose `requests/app/team.yaml` holds a, b and c, reconciled once.
fn three_requests() -> TestRepo {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    let requests = [("a", "small"), ("b", "large"), ("c", "small")];
    repo.write("requests/app/team.yaml", &team_file(&requests));
    repo.commit("Three requests in one file");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    repo
}

/// The output folder of request `name` on main.
fn output_of(repo: &TestRepo, name: &str) -> Option<String> {
    let files = repo.managed_files();
    let file = files
        .lines()
        .find(|p| p.ends_with(&format!("/team/app/{name}/configmap.yaml")))?;
    Some(file.to_string())
}

#[test]
fn three_documents_are_three_requests_and_removing_one_removes_only_its_outputs() {
    let repo = three_requests();
    for (name, size) in [("a", "small"), ("b", "large"), ("c", "small")] {
        let status = repo.show(&format!("status/app/team/{name}.yaml"));
        assert!(status.contains("phase: Ready"), "{status}");
        assert!(
            status.contains("path: requests/app/team.yaml\n"),
            "{status}"
        );
        assert!(status.contains("document: sha256:"), "{status}");
        let output = output_of(&repo, name).expect("an output folder per request");
        let configmap = repo.show(&output);
        assert!(
            configmap.ends_with(&format!("data:\n  size: {size}\n")),
            "object.yaml is the document alone: {configmap}"
        );
    }
    let path = repo.path().to_str().unwrap();
    let validate = promised(&["validate", "--repo", path]);
    assert_eq!(validate.code, 0, "{}", validate.stdout);
    assert!(
        validate.stdout.contains("6 files checked, 0 problems"),
        "{}",
        validate.stdout
    );
    let status = promised(&["status", "--repo", path]);
    for name in ["a", "b", "c"] {
        assert!(
            status.stdout.contains(&format!("app/team/{name}   Ready")),
            "{}",
            status.stdout
        );
    }
    let one_file = promised(&["status", "--repo", path, "requests/app/team.yaml"]);
    assert_eq!(one_file.code, 0);
    assert_eq!(
        one_file
            .stdout
            .matches("# Status of requests/app/team.yaml")
            .count(),
        3
    );
    assert_eq!(
        one_file.stdout.matches("\n---\n").count(),
        2,
        "{}",
        one_file.stdout
    );

    let (a, c) = (
        output_of(&repo, "a").unwrap(),
        output_of(&repo, "c").unwrap(),
    );
    repo.write(
        "requests/app/team.yaml",
        &team_file(&[("a", "small"), ("c", "small")]),
    );
    repo.commit("Drop b");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("removed  app/team/b (requests/app/team.yaml)"),
        "{}",
        run.stdout
    );
    assert_eq!(output_of(&repo, "b"), None);
    // A full pass reruns a and c too: their statuses record the file's new blob.
    let changed = repo.git(&["diff", "--name-only", "main~1", "main", "--", "state"]);
    assert!(
        changed
            .lines()
            .all(|p| p.contains("/team/app/b/") || p.ends_with("kustomization.yaml")),
        "only b's outputs change:\n{changed}"
    );
    assert!(!repo.managed_files().contains("status/app/team/b.yaml"));
    assert_eq!(output_of(&repo, "a"), Some(a));
    assert_eq!(output_of(&repo, "c"), Some(c));
}

#[test]
fn a_broken_document_keeps_its_request_and_an_emptied_file_keeps_them_all() {
    let repo = three_requests();
    let text = team_file(&[("a", "small"), ("b", "large"), ("c", "small")]);
    let broken = text.replace("  name: b\n", "  name: [b\n");
    repo.write("requests/app/team.yaml", &broken);
    repo.commit("Break b");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/b.yaml");
    assert!(status.contains("phase: Invalid"), "{status}");
    assert!(
        status.contains("message: \"document 2 (line 11): line 15 column 12"),
        "{status}"
    );
    assert!(output_of(&repo, "b").is_some(), "b's outputs stay");
    assert!(repo.show("status/app/team/a.yaml").contains("phase: Ready"));

    repo.write("requests/app/team.yaml", "# moved elsewhere, soon\n");
    repo.commit("Empty the file");
    let head = repo.head();
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    for name in ["a", "b", "c"] {
        assert!(
            output_of(&repo, name).is_some(),
            "{name}'s outputs stay:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("requests/app/team.yaml does not read: the file holds no YAML document; this request, last reconciled from that file, is left as it is"),
        "{}",
        run.stdout
    );
    let changed = repo.git(&["diff", "--name-only", &head, "main"]);
    assert_eq!(
        changed.trim(),
        "status/app/default/team.yaml",
        "held statuses stay as they are"
    );
}

#[test]
fn a_plan_reruns_only_the_documents_that_changed() {
    let repo = three_requests();
    repo.git(&["checkout", "-q", "-b", "pr"]);
    repo.write(
        "requests/app/team.yaml",
        &team_file(&[("a", "small"), ("b", "small")]),
    );
    repo.commit("Grow b, drop c");
    let plan = promised(&[
        "plan",
        "--repo",
        repo.path().to_str().unwrap(),
        "--base",
        "main",
        "--head",
        "pr",
    ]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout
            .contains("1 requests would be reconciled (0 failing), 1 removed"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("app/team/b (requests/app/team.yaml)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("removed  app/team/c (requests/app/team.yaml)"),
        "{}",
        plan.stdout
    );
}

#[test]
fn pipeline_run_runs_the_request_of_a_file_of_several_named_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let promise = crate::support::promise("app", "", CONFIGMAP_SCRIPT);
    fs_err::write(dir.path().join("promise.yaml"), promise).unwrap();
    let requests = team_file(&[("a", "small"), ("b", "large")]);
    fs_err::write(dir.path().join("team.yaml"), &requests).unwrap();
    let run = |name: Option<&str>| {
        let out = dir.path().join(format!("out-{}", name.unwrap_or("none")));
        let mut args = vec![
            "pipeline".to_string(),
            "run".into(),
            "--executor".into(),
            "process".into(),
            "--promise".into(),
            dir.path().join("promise.yaml").display().to_string(),
            "--request".into(),
            dir.path().join("team.yaml").display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        args.extend(
            name.map(|n| ["--name".to_string(), n.to_string()])
                .into_iter()
                .flatten(),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        (promised(&args), out)
    };
    let (unnamed, _) = run(None);
    assert_eq!(unnamed.code, 2, "{}{}", unnamed.stdout, unnamed.stderr);
    assert!(
        unnamed
            .stderr
            .contains("the file holds 2 requests (a, b); pick one with --name"),
        "{}",
        unnamed.stderr
    );
    let (named, out) = run(Some("b"));
    assert_eq!(named.code, 0, "{}{}", named.stdout, named.stderr);
    let object = fs_err::read_to_string(out.join("configure/input/object.yaml")).unwrap();
    assert_eq!(object, request("b", "team", "large"));
}

#[test]
fn status_calls_outdated_only_the_document_that_changed_in_a_shared_file() {
    let repo = three_requests();
    repo.write(
        "requests/app/team.yaml",
        &team_file(&[("a", "small"), ("b", "small"), ("c", "small")]),
    );
    repo.commit("b gets smaller");
    let path = repo.path().to_str().unwrap();
    let status = promised(&["status", "--repo", path]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    for (name, phase) in [("a", "Ready"), ("b", "Outdated"), ("c", "Ready")] {
        assert!(
            status
                .stdout
                .contains(&format!("app/team/{name}   {phase} ")),
            "{name}: {}",
            status.stdout
        );
    }
}
