//! A platform repository in a temporary folder, and the binary run against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A Git repository with a worktree, on branch `main`.
pub struct TestRepo {
    dir: tempfile::TempDir,
}

impl TestRepo {
    /// An empty repository.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = TestRepo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Developer"]);
        repo.git(&["config", "user.email", "dev@example.com"]);
        repo
    }

    /// A repository holding a copy of `examples/platform`, committed.
    pub fn example() -> Self {
        Self::from_dir("examples/platform")
    }

    /// A repository holding a copy of `dir` (relative to the crate), committed.
    pub fn from_dir(dir: &str) -> Self {
        let repo = TestRepo::new();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        copy_dir(&source, repo.path());
        repo.commit(&format!("Copy {dir}"));
        repo
    }

    /// The worktree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file of the worktree (not committed).
    pub fn write(&self, path: &str, text: &str) -> &Self {
        let path = self.path().join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
        self
    }

    /// Removes a file of the worktree (not committed).
    pub fn remove(&self, path: &str) -> &Self {
        fs_err::remove_file(self.path().join(path)).unwrap();
        self
    }

    /// Commits everything in the worktree.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Runs `git` in the repository and returns its stdout.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args)
    }

    /// The commit `main` points at.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "main"]).trim().to_string()
    }

    /// Runs `promised reconcile --repo <this> <args>`.
    pub fn reconcile(&self, args: &[&str]) -> Run {
        promised(
            &[
                &["reconcile", "--repo", self.path().to_str().unwrap()],
                args,
            ]
            .concat(),
        )
    }

    /// Every file under `state/` and `status/` on `main`.
    pub fn managed_files(&self) -> String {
        self.git(&[
            "ls-tree",
            "-r",
            "--name-only",
            "main",
            "--",
            "state",
            "status",
        ])
    }

    /// A file's content on `main`.
    pub fn show(&self, path: &str) -> String {
        self.git(&["show", &format!("main:{path}")])
    }

    /// The full message of the commit `main` points at.
    pub fn last_message(&self) -> String {
        self.git(&["log", "-1", "--format=%B", "main"])
    }

    /// Snapshot filters, for the rest of the scope, for what differs from run to run:
    /// this repository's commit ids, whole or as `promised` shortens them, `[commit]`;
    /// a pass's duration, `in [time]`; the repository's path, `[repo]`. Blob ids stay:
    /// they follow from the content. Take it after the last commit of the test.
    #[must_use = "the filters hold while the guard lives"]
    pub fn redactions(&self) -> insta::internals::SettingsBindDropGuard {
        self.redactions_and(&[])
    }

    /// [`TestRepo::redactions`], and each text of `also` replaced by its placeholder.
    #[must_use = "the filters hold while the guard lives"]
    pub fn redactions_and(&self, also: &[(&str, &str)]) -> insta::internals::SettingsBindDropGuard {
        let mut settings = insta::Settings::clone_current();
        for (text, placeholder) in also {
            settings.add_filter(&regex::escape(text), *placeholder);
        }
        for commit in self.git(&["rev-list", "--all", "--reflog"]).lines() {
            settings.add_filter(&format!(r"\b{commit}\b"), "[commit]");
            settings.add_filter(&format!(r"\b{}\b", &commit[..12]), "[commit]");
        }
        settings.add_filter(r"(?m) in [0-9.]+s$", " in [time]");
        settings.add_filter(&regex::escape(self.path().to_str().unwrap()), "[repo]");
        settings.bind_to_scope()
    }

    /// The trailers of the commit `main` points at, as `git interpret-trailers` parses them.
    pub fn last_trailers(&self) -> String {
        let message = self.last_message();
        git_with_input(self.path(), &["interpret-trailers", "--parse"], &message).1
    }
}

