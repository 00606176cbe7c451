//! Reading a pipeline's metadata folder. Three files are honoured:
//! `destination-selectors.yaml` (or the seed's name for it, `cluster-selectors.yaml`),
//! `status.yaml` and `workflow-control.yaml`. Every other file is ignored: containers may use the folder to talk
//! to each other. The honoured files are opened as [`read_back`] says: a link, pipe or
//! device in their place is refused, and none is read past [`METADATA_FILE_CAP`].
//!
//! [`read_back`]: super::read_back

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::read_back::{Deadline, Folder, METADATA_FILE_CAP, Opened, ReadError, read_capped};
use crate::model::Labels;
use crate::yaml;

/// Selector file names, current first.
pub(crate) const SELECTOR_FILES: [&str; 2] =
    ["destination-selectors.yaml", "cluster-selectors.yaml"];
/// The file whose keys go into the request's status.
pub(crate) const STATUS_FILE: &str = "status.yaml";
/// The file that suspends a workflow after its pipeline, or asks for a retry.
pub(crate) const CONTROL_FILE: &str = "workflow-control.yaml";
/// The status key `promised` keeps for itself; a pipeline may not set it.
pub(crate) const RESERVED_STATUS_KEY: &str = "promised";

/// What a pipeline left in its metadata folder.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Metadata {
    /// Selector entries, in file order.
    pub(crate) selectors: Vec<Selector>,
    /// Top-level keys of `status.yaml`, in file order.
    pub(crate) status: Map<String, Value>,
    /// `workflow-control.yaml`, when it suspends the workflow or asks for a retry.
    pub(crate) control: Option<WorkflowControl>,
}

/// What `workflow-control.yaml` asks, as Kratix reads it: stop the workflow after this
/// pipeline (`suspend: true`, or a `retryAfter` duration, which also suspends), with a
/// `message` for the status. `maxAttempts` is promised's own: how many times in a row
/// `retryAfter` may suspend this pipeline before the request fails (Kratix has no bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkflowControl {
    /// Why, for the status.
    pub(crate) message: Option<String>,
    /// When to run the pipeline again; `None` for a plain suspension.
    pub(crate) retry_after: Option<std::time::Duration>,
    /// How many retries in a row are allowed.
    pub(crate) max_attempts: Option<u32>,
}

/// One entry of a selector file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Selector {
    /// One top-level folder of the output that this entry schedules on its own; absent
    /// for the entry that refines the rest of the output.
    #[serde(default)]
    pub(crate) directory: Option<String>,
    /// Labels a destination must carry.
    pub(crate) match_labels: Labels,
}

/// Reads the honoured files of a metadata folder, before `deadline`. A folder that is
/// not there holds nothing.
pub(crate) fn read_metadata(dir: &Path, deadline: &Deadline) -> Result<Metadata, String> {
    let mut metadata = Metadata::default();
    let Some(dir) = Folder::open_root(dir, "metadata folder").map_err(|e| e.to_string())? else {
        return Ok(metadata);
    };
    let read = |name| read_if_present(&dir, name, deadline).map_err(|e| e.to_string());
    for name in SELECTOR_FILES {
        if let Some(text) = read(name)? {
            let entries = parse_selectors(&text).map_err(|e| format!("{name}: {e}"))?;
            metadata.selectors.extend(entries);
        }
    }
    check_directories(&metadata.selectors)?;
    if let Some(text) = read(STATUS_FILE)? {
        metadata.status = parse_status(&text).map_err(|e| format!("{STATUS_FILE}: {e}"))?;
    }
    if let Some(text) = read(CONTROL_FILE)? {
        metadata.control = parse_control(&text).map_err(|e| format!("{CONTROL_FILE}: {e}"))?;
    }
    Ok(metadata)
}

/// Reads `workflow-control.yaml`; `None` when it neither suspends nor retries.
fn parse_control(text: &str) -> Result<Option<WorkflowControl>, String> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct ControlFile {
        #[serde(default)]
        suspend: bool,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        retry_after: Option<String>,
        #[serde(default)]
        max_attempts: Option<u32>,
    }
    let docs = yaml::documents(text).map_err(|e| e.to_string())?;
    let Some(value) = docs.into_iter().next() else {
        return Ok(None);
    };
    let file: ControlFile = yaml::typed(value).map_err(|e| e.to_string())?;
    let retry_after = file
        .retry_after
        .filter(|text| !text.is_empty())
        .map(|text| {
            humantime::parse_duration(&text).map_err(|e| {
                format!("retryAfter: {text:?} is not a duration such as 30s or 5m: {e}")
            })
        })
        .transpose()?;
    if !file.suspend && retry_after.is_none() {
        return Ok(None);
    }
    Ok(Some(WorkflowControl {
        message: file
            .message
            .map(|m| control_message(&m))
            .filter(|m| !m.is_empty()),
        retry_after,
        max_attempts: file.max_attempts,
    }))
}

