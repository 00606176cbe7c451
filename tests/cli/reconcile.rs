//! Requests added, changed and removed; statuses; commits.

use std::path::Path;

use crate::support::{CONFIGMAP_SCRIPT, app_repo, request};

#[test]
fn a_changed_request_rewrites_its_outputs_and_only_those() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Request a and b");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let a_dir = repo.git(&["ls-tree", "-r", "--name-only", "main", "--", "state"]);
    let a_dir = a_dir
        .lines()
        .find(|p| p.contains("/team/app/a/"))
        .unwrap()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string();

    repo.write("requests/app/a.yaml", &request("a", "team", "large"));
    repo.commit("Make a large");
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert!(
        repo.show(&format!("{a_dir}/configmap.yaml"))
            .contains("size: large")
    );
    let changed = repo.git(&["diff", "--name-only", "main~1", "main"]);
    let _redacted = repo.redactions_and(&[(&a_dir, "[a]")]);
    insta::assert_snapshot!(changed, @r"
    [a]/SHA256SUMS
    [a]/configmap.yaml
    status/app/team/a.yaml
    ");
    insta::assert_snapshot!(repo.last_trailers(), @r"
    Promised-Request: requests/app/a.yaml
    Promised-Request-Commit: [commit]
    Promised-Images: test/app:v1
    Promised-Digest: [a] sha256:9cff13da8a84984ff3820cd3698222ec33482f30ba959611e5257f07b77b3560
    ");
}

#[test]
fn a_removed_request_takes_its_outputs_and_status_with_it() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Request a and b");
    assert_eq!(repo.reconcile(&[]).code, 0);

    repo.remove("requests/app/a.yaml");
    repo.commit("Drop a");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout
            .contains("removed  app/team/a (requests/app/a.yaml)"),
        "{}",
        run.stdout
    );
    let files = repo.managed_files();
    assert!(
        !files.contains("/a/") && !files.contains("team/a.yaml"),
        "{files}"
    );
    assert!(files.contains("status/app/team/b.yaml"));
    let message = repo.last_message();
    assert!(
        message.starts_with("promised: reconcile 1 request (1 removed)\n"),
        "{message}"
    );
    assert!(
        message.contains("Promised-Request: requests/app/a.yaml"),
        "{message}"
    );
}

#[test]
fn status_yaml_from_the_pipeline_reaches_the_status_file() {
    let script = format!(
        "{CONFIGMAP_SCRIPT}\ncat > \"$KRATIX_METADATA/status.yaml\" <<YAML\nmessage: app $KRATIX_OBJECT_NAME is up\nurl: https://$KRATIX_OBJECT_NAME.example.com\nconditions:\n  - type: Healthy\n    status: \"True\"\nYAML"
    );
    let repo = app_repo(&script);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let status = repo.show("status/app/team/a.yaml");
    insta::with_settings!({filters => vec![("dev|prod", "[dest]")]}, {
        insta::assert_snapshot!(status);
    });
}

