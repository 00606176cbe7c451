//! A `kustomization.yaml` at the top of every destination's folder, listing each of its
//! documents, dependencies first. Flux's kustomize-controller and Argo CD both build a
//! folder that has one with kustomize, so what they apply is exactly the list promised
//! wrote, and nothing else that lands in the folder. Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::layout::STATE_DIR;
use super::tree::{Changes, Content, CurrentTree};

/// The file's name.
pub const KUSTOMIZATION_FILE: &str = "kustomization.yaml";

/// The names kustomize reads as a kustomization when it builds a folder.
const KUSTOMIZE_NAMES: [&str; 3] = [KUSTOMIZATION_FILE, "kustomization.yml", "Kustomization"];

/// Whether `path` is a file kustomize would read as a kustomization: a pipeline's output
/// of that name is committed but never listed, since listed it would be applied as a
/// document (and fail the destination's whole build) or, were its folder listed, pull in
/// whatever it names.
fn is_kustomization(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    KUSTOMIZE_NAMES.contains(&name)
}

/// Whether `path` is a destination's index: `state/<folder>/kustomization.yaml`, and not
/// a pipeline's output that happens to have that name.
fn is_index(path: &str) -> bool {
    path.starts_with("state/")
        && path.ends_with(&format!("/{KUSTOMIZATION_FILE}"))
        && !path.contains("/resources/")
        && !path.contains("/dependencies/")
}

