//! A `kustomization.yaml` at the top of every destination's folder, listing each of its
//! documents, dependencies first. Flux's kustomize-controller and Argo CD both build a
//! folder that has one with kustomize, so what they apply is exactly the list promised
//! wrote, and nothing else that lands in the folder. Pure.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::layout::STATE_DIR;
use super::tree::{Changes, Content, CurrentTree};
use crate::git::BlobId;
use crate::model::{FilepathMode, LoadError};

pub(crate) const KUSTOMIZATION_FILE: &str = "kustomization.yaml";

/// The names kustomize reads as a kustomization when it builds a folder.
const KUSTOMIZE_NAMES: [&str; 3] = [KUSTOMIZATION_FILE, "kustomization.yml", "Kustomization"];

/// Whether `path` is a file kustomize would read as a kustomization: a pipeline's output
/// of that name is committed but never listed, since listed it would be applied as a
/// document (and fail the destination's whole build) or, were its folder listed, pull in
/// whatever it names.
pub(crate) fn is_kustomization(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    KUSTOMIZE_NAMES.contains(&name)
}

/// Whether `path` is a file at the top of a destination's folder, where promised writes
/// the index and an `aggregatedYAML` destination's aggregate: under `state/`, in no
/// request's or Promise's folder. A pipeline's output is always in one of those.
fn is_top_file(path: &str) -> bool {
    path.starts_with("state/") && !path.contains("/resources/") && !path.contains("/dependencies/")
}

/// For a pass that read part of the state folder: the documents a destination
/// folder's index lists outside that part (see [`index_destinations`]).
pub(crate) type Unlisted<'a, E> = dyn Fn(&str) -> Result<Vec<String>, E> + 'a;

/// Adds to `changes` what keeps the top of every destination folder in step with the
/// files the folder will hold: its `kustomization.yaml`, and for an `aggregatedYAML`
/// destination its aggregate. `folders` are the declared destinations' folders with
/// their filepath mode.
///
/// The aggregate is built again only when a file of its folder changes (or it is
/// missing), from the files as they will be: `read` gives the bytes of a blob by id.
/// A file that does not read as YAML leaves that destination's top files as they are,
/// and is returned as a problem.
///
/// With `keep_unknown` (a Destination file could not be read), the top files of a
/// folder that no declared destination owns stay, as the rest of that folder does.
///
/// `unlisted` is given when `current` holds only part of the state folder (a narrow
/// pass, whose caller vouches that the indexes are as promised wrote them): then a
/// folder where no file comes or goes keeps its index, and for one where some do,
/// `unlisted` gives the documents its index lists outside that part, which stay listed.
pub(crate) fn index_destinations<E>(
    changes: &mut Changes,
    current: &CurrentTree,
    folders: &BTreeMap<String, FilepathMode>,
    keep_unknown: bool,
    unlisted: Option<&Unlisted<'_, E>>,
    read: impl Fn(&BlobId) -> Result<Vec<u8>, E>,
    blob_id: impl Fn(&[u8]) -> BlobId,
) -> Result<Vec<LoadError>, E> {
    // Top files are recomputed below from the final tree, whatever the first diff said.
    changes.removals.retain(|path| !is_top_file(path));
    let final_files: BTreeSet<&String> = current
        .keys()
        .chain(changes.upserts.keys())
        .filter(|path| !changes.removals.contains(*path) && !is_top_file(path))
        .collect();
    let mut wanted: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut left_alone: BTreeSet<String> = BTreeSet::new();
    let mut problems = Vec::new();
    for (folder, mode) in folders {
        let prefix = format!("{STATE_DIR}/{folder}/");
        let index = format!("{prefix}{KUSTOMIZATION_FILE}");
        let touched = changes
            .upserts
            .keys()
            .chain(&changes.removals)
            .any(|p| p.starts_with(&prefix) && !is_top_file(p));
        let mut documents = documents_of(folder, folders, &final_files);
        if let Some(unlisted) = unlisted {
            // The index lists paths: it changes only when a file comes or goes, not
            // when one is written again, and reading it back costs as much as it is
            // long (every document of the destination).
            let comes_or_goes = changes
                .upserts
                .keys()
                .filter(|p| !current.contains_key(*p))
                .chain(changes.removals.iter().filter(|p| current.contains_key(*p)))
                .any(|p| p.starts_with(&prefix) && !is_top_file(p));
            if !comes_or_goes {
                left_alone.insert(index);
                continue;
            }
            documents.extend(unlisted(folder)?);
            sort_documents(&mut documents);
        }
        if documents.is_empty() {
            continue;
        }
        let listed = match mode {
            FilepathMode::NestedByMetadata => documents,
            FilepathMode::AggregatedYaml { filename } => {
                let path = format!("{prefix}{filename}");
                if !touched && current.contains_key(&path) {
                    left_alone.insert(path);
                } else {
                    match aggregate_of(&prefix, &documents, changes, current, &read)? {
                        Ok(bytes) => {
                            wanted.insert(path, bytes);
                        }
                        Err(problem) => {
                            problems.push(problem);
                            left_alone.extend([path, index]);
                            continue;
                        }
                    }
                }
                vec![filename.to_string()]
            }
        };
        wanted.insert(index, kustomization(&listed));
    }
    for path in current.keys().filter(|p| is_top_file(p)) {
        let parent = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        let known = folders.keys().any(|f| parent == format!("{STATE_DIR}/{f}"));
        let stays = wanted.contains_key(path) || left_alone.contains(path);
        if !stays && (known || !keep_unknown) {
            changes.removals.insert(path.clone());
        }
    }
    for (path, bytes) in wanted {
        if current.get(&path) != Some(&blob_id(&bytes)) {
            changes.upserts.insert(path, Content::Bytes(bytes));
        }
    }
    Ok(problems)
}

