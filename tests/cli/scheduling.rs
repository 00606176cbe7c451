//! Where outputs go: selectors from the Promise and from the pipeline, strict
//! destinations, pending requests, and placements that stay put.

use crate::support::{
    CONFIGMAP_SCRIPT, TestRepo, app_repo, destination, git_with_input, promise, request,
};

/// CONFIGMAP_SCRIPT, then a selector file asking for `env: <env>`.
fn script_asking_for(env: &str) -> String {
    format!(
        "{CONFIGMAP_SCRIPT}\nprintf -- '- matchLabels:\\n    env: {env}\\n' > \"$KRATIX_METADATA/destination-selectors.yaml\""
    )
}

fn reconciled(repo: &TestRepo) -> String {
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    repo.managed_files()
}

#[test]
fn the_pipeline_selector_file_chooses_the_destination() {
    let repo = app_repo(&script_asking_for("prod"));
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    let files = reconciled(&repo);
    assert!(
        files.contains("state/prod/resources/team/app/a/configmap.yaml"),
        "{files}"
    );
    assert!(!files.contains("state/dev/"), "{files}");
}

#[test]
fn the_seed_selector_file_name_is_honoured_too() {
    let script = format!(
        "{CONFIGMAP_SCRIPT}\nprintf -- '- matchLabels:\\n    env: prod\\n' > \"$KRATIX_METADATA/cluster-selectors.yaml\""
    );
    let repo = app_repo(&script);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    assert!(reconciled(&repo).contains("state/prod/resources/team/app/a/"));
}