/// Adds to `changes` what keeps every destination folder's `kustomization.yaml` in step
/// with the files the folder will hold. `folders` are the declared destinations' folders.
///
/// With `keep_unknown` (a Destination file could not be read), the index of a folder
/// that no declared destination owns stays, as the rest of that folder does.
pub fn index_destinations(
    changes: &mut Changes,
    current: &CurrentTree,
    folders: &BTreeSet<String>,
    keep_unknown: bool,
    blob_id: impl Fn(&[u8]) -> String,
) {
    // Indexes are recomputed below from the final tree, whatever the first diff said.
    changes.removals.retain(|path| !is_index(path));
    let final_files: BTreeSet<&String> = current
        .keys()
        .chain(changes.upserts.keys())
        .filter(|path| !changes.removals.contains(*path) && !is_index(path))
        .collect();
    let mut wanted: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for folder in folders {
        let prefix = format!("{STATE_DIR}/{folder}/");
        let nested: Vec<String> = folders
            .iter()
            .filter(|other| other.starts_with(&format!("{folder}/")))
            .map(|other| format!("{STATE_DIR}/{other}/"))
            .collect();
        let mut documents: Vec<&str> = final_files
            .iter()
            .filter_map(|path| path.strip_prefix(&prefix))
            .filter(|rest| super::layout::is_document_file(rest))
            .filter(|rest| !is_kustomization(rest))
            .filter(|rest| {
                !nested
                    .iter()
                    .any(|n| format!("{prefix}{rest}").starts_with(n))
            })
            .collect();
        if documents.is_empty() {
            continue;
        }
        documents.sort_by_key(|path| (!path.starts_with("dependencies/"), *path));
        let mut text = String::from(
            "# Written by promised: every document of this destination, dependencies first.\n\
             apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
        );
        for path in documents {
            text.push_str(&format!("  - {path}\n"));
        }
        wanted.insert(format!("{prefix}{KUSTOMIZATION_FILE}"), text.into_bytes());
    }
    for path in current.keys().filter(|p| is_index(p)) {
        let known = folders
            .iter()
            .any(|f| *path == format!("{STATE_DIR}/{f}/{KUSTOMIZATION_FILE}"));
        if !wanted.contains_key(path) && (known || !keep_unknown) {
            changes.removals.insert(path.clone());
        }
    }
    for (path, bytes) in wanted {
        if current.get(&path) != Some(&blob_id(&bytes)) {
            changes.upserts.insert(path, Content::Bytes(bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(bytes: &[u8]) -> String {
        crate::state::digest::sha256(bytes)
    }

    #[test]
    fn every_destination_lists_its_documents_dependencies_first() {
        let mut changes = Changes::default();
        for path in [
            "state/dev/resources/ns/app/a/cm.yaml",
            "state/dev/resources/ns/app/a/SHA256SUMS",
            "state/dev/dependencies/app/static-dependencies.yaml",
            "state/dev/eu/resources/ns/app/b/cm.yaml",
        ] {
            changes
                .upserts
                .insert(path.into(), Content::Bytes(b"x".to_vec()));
        }
        let folders = BTreeSet::from(["dev".to_string(), "dev/eu".to_string(), "prod".to_string()]);
        index_destinations(&mut changes, &CurrentTree::new(), &folders, false, id);
        let dev = changes.upserts["state/dev/kustomization.yaml"]
            .bytes()
            .unwrap();
        let dev = std::str::from_utf8(dev).unwrap();
        assert!(dev.ends_with("resources:\n  - dependencies/app/static-dependencies.yaml\n  - resources/ns/app/a/cm.yaml\n"), "{dev}");
        assert!(
            changes
                .upserts
                .contains_key("state/dev/eu/kustomization.yaml")
        );
        assert!(
            !changes
                .upserts
                .contains_key("state/prod/kustomization.yaml")
        );
    }

    /// Indexes the destination `dev` after a pass that writes `paths`: the changes, and
    /// dev's new `kustomization.yaml`.
    fn index_dev_with(paths: &[&str]) -> (Changes, String) {
        let mut changes = Changes::default();
        for path in paths {
            let content = Content::Bytes(b"{}".to_vec());
            changes.upserts.insert(path.to_string(), content);
        }
        let folders = BTreeSet::from(["dev".to_string()]);
        index_destinations(&mut changes, &CurrentTree::new(), &folders, false, id);
        let dev = changes.upserts["state/dev/kustomization.yaml"]
            .bytes()
            .unwrap();
        let dev = std::str::from_utf8(dev).unwrap().to_string();
        (changes, dev)
    }

    #[test]
    fn only_document_files_are_listed() {
        let (_, dev) = index_dev_with(&[
            "state/dev/resources/ns/app/a/cm.json",
            "state/dev/resources/ns/app/a/main.tf",
        ]);
        assert!(
            dev.ends_with("resources:\n  - resources/ns/app/a/cm.json\n"),
            "{dev}"
        );
    }

    #[test]
    fn a_pipeline_output_named_like_a_kustomization_is_never_listed() {
        let (changes, dev) = index_dev_with(&[
            "state/dev/resources/ns/app/a/cm.yaml",
            "state/dev/resources/ns/app/a/kustomization.yaml",
            "state/dev/resources/ns/app/a/sub/kustomization.yml",
        ]);
        assert!(
            dev.ends_with("resources:\n  - resources/ns/app/a/cm.yaml\n"),
            "{dev}"
        );
        assert!(
            changes
                .upserts
                .contains_key("state/dev/resources/ns/app/a/kustomization.yaml"),
            "the output itself is committed"
        );
    }

    #[test]
    fn an_unchanged_index_is_not_rewritten_and_an_empty_one_goes() {
        let mut first = Changes::default();
        first.upserts.insert(
            "state/dev/resources/ns/app/a/cm.yaml".into(),
            Content::Bytes(b"x".to_vec()),
        );
        let folders = BTreeSet::from(["dev".to_string()]);
        index_destinations(&mut first, &CurrentTree::new(), &folders, false, id);
        let current: CurrentTree = first
            .upserts
            .iter()
            .map(|(p, b)| (p.clone(), id(b.bytes().unwrap())))
            .collect();

        let mut again = Changes::default();
        index_destinations(&mut again, &current, &folders, false, id);
        assert!(again.is_empty(), "{again:?}");

        let mut emptied = Changes::default();
        emptied
            .removals
            .insert("state/dev/resources/ns/app/a/cm.yaml".into());
        emptied
            .removals
            .insert("state/dev/kustomization.yaml".into());
        index_destinations(&mut emptied, &current, &folders, false, id);
        assert!(emptied.removals.contains("state/dev/kustomization.yaml"));
    }
}