/// The aggregate of `documents` (relative to `prefix`) as they will be: read from
/// `changes`, or by blob id through `read`. The inner error is a file that does not
/// read as YAML.
fn aggregate_of<E>(
    prefix: &str,
    documents: &[String],
    changes: &Changes,
    current: &CurrentTree,
    read: impl Fn(&BlobId) -> Result<Vec<u8>, E>,
) -> Result<Result<Vec<u8>, LoadError>, E> {
    let mut files: Vec<(String, Cow<'_, [u8]>)> = Vec::with_capacity(documents.len());
    for rest in documents {
        let path = format!("{prefix}{rest}");
        let bytes = match (changes.upserts.get(&path), current.get(&path)) {
            (Some(Content::Bytes(bytes)), _) => Cow::Borrowed(bytes.as_slice()),
            (Some(Content::Blob(id)), _) | (None, Some(id)) => Cow::Owned(read(id)?),
            (None, None) => unreachable!("a document is current or upserted"),
        };
        files.push((path, bytes));
    }
    let files = files
        .iter()
        .map(|(path, bytes)| (path.as_str(), bytes.as_ref()));
    Ok(super::aggregate::aggregate(files))
}

/// The document files of `folder` among `files`, relative to it, dependencies first:
/// what its index lists, and what its aggregate holds. Files of a destination whose
/// folder is nested inside it are its own.
fn documents_of(
    folder: &str,
    folders: &BTreeMap<String, FilepathMode>,
    files: &BTreeSet<&String>,
) -> Vec<String> {
    let prefix = format!("{STATE_DIR}/{folder}/");
    let nested: Vec<String> = folders
        .keys()
        .filter(|other| other.starts_with(&format!("{folder}/")))
        .map(|other| format!("{STATE_DIR}/{other}/"))
        .collect();
    let mut documents: Vec<String> = files
        .iter()
        .filter(|path| !nested.iter().any(|n| path.starts_with(n)))
        .filter_map(|path| path.strip_prefix(&prefix))
        .filter(|rest| super::layout::is_document_file(rest))
        .filter(|rest| !is_kustomization(rest))
        .map(str::to_string)
        .collect();
    sort_documents(&mut documents);
    documents
}

/// Puts an index's documents in order: dependencies first, then by path.
fn sort_documents(documents: &mut [String]) {
    fn key(path: &str) -> (bool, &str) {
        (!path.starts_with("dependencies/"), path)
    }
    documents.sort_by(|a, b| key(a).cmp(&key(b)));
}

/// What an index holds before its entries.
pub(crate) const INDEX_HEADER: &str = "# Written by promised: every document of this destination, dependencies first.\n\
     apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n";

/// The text of an index listing `paths`.
pub(crate) fn kustomization(paths: &[String]) -> Vec<u8> {
    let mut text = String::from(INDEX_HEADER);
    for path in paths {
        text.push_str("  - ");
        text.push_str(path);
        text.push('\n');
    }
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(bytes: &[u8]) -> BlobId {
        crate::git::sha1_blob_id(bytes)
    }

    /// Nested destinations at `folders`.
    fn nested(folders: &[&str]) -> BTreeMap<String, FilepathMode> {
        let mode = FilepathMode::NestedByMetadata;
        folders
            .iter()
            .map(|f| (f.to_string(), mode.clone()))
            .collect()
    }

    /// Indexes with no blob to read: every file of the test is in `changes`.
    fn index(
        changes: &mut Changes,
        current: &CurrentTree,
        folders: &BTreeMap<String, FilepathMode>,
    ) -> Vec<LoadError> {
        let read = |id: &BlobId| Err::<Vec<u8>, _>(format!("no blob {id}"));
        index_destinations(changes, current, folders, false, None, read, id).unwrap()
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
        let folders = nested(&["dev", "dev/eu", "prod"]);
        index(&mut changes, &CurrentTree::new(), &folders);
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
        index(&mut changes, &CurrentTree::new(), &nested(&["dev"]));
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
        let folders = nested(&["dev"]);
        index(&mut first, &CurrentTree::new(), &folders);
        let current: CurrentTree = first
            .upserts
            .iter()
            .map(|(p, b)| (p.clone(), id(b.bytes().unwrap())))
            .collect();

        let mut again = Changes::default();
        index(&mut again, &current, &folders);
        assert!(again.is_empty(), "{again:?}");

        let mut emptied = Changes::default();
        emptied
            .removals
            .insert("state/dev/resources/ns/app/a/cm.yaml".into());
        emptied
            .removals
            .insert("state/dev/kustomization.yaml".into());
        index(&mut emptied, &current, &folders);
        assert!(emptied.removals.contains("state/dev/kustomization.yaml"));
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";
    const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n";

    fn aggregated(filename: &str) -> BTreeMap<String, FilepathMode> {
        let filename = crate::path_segment::Segment::new(filename).unwrap();
        let mode = FilepathMode::AggregatedYaml { filename };
        BTreeMap::from([("dev".to_string(), mode)])
    }

    /// The tree after `changes` are committed on `current`.
    fn committed(current: &CurrentTree, changes: &Changes) -> CurrentTree {
        let mut tree = current.clone();
        tree.retain(|path, _| !changes.removals.contains(path));
        for (path, content) in &changes.upserts {
            let blob = match content {
                Content::Bytes(bytes) => id(bytes),
                Content::Blob(blob) => *blob,
            };
            tree.insert(path.clone(), blob);
        }
        tree
    }

    fn text(changes: &Changes, path: &str) -> String {
        let bytes = changes.upserts[path].bytes().unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn an_aggregated_destination_lists_only_its_aggregate_which_holds_every_document() {
        let mut changes = Changes::default();
        for (path, text) in [
            ("state/dev/resources/ns/app/a/cm.yaml", CM),
            ("state/dev/resources/ns/app/a/main.tf", "resource {}"),
            ("state/dev/dependencies/app/static-dependencies.yaml", NS),
        ] {
            let content = Content::Bytes(text.as_bytes().to_vec());
            changes.upserts.insert(path.into(), content);
        }
        let problems = index(
            &mut changes,
            &CurrentTree::new(),
            &aggregated("catalog.yaml"),
        );
        assert!(problems.is_empty(), "{problems:?}");
        let index = text(&changes, "state/dev/kustomization.yaml");
        assert!(index.ends_with("resources:\n  - catalog.yaml\n"), "{index}");
        let catalog = text(&changes, "state/dev/catalog.yaml");
        let kinds: Vec<String> = crate::yaml::documents(&catalog)
            .unwrap()
            .iter()
            .map(|d| d["kind"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds, ["Namespace", "ConfigMap"], "{catalog}");
    }

    #[test]
    fn an_aggregate_is_read_from_stored_blobs_and_rebuilt_only_when_its_folder_changes() {
        let blobs: BTreeMap<BlobId, &str> = [NS, CM]
            .into_iter()
            .map(|t| (id(t.as_bytes()), t))
            .collect();
        let read = |blob: &BlobId| blobs.get(blob).map(|t| t.as_bytes().to_vec()).ok_or(());
        let folders = aggregated("aggregated.yaml");
        let mut first = Changes::default();
        first.upserts.insert(
            "state/dev/dependencies/app/static-dependencies.yaml".into(),
            Content::Blob(id(NS.as_bytes())),
        );
        first.upserts.insert(
            "state/dev/resources/ns/app/a/cm.yaml".into(),
            Content::Bytes(CM.as_bytes().to_vec()),
        );
        let problems = index_destinations(
            &mut first,
            &CurrentTree::new(),
            &folders,
            false,
            None,
            read,
            id,
        );
        assert_eq!(problems, Ok(vec![]));
        let built = text(&first, "state/dev/aggregated.yaml");
        let current = committed(&CurrentTree::new(), &first);

        // Nothing of dev changed: the aggregate is neither read nor removed.
        let mut again = Changes::default();
        let no_read = |_: &BlobId| Err::<Vec<u8>, _>("read");
        assert_eq!(
            index_destinations(&mut again, &current, &folders, false, None, no_read, id),
            Ok(vec![])
        );
        assert!(again.is_empty(), "{again:?}");

        // A request removed: the aggregate is built again from what stays.
        let mut removed = Changes::default();
        removed
            .removals
            .insert("state/dev/resources/ns/app/a/cm.yaml".into());
        removed.removals.insert("state/dev/aggregated.yaml".into());
        index_destinations(&mut removed, &current, &folders, false, None, read, id).unwrap();
        let rebuilt = text(&removed, "state/dev/aggregated.yaml");
        assert!(
            built.contains("ConfigMap") && !rebuilt.contains("ConfigMap"),
            "{rebuilt}"
        );
        assert!(rebuilt.contains("Namespace"), "{rebuilt}");

        // The last document gone: the aggregate and the index go.
        let mut emptied = removed.clone();
        emptied.upserts.clear();
        emptied
            .removals
            .insert("state/dev/dependencies/app/static-dependencies.yaml".into());
        index_destinations(&mut emptied, &current, &folders, false, None, read, id).unwrap();
        assert!(emptied.removals.contains("state/dev/aggregated.yaml"));
        assert!(emptied.removals.contains("state/dev/kustomization.yaml"));
    }

    #[test]
    fn a_destination_that_leaves_aggregated_yaml_loses_its_aggregate() {
        let mut first = Changes::default();
        first.upserts.insert(
            "state/dev/resources/ns/app/a/cm.yaml".into(),
            Content::Bytes(CM.as_bytes().to_vec()),
        );
        index(&mut first, &CurrentTree::new(), &aggregated("catalog.yaml"));
        let current = committed(&CurrentTree::new(), &first);
        assert!(current.contains_key("state/dev/catalog.yaml"));

        let mut renamed = Changes::default();
        let read = |_: &BlobId| Ok::<_, ()>(CM.as_bytes().to_vec());
        index_destinations(
            &mut renamed,
            &current,
            &aggregated("all.yaml"),
            false,
            None,
            read,
            id,
        )
        .unwrap();
        assert!(renamed.removals.contains("state/dev/catalog.yaml"));
        assert!(renamed.upserts.contains_key("state/dev/all.yaml"));

        let mut nested_again = Changes::default();
        index(&mut nested_again, &current, &nested(&["dev"]));
        assert_eq!(
            nested_again.removals,
            BTreeSet::from(["state/dev/catalog.yaml".to_string()])
        );
        let index = text(&nested_again, "state/dev/kustomization.yaml");
        assert!(
            index.ends_with("resources:\n  - resources/ns/app/a/cm.yaml\n"),
            "{index}"
        );
    }

    #[test]
    fn a_stored_file_that_is_not_yaml_leaves_the_aggregate_and_index_as_they_were() {
        let mut first = Changes::default();
        first.upserts.insert(
            "state/dev/resources/ns/app/a/cm.yaml".into(),
            Content::Bytes(CM.as_bytes().to_vec()),
        );
        index(&mut first, &CurrentTree::new(), &aggregated("catalog.yaml"));
        let current = committed(&CurrentTree::new(), &first);

        let mut broken = Changes::default();
        broken.upserts.insert(
            "state/dev/resources/ns/app/b/cm.yaml".into(),
            Content::Bytes(CM.as_bytes().to_vec()),
        );
        let read = |_: &BlobId| Ok::<_, ()>(b"kind: [".to_vec());
        let problems = index_destinations(
            &mut broken,
            &current,
            &aggregated("catalog.yaml"),
            false,
            None,
            read,
            id,
        )
        .unwrap();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "state/dev/resources/ns/app/a/cm.yaml");
        let paths: Vec<&String> = broken.upserts.keys().collect();
        assert_eq!(paths, ["state/dev/resources/ns/app/b/cm.yaml"]);
        assert!(broken.removals.is_empty(), "{broken:?}");
    }
}