/// The most characters of a `workflow-control.yaml` message kept.
const CONTROL_MESSAGE_CHARS: usize = 512;

/// A `workflow-control.yaml` message as a status shows it: one line (it is quoted
/// inside promised's own one-line summary, which reports and commit messages show),
/// at most [`CONTROL_MESSAGE_CHARS`] long. The file itself may hold up to 1 MiB.
fn control_message(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let line: String = words
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match line.char_indices().nth(CONTROL_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}... (cut)", &line[..at]),
        None => line,
    }
}

/// The text of the regular file `name` in `dir`, if there is one.
fn read_if_present(
    dir: &Folder,
    name: &str,
    deadline: &Deadline,
) -> Result<Option<String>, ReadError> {
    deadline.check(name)?;
    let (file, len) = match dir.open(OsStr::new(name), name)? {
        None => return Ok(None),
        Some(Opened::File(file, len)) => (file, len),
        Some(Opened::Folder(_)) => {
            return Err(ReadError::NotRegular {
                path: name.to_string(),
                kind: "a folder",
            });
        }
    };
    let bytes = read_capped(file, len, METADATA_FILE_CAP, deadline, name)?.ok_or_else(|| {
        ReadError::TooLarge {
            path: name.to_string(),
            cap: METADATA_FILE_CAP,
        }
    })?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| ReadError::NotText {
            path: name.to_string(),
        })
}

fn parse_selectors(text: &str) -> Result<Vec<Selector>, String> {
    let docs = yaml::documents(text).map_err(|e| e.to_string())?;
    let Some(list) = docs.into_iter().next() else {
        return Ok(Vec::new());
    };
    // Older images write a plain map of labels (`environment: dev`), not a list: one
    // entry for the whole output.
    let list = match list {
        Value::Object(labels) if labels.values().all(Value::is_string) => {
            serde_json::json!([{ "matchLabels": labels }])
        }
        other => other,
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
        if let Some(dir) = &entry.directory
            && let Err(why) = crate::path_segment::check(dir)
        {
            return Err(format!(
                "[{i}].directory: {dir:?} must be one top-level folder of the output: it {why}"
            ));
        }
    }
    Ok(entries)
}

