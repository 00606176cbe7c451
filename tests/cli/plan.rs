//! `promised plan`, `validate` and `status` over real repositories, and the CI, Flux
//! and Argo CD examples.

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, promised, request};

/// main holds requests a and b, reconciled; branch pr changes a, adds c, removes b.
fn pull_request() -> TestRepo {
    let script = format!(
        "[ \"$KRATIX_OBJECT_NAME\" != boom ] || {{ echo 'boom is not allowed' >&2; exit 2; }}\n{CONFIGMAP_SCRIPT}"
    );
    let repo = app_repo(&script);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Requests a and b");
    assert_eq!(repo.reconcile(&[]).code, 0);
    repo.git(&["checkout", "-q", "-b", "pr"]);
    repo.write("requests/app/a.yaml", &request("a", "team", "large"));
    repo.write("requests/app/c.yaml", &request("c", "team", "small"));
    repo.remove("requests/app/b.yaml");
    repo.commit("Change a, add c, remove b");
    repo
}

fn plan(repo: &TestRepo, base: &str, head: &str, format: &str) -> crate::support::Run {
    promised(&[
        "plan",
        "--repo",
        repo.path().to_str().unwrap(),
        "--base",
        base,
        "--head",
        head,
        "--format",
        format,
    ])
}

#[test]
fn a_plan_shows_added_changed_and_removed_requests_in_three_formats() {
    let repo = pull_request();
    let before = repo.git(&["rev-parse", "pr"]);
    let text = plan(&repo, "main", "pr", "text");
    assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
    let _redacted = repo.redactions();
    insta::assert_snapshot!("plan_text", text.stdout);
    insta::assert_snapshot!(
        "plan_markdown",
        plan(&repo, "main", "pr", "markdown").stdout
    );
    insta::assert_snapshot!("plan_json", plan(&repo, "main", "pr", "json").stdout);
    assert_eq!(
        repo.git(&["rev-parse", "pr"]),
        before,
        "a plan writes nothing"
    );
}

#[test]
fn the_plan_and_the_reconcile_after_the_merge_agree_byte_for_byte() {
    let repo = pull_request();
    let json = plan(&repo, "main", "pr", "json");
    let view: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--ff-only", "pr"]);
    assert_eq!(repo.reconcile(&[]).code, 0);
    let changed = repo.git(&["diff", "--no-renames", "--name-status", "main~1", "main"]);
    let planned: Vec<String> = view["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let letter = match f["change"].as_str().unwrap() {
                "added" => "A",
                "changed" => "M",
                _ => "D",
            };
            format!("{letter}\t{}", f["path"].as_str().unwrap())
        })
        .collect();
    assert_eq!(changed.lines().collect::<Vec<_>>(), planned);
    for file in view["files"].as_array().unwrap() {
        if let Some(blob) = file["blob"].as_str() {
            let committed = repo.git(&[
                "rev-parse",
                &format!("main:{}", file["path"].as_str().unwrap()),
            ]);
            assert_eq!(committed.trim(), blob, "{}", file["path"]);
        }
    }
}

#[test]
fn a_plan_that_touches_nothing_says_so() {
    let repo = pull_request();
    repo.git(&["checkout", "-q", "-b", "docs", "main"]);
    repo.write("README.md", "# Our platform\n");
    repo.commit("Only documentation");
    let run = plan(&repo, "main", "docs", "text");
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "Plan for main -> docs: 0 requests would be reconciled (0 failing), 0 removed; 0 files would change\n"
    );
}

#[test]
fn a_plan_with_a_schema_error_or_a_failing_pipeline_exits_1() {
    let repo = pull_request();
    repo.write("requests/app/bad.yaml", &request("bad", "team", "huge"));
    repo.write("requests/app/boom.yaml", &request("boom", "team", "small"));
    repo.commit("Two requests that will not work");
    let run = plan(&repo, "main", "pr", "text");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "invalid  app/team/bad (requests/app/bad.yaml): the request does not match the schema"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("failed   app/team/boom (requests/app/boom.yaml): pipeline \"configure\": container \"render\" failed (exit code 2)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("         boom is not allowed"),
        "{}",
        run.stdout
    );
}