/// What is wrong with the repository at `dir` as a remote that checks objects would see
/// it: `git fsck --strict`, then a clone of `main` that checks every object it fetches
/// and checks out whole. Empty when it is sound.
pub fn soundness_problems(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let fsck = Command::new("git")
        .args(["fsck", "--strict", "--no-dangling"])
        .current_dir(dir)
        .output()
        .unwrap();
    if !fsck.status.success() {
        let stderr = String::from_utf8_lossy(&fsck.stderr);
        problems.push(format!("git fsck --strict: {stderr}"));
    }
    let clone = tempfile::tempdir().unwrap();
    let target = clone.path().join("clone");
    let cloned = Command::new("git")
        .args([
            "-c",
            "fetch.fsckObjects=true",
            "clone",
            "-q",
            "--no-local",
            "-b",
            "main",
        ])
        .arg(dir)
        .arg(&target)
        .output()
        .unwrap();
    if !cloned.status.success() {
        let stderr = String::from_utf8_lossy(&cloned.stderr);
        problems.push(format!("git clone: {stderr}"));
    } else {
        let dirty = git_in(&target, &["status", "--porcelain"]);
        if !dirty.is_empty() {
            problems.push(format!("the clone did not check out whole:\n{dirty}"));
        }
    }
    problems
}

/// Runs `git` in `dir` with `input` on its standard input: whether it succeeded, and its
/// stdout.
pub fn git_with_input(dir: &Path, args: &[&str], input: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

/// Runs `git` in `dir`, failing the test when it fails.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// What a run of the binary printed and returned.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output (snapshots replace what differs between runs: see
    /// [`TestRepo::redactions`]).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs the `promised` binary.
pub fn promised(args: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_promised"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout,
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Copies the folder `from` into `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs_err::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), target).unwrap();
        }
    }
}

/// A Promise `name` (kind `App`, group `test.promised.dev`, `spec.size` small|large)
/// whose one pipeline runs `script` with `sh -c`, indented into the YAML for you.
pub fn promise(name: &str, extra_spec: &str, script: &str) -> String {
    let script: String = script
        .lines()
        .map(|l| format!("                    {l}\n"))
        .collect();
    format!(
        r#"apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata:
  name: {name}
spec:
{extra_spec}  api:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: apps.test.promised.dev
    spec:
      group: test.promised.dev
      names: {{kind: App, plural: apps}}
      scope: Namespaced
      versions:
        - name: v1
          served: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: object
                  required: [size]
                  properties:
                    size: {{type: string, enum: [small, large]}}
  workflows:
    resource:
      configure:
        - apiVersion: platform.kratix.io/v1alpha1
          kind: Pipeline
          metadata: {{name: configure}}
          spec:
            containers:
              - name: render
                image: test/{name}:v1
                command: [sh, -c]
                args:
                  - |
{script}"#
    )
}

/// A request for the test Promise `promise`.
pub fn request(name: &str, namespace: &str, size: &str) -> String {
    format!(
        "apiVersion: test.promised.dev/v1\nkind: App\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  size: {size}\n"
    )
}

/// A Destination with labels given as `k: v` pairs.
pub fn destination(name: &str, labels: &[(&str, &str)], extra_spec: &str) -> String {
    let labels: String = labels
        .iter()
        .map(|(k, v)| format!("    {k}: {v}\n"))
        .collect();
    let labels = if labels.is_empty() {
        "    {}\n".to_string()
    } else {
        labels
    };
    format!(
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata:\n  name: {name}\n  labels:\n{labels}spec:\n  {extra_spec}\n"
    )
}

/// A pipeline script that writes one ConfigMap named after the request, holding its size.
pub const CONFIGMAP_SCRIPT: &str = r#"size=$(sed -n 's/^ *size: *//p' "$KRATIX_INPUT/object.yaml")
cat > "$KRATIX_OUTPUT/configmap.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: $KRATIX_OBJECT_NAME
  namespace: $KRATIX_OBJECT_NAMESPACE
data:
  size: $size
YAML"#;

/// A repository with the `app` Promise running `script`, and destinations `dev` and
/// `prod` labelled `env: dev|prod`.
pub fn app_repo(script: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("promises/app.yaml", &promise("app", "", script));
    repo.write(
        "destinations/dev.yaml",
        &destination("dev", &[("env", "dev")], ""),
    );
    repo.write(
        "destinations/prod.yaml",
        &destination("prod", &[("env", "prod")], ""),
    );
    repo
}
