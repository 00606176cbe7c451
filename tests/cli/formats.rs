//! Output for machines and CI (issue 15, points 3 and 4): `--format json` of
//! `reconcile`, `validate`, `status` and `plan` checked against the schemas published in
//! docs/schemas; `validate --format github|gitlab`; what `status` says of a request
//! committed after its pass, removed, or misplaced; and the published schemas of the
//! input files checked against the example platform.

use std::path::Path;

use serde_json::Value;

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, destination, promised, request};

/// Parses `json` and checks it against `docs/schemas/<schema>`; returns it.
fn checked(json: &str, schema: &str) -> Value {
    let value: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_conforms(&value, schema);
    value
}

fn assert_conforms(value: &Value, schema: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schemas")
        .join(schema);
    let schema: Value = serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{}: {errors:#?}\n{value:#}",
        path.display()
    );
}

fn run_in(repo: &TestRepo, args: &[&str]) -> crate::support::Run {
    promised(&[args, &["--repo", repo.path().to_str().unwrap()]].concat())
}

#[test]
fn reconcile_json_holds_every_request_and_says_which_changed() {
    let repo = TestRepo::example();
    let first = run_in(&repo, &["reconcile", "--format", "json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let report = checked(&first.stdout, "reconcile-report.schema.json");
    assert_eq!(report["ok"], true);
    assert_eq!(report["requests"].as_array().unwrap().len(), 4);
    assert!(
        report["requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["changed"] == true)
    );
    assert_eq!(report["output_commit"].as_str().unwrap().len(), 40);

    repo.write("requests/redis/broken.yaml", "apiVersion: [\n")
        .write("promises/notes.yml", "not a promise\n")
        .write(
            "promises/broken.yaml",
            "kind: Promise\nmetadata:\n  name: [x\n",
        )
        .commit("a request that does not read");
    let second = run_in(
        &repo,
        &[
            "reconcile",
            "--format",
            "json",
            "--request",
            "requests/redis/gone.yaml",
        ],
    );
    assert_eq!(second.code, 1, "{}", second.stderr);
    let report = checked(&second.stdout, "reconcile-report.schema.json");
    assert_eq!(report["ok"], false);
    let broken = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "requests/redis/broken.yaml")
        .unwrap();
    assert_eq!(broken["phase"], "Invalid");
    let problems: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(
        problems.contains(&"requests/redis/gone.yaml"),
        "{problems:?}"
    );
    // A file that is not YAML: the line the parser names.
    let broken = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == "promises/broken.yaml")
        .unwrap();
    assert_eq!(broken["line"], 3, "{broken}");
}

/// A repository with one request that breaks its Promise's schema and a seed-era field
/// that deserves a warning.
fn repo_with_findings() -> TestRepo {
    let repo = app_repo(CONFIGMAP_SCRIPT);
    repo.write("requests/app/ok.yaml", &request("ok", "team", "small"))
        .write("requests/app/huge.yaml", &request("huge", "team", "huge"))
        .write("requests/top-level.yaml", &request("top", "team", "small"));
    repo.commit("requests");
    repo
}

#[test]
fn validate_speaks_json_github_and_gitlab() {
    let repo = repo_with_findings();
    let text = run_in(&repo, &["validate"]);
    assert_eq!(text.code, 1);
    insta::assert_snapshot!(text.stdout, @r#"
    requests/app/huge.yaml:7: spec.size: "huge" is not one of "small" or "large"
    requests/top-level.yaml:1: warning: not read: a request file goes in the folder of its Promise: requests/<promise>/top-level.yaml
    5 files checked, 1 problem, 1 warning
    "#);

    let json = run_in(&repo, &["validate", "--format", "json"]);
    assert_eq!(json.code, 1);
    let report = checked(&json.stdout, "validate-report.schema.json");
    assert_eq!(report["problems"][0]["line"], 7);
    assert_eq!(report["warnings"][0]["path"], "requests/top-level.yaml");

    let github = run_in(&repo, &["validate", "--format", "github"]);
    assert_eq!(github.code, 1);
    insta::assert_snapshot!(github.stdout, @r#"
    ::error file=requests/app/huge.yaml,line=7,title=promised validate::spec.size: "huge" is not one of "small" or "large"
    ::warning file=requests/top-level.yaml,line=1,title=promised validate::not read: a request file goes in the folder of its Promise: requests/<promise>/top-level.yaml
    5 files checked, 1 problem, 1 warning
    "#);

    let gitlab = run_in(&repo, &["validate", "--format", "gitlab"]);
    assert_eq!(gitlab.code, 1);
    let report = checked(&gitlab.stdout, "validate-gitlab.schema.json");
    assert_eq!(report[0]["severity"], "major");
    assert_eq!(report[0]["location"]["lines"]["begin"], 7);
    assert_eq!(report[1]["severity"], "minor");
    // The same finding keeps its fingerprint from run to run.
    let again = run_in(&repo, &["validate", "--format", "gitlab"]);
    assert_eq!(gitlab.stdout, again.stdout);
}

#[test]
fn status_says_outdated_removing_and_misplaced_and_speaks_json() {
    let script = format!(
        "{CONFIGMAP_SCRIPT}\nprintf -- '- matchLabels:\\n    env: prod\\n' > \"$KRATIX_METADATA/destination-selectors.yaml\""
    );
    let repo = app_repo(&script);
    for name in ["changed", "gone", "same"] {
        repo.write(
            &format!("requests/app/{name}.yaml"),
            &request(name, "team", "small"),
        );
    }
    repo.commit("four requests");
    assert_eq!(repo.reconcile(&[]).code, 0);
    // Committed after the pass: one request changed, one removed.
    repo.write(
        "requests/app/changed.yaml",
        &request("changed", "team", "large"),
    )
    .remove("requests/app/gone.yaml")
    .commit("change one, remove one");
    let table = run_in(&repo, &["status"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    insta::assert_snapshot!(table.stdout, @r"
    OBJECT            PHASE      DESTINATIONS  REASON
    Promise/app       Available                available
    app/team/changed  Outdated   prod          output written to prod
    app/team/gone     Removing   prod          output written to prod
    app/team/same     Ready      prod          output written to prod
    ");

    // The destination they were placed on no longer matches: the outputs stay there.
    repo.write(
        "destinations/prod.yaml",
        &destination("prod", &[("env", "retired")], ""),
    )
    .commit("retire prod");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let wide = run_in(&repo, &["status", "-o", "wide"]);
    assert_eq!(wide.code, 0, "{}", wide.stderr);
    insta::assert_snapshot!(wide.stdout, @r"
    OBJECT            PHASE      RECORDED   DESTINATIONS     FILE                       REASON
    Promise/app       Available  Available                   promises/app.yaml          available
    app/team/changed  Ready      Ready      prod(misplaced)  requests/app/changed.yaml  output written to prod
    app/team/same     Ready      Ready      prod(misplaced)  requests/app/same.yaml     output written to prod
    ");

    let json = run_in(&repo, &["status", "--format", "json"]);
    let report = checked(&json.stdout, "status-report.schema.json");
    assert_eq!(report["ok"], true);
    assert_eq!(report["objects"][1]["destinations"][0]["misplaced"], true);
    assert_eq!(report["objects"][1]["freshness"], "Current");
}

#[test]
fn plan_json_conforms_to_its_schema() {
    let repo = TestRepo::example();
    let base = repo.head();
    repo.write("requests/redis/extra.yaml", "apiVersion: example.promised.dev/v1alpha1\nkind: Redis\nmetadata:\n  name: extra\n  namespace: team-a\nspec:\n  size: small\n  env: dev\n");
    repo.commit("one more");
    let plan = run_in(
        &repo,
        &[
            "plan", "--base", &base, "--head", "HEAD", "--format", "json",
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    checked(&plan.stdout, "plan-report.schema.json");
}

#[test]
fn the_published_input_schemas_take_every_promise_and_destination_of_the_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = [
        ("examples/platform/promises", "promise.schema.json"),
        ("examples/platform/destinations", "destination.schema.json"),
    ];
    let mut checked_files = 0;
    for (folder, schema) in cases {
        for entry in fs_err::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let text = fs_err::read_to_string(&path).unwrap();
            let documents: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
            for document in documents {
                assert_conforms(&document, schema);
            }
            checked_files += 1;
        }
    }
    assert_eq!(checked_files, 5);
    // And one each schema refuses, as promised refuses it.
    let climbing = serde_json::json!({
        "apiVersion": "platform.kratix.io/v1alpha1",
        "kind": "Destination",
        "metadata": {"name": "dev"},
        "spec": {"path": "../outside"}
    });
    let schema = fs_err::read_to_string(root.join("docs/schemas/destination.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&serde_json::from_str(&schema).unwrap()).unwrap();
    assert!(!validator.is_valid(&climbing));
}
