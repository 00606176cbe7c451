//! docs/first-promise.md, followed: its commands (the `$ ` lines of its `console`
//! blocks) run in order in one shell, in an empty folder, with this build's `promised`
//! first on the PATH, and each must succeed.

use std::path::Path;

/// The commands of a Markdown text's `console` blocks, in order.
fn commands(markdown: &str) -> Vec<String> {
    let mut in_console = false;
    let mut commands = Vec::new();
    for line in markdown.lines() {
        match line.trim_end() {
            "```console" => in_console = true,
            "```" => in_console = false,
            line if in_console => {
                if let Some(command) = line.strip_prefix("$ ") {
                    commands.push(command.to_string());
                }
            }
            _ => {}
        }
    }
    commands
}

#[test]
fn the_first_promise_tutorial_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tutorial = fs_err::read_to_string(root.join("docs/first-promise.md")).unwrap();
    let commands = commands(&tutorial);
    assert!(commands.len() >= 10, "{commands:?}");
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_promised")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    // Each command is echoed before it runs, so a failure names it.
    let script: String = commands
        .iter()
        .map(|c| format!("echo '>>> {}'\n{c}\n", c.replace('\'', "'\\''")))
        .collect();
    let output = std::process::Command::new("sh")
        .args(["-eu", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("GIT_AUTHOR_NAME", "Developer")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Developer")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // What the tutorial says happened did: the large cache is in Git, the last pass
    // changed nothing.
    let deployment = dir
        .path()
        .join("platform/state/dev/resources/default/cache/example/deployment.yaml");
    let deployment = fs_err::read_to_string(deployment).unwrap();
    assert!(deployment.contains("memory: 1Gi"), "{deployment}");
    let last = stdout.rsplit(">>> ").next().unwrap();
    assert!(last.contains("nothing changed, no commit"), "{last}");
}

#[test]
fn init_and_promise_new_never_overwrite_and_refuse_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let platform = dir.path().join("platform");
    let platform = platform.to_str().unwrap();
    let init = crate::support::promised(&["init", platform]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let again = crate::support::promised(&["init", platform]);
    assert_eq!(again.code, 2);
    assert!(
        again
            .stderr
            .contains("README.md already exists: nothing was written"),
        "{}",
        again.stderr
    );
    let new = |name: &str| crate::support::promised(&["promise", "new", name, "--repo", platform]);
    assert_eq!(new("cache").code, 0);
    let twice = new("cache");
    assert_eq!(twice.code, 2);
    assert!(
        twice.stderr.contains("promises/cache.yaml already exists"),
        "{}",
        twice.stderr
    );
    let bad = new("../etc");
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains(r#""../etc" is not a Promise name"#),
        "{}",
        bad.stderr
    );
}

#[test]
fn pipeline_run_says_where_the_output_would_go_and_keeps_its_folders_without_out() {
    use crate::support::{CONFIGMAP_SCRIPT, app_repo, request};
    let script = format!(
        "{CONFIGMAP_SCRIPT}\nprintf -- '- matchLabels:\\n    env: prod\\n' > \"$KRATIX_METADATA/destination-selectors.yaml\""
    );
    let repo = app_repo(&script);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("a request");
    let path = |p: &str| repo.path().join(p).to_str().unwrap().to_string();
    let run = crate::support::promised(&[
        "pipeline",
        "run",
        "--promise",
        &path("promises/app.yaml"),
        "--request",
        &path("requests/app/a.yaml"),
        "--repo",
        repo.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("  placed   configure: destination prod (state/prod/resources/team/app/a)\n"),
        "{}",
        run.stdout
    );
    // No --out: a folder of its own, named, and kept for the author to look at.
    let kept = run
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("pipeline configure: succeeded; "))
        .unwrap();
    let configmap = Path::new(kept).join("output/configmap.yaml");
    assert!(configmap.is_file(), "{}", run.stdout);
    fs_err::remove_dir_all(Path::new(kept).parent().unwrap()).unwrap();
}

#[test]
fn promise_new_finds_the_platform_from_a_subfolder_even_inside_another_repository() {
    let outer = crate::support::TestRepo::new();
    let platform = outer.path().join("platform");
    let init = crate::support::promised(&["init", platform.to_str().unwrap()]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_promised"))
        .args(["promise", "new", "db"])
        .current_dir(platform.join("destinations"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(platform.join("promises/db.yaml").is_file());
    assert!(platform.join("requests/db/example.yaml").is_file());
}
