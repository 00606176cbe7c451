//! Reading a pipeline's metadata folder. Two files are honoured:
//! `destination-selectors.yaml` (or the seed's name for it, `cluster-selectors.yaml`)
//! and `status.yaml`. Every other file is ignored: containers may use the folder to talk
//! to each other.

use std::collections::BTreeSet;
use std::path::Path;

use fs_err as fs;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::Labels;
use crate::yaml;

/// Selector file names, current first.
pub const SELECTOR_FILES: [&str; 2] = ["destination-selectors.yaml", "cluster-selectors.yaml"];
/// The file whose keys go into the request's status.
pub const STATUS_FILE: &str = "status.yaml";
/// The status key `promised` keeps for itself; a pipeline may not set it.
pub const RESERVED_STATUS_KEY: &str = "promised";

/// What a pipeline left in its metadata folder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// Selector entries, in file order.
    pub selectors: Vec<Selector>,
    /// Top-level keys of `status.yaml`, in file order.
    pub status: Map<String, Value>,
}

/// One entry of a selector file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// One top-level folder of the output that this entry schedules on its own; absent
    /// for the entry that refines the rest of the output.
    #[serde(default)]
    pub directory: Option<String>,
    /// Labels a destination must carry.
    pub match_labels: Labels,
}

/// Reads the honoured files of a metadata folder.
pub fn read_metadata(dir: &Path) -> Result<Metadata, String> {
    let mut metadata = Metadata::default();
    for name in SELECTOR_FILES {
        if let Some(text) = read_if_present(&dir.join(name))? {
            let entries = parse_selectors(&text).map_err(|e| format!("{name}: {e}"))?;
            metadata.selectors.extend(entries);
        }
    }
    check_directories(&metadata.selectors)?;
    if let Some(text) = read_if_present(&dir.join(STATUS_FILE))? {
        metadata.status = parse_status(&text).map_err(|e| format!("{STATUS_FILE}: {e}"))?;
    }
    Ok(metadata)
}

fn read_if_present(path: &Path) -> Result<Option<String>, String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err.to_string()),
    }
}

fn parse_selectors(text: &str) -> Result<Vec<Selector>, String> {
    let docs = yaml::documents(text).map_err(|e| e.to_string())?;
    let Some(list) = docs.into_iter().next() else {
        return Ok(Vec::new());
    };
    let entries: Vec<Selector> = yaml::typed(list).map_err(|e| match e {
        yaml::YamlError::Shape { field, message } if field == "." => {
            format!("expected a list of {{directory, matchLabels}} entries: {message}")
        }
        other => format!("entry {other}"),
    })?;
    for (i, entry) in entries.iter().enumerate() {
        if entry.match_labels.is_empty() {
            return Err(format!("[{i}].matchLabels: must name at least one label"));
        }
        if let Some(dir) = &entry.directory {
            if let Err(why) = crate::path_segment::check(dir) {
                return Err(format!(
                    "[{i}].directory: {dir:?} must be one top-level folder of the output: it {why}"
                ));
            }
        }
    }
    Ok(entries)
}

fn check_directories(entries: &[Selector]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for entry in entries {
        if let Some(dir) = &entry.directory {
            if !seen.insert(dir) {
                return Err(format!(
                    "selectors: directory {dir:?} is listed twice; give one entry per folder"
                ));
            }
        }
    }
    Ok(())
}

fn parse_status(text: &str) -> Result<Map<String, Value>, String> {
    let docs = yaml::documents(text).map_err(|e| e.to_string())?;
    let Some(doc) = docs.into_iter().next() else {
        return Ok(Map::new());
    };
    let Value::Object(map) = doc else {
        return Err("must be a mapping of status fields".into());
    };
    if map.contains_key(RESERVED_STATUS_KEY) {
        return Err(format!(
            "{RESERVED_STATUS_KEY}: this key is reserved for promised's own status fields"
        ));
    }
    if let Some(conditions) = map.get("conditions") {
        let well_formed = conditions.as_array().is_some_and(|list| {
            list.iter()
                .all(|c| c.get("type").and_then(Value::as_str).is_some())
        });
        if !well_formed {
            return Err("conditions: must be a list of entries that each have a type".into());
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn both_selector_file_names_are_read_and_other_files_ignored() {
        let dir = folder(&[
            ("destination-selectors.yaml", "- matchLabels: {env: dev}\n"),
            (
                "cluster-selectors.yaml",
                "- directory: db\n  matchLabels: {tier: data}\n",
            ),
            ("notes.txt", "for the next container"),
        ]);
        let metadata = read_metadata(dir.path()).unwrap();
        assert_eq!(metadata.selectors.len(), 2);
        assert_eq!(metadata.selectors[1].directory.as_deref(), Some("db"));
        assert!(metadata.status.is_empty());
    }

    #[test]
    fn bad_selector_files_are_clear_errors() {
        let cases = [
            (
                "- matchLabels: {}\n",
                "[0].matchLabels: must name at least one label",
            ),
            (
                "- directory: a/b\n  matchLabels: {x: b}\n",
                "[0].directory: \"a/b\" must be one top-level folder of the output",
            ),
            ("- matchlabels: {x: b}\n", "unknown field"),
            (
                "- directory: .Git\n  matchLabels: {x: b}\n",
                "[0].directory: \".Git\" must be one top-level folder of the output: it is `.git`",
            ),
        ];
        for (text, expected) in cases {
            let dir = folder(&[("destination-selectors.yaml", text)]);
            let err = read_metadata(dir.path()).unwrap_err();
            assert!(err.starts_with("destination-selectors.yaml: "), "{err}");
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
        let twice =
            "- directory: db\n  matchLabels: {a: b}\n- directory: db\n  matchLabels: {c: d}\n";
        let dir = folder(&[("destination-selectors.yaml", twice)]);
        assert!(
            read_metadata(dir.path())
                .unwrap_err()
                .contains("listed twice")
        );
    }

    #[test]
    fn status_keys_are_kept_in_order_and_the_reserved_key_refused() {
        let dir = folder(&[(
            "status.yaml",
            "message: ready\nurl: http://x\nconditions: [{type: Ready, status: 'True'}]\n",
        )]);
        let status = read_metadata(dir.path()).unwrap().status;
        assert_eq!(
            status.keys().collect::<Vec<_>>(),
            ["message", "url", "conditions"]
        );
        let dir = folder(&[("status.yaml", "promised: {phase: Ready}\n")]);
        assert!(read_metadata(dir.path()).unwrap_err().contains("reserved"));
        let dir = folder(&[("status.yaml", "conditions: [{status: 'True'}]\n")]);
        assert!(
            read_metadata(dir.path())
                .unwrap_err()
                .contains("conditions")
        );
    }
}
