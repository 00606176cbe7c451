//! Secrets a pipeline prints or writes stay out of Git: a failed container's log is
//! redacted in the status (or kept out), the whole log goes to promised's own stderr,
//! and plain Secrets in outputs are refused unless the Promise opts in.

use crate::support::{TestRepo, app_repo, promise, request};

/// The Promise `app` running `script`, with `annotations` (a YAML flow mapping).
fn annotated_repo(script: &str, annotations: &str) -> TestRepo {
    let repo = app_repo(script);
    let text = promise("app", "", script).replacen(
        "  name: app\n",
        &format!("  name: app\n  annotations: {annotations}\n"),
        1,
    );
    repo.write("promises/app.yaml", &text);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Promise app and request a");
    repo
}

/// A pipeline that prints a token and a private key to stderr and fails. The secrets
/// are put together by the shell, so that the Promise file does not hold them.
const LEAKY: &str = r#"echo "starting the render step" >&2
echo "Authorization: Bearer ghp_$(printf '%036d' 0 | tr 0 x)" >&2
printf -- '-----BEGIN RSA PRIVATE KEY-----\nFAKE%sBODY\n-----END RSA PRIVATE KEY-----\n' KEY >&2
exit 7"#;

const TOKEN: &str = "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const KEY_BODY: &str = "FAKEKEYBODY";

fn history(repo: &TestRepo) -> String {
    repo.git(&["log", "-p", "--all"])
}

#[test]
fn a_failing_pipeline_s_credentials_stay_out_of_git_and_go_to_promised_s_log() {
    assert_eq!(TOKEN.len(), 4 + 36);
    let repo = annotated_repo(LEAKY, "{}");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(
        status.contains("container \"render\" failed (exit code 7)"),
        "{status}"
    );
    assert!(status.contains("[REDACTED github-token]"), "{status}");
    assert!(status.contains("[REDACTED private-key]"), "{status}");
    assert_eq!(
        status.matches("starting the render step").count(),
        1,
        "the log is written once: {status}"
    );
    let history = history(&repo);
    assert!(!history.contains(TOKEN), "{history}");
    assert!(!history.contains(KEY_BODY), "{history}");
    // Operators read the whole log in promised's own log.
    assert!(run.stderr.contains(TOKEN), "{}", run.stderr);
    assert!(run.stderr.contains(KEY_BODY), "{}", run.stderr);
    assert!(run.stderr.contains("container=render"), "{}", run.stderr);
}

#[test]
fn a_promise_with_status_logs_off_keeps_every_log_line_out_of_the_status() {
    let repo = annotated_repo(LEAKY, "{promised.dev/status-logs: \"off\"}");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    // A one-line message is a quoted YAML string.
    assert!(
        status.contains("container \\\"render\\\" failed (exit code 7)"),
        "{status}"
    );
    for line in [
        "starting the render step",
        "Authorization",
        "PRIVATE KEY",
        "REDACTED",
    ] {
        assert!(!status.contains(line), "{line}: {status}");
    }
    assert!(run.stderr.contains(TOKEN), "{}", run.stderr);
}

/// A pipeline writing `document` as `secret.yaml`.
fn writing(document: &str) -> String {
    format!("cat > \"$KRATIX_OUTPUT/secret.yaml\" <<'YAML'\n{document}\nYAML")
}

const PLAIN_SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: team
stringData:
  password: plain-FAKE-password";

#[test]
fn a_plain_secret_in_the_output_is_refused_unless_the_promise_opts_in() {
    let repo = annotated_repo(&writing(PLAIN_SECRET), "{}");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("phase: Failed"), "{status}");
    // A one-line message is a quoted YAML string.
    assert!(
        status.contains("secret.yaml: document 1 is a plain Secret (\\\"db\\\")"),
        "{status}"
    );
    assert!(
        status.contains("promised.dev/allow-plain-secrets"),
        "{status}"
    );
    assert!(!repo.managed_files().contains("secret.yaml"));

    let repo = annotated_repo(
        &writing(PLAIN_SECRET),
        "{promised.dev/allow-plain-secrets: \"true\"}",
    );
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let files = repo.managed_files();
    assert!(files.contains("/team/app/a/secret.yaml"), "{files}");
}

#[test]
fn a_sealed_secret_in_the_output_is_written() {
    let sealed = "apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db
  namespace: team
spec:
  encryptedData:
    password: AgBFAKEsealedFAKE";
    let repo = annotated_repo(&writing(sealed), "{}");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let files = repo.managed_files();
    assert!(files.contains("/team/app/a/secret.yaml"), "{files}");
}
