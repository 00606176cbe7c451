//! What a hostile pipeline leaves on disk: links to host files, output past the limits,
//! processes that outlive their run. Each fails its own request at most, and nothing of
//! it reaches Git or another request.

use std::path::Path;

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, request};

/// Every object in the repository, blobs and trees alike, as text.
fn every_object(repo: &TestRepo) -> String {
    let output = std::process::Command::new("git")
        .args(["cat-file", "--batch-all-objects", "--batch"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A repository with the `app` Promise running `script` and requests `a` and `b`.
fn two_requests(script: &str) -> TestRepo {
    let repo = app_repo(script);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Requests a and b");
    repo
}

#[test]
fn a_status_file_linked_to_a_host_file_is_refused_and_the_file_never_reaches_git() {
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("kubeconfig");
    fs_err::write(&secret, "token: hunter2-deploy-key\n").unwrap();
    let script = format!(
        "if [ \"$KRATIX_OBJECT_NAME\" = a ]; then ln -s '{}' \"$KRATIX_METADATA/status.yaml\"; fi\n{CONFIGMAP_SCRIPT}",
        secret.display()
    );
    let repo = two_requests(&script);

    let run = repo.reconcile(&[]);

    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Failed"), "{status}");
    assert!(
        status.contains("metadata: status.yaml: is a symbolic link"),
        "{status}"
    );
    assert!(repo.show("status/app/team/b.yaml").contains("phase: Ready"));
    assert!(!every_object(&repo).contains("hunter2"));
    assert!(!run.stdout.contains("hunter2"));
}

#[test]
fn an_output_past_the_file_limit_fails_its_request_naming_the_limit_and_the_flag() {
    let script = format!(
        "if [ \"$KRATIX_OBJECT_NAME\" = a ]; then for i in 1 2 3 4; do cp \"$KRATIX_INPUT/object.yaml\" \"$KRATIX_OUTPUT/copy-$i.yaml\"; done; fi\n{CONFIGMAP_SCRIPT}"
    );
    let repo = two_requests(&script);

    let run = repo.reconcile(&["--max-output-files", "3"]);

    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("holds more than 3 files and folders"),
        "{status}"
    );
    assert!(status.contains("--max-output-files"), "{status}");
    assert!(repo.show("status/app/team/b.yaml").contains("phase: Ready"));
}

#[test]
fn an_output_past_the_byte_limit_fails_its_request_naming_the_limit_and_the_flag() {
    let script = format!(
        "if [ \"$KRATIX_OBJECT_NAME\" = a ]; then head -c 3000 /dev/zero | tr '\\0' '#' > \"$KRATIX_OUTPUT/big.yaml\"; fi\n{CONFIGMAP_SCRIPT}"
    );
    let repo = two_requests(&script);

    let run = repo.reconcile(&["--max-output-bytes", "2KiB"]);

    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("holds more than 2 KiB"), "{status}");
    assert!(status.contains("--max-output-bytes"), "{status}");
    assert!(repo.show("status/app/team/b.yaml").contains("phase: Ready"));
}

/// A script for request `a` that leaves a process in a session of its own (so the kill
/// of the run's process group misses it), which writes `late.yaml` into a's output
/// folder once b's run has started; b's run waits until it has tried. a's run waits
/// until the process has left its group (else the kill at the end of a's run can reach
/// it before `setsid` does, on a loaded machine). So the late write lands while b runs,
/// every time.
fn escaping_script(marks: &Path) -> String {
    let started = marks.join("b-started");
    let tried = marks.join("late-write-tried");
    let escaped = marks.join("escaped");
    let (started, tried, escaped) = (started.display(), tried.display(), escaped.display());
    format!(
        r#"if [ "$KRATIX_OBJECT_NAME" = a ]; then
  setsid sh -c 'touch "$3"; i=0; while [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
    printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: late}}\n" > "$0/late.yaml"
    touch "$2"' "$KRATIX_OUTPUT" '{started}' '{tried}' '{escaped}' > /dev/null 2>&1 < /dev/null &
  i=0; while [ ! -e '{escaped}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
fi
if [ "$KRATIX_OBJECT_NAME" = b ]; then
  touch '{started}'
  i=0; while [ ! -e '{tried}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
fi
{CONFIGMAP_SCRIPT}"#
    )
}

#[test]
fn a_process_that_escapes_its_run_cannot_write_into_the_next_requests_output() {
    let marks = tempfile::tempdir().unwrap();
    let repo = two_requests(&escaping_script(marks.path()));

    let run = repo.reconcile(&["--jobs", "1"]);

    assert!(
        marks.path().join("late-write-tried").exists(),
        "the escaped process ran while b did"
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let files = repo.managed_files();
    assert!(!files.contains("late.yaml"), "{files}");
    assert!(files.contains("team/app/b/configmap.yaml"), "{files}");
}
