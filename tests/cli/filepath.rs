//! Destinations' `spec.filepath.mode`: `nestedByMetadata` (the default), `aggregatedYAML`
//! (one file of every document, listed alone by the destination's kustomization), and
//! `none`, refused.

use std::process::Command;

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, destination, promise, promised, request};

/// The ConfigMap of [`CONFIGMAP_SCRIPT`], and a second file that starts with `---` and a
/// comment, as pipelines write them.
fn two_files_script() -> String {
    format!(
        "{CONFIGMAP_SCRIPT}\ncat > \"$KRATIX_OUTPUT/extra.yaml\" <<YAML\n---\n# the request's extra\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: $KRATIX_OBJECT_NAME-extra\n  namespace: $KRATIX_OBJECT_NAMESPACE\nYAML"
    )
}

/// A repository with the `app` Promise (its static dependency a Namespace, its pipeline
/// [`two_files_script`]) and the one destination `dev`, whose spec is `spec`.
fn one_destination(spec: &str) -> TestRepo {
    let repo = TestRepo::new();
    let deps = "  dependencies:\n    - apiVersion: v1\n      kind: Namespace\n      metadata: {name: app-system}\n";
    repo.write(
        "promises/app.yaml",
        &promise("app", deps, &two_files_script()),
    );
    repo.write("destinations/dev.yaml", &destination("dev", &[], spec));
    repo
}

/// Every file under `state/` with its content, for comparing two trees.
fn state_with_contents(repo: &TestRepo) -> String {
    let files = repo.git(&["ls-tree", "-r", "--name-only", "main", "--", "state"]);
    files
        .lines()
        .map(|path| format!("== {path}\n{}", repo.show(path)))
        .collect()
}