#[test]
fn a_bare_repository_is_reconciled_in_place() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    let bare = tempfile::tempdir().unwrap();
    let bare_path = bare.path().join("platform.git");
    crate::support::git_in(
        repo.path(),
        &["clone", "-q", "--bare", ".", bare_path.to_str().unwrap()],
    );
    let run = crate::support::promised(&[
        "reconcile",
        "--repo",
        bare_path.to_str().unwrap(),
        "--branch",
        "main",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let files = crate::support::git_in(
        &bare_path,
        &["ls-tree", "-r", "--name-only", "main", "--", "status"],
    );
    assert_eq!(files, "status/app.yaml\nstatus/app/team/a.yaml\n");
}

#[test]
fn dependencies_go_to_every_matching_destination() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    let deps = "  dependencies:\n    - apiVersion: v1\n      kind: Namespace\n      metadata: {name: app-system}\n";
    repo.write(
        "promises/app.yaml",
        &crate::support::promise("app", deps, CONFIGMAP_SCRIPT),
    );
    repo.commit("Promise with dependencies");
    assert_eq!(repo.reconcile(&[]).code, 0);
    insta::assert_snapshot!(repo.managed_files(), @r"
    state/dev/dependencies/app/SHA256SUMS
    state/dev/dependencies/app/static-dependencies.yaml
    state/dev/kustomization.yaml
    state/prod/dependencies/app/SHA256SUMS
    state/prod/dependencies/app/static-dependencies.yaml
    state/prod/kustomization.yaml
    status/app.yaml
    ");
    let message = repo.last_message();
    assert!(
        message.starts_with("promised: update dependencies\n\napp: dependencies updated"),
        "{message}"
    );
}

#[test]
fn reconcile_request_reruns_that_request_only() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let script = format!(
        "echo \"$KRATIX_OBJECT_NAME\" >> \"{}\"\n{CONFIGMAP_SCRIPT}",
        log.path().display()
    );
    let repo = app_repo(&script);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Requests a and b");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let ran = || {
        let mut names: Vec<String> = fs_err::read_to_string(log.path())
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        names.sort();
        names.join(" ")
    };
    assert_eq!(ran(), "a b");

    let changed = script.replace("data:", "data:\n  tier: gold");
    repo.write(
        "promises/app.yaml",
        &crate::support::promise("app", "", &changed),
    );
    repo.commit("Change the pipeline");
    let run = repo.reconcile(&["--request", "requests/app/a.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(ran(), "a a b", "only a reruns");
    let files = repo.git(&["diff", "--name-only", "main~1", "main"]);
    assert!(
        files
            .lines()
            .all(|f| f.contains("/a/") || f.ends_with("/a.yaml") || f == "status/app.yaml"),
        "only a's files and the changed Promise's status change: {files}"
    );

    let missing = repo.reconcile(&["--request", "requests/app/nope.yaml"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stdout
            .contains("error    requests/app/nope.yaml: no request file"),
        "{}",
        missing.stdout
    );
}

#[test]
fn a_promise_without_an_api_writes_its_dependencies_and_refuses_requests() {
    let repo = crate::support::app_repo(crate::support::CONFIGMAP_SCRIPT);
    repo.write(
        "promises/base.yaml",
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Promise\nmetadata: {name: base}\nspec:\n  dependencies:\n    - {apiVersion: v1, kind: Namespace, metadata: {name: base}}\n",
    );
    repo.write(
        "requests/base/x.yaml",
        "apiVersion: base.test/v1\nkind: Base\nmetadata: {name: x, namespace: team}\n",
    );
    repo.commit("A Promise of dependencies only, and a request it cannot take");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let files = repo.managed_files();
    assert!(
        files.contains("state/dev/dependencies/base/static-dependencies.yaml"),
        "{files}"
    );
    let status = repo.show("status/base/team/x.yaml");
    assert!(status.contains("has no spec.api"), "{status}");
}

#[test]
fn a_terraform_file_in_the_output_is_committed_byte_for_byte_and_not_listed() {
    let script = format!(
        "{}\nmkdir -p \"$KRATIX_OUTPUT/tf\"\nprintf 'resource \"null_resource\" \"x\" {{}}\\n' > \"$KRATIX_OUTPUT/tf/main.tf\"",
        crate::support::CONFIGMAP_SCRIPT
    );
    let repo = crate::support::app_repo(&script);
    repo.write(
        "requests/app/a.yaml",
        &crate::support::request("a", "team", "small"),
    );
    repo.commit("Request a");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let files = repo.managed_files();
    let tf = files
        .lines()
        .find(|p| p.ends_with("/resources/team/app/a/tf/main.tf"))
        .unwrap_or_else(|| panic!("{files}"));
    assert_eq!(repo.show(tf), "resource \"null_resource\" \"x\" {}\n");
    let destination = tf.split('/').nth(1).unwrap();
    let index = repo.show(&format!("state/{destination}/kustomization.yaml"));
    assert!(!index.contains("main.tf"), "{index}");
    assert!(index.contains("configmap.yaml"), "{index}");
}

/// SIGTERM during a pass (issue 15, point 7): the pipelines in flight end with all they
/// started, their run folders go, nothing is committed for them, and the next pass runs
/// them.
#[test]
fn sigterm_ends_the_pipelines_in_flight_and_removes_their_folders() {
    let marks = tempfile::tempdir().unwrap();
    let marks_dir = marks.path().display();
    // Each run notes its process and its folder, starts a child, and waits.
    let script = format!(
        "echo $$ > {marks_dir}/$KRATIX_OBJECT_NAME.pid\n\
         echo \"$KRATIX_INPUT\" > {marks_dir}/$KRATIX_OBJECT_NAME.folder\n\
         sleep 300 &\n\
         echo $! > {marks_dir}/$KRATIX_OBJECT_NAME.child\n\
         wait"
    );
    let repo = crate::support::app_repo(&script);
    for name in ["a", "b"] {
        repo.write(
            &format!("requests/app/{name}.yaml"),
            &crate::support::request(name, "team", "small"),
        );
    }
    repo.commit("two requests that take their time");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_promised"))
        .args([
            "reconcile",
            "--repo",
            repo.path().to_str().unwrap(),
            "--jobs",
            "2",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let noted = |name: &str, what: &str| {
        fs_err::read_to_string(marks.path().join(format!("{name}.{what}")))
            .ok()
            .filter(|text| text.ends_with('\n'))
            .map(|text| text.trim().to_string())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ["a", "b"].iter().any(|n| noted(n, "child").is_none()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the pipelines did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("stopped  by a signal: 2 requests not run or cut short"),
        "{stdout}"
    );
    for name in ["a", "b"] {
        for what in ["pid", "child"] {
            let process: i32 = noted(name, what).unwrap().parse().unwrap();
            assert!(ends(process), "{name}: its {what} {process} still runs");
        }
        let folder = noted(name, "folder").unwrap();
        assert!(!Path::new(&folder).exists(), "{name}: {folder} is left");
    }
    // The Promise's own status may be committed; nothing of the runs cut short is.
    let managed = repo.managed_files();
    assert!(!managed.contains("status/app/team/"), "{managed}");
    assert!(!managed.contains("/resources/"), "{managed}");
    let next = repo.reconcile(&["--timeout", "1s"]);
    assert!(
        next.stdout.contains("app/team/a"),
        "the next pass runs them: {}",
        next.stdout
    );
}

/// Whether the process `pid` is gone (or dead and waiting to be reaped) within ten
/// seconds: a SIGKILL is delivered, and an orphan reaped, a moment after it is sent.
fn ends(pid: i32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command's closing parenthesis.
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some(Some('Z' | 'X'))) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Scripts kept in the repository (issue 15, point 6): the process executor's containers
/// reach the commit's `pipelines/` folder as `$PROMISED_PIPELINES`, executable files
/// executable; an edit not committed is named and not run; `pipeline run` reaches the
/// folder as it is on disk.
#[test]
fn scripts_under_pipelines_are_run_as_the_commit_holds_them() {
    let repo = app_repo(r#"exec "$PROMISED_PIPELINES/app/render""#);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"))
        .write(
            "pipelines/app/render",
            &format!("#!/bin/sh\n{CONFIGMAP_SCRIPT}\n"),
        );
    let executable = |repo: &crate::support::TestRepo| {
        use std::os::unix::fs::PermissionsExt;
        let script = repo.path().join("pipelines/app/render");
        fs_err::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    executable(&repo);
    repo.commit("a request, and the script its Promise runs");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let configmap = |repo: &crate::support::TestRepo| {
        let files = repo.managed_files();
        let path = files
            .lines()
            .find(|p| p.ends_with("/team/app/a/configmap.yaml"))
            .unwrap_or_else(|| panic!("no configmap in {files}"))
            .to_string();
        repo.show(&path)
    };
    assert!(configmap(&repo).ends_with("size: small\n"));

    // Edited, not committed: named, and the commit's version runs.
    let edited = format!(
        "#!/bin/sh\n{CONFIGMAP_SCRIPT}\necho '  edited: \"yes\"' >> \"$KRATIX_OUTPUT/configmap.yaml\"\n"
    );
    repo.write("pipelines/app/render", &edited);
    executable(&repo);
    let run = repo.reconcile(&[]);
    assert!(
        run.stdout
            .contains("1 uncommitted change under pipelines/ is not reconciled"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("nothing changed, no commit"),
        "{}",
        run.stdout
    );

    // pipeline run, the author's loop, runs the script on disk.
    let out = tempfile::tempdir().unwrap();
    let pipeline = crate::support::promised(&[
        "pipeline",
        "run",
        "--promise",
        repo.path().join("promises/app.yaml").to_str().unwrap(),
        "--request",
        repo.path().join("requests/app/a.yaml").to_str().unwrap(),
        "--out",
        out.path().join("run").to_str().unwrap(),
    ]);
    assert_eq!(pipeline.code, 0, "{}{}", pipeline.stdout, pipeline.stderr);
    let written =
        fs_err::read_to_string(out.path().join("run/configure/output/configmap.yaml")).unwrap();
    assert!(written.contains("edited: \"yes\""), "{written}");

    // Committed: the next pass runs it.
    repo.commit("the script adds a key");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(configmap(&repo).contains("edited: \"yes\""));
}
