//! Names that must never become Git paths: request names and namespaces, Promise and
//! Destination names, destination folders, pipeline output folders. Each case gets a clear
//! error on its own file or request, the others are reconciled, and the repository stays
//! one that `git fsck --strict` accepts and a fresh clone checks out.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::daemon_support::{Platform, Serve, wait_for};
use crate::support::{
    CONFIGMAP_SCRIPT, TestRepo, app_repo, destination, git_in, git_with_input, promise, request,
    soundness_problems,
};

/// The pipeline: requests named `out-*` also write a ConfigMap into a folder whose name
/// Git takes for `.git`.
const SCRIPT: &str = r#"case "$KRATIX_OBJECT_NAME" in
  out-upper) d='.Git' ;;
  out-tilde) d='git~1' ;;
  out-dot) d='.git.' ;;
  out-space) d='.git ' ;;
  *) d='' ;;
esac
if [ -n "$d" ]; then
  mkdir -p "$KRATIX_OUTPUT/$d"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' > "$KRATIX_OUTPUT/$d/cm.yaml"
fi
"#;

/// Static dependencies, which every Promise writes to every destination: so that a bad
/// Promise name or destination folder would become a path.
const DEPENDENCIES: &str =
    "  dependencies:\n    - {apiVersion: v1, kind: Namespace, metadata: {name: app-system}}\n";

/// The request cases: file, document, and the field the error names.
fn bad_requests() -> Vec<(&'static str, String, &'static str)> {
    let doc = |name: &str, namespace: &str| {
        format!(
            "apiVersion: test.promised.dev/v1\nkind: App\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  size: small\n"
        )
    };
    vec![
        (
            "ns-dotdot",
            doc("x", "../../state"),
            "metadata.namespace: \"../../state\"",
        ),
        ("ns-slash", doc("x", "a/b"), "metadata.namespace: \"a/b\""),
        ("name-slash", doc("a/b", "team"), "metadata.name: \"a/b\""),
        (
            "ns-newline",
            doc("x", "\"a\\nb\""),
            "metadata.namespace: \"a\\nb\"",
        ),
        (
            "name-newline",
            doc("\"x\\ny\"", "team"),
            "metadata.name: \"x\\ny\"",
        ),
        (
            "name-long",
            doc(&"a".repeat(300), "team"),
            "metadata.name: \"aaaa",
        ),
    ]
}

/// The Promise and Destination cases: file, content, and the start of its error.
fn bad_platform_files() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "promises/escape.yaml",
            promise("../x", DEPENDENCIES, CONFIGMAP_SCRIPT)
                .replace("apps.test", "escapes.test")
                .replace("kind: App", "kind: Escape")
                .replace("plural: apps", "plural: escapes"),
            "promises/escape.yaml: metadata.name: \"../x\"",
        ),
        (
            "destinations/dotgit-name.yaml",
            destination(".git", &[("env", "dev")], ""),
            "destinations/dotgit-name.yaml: metadata.name: \".git\"",
        ),
        (
            "destinations/hooks-name.yaml",
            destination(".git/hooks", &[("env", "dev")], ""),
            "destinations/hooks-name.yaml: metadata.name: \".git/hooks\"",
        ),
        (
            "destinations/dotgit-path.yaml",
            destination("dotgit", &[("env", "dev")], "path: .git"),
            "destinations/dotgit-path.yaml: spec.path: \".git\"",
        ),
        (
            "destinations/hooks-path.yaml",
            destination("hooks", &[("env", "dev")], "path: .git/hooks"),
            "destinations/hooks-path.yaml: spec.path: \".git/hooks\"",
        ),
    ]
}

/// The output cases: request name and the folder its pipeline writes.
const BAD_OUTPUTS: [(&str, &str); 4] = [
    ("out-upper", ".Git"),
    ("out-tilde", "git~1"),
    ("out-dot", ".git."),
    ("out-space", ".git "),
];