#[test]
fn nested_by_metadata_given_explicitly_writes_the_default_tree() {
    let default = one_destination("{}");
    let explicit = one_destination("filepath: {mode: nestedByMetadata}");
    for repo in [&default, &explicit] {
        repo.write("requests/app/a.yaml", &request("a", "team", "small"));
        repo.commit("Request a");
        let run = repo.reconcile(&[]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    assert_eq!(
        state_with_contents(&explicit),
        state_with_contents(&default)
    );
    insta::assert_snapshot!(explicit.managed_files(), @r"
    state/dev/dependencies/app/SHA256SUMS
    state/dev/dependencies/app/static-dependencies.yaml
    state/dev/kustomization.yaml
    state/dev/resources/team/app/a/SHA256SUMS
    state/dev/resources/team/app/a/configmap.yaml
    state/dev/resources/team/app/a/extra.yaml
    status/app.yaml
    status/app/team/a.yaml
    ");
}

#[test]
fn an_aggregated_destination_holds_every_document_in_one_file_kept_in_step_with_its_requests() {
    let repo = one_destination("filepath: {mode: aggregatedYAML, filename: catalog.yaml}");
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "small"));
    repo.commit("Request a and b");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!(repo.managed_files(), @r"
    state/dev/catalog.yaml
    state/dev/dependencies/app/SHA256SUMS
    state/dev/dependencies/app/static-dependencies.yaml
    state/dev/kustomization.yaml
    state/dev/resources/team/app/a/SHA256SUMS
    state/dev/resources/team/app/a/configmap.yaml
    state/dev/resources/team/app/a/extra.yaml
    state/dev/resources/team/app/b/SHA256SUMS
    state/dev/resources/team/app/b/configmap.yaml
    state/dev/resources/team/app/b/extra.yaml
    status/app.yaml
    status/app/team/a.yaml
    status/app/team/b.yaml
    ");
    insta::assert_snapshot!("aggregated_catalog", repo.show("state/dev/catalog.yaml"));
    insta::assert_snapshot!(repo.show("state/dev/kustomization.yaml"), @r"
    # Written by promised: every document of this destination, dependencies first.
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    resources:
      - catalog.yaml
    ");

    let head = repo.head();
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert_eq!(repo.head(), head, "a rerun commits nothing");

    repo.write("requests/app/a.yaml", &request("a", "team", "large"));
    repo.commit("Make a large");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let changed = repo.git(&["diff", "--name-only", "main~1", "main", "--", "state"]);
    insta::assert_snapshot!(changed, @r"
    state/dev/catalog.yaml
    state/dev/resources/team/app/a/SHA256SUMS
    state/dev/resources/team/app/a/configmap.yaml
    ");
    let catalog = repo.show("state/dev/catalog.yaml");
    assert!(
        catalog.contains("size: large") && catalog.contains("size: small"),
        "{catalog}"
    );

    repo.remove("requests/app/a.yaml");
    repo.commit("Drop a");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let catalog = repo.show("state/dev/catalog.yaml");
    assert!(!catalog.contains("name: a\n"), "{catalog}");
    assert!(
        catalog.contains("name: b\n") && catalog.contains("app-system"),
        "{catalog}"
    );
}

#[test]
fn an_aggregate_goes_with_the_last_document_of_its_destination() {
    let repo = TestRepo::new();
    repo.write("promises/app.yaml", &promise("app", "", CONFIGMAP_SCRIPT));
    let spec = "filepath: {mode: aggregatedYAML}";
    repo.write("destinations/dev.yaml", &destination("dev", &[], spec));
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    assert_eq!(repo.reconcile(&[]).code, 0);
    assert!(repo.show("state/dev/aggregated.yaml").contains("name: a\n"));

    repo.remove("requests/app/a.yaml");
    repo.commit("Drop a");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let state = repo.git(&["ls-tree", "-r", "--name-only", "main", "--", "state"]);
    assert_eq!(state, "", "no aggregate and no kustomization.yaml are left");
}

#[test]
fn a_destination_leaving_aggregated_yaml_loses_its_aggregate() {
    let repo = one_destination("filepath: {mode: aggregatedYAML}");
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    assert_eq!(repo.reconcile(&[]).code, 0);
    repo.write("destinations/dev.yaml", &destination("dev", &[], "{}"));
    repo.commit("dev back to nestedByMetadata");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let changed = repo.git(&["diff", "--name-status", "main~1", "main", "--", "state"]);
    insta::assert_snapshot!(changed, @r"
    D	state/dev/aggregated.yaml
    M	state/dev/kustomization.yaml
    ");
}

#[test]
fn kubectl_kustomize_builds_an_aggregated_destination_into_its_documents() {
    let repo = one_destination("filepath: {mode: aggregatedYAML, filename: catalog.yaml}");
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "large"));
    repo.commit("Request a and b");
    assert_eq!(repo.reconcile(&[]).code, 0);
    let out = tempfile::tempdir().unwrap();
    let archive = Command::new("git")
        .args(["archive", "--format=tar", "main", "state/dev"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(archive.status.success());
    tar::Archive::new(archive.stdout.as_slice())
        .unpack(out.path())
        .unwrap();
    let built = Command::new("kubectl")
        .arg("kustomize")
        .arg(out.path().join("state/dev"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&built.stdout);
    assert!(
        built.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  name: "))
        .collect();
    assert_eq!(
        names,
        ["app-system", "a", "a-extra", "b", "b-extra"],
        "each document once: {stdout}"
    );
}

#[test]
fn mode_none_is_refused_with_the_file_and_field_and_writes_nothing_there() {
    let repo = one_destination("filepath: {mode: none}");
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    let validate = promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(validate.code, 1, "{}", validate.stdout);
    assert!(
        validate
            .stdout
            .contains("destinations/dev.yaml:8: spec.filepath.mode: \"none\" (every file flat"),
        "{}",
        validate.stdout
    );
    let run = repo.reconcile(&[]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("destinations/dev.yaml") && all.contains("spec.filepath.mode"),
        "{all}"
    );
    let state = repo.git(&["ls-tree", "-r", "--name-only", "main", "--", "state"]);
    assert_eq!(state, "");
}

#[test]
fn an_unknown_mode_is_refused_with_the_file_and_field() {
    let repo = one_destination("filepath: {mode: flat}");
    repo.commit("A destination with a mode Kratix does not have");
    let validate = promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(validate.code, 1, "{}", validate.stdout);
    assert!(
        validate.stdout.contains(
            "destinations/dev.yaml:8: spec.filepath.mode: \"flat\" is not a filepath mode: write \
             nestedByMetadata (the default) or aggregatedYAML"
        ),
        "{}",
        validate.stdout
    );
}
