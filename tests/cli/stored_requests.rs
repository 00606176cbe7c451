//! Pipelines read a request as the Kubernetes API server would store it: defaults of
//! the Promise's schema filled in, unknown fields refused (as `kubectl apply` refuses
//! them by default), a Promise's schema that does not compile named at the Promise.

use crate::support::{TestRepo, app_repo, promise, promised, request};

/// Writes `object.yaml` as the pipeline read it into a ConfigMap, line by line.
const ECHO_OBJECT: &str = r#"cat > "$KRATIX_OUTPUT/configmap.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: $KRATIX_OBJECT_NAME
  namespace: $KRATIX_OBJECT_NAMESPACE
data:
  object.yaml: |
$(sed 's/^/    /' "$KRATIX_INPUT/object.yaml")
YAML"#;

/// The `app` Promise, its schema giving `spec.env` the default `dev`.
fn repo_with_default() -> TestRepo {
    let repo = app_repo(ECHO_OBJECT);
    let with_env = promise("app", "", ECHO_OBJECT).replace(
        "size: {type: string, enum: [small, large]}\n",
        "size: {type: string, enum: [small, large]}\n                    env: {type: string, default: dev}\n",
    );
    repo.write("promises/app.yaml", &with_env);
    repo
}

/// The `object.yaml` the pipeline of request `name` (namespace `team`) read.
fn object_read(repo: &TestRepo, name: &str) -> String {
    let managed = repo.managed_files();
    let output = managed
        .lines()
        .find(|p| p.ends_with(&format!("/resources/team/app/{name}/configmap.yaml")))
        .unwrap_or_else(|| panic!("no output for {name}:\n{managed}"));
    let configmap: serde_json::Value = serde_saphyr::from_str(&repo.show(output)).unwrap();
    configmap["data"]["object.yaml"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_pipeline_reads_the_default_the_request_did_not_give() {
    let repo = repo_with_default();
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    let given = format!(
        "# env given\n{}  env: prod\n",
        request("b", "team", "small")
    );
    repo.write("requests/app/b.yaml", &given);
    repo.commit("Two requests, one without env");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!(object_read(&repo, "a"), @r"
    apiVersion: test.promised.dev/v1
    kind: App
    metadata:
      name: a
      namespace: team
    spec:
      size: small
      env: dev
    ");
    assert_eq!(
        object_read(&repo, "b"),
        given,
        "a request the schema changes nothing in is read as committed, comments and all"
    );
}

#[test]
fn a_request_with_an_unknown_field_is_invalid_and_says_which_field_it_meant() {
    let repo = repo_with_default();
    let typo = request("a", "team", "small").replace("size:", "sise:");
    repo.write("requests/app/a.yaml", &typo);
    repo.commit("A typo");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("spec.sise: unknown field, did you mean spec.size?"),
        "{}",
        run.stdout
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("reason: InvalidRequest"), "{status}");
    assert!(!repo.managed_files().contains("/app/a/"), "nothing ran");

    let validate = promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert!(
        validate
            .stdout
            .contains("requests/app/a.yaml:7: spec.sise: unknown field, did you mean spec.size?"),
        "{}",
        validate.stdout
    );
}

#[test]
fn a_promise_schema_that_does_not_compile_is_named_once_at_the_promise() {
    let repo = app_repo(ECHO_OBJECT);
    let broken = promise("app", "", ECHO_OBJECT).replace("type: string, enum", "type: strin, enum");
    repo.write("promises/app.yaml", &broken);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("A Promise with a typo in its schema");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 1);
    let status: serde_json::Value =
        serde_saphyr::from_str(&repo.show("status/app/team/a.yaml")).unwrap();
    assert_eq!(
        status["message"],
        "Promise \"app\"'s schema of test.promised.dev/v1 is invalid (see promises/app.yaml; \
         `promised validate` says where); its requests wait until it is fixed"
    );

    let validate = promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    let problems: Vec<&str> = validate
        .stdout
        .lines()
        .filter(|l| l.contains(".yaml:"))
        .collect();
    assert_eq!(problems.len(), 1, "{}", validate.stdout);
    assert!(
        problems[0].starts_with(
            "promises/app.yaml:26: spec.api.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.size.type: "
        ),
        "{}",
        problems[0]
    );
}