fn check_directories(entries: &[Selector]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for entry in entries {
        if let Some(dir) = &entry.directory
            && !seen.insert(dir)
        {
            return Err(format!(
                "selectors: directory {dir:?} is listed twice; give one entry per folder"
            ));
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
    use proptest::prelude::*;
    use std::sync::mpsc;
    use std::time::Duration;

    use fs_err as fs;

    use super::*;

    fn read(dir: &Path) -> Result<Metadata, String> {
        read_metadata(dir, &Deadline::after(Duration::from_secs(3600)))
    }

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn workflow_control_suspends_or_retries_and_says_why() {
        let read_control = |text: &str| read(folder(&[(CONTROL_FILE, text)]).path());
        let suspended = read_control("suspend: true\nmessage: waiting for approval\n").unwrap();
        assert_eq!(
            suspended.control,
            Some(WorkflowControl {
                message: Some("waiting for approval".into()),
                retry_after: None,
                max_attempts: None,
            })
        );
        let retry = read_control("retryAfter: 10s\nmaxAttempts: 3\n").unwrap();
        let control = retry.control.unwrap();
        assert_eq!(control.retry_after, Some(Duration::from_secs(10)));
        assert_eq!(control.max_attempts, Some(3));
        assert_eq!(read_control("suspend: false\n").unwrap().control, None);
        let err = read_control("retryAfter: soon\n").unwrap_err();
        let huge = format!(
            "suspend: true\nmessage: \"{}\"\n",
            "line\\n\\t".repeat(100_000)
        );
        let message = read_control(&huge)
            .unwrap()
            .control
            .unwrap()
            .message
            .unwrap();
        assert!(!message.contains(['\n', '\t']), "{message}");
        assert!(message.starts_with("line line") && message.ends_with("... (cut)"));
        assert!(
            message.chars().count() <= CONTROL_MESSAGE_CHARS + 9,
            "{}",
            message.len()
        );
        assert!(
            err.starts_with("workflow-control.yaml: retryAfter: \"soon\""),
            "{err}"
        );
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
        let metadata = read(dir.path()).unwrap();
        assert_eq!(metadata.selectors.len(), 2);
        assert_eq!(metadata.selectors[1].directory.as_deref(), Some("db"));
        assert!(metadata.status.is_empty());
    }

    #[test]
    fn the_older_plain_map_of_labels_is_one_entry_under_both_names() {
        for name in SELECTOR_FILES {
            let dir = folder(&[(name, "environment: production\ntier: gold\n")]);
            let selectors = read(dir.path()).unwrap().selectors;
            assert_eq!(selectors.len(), 1, "{name}");
            assert_eq!(selectors[0].directory, None);
            assert_eq!(selectors[0].match_labels["environment"], "production");
            assert_eq!(selectors[0].match_labels["tier"], "gold");
        }
        let dir = folder(&[("destination-selectors.yaml", "{}\n")]);
        let err = read(dir.path()).unwrap_err();
        assert!(err.contains("must name at least one label"), "{err}");
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
            let err = read(dir.path()).unwrap_err();
            assert!(err.starts_with("destination-selectors.yaml: "), "{err}");
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
        let twice =
            "- directory: db\n  matchLabels: {a: b}\n- directory: db\n  matchLabels: {c: d}\n";
        let dir = folder(&[("destination-selectors.yaml", twice)]);
        assert!(read(dir.path()).unwrap_err().contains("listed twice"));
    }

    #[test]
    fn status_keys_are_kept_in_order_and_the_reserved_key_refused() {
        let dir = folder(&[(
            "status.yaml",
            "message: ready\nurl: http://x\nconditions: [{type: Ready, status: 'True'}]\n",
        )]);
        let status = read(dir.path()).unwrap().status;
        assert_eq!(
            status.keys().collect::<Vec<_>>(),
            ["message", "url", "conditions"]
        );
        let dir = folder(&[("status.yaml", "promised: {phase: Ready}\n")]);
        assert!(read(dir.path()).unwrap_err().contains("reserved"));
        let dir = folder(&[("status.yaml", "conditions: [{status: 'True'}]\n")]);
        assert!(read(dir.path()).unwrap_err().contains("conditions"));
    }

    #[test]
    fn a_status_file_that_is_a_named_pipe_is_refused_without_waiting_for_a_writer() {
        let dir = folder(&[]);
        nix::unistd::mkfifo(
            &dir.path().join("status.yaml"),
            nix::sys::stat::Mode::S_IRWXU,
        )
        .unwrap();
        let path = dir.path().to_path_buf();
        let (done, finished) = mpsc::channel();
        let reader = std::thread::spawn(move || done.send(read(&path)).unwrap());
        // Only a guard against hanging the test run: a reader that blocks never sends.
        let result = finished
            .recv_timeout(Duration::from_secs(120))
            .expect("reading a named pipe must not block");
        reader.join().unwrap();
        assert_eq!(
            result.unwrap_err(),
            "status.yaml: is a named pipe, not a regular file; write a regular file"
        );
    }

    #[test]
    fn a_status_file_linked_to_a_host_file_is_refused_and_not_read() {
        let host = folder(&[("kubeconfig", "token: hunter2\n")]);
        let dir = folder(&[]);
        std::os::unix::fs::symlink(
            host.path().join("kubeconfig"),
            dir.path().join("status.yaml"),
        )
        .unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(err.starts_with("status.yaml: is a symbolic link"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_status_file_hard_linked_to_a_host_file_is_refused_and_not_read() {
        let host = folder(&[("kubeconfig", "token: hunter2\n")]);
        let dir = tempfile::tempdir_in(host.path()).unwrap();
        fs::hard_link(
            host.path().join("kubeconfig"),
            dir.path().join("status.yaml"),
        )
        .unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(
            err.starts_with("status.yaml: is a hard link (2 names for one file)"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn selector_and_status_files_linked_to_dev_zero_are_refused() {
        for name in [
            "status.yaml",
            "destination-selectors.yaml",
            "cluster-selectors.yaml",
        ] {
            let dir = folder(&[]);
            std::os::unix::fs::symlink("/dev/zero", dir.path().join(name)).unwrap();
            let err = read(dir.path()).unwrap_err();
            assert!(
                err.starts_with(&format!("{name}: is a symbolic link")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_status_file_past_the_cap_is_refused_naming_the_file_and_the_cap() {
        let dir = folder(&[]);
        let file = fs::File::create(dir.path().join("status.yaml")).unwrap();
        file.set_len(METADATA_FILE_CAP + 1).unwrap();
        let err = read(dir.path()).unwrap_err();
        assert_eq!(
            err,
            "status.yaml: holds more than 1 MiB, the most promised reads of such a file; write less"
        );
    }

    #[test]
    fn a_metadata_folder_linked_elsewhere_is_refused_and_a_missing_one_is_empty() {
        let host = folder(&[("status.yaml", "message: from the host\n")]);
        let dir = tempfile::tempdir().unwrap();
        let metadata = dir.path().join("metadata");
        std::os::unix::fs::symlink(host.path(), &metadata).unwrap();
        let err = read(&metadata).unwrap_err();
        assert!(
            err.starts_with("metadata folder: is a symbolic link"),
            "{err}"
        );
        assert_eq!(
            read(&dir.path().join("absent")).unwrap(),
            Metadata::default()
        );
    }

    /// YAML a pipeline image might leave: the file's own shapes with hostile values,
    /// Kratix's older map form, and noise.
    fn metadata_text() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just("\"..\"".to_string()),
            Just("\".git\"".to_string()),
            Just("\"git~1\"".to_string()),
            Just("\"a/b\"".to_string()),
            Just("\"a\\nb\"".to_string()),
            Just("{}".to_string()),
            Just("{env: dev}".to_string()),
            Just("[{type: Ready}]".to_string()),
            Just("[]".to_string()),
            Just("null".to_string()),
            Just("&x [*x]".to_string()),
            "[a-z]{1,8}",
        ];
        let key = prop_oneof![
            Just("directory"),
            Just("matchLabels"),
            Just("promised"),
            Just("conditions"),
            Just("message"),
            Just("type"),
        ];
        let entry = proptest::collection::vec((key, value), 0..4).prop_map(|pairs| {
            let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("{{{}}}", fields.join(", "))
        });
        prop_oneof![
            proptest::collection::vec(entry.clone(), 0..4)
                .prop_map(|entries| format!("[{}]\n", entries.join(", "))),
            entry.prop_map(|e| format!("{e}\n")),
            "\\PC{0,200}",
        ]
    }

    /// Selector lists in the file's own shape, with hostile folder names and labels.
    fn selector_text() -> impl Strategy<Value = String> {
        let directory = prop_oneof![
            Just(None),
            Just(Some("\"..\"")),
            Just(Some("\".\"")),
            Just(Some("\".Git\"")),
            Just(Some("\"git~1\"")),
            Just(Some("\"a/b\"")),
            Just(Some("\"db\"")),
            Just(Some("\"\"")),
        ];
        let labels = prop_oneof![Just("{}"), Just("{env: dev}"), Just("{a: b, c: d}")];
        let entry = (directory, labels).prop_map(|(directory, labels)| match directory {
            Some(dir) => format!("{{directory: {dir}, matchLabels: {labels}}}"),
            None => format!("{{matchLabels: {labels}}}"),
        });
        proptest::collection::vec(entry, 0..4)
            .prop_map(|entries| format!("[{}]\n", entries.join(", ")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn whatever_a_selector_file_holds_what_is_accepted_is_well_formed(
            text in prop_oneof![selector_text(), metadata_text()],
        ) {
            if let Ok(entries) = parse_selectors(&text) {
                for entry in entries {
                    prop_assert!(!entry.match_labels.is_empty());
                    if let Some(dir) = entry.directory {
                        prop_assert!(crate::path_segment::check(&dir).is_ok(), "{dir:?}");
                    }
                }
            }
        }

        #[test]
        fn whatever_a_status_file_holds_what_is_accepted_keeps_promised_s_key_free(
            text in metadata_text(),
        ) {
            if let Ok(status) = parse_status(&text) {
                prop_assert!(!status.contains_key(RESERVED_STATUS_KEY));
                if let Some(conditions) = status.get("conditions") {
                    let list = conditions.as_array().expect("conditions are a list");
                    prop_assert!(list.iter().all(|c| c.get("type").is_some_and(Value::is_string)));
                }
            }
        }
    }
}