#[test]
fn validate_reports_path_line_field_and_message() {
    let repo = pull_request();
    repo.write("requests/app/bad.yaml", &request("bad", "team", "huge"));
    repo.commit("An invalid request");
    let run = promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.stdout, @r#"
    requests/app/bad.yaml:7: spec.size: "huge" is not one of "small" or "large"
    6 files checked, 1 problem
    "#);
    let clean = promised(&[
        "validate",
        "--repo",
        repo.path().to_str().unwrap(),
        "--rev",
        "main",
    ]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
}

#[test]
fn status_lists_every_request_and_shows_one() {
    let repo = pull_request();
    let run = promised(&[
        "status",
        "--repo",
        repo.path().to_str().unwrap(),
        "--rev",
        "main",
    ]);
    assert_eq!(run.code, 0);
    // Which destination a request's output goes to is not fixed: either may take it.
    insta::with_settings!({filters => vec![("dev|prod", "[dest]")]}, {
        insta::assert_snapshot!(run.stdout, @r"
        OBJECT       PHASE      DESTINATIONS  REASON
        Promise/app  Available                available
        app/team/a   Ready      [dest]          output written to [dest]
        app/team/b   Ready      [dest]          output written to [dest]
        ");
    });
    let one = promised(&[
        "status",
        "--repo",
        repo.path().to_str().unwrap(),
        "--rev",
        "main",
        "requests/app/a.yaml",
    ]);
    assert!(
        one.stdout.starts_with("# Status of requests/app/a.yaml"),
        "{}",
        one.stdout
    );
}

/// Every YAML file of the CI, Flux and Argo CD examples parses, and every `promised`
/// command the CI examples run exists with those flags.
#[test]
fn the_integration_examples_parse_and_their_commands_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut commands = Vec::new();
    for folder in ["ci", "flux", "argocd"] {
        for entry in fs_err::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let text = fs_err::read_to_string(&path).unwrap();
            let docs = promised::yaml::documents(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!docs.is_empty(), "{}", path.display());
            let words = text
                .split(|c: char| c.is_whitespace() || c == '\\')
                .filter(|w| !w.is_empty());
            let mut words = words.peekable();
            while let Some(word) = words.next() {
                if word == "promised"
                    && words.peek().is_some_and(|w| {
                        ["validate", "plan", "status", "reconcile", "serve"].contains(w)
                    })
                {
                    let sub = words.next().unwrap().to_string();
                    let flags: Vec<String> = words
                        .clone()
                        .take_while(|w| *w != "promised")
                        .filter(|w| w.starts_with("--"))
                        .map(|w| w.to_string())
                        .collect();
                    commands.push((sub, flags));
                }
            }
        }
    }
    assert!(commands.len() >= 4, "{commands:?}");
    for (sub, flags) in commands {
        let help = promised(&[&sub, "--help"]).stdout;
        for flag in flags
            .iter()
            .filter(|f| !f.contains("--locked") && !f.contains("--git"))
        {
            let name = flag.split('=').next().unwrap();
            if ["--request", "--header", "--data-urlencode", "--fail"].contains(&name) {
                continue;
            }
            assert!(help.contains(name), "promised {sub} has no {name}");
        }
    }
}

#[test]
fn file_names_and_outputs_cannot_write_the_pull_request_comment() {
    let script = format!(
        "{CONFIGMAP_SCRIPT}\nprintf '  note: |\\n    ```\\n    ### Looks fine\\n' >> \"$KRATIX_OUTPUT/configmap.yaml\""
    );
    let repo = app_repo(&script);
    repo.commit("The platform");
    repo.git(&["checkout", "-q", "-b", "pr"]);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    // A link is an unreadable file: the plan names it.
    std::os::unix::fs::symlink(
        "a.yaml",
        repo.path()
            .join("requests/app/x`\n### No outputs change\n<!--.yaml"),
    )
    .unwrap();
    repo.commit("A request, and a link named to rewrite the comment");
    let markdown = plan(&repo, "main", "pr", "markdown").stdout;
    for line in markdown.lines() {
        assert!(
            !line.starts_with("### No outputs change")
                && !line.starts_with("### Looks fine")
                && !line.starts_with("<!--"),
            "{line:?} in\n{markdown}"
        );
    }
    assert!(
        markdown.contains("x`\\n### No outputs change\\n<!--.yaml"),
        "{markdown}"
    );
    let fences = markdown
        .lines()
        .filter(|l| l.starts_with("````diff"))
        .count();
    assert_eq!(
        fences, 1,
        "the diff holding ``` gets a longer fence:\n{markdown}"
    );
}

#[test]
fn a_change_that_edits_a_status_file_is_a_problem_of_the_plan() {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    assert_eq!(repo.reconcile(&[]).code, 0);
    repo.git(&["checkout", "-q", "-b", "pr"]);
    let status = repo.show("status/app/team/a.yaml");
    let placed = if status.contains("destination: prod") {
        ("destination: prod", "destination: dev")
    } else {
        ("destination: dev", "destination: prod")
    };
    repo.write(
        "status/app/team/a.yaml",
        &status.replace(placed.0, placed.1),
    );
    repo.commit("Move a by hand");
    let run = plan(&repo, "main", "pr", "text");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("status/app/team/a.yaml: this change edits a file promised writes"),
        "{}",
        run.stdout
    );
}
