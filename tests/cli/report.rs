//! What `reconcile` prints (issue 15, point 2): the requests that changed, failed, wait
//! or were skipped, each on a line, and the rest counted; colour only where asked.

use crate::support::{CONFIGMAP_SCRIPT, app_repo, request};

/// A platform of `n` requests of the `app` Promise and one destination, reconciled once.
fn reconciled_platform(n: usize) -> crate::support::TestRepo {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.remove("destinations/prod.yaml");
    for i in 0..n {
        let name = format!("app-{i:04}");
        repo.write(
            &format!("requests/app/{name}.yaml"),
            &request(&name, "default", "small"),
        );
    }
    repo.commit("platform");
    let first = repo.reconcile(&["--jobs", "4"]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    repo
}

#[test]
fn a_pass_over_two_thousand_requests_that_changes_nothing_prints_a_line() {
    let repo = reconciled_platform(2_000);
    let run = repo.reconcile(&["--jobs", "4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    {
        let _redacted = repo.redactions();
        insta::assert_snapshot!(run.stdout, @"2000 requests (2000 ready and unchanged), 0 with problems, 0 unreadable files; nothing changed, no commit in [time]");
    }

    // One request changed and one broken: their lines, and the rest counted.
    repo.write(
        "requests/app/app-0007.yaml",
        &request("app-0007", "default", "large"),
    )
    .write(
        "requests/app/app-0008.yaml",
        &request("app-0008", "default", "huge"),
    )
    .commit("one bigger, one wrong");
    let run = repo.reconcile(&["--jobs", "4"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let _redacted = repo.redactions();
    insta::assert_snapshot!(run.stdout, @r#"
    ready    app/default/app-0007 (requests/app/app-0007.yaml): output written to dev
    invalid  app/default/app-0008 (requests/app/app-0008.yaml): the request does not match the schema of test.promised.dev/v1:
             spec.size: "huge" is not one of "small" or "large"
    2000 requests (1998 ready and unchanged), 1 with problems, 0 unreadable files; committed [commit] (4 files changed) in [time]
    "#);
}

#[test]
fn show_unchanged_lists_every_request_and_quiet_none_that_is_fine() {
    let repo = reconciled_platform(3);
    let every = repo.reconcile(&["--show-unchanged"]);
    assert_eq!(every.code, 0, "{}", every.stderr);
    let _redacted = repo.redactions();
    insta::assert_snapshot!(every.stdout, @r"
    ready    app/default/app-0000 (requests/app/app-0000.yaml): output written to dev
    ready    app/default/app-0001 (requests/app/app-0001.yaml): output written to dev
    ready    app/default/app-0002 (requests/app/app-0002.yaml): output written to dev
    3 requests (3 ready and unchanged), 0 with problems, 0 unreadable files; nothing changed, no commit in [time]
    ");
    let quiet = repo.reconcile(&["-q"]);
    assert_eq!((quiet.code, quiet.stdout.as_str()), (0, ""));
    let both = repo.reconcile(&["-q", "--show-unchanged"]);
    assert_eq!(both.code, 2, "clap refuses the pair: {}", both.stderr);
}

#[test]
fn colour_where_asked_or_forced_and_never_with_no_color() {
    let repo = reconciled_platform(1);
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_promised"));
        command
            .args([
                "reconcile",
                "--repo",
                repo.path().to_str().unwrap(),
                "--show-unchanged",
            ])
            .args(args)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .envs(env.iter().copied());
        String::from_utf8(command.output().unwrap().stdout).unwrap()
    };
    let escape = '\u{1b}';
    let painted = format!("{escape}[32mready   {escape}[0m app/default/app-0000");
    // Not a terminal: plain, unless asked or forced.
    assert!(!run(&[], &[]).contains(escape));
    assert!(run(&["--color", "always"], &[]).starts_with(&painted));
    assert!(run(&[], &[("CLICOLOR_FORCE", "1")]).starts_with(&painted));
    // NO_COLOR wins over the force, and `never` over everything.
    let no_color = run(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!no_color.contains(escape), "{no_color:?}");
    let never = run(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]);
    assert!(!never.contains(escape), "{never:?}");
}