/// `git fsck --strict` of `repo` passes, and a fresh clone of it checks out.
fn assert_sound(repo: &Path) {
    let problems = soundness_problems(repo);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The status file that records `request_path`, found as a requester would: by the path
/// recorded in it.
fn status_of(repo: &Path, branch: &str, request_path: &str) -> String {
    let found = Command::new("git")
        .args([
            "grep",
            "-l",
            "-F",
            &format!("path: {request_path}"),
            branch,
            "--",
            "status",
        ])
        .current_dir(repo)
        .output()
        .unwrap();
    let found = String::from_utf8(found.stdout).unwrap();
    let mut files = found.lines();
    let file = files
        .next()
        .unwrap_or_else(|| panic!("no status records {request_path}"));
    assert_eq!(files.next(), None, "one status per request");
    let path = file.strip_prefix(&format!("{branch}:")).unwrap();
    git_in(repo, &["show", &format!("{branch}:{path}")]) + &format!("# at {path}\n")
}

/// `text` as it reads inside a double-quoted YAML string.
fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A repository with the `app` Promise (with DEPENDENCIES) running SCRIPT, and the good
/// request `good`.
fn repo_with_good_request() -> TestRepo {
    let repo = app_repo(&format!("{SCRIPT}{CONFIGMAP_SCRIPT}"));
    let app = promise("app", DEPENDENCIES, &format!("{SCRIPT}{CONFIGMAP_SCRIPT}"));
    repo.write("promises/app.yaml", &app);
    repo.write("requests/app/good.yaml", &request("good", "team", "small"));
    repo
}

fn assert_good_request_reconciled(repo: &TestRepo) {
    let status = repo.show("status/app/team/good.yaml");
    assert!(status.contains("phase: Ready"), "{status}");
}

/// Reconciles a repository holding the good request and the bad request `name`, and
/// checks the error is on that request only.
fn assert_request_refused(name: &str) {
    let (file, text, field) = bad_requests()
        .into_iter()
        .find(|(file, ..)| *file == name)
        .unwrap();
    let repo = repo_with_good_request();
    let path = format!("requests/app/{file}.yaml");
    repo.write(&path, &text);
    repo.commit("A request whose names cannot be folders");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_sound(repo.path());
    assert_good_request_reconciled(&repo);
    let status = status_of(repo.path(), "main", &path);
    assert!(status.contains("phase: Invalid"), "{status}");
    assert!(status.contains(&quoted(field)), "{status}");
    assert!(
        status.contains("# at status/app/_invalid-names/"),
        "{status}"
    );
}

#[test]
fn a_namespace_of_dot_dot_segments_gets_its_status_at_a_safe_path() {
    assert_request_refused("ns-dotdot");
}

#[test]
fn a_namespace_holding_a_slash_gets_its_status_at_a_safe_path() {
    assert_request_refused("ns-slash");
}

#[test]
fn a_name_holding_a_slash_gets_its_status_at_a_safe_path() {
    assert_request_refused("name-slash");
}

#[test]
fn a_namespace_holding_a_newline_gets_its_status_at_a_safe_path() {
    assert_request_refused("ns-newline");
}

#[test]
fn a_name_holding_a_newline_gets_its_status_at_a_safe_path() {
    assert_request_refused("name-newline");
}

#[test]
fn a_300_character_name_gets_its_status_at_a_safe_path() {
    assert_request_refused("name-long");
}

/// Reconciles a repository holding the good request and the bad platform file `file`,
/// and checks the error names that file and field.
fn assert_platform_file_refused(file: &str) {
    let (path, text, error) = bad_platform_files()
        .into_iter()
        .find(|(path, ..)| *path == file)
        .unwrap();
    let repo = repo_with_good_request();
    repo.write(path, &text);
    repo.commit("A file whose name cannot be a folder");
    let run = repo.reconcile(&[]);
    assert_sound(repo.path());
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(error), "{}", run.stdout);
    assert_good_request_reconciled(&repo);
    let files = repo.managed_files();
    assert!(!files.contains(".git") && !files.contains(".."), "{files}");
    assert!(
        files.contains("state/dev/dependencies/app/static-dependencies.yaml"),
        "{files}"
    );
    assert_sound(repo.path());
}

#[test]
fn a_promise_named_dot_dot_slash_x_is_an_unreadable_file() {
    assert_platform_file_refused("promises/escape.yaml");
}

#[test]
fn a_destination_named_dot_git_is_an_unreadable_file() {
    assert_platform_file_refused("destinations/dotgit-name.yaml");
}

#[test]
fn a_destination_named_dot_git_slash_hooks_is_an_unreadable_file() {
    assert_platform_file_refused("destinations/hooks-name.yaml");
}

#[test]
fn a_destination_whose_path_is_dot_git_is_an_unreadable_file() {
    assert_platform_file_refused("destinations/dotgit-path.yaml");
}

#[test]
fn a_destination_whose_path_is_dot_git_slash_hooks_is_an_unreadable_file() {
    assert_platform_file_refused("destinations/hooks-path.yaml");
}

/// Reconciles a repository holding the good request and `name`, whose pipeline writes
/// `folder`, and checks that request failed, naming the folder.
fn assert_output_folder_refused(name: &str) {
    let folder = BAD_OUTPUTS.iter().find(|(n, _)| *n == name).unwrap().1;
    let repo = repo_with_good_request();
    repo.write(
        &format!("requests/app/{name}.yaml"),
        &request(name, "team", "small"),
    );
    repo.commit("A request whose pipeline writes a folder Git takes for .git");
    let run = repo.reconcile(&[]);
    assert_sound(repo.path());
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_good_request_reconciled(&repo);
    let status = repo.show(&format!("status/app/team/{name}.yaml"));
    assert!(status.contains("phase: Failed"), "{status}");
    assert!(
        status.contains(&format!("{folder}: this name may not be written to Git")),
        "{status}"
    );
    assert_sound(repo.path());
}

