//! The habits of command-line tools users bring (issue 15, point 7): completions, and
//! environment variables for what an operator sets once.

use crate::support::{TestRepo, promised};

#[test]
fn completions_are_generated_for_each_shell_and_know_the_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = promised(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains("kube-one-namespace") && run.stdout.contains("reconcile"),
            "{shell}"
        );
    }
}

#[test]
fn the_repository_branch_and_executor_come_from_the_environment() {
    let repo = TestRepo::example();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_promised"))
        .arg("reconcile")
        .env("PROMISED_REPO", repo.path())
        .env("PROMISED_BRANCH", "mian")
        .env("PROMISED_EXECUTOR", "process")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The repository was found from the variable, and the branch taken from it.
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(r#"there is no branch "mian""#), "{stderr}");
}

#[test]
fn quiet_prints_only_what_went_wrong() {
    let repo = TestRepo::example();
    let run = repo.reconcile(&["-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "", "nothing went wrong, nothing is printed");

    repo.write("requests/redis/broken.yaml", "apiVersion: [\n")
        .commit("a request that does not read");
    let run = repo.reconcile(&["--quiet"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert!(
        lines[0].starts_with("invalid  redis/default/broken (requests/redis/broken.yaml): "),
        "{}",
        run.stdout
    );
}

#[test]
fn help_shows_examples_and_exit_codes() {
    for command in [
        "reconcile",
        "plan",
        "validate",
        "status",
        "serve",
        "pipeline run",
    ] {
        let args: Vec<&str> = command.split(' ').chain(["--help"]).collect();
        let run = promised(&args);
        assert_eq!(run.code, 0);
        assert!(
            run.stdout.contains("Examples:\n  promised ")
                && run.stdout.contains("Exit codes:\n  0  "),
            "{command}: {}",
            run.stdout
        );
        // Every flag an example uses is one the command has.
        let (options, examples) = run.stdout.split_once("Examples:").unwrap();
        for flag in examples.split_whitespace().filter(|w| w.starts_with('-')) {
            assert!(
                options.contains(&format!("{flag} ")) || options.contains(&format!("{flag},")),
                "{command}: {flag} is not an option"
            );
        }
    }
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let run = promised(&["--version"]);
    assert_eq!(run.code, 0);
    let version = run.stdout.trim();
    let checkout = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let commit = match checkout.status.success() {
        true => String::from_utf8(checkout.stdout)
            .unwrap()
            .trim()
            .to_string(),
        false => "unknown commit".to_string(),
    };
    assert_eq!(
        version,
        format!("promised {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
}