#[test]
fn the_promise_selectors_win_a_conflict() {
    let repo = app_repo(&script_asking_for("prod"));
    let selectors = "  destinationSelectors:\n    - matchLabels: {env: dev}\n";
    repo.write(
        "promises/app.yaml",
        &promise("app", selectors, &script_asking_for("prod")),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    let files = reconciled(&repo);
    assert!(
        files.contains("state/dev/resources/team/app/a/configmap.yaml"),
        "{files}"
    );
}

#[test]
fn a_directory_entry_schedules_its_folder_on_its_own() {
    let script = format!(
        "{CONFIGMAP_SCRIPT}\nmkdir \"$KRATIX_OUTPUT/monitoring\"\ncp \"$KRATIX_OUTPUT/configmap.yaml\" \"$KRATIX_OUTPUT/monitoring/\"\n\
         printf -- '- matchLabels: {{env: dev}}\\n- directory: monitoring\\n  matchLabels: {{env: prod}}\\n' > \"$KRATIX_METADATA/destination-selectors.yaml\""
    );
    let repo = app_repo(&script);
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    insta::assert_snapshot!(reconciled(&repo), @r"
    state/dev/kustomization.yaml
    state/dev/resources/team/app/a/SHA256SUMS
    state/dev/resources/team/app/a/configmap.yaml
    state/prod/kustomization.yaml
    state/prod/resources/team/app/a/SHA256SUMS
    state/prod/resources/team/app/a/monitoring/configmap.yaml
    status/app.yaml
    status/app/team/a.yaml
    ");
}

#[test]
fn strict_destinations_take_nothing_without_selectors_and_pending_is_reported() {
    let repo = TestRepo::new();
    repo.write("promises/app.yaml", &promise("app", "", CONFIGMAP_SCRIPT));
    repo.write(
        "destinations/vault.yaml",
        &destination("vault", &[("env", "prod")], "strictMatchLabels: true"),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    let run = repo.reconcile(&[]);
    assert_eq!(run.code, 0, "pending is not an error: {}", run.stdout);
    assert!(run.stdout.contains("pending  app/team/a"), "{}", run.stdout);
    assert_eq!(
        repo.managed_files(),
        "status/app.yaml\nstatus/app/team/a.yaml\n"
    );
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("reason: Pending"), "{status}");
    assert!(status.contains("all have strictMatchLabels"), "{status}");
}

#[test]
fn adding_destinations_never_moves_a_placed_request() {
    let repo = app_repo(&script_asking_for("prod"));
    for i in 0..20 {
        repo.write(
            &format!("requests/app/r{i}.yaml"),
            &request(&format!("r{i}"), "team", "small"),
        );
    }
    repo.commit("Twenty requests");
    let before = reconciled(&repo);
    for i in 0..5 {
        repo.write(
            &format!("destinations/prod-{i}.yaml"),
            &destination(&format!("prod-{i}"), &[("env", "prod")], ""),
        );
    }
    for i in 0..20 {
        repo.write(
            &format!("requests/app/r{i}.yaml"),
            &request(&format!("r{i}"), "team", "large"),
        );
    }
    repo.commit("More prod destinations, and every request changed");
    let after = reconciled(&repo);
    assert_eq!(before, after, "every request must stay where it was");
    assert!(
        repo.show("state/prod/resources/team/app/r0/configmap.yaml")
            .contains("large")
    );

    // A new request may land on a new destination: the choice spreads.
    for i in 20..60 {
        repo.write(
            &format!("requests/app/r{i}.yaml"),
            &request(&format!("r{i}"), "team", "small"),
        );
    }
    repo.commit("Forty more");
    let spread = reconciled(&repo);
    assert!(spread.contains("state/prod-"), "{spread}");
}

#[test]
fn a_destination_that_stops_matching_keeps_the_output_and_the_status_says_so() {
    let repo = app_repo(&script_asking_for("prod"));
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    let before = reconciled(&repo);
    repo.write(
        "destinations/prod.yaml",
        &destination("prod", &[("env", "retired")], ""),
    );
    repo.commit("Retire prod");
    assert_eq!(reconciled(&repo), before);
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("reason: Misplaced"), "{status}");
    assert!(status.contains("state: misplaced"), "{status}");
}

#[test]
fn replace_moves_a_misplaced_output_where_the_selectors_say_now() {
    let repo = app_repo(&script_asking_for("prod"));
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    assert!(reconciled(&repo).contains("state/prod/"));
    // prod is retired and dev takes its label: a's output stays on prod, misplaced.
    repo.write(
        "destinations/prod.yaml",
        &destination("prod", &[("env", "retired")], ""),
    )
    .write(
        "destinations/dev.yaml",
        &destination("dev", &[("env", "prod")], ""),
    );
    repo.commit("Move prod's label to dev");
    let misplaced = reconciled(&repo);
    assert!(misplaced.contains("state/prod/") && !misplaced.contains("state/dev/resources"));
    // Every pass says so, though nothing changes: it is not counted as placed.
    let run = repo.reconcile(&[]);
    let _redacted = repo.redactions();
    insta::assert_snapshot!(run.stdout, @r#"
    misplaced app/team/a (requests/app/a.yaml): configure: destination "prod" no longer matches the selectors; the output stays there (`promised reconcile --replace` with the request's file places it anew)
    1 request, 0 with problems, 0 unreadable files; nothing changed, no commit in [time]
    "#);

    let run = repo.reconcile(&["--replace", "requests/app/a.yaml"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("ready    app/team/a (requests/app/a.yaml): output written to dev\n"),
        "{}",
        run.stdout
    );
    let moved = repo.managed_files();
    assert!(moved.contains("state/dev/resources/"), "{moved}");
    assert!(!moved.contains("state/prod/resources/"), "{moved}");
    let status = repo.show("status/app/team/a.yaml");
    assert!(status.contains("reason: Placed"), "{status}");
    // Once placed, a rerun leaves it there: nothing to commit.
    let again = repo.reconcile(&[]);
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
}

#[test]
fn a_removed_destination_is_emptied_and_its_requests_placed_again() {
    let repo = app_repo(&script_asking_for("prod"));
    repo.write(
        "destinations/prod-2.yaml",
        &destination("prod-2", &[("env", "prod")], ""),
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.commit("Request a");
    let before = reconciled(&repo);
    let placed = if before.contains("state/prod/") {
        "prod"
    } else {
        "prod-2"
    };
    let other = if placed == "prod" { "prod-2" } else { "prod" };
    repo.remove(&format!("destinations/{placed}.yaml"));
    repo.commit("Remove the destination a is on");
    let after = reconciled(&repo);
    assert!(!after.contains(&format!("state/{placed}/")), "{after}");
    assert!(
        after.contains(&format!(
            "state/{other}/resources/team/app/a/configmap.yaml"
        )),
        "{after}"
    );
}

#[test]
fn a_destination_file_holding_a_secret_and_a_state_store_gives_its_destinations_and_nothing_else() {
    // Each request asks for the destination labelled with its size.
    let script = format!(
        "{CONFIGMAP_SCRIPT}\nprintf -- '- matchLabels:\\n    env: %s\\n' \"$size\" > \"$KRATIX_METADATA/destination-selectors.yaml\""
    );
    let repo = app_repo(&script);
    // As Kratix teams keep them: the credentials, the store and the Destination in one
    // file; and a seed-era `Cluster` beside it.
    repo.write(
        "destinations/edge.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: edge-git, namespace: default}\nstringData: {password: store-password-42}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: edge}\nspec: {url: 'https://git.example.com/edge', secretRef: {name: edge-git}}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata:\n  name: edge\n  labels: {env: small}\nspec: {stateStoreRef: {name: edge, kind: GitStateStore}}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: legacy\n  labels: {env: large}\n",
    );
    repo.write("requests/app/a.yaml", &request("a", "team", "small"));
    repo.write("requests/app/b.yaml", &request("b", "team", "large"));
    repo.commit("Request a, and a destination file as Kratix teams write them");
    let files = reconciled(&repo);
    assert!(
        files.contains("state/edge/resources/team/app/a/configmap.yaml"),
        "{files}"
    );
    assert!(
        files.contains("state/legacy/resources/team/app/b/configmap.yaml"),
        "{files}"
    );
    let grep = [
        "grep",
        "-l",
        "store-password-42",
        "main",
        "--",
        "state",
        "status",
    ];
    let (_, written) = git_with_input(repo.path(), &grep, "");
    assert!(
        written.is_empty(),
        "the Secret's value was copied: {written}"
    );
}