#[test]
fn an_output_folder_named_dot_git_in_capitals_fails_its_request_only() {
    assert_output_folder_refused("out-upper");
}

#[test]
fn an_output_folder_named_git_tilde_1_fails_its_request_only() {
    assert_output_folder_refused("out-tilde");
}

#[test]
fn an_output_folder_named_dot_git_dot_fails_its_request_only() {
    assert_output_folder_refused("out-dot");
}

#[test]
fn an_output_folder_named_dot_git_space_fails_its_request_only() {
    assert_output_folder_refused("out-space");
}

#[test]
fn a_request_removed_after_a_bad_name_loses_its_fallback_status() {
    let repo = repo_with_good_request();
    repo.write("requests/app/gone.yaml", &request("a/b", "team", "small"));
    repo.commit("A bad name");
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert!(repo.managed_files().contains("status/app/_invalid-names/"));
    repo.remove("requests/app/gone.yaml");
    repo.commit("Remove it");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let files = repo.managed_files();
    assert!(!files.contains("_invalid-names"), "{files}");
    assert_sound(repo.path());
}

#[test]
fn a_request_fixed_after_a_bad_name_loses_its_fallback_status() {
    let repo = repo_with_good_request();
    let doc = request("fixed", "../../state", "small");
    repo.write("requests/app/fixed.yaml", &doc);
    repo.commit("A bad namespace");
    assert_eq!(repo.reconcile(&[]).code, 1);
    assert!(repo.managed_files().contains("status/app/_invalid-names/"));
    repo.write(
        "requests/app/fixed.yaml",
        &request("fixed", "team", "small"),
    );
    repo.commit("Fix the namespace");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let files = repo.managed_files();
    assert!(!files.contains("_invalid-names"), "{files}");
    assert!(
        repo.show("status/app/team/fixed.yaml")
            .contains("phase: Ready")
    );
}

/// Shows the remote checks what it is sent: a commit holding a `.Git` folder is refused.
fn assert_remote_refuses_a_dot_git_entry(platform: &Platform) {
    let developer = &platform.developer;
    let run = |args: &[&str], input: &str| {
        let (ok, out) = git_with_input(developer.path(), args, input);
        (ok, out.trim().to_string())
    };
    let (_, blob) = run(&["hash-object", "-w", "--stdin"], "x\n");
    let (_, inner) = run(&["mktree"], &format!("100644 blob {blob}\tconfig\n"));
    let (_, tree) = run(&["mktree"], &format!("040000 tree {inner}\t.Git\n"));
    let (_, commit) = run(&["commit-tree", &tree, "-m", "probe"], "");
    let (pushed, _) = run(
        &[
            "push",
            "-q",
            "origin",
            &format!("{commit}:refs/heads/probe"),
        ],
        "",
    );
    assert!(!pushed, "the remote must refuse a tree entry named .Git");
}

#[test]
fn every_hostile_name_pushed_through_serve_leaves_a_remote_that_checks_objects_working() {
    let developer = repo_with_good_request();
    for (file, text, _) in bad_requests() {
        developer.write(&format!("requests/app/{file}.yaml"), &text);
    }
    for (path, text, _) in bad_platform_files() {
        developer.write(path, &text);
    }
    for (name, _) in BAD_OUTPUTS {
        developer.write(
            &format!("requests/app/{name}.yaml"),
            &request(name, "team", "small"),
        );
    }
    developer.commit("Every hostile name");
    let platform = Platform::publish(developer);
    git_in(&platform.remote, &["config", "receive.fsckObjects", "true"]);
    assert_remote_refuses_a_dot_git_entry(&platform);
    let serve = Serve::start(&platform.remote, &["--poll", "100ms"], &[]);
    let limit = Duration::from_secs(60);
    wait_for(limit, "the good request's status on the remote", || {
        platform.remote_has("main", "status/app/team/good.yaml")
    });

    platform.developer.write(
        "requests/app/later.yaml",
        &request("later", "team", "small"),
    );
    platform.push("A good request after the hostile ones");
    wait_for(limit, "the later request's status on the remote", || {
        platform.remote_has("main", "status/app/team/later.yaml")
    });
    assert!(serve.stop(), "SIGTERM exits cleanly");

    for name in ["good", "later"] {
        let status = platform.remote_show("main", &format!("status/app/team/{name}.yaml"));
        assert!(status.contains("phase: Ready"), "{status}");
    }
    for (file, _, field) in bad_requests() {
        let status = status_of(
            &platform.remote,
            "main",
            &format!("requests/app/{file}.yaml"),
        );
        assert!(status.contains("phase: Invalid"), "{status}");
        assert!(status.contains(&quoted(field)), "{status}");
    }
    for (name, folder) in BAD_OUTPUTS {
        let status = platform.remote_show("main", &format!("status/app/team/{name}.yaml"));
        assert!(status.contains("phase: Failed"), "{status}");
        assert!(status.contains(folder), "{status}");
    }
    assert_sound(&platform.remote);
}
