//! Reading a pipeline's output folder: every file must be a regular file holding one or
//! more Kubernetes documents. Anything else fails the whole run, so that nothing of a
//! half-good output is ever written. Files and folders are opened as [`read_back`]
//! says (no links followed, nothing blocking, within the deadline), and reading stops
//! as soon as the output passes its [`OutputLimits`].
//!
//! [`read_back`]: super::read_back

use std::collections::BTreeMap;
use std::path::Path;

use super::read_back::{Deadline, Folder, MAX_DEPTH, Opened, OutputLimits, ReadError, read_capped};
use crate::state::DIGEST_FILE;
use crate::state::kustomization::is_kustomization;
use crate::state::layout::is_document_file;
use crate::yaml;

/// Output files by `/`-separated path relative to the output folder.
pub(crate) type OutputFiles = BTreeMap<String, Vec<u8>>;

/// Reads and checks every file under `dir`, within `limits` and before `deadline`.
/// `flat` (the seed's chained form) refuses subfolders. Errors name the file and say
/// what is wrong with it.
pub(crate) fn read_output(
    dir: &Path,
    flat: bool,
    limits: OutputLimits,
    deadline: &Deadline,
) -> Result<OutputFiles, String> {
    let root = Folder::open_root(dir, "output folder")
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{}: the output folder is gone", dir.display()))?;
    let mut reading = Reading {
        flat,
        limits,
        deadline,
        entries: 0,
        bytes: 0,
        files: OutputFiles::new(),
    };
    walk(&root, "", 0, &mut reading)?;
    check_case_clashes(&reading.files)?;
    for (path, bytes) in &reading.files {
        // A kustomization is kustomize's, not a Kubernetes object: written as it is and
        // never listed, as Kratix writes whatever the pipeline leaves.
        if is_document_file(path) && !is_kustomization(path) {
            check_documents(bytes).map_err(|message| format!("{path}: {message}"))?;
        }
    }
    Ok(reading.files)
}

/// Refuses two paths that differ only in case or Unicode form: a clone to macOS or
/// Windows would check out one file for both, and Flux or Argo CD there would apply
/// whichever came last.
fn check_case_clashes(files: &OutputFiles) -> Result<(), String> {
    let mut seen = std::collections::HashMap::new();
    for path in files.keys() {
        if let Some(other) = seen.insert(crate::path_segment::folded(path), path) {
            return Err(format!(
                "{path}: differs from {other} only in case or Unicode form, which macOS and \
                 Windows take for one file; rename one of them"
            ));
        }
    }
    Ok(())
}

/// One reading of an output folder, and what it has read so far.
struct Reading<'a> {
    flat: bool,
    limits: OutputLimits,
    deadline: &'a Deadline,
    /// Files and folders seen.
    entries: usize,
    /// Bytes read.
    bytes: u64,
    files: OutputFiles,
}

fn walk(dir: &Folder, prefix: &str, depth: usize, reading: &mut Reading<'_>) -> Result<(), String> {
    let shown = if prefix.is_empty() { "." } else { prefix };
    let entries = dir.names(shown).map_err(|e| e.to_string())?;
    for entry in entries {
        let name = entry.map_err(|e| e.to_string())?;
        let Some(name) = name.to_str() else {
            return Err(format!("{prefix}{name:?}: file names must be UTF-8"));
        };
        let path = format!("{prefix}{name}");
        if let Err(why) = crate::path_segment::check(name) {
            return Err(format!(
                "{path}: this name may not be written to Git: it {why}"
            ));
        }
        if path == DIGEST_FILE {
            return Err(format!(
                "{path}: this name is reserved for the digests promised writes"
            ));
        }
        reading.deadline.check(&path).map_err(|e| e.to_string())?;
        reading.entries += 1;
        if reading.entries > reading.limits.max_files {
            let limit = reading.limits.max_files;
            return Err(ReadError::OutputFiles { path, limit }.to_string());
        }
        match dir.open(name.as_ref(), &path).map_err(|e| e.to_string())? {
            // Removed since it was listed: by something the pipeline left running.
            None => return Err(format!("{path}: was removed while the output was read")),
            Some(Opened::Folder(sub)) => {
                if reading.flat {
                    return Err(format!(
                        "{path}: is a folder; in the chained (xaasRequestPipeline) form all files must be at the top of /output"
                    ));
                }
                if depth + 1 > MAX_DEPTH {
                    return Err(ReadError::TooDeep { path }.to_string());
                }
                walk(&sub, &format!("{path}/"), depth + 1, reading)?;
            }
            Some(Opened::File(file, len)) => {
                let left = reading.limits.max_bytes - reading.bytes;
                let read = read_capped(file, len, left, reading.deadline, &path)
                    .map_err(|e| e.to_string())?;
                let Some(bytes) = read else {
                    let limit = reading.limits.max_bytes;
                    return Err(ReadError::OutputBytes { path, limit }.to_string());
                };
                reading.bytes += bytes.len() as u64;
                reading.files.insert(path, bytes);
            }
        }
    }
    Ok(())
}

/// Checks that `bytes` holds one or more documents, each with `apiVersion`, `kind` and
/// `metadata.name`.
fn check_documents(bytes: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    let docs = yaml::documents(text).map_err(|e| format!("is not YAML: {e}"))?;
    if docs.is_empty() {
        return Err("holds no Kubernetes document".into());
    }
    for (i, doc) in docs.iter().enumerate() {
        let has = |pointer: &str| {
            doc.pointer(pointer)
                .and_then(|v| v.as_str())
                .is_some_and(|s| !s.is_empty())
        };
        let missing: Vec<&str> = [
            ("/apiVersion", "apiVersion"),
            ("/kind", "kind"),
            ("/metadata/name", "metadata.name"),
        ]
        .into_iter()
        .filter(|(pointer, _)| !has(pointer))
        .map(|(_, field)| field)
        .collect();
        if !missing.is_empty() {
            return Err(format!(
                "document {} is not a Kubernetes object: {} missing",
                i + 1,
                missing.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fs_err as fs;

    use super::*;

    fn read(dir: &Path, flat: bool) -> Result<OutputFiles, String> {
        read_within(dir, flat, OutputLimits::default())
    }

    fn read_within(dir: &Path, flat: bool, limits: OutputLimits) -> Result<OutputFiles, String> {
        read_output(
            dir,
            flat,
            limits,
            &Deadline::after(Duration::from_secs(3600)),
        )
    }

    const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n";

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn subfolders_are_kept() {
        let dir = folder(&[("a.yaml", DEPLOYMENT), ("db/b.yaml", DEPLOYMENT)]);
        let files = read(dir.path(), false).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a.yaml", "db/b.yaml"]);
    }

    #[test]
    fn the_chained_form_refuses_subfolders() {
        let dir = folder(&[("db/b.yaml", DEPLOYMENT)]);
        let err = read(dir.path(), true).unwrap_err();
        assert!(err.starts_with("db: is a folder"), "{err}");
    }

    #[test]
    fn non_kubernetes_documents_are_refused() {
        let dir = folder(&[("a.yaml", DEPLOYMENT), ("notes.yaml", "hello: world\n")]);
        let err = read(dir.path(), false).unwrap_err();
        assert_eq!(
            err,
            "notes.yaml: document 1 is not a Kubernetes object: apiVersion, kind, metadata.name missing"
        );
        let dir = folder(&[("empty.yaml", "# nothing\n")]);
        let err = read(dir.path(), false).unwrap_err();
        assert_eq!(err, "empty.yaml: holds no Kubernetes document");
    }

    #[test]
    fn a_kustomization_passes_through_unchecked() {
        let kustomization = "resources: [a.yaml]\nnamePrefix: team-\n";
        let dir = folder(&[
            ("a.yaml", DEPLOYMENT),
            ("kustomization.yaml", kustomization),
            ("overlay/kustomization.yml", kustomization),
        ]);
        let files = read(dir.path(), false).unwrap();
        assert_eq!(files["kustomization.yaml"], kustomization.as_bytes());
        assert_eq!(files.len(), 3);
    }

    #[test]
    fn symlinks_are_refused() {
        let dir = folder(&[("a.yaml", DEPLOYMENT)]);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("b.yaml")).unwrap();
        let err = read(dir.path(), false).unwrap_err();
        assert!(err.starts_with("b.yaml: is a symbolic link"), "{err}");
    }

    #[test]
    fn files_that_are_not_named_as_documents_pass_through_and_json_is_checked() {
        let dir = folder(&[
            ("a.yaml", DEPLOYMENT),
            ("tf/main.tf", "resource \"x\" \"y\" {}\n"),
        ]);
        let files = read(dir.path(), false).unwrap();
        assert_eq!(files["tf/main.tf"], b"resource \"x\" \"y\" {}\n");
        let dir = folder(&[("cm.json", "{\"kind\": \"ConfigMap\"}")]);
        let err = read(dir.path(), false).unwrap_err();
        assert!(
            err.starts_with("cm.json: document 1 is not a Kubernetes object"),
            "{err}"
        );
    }

    #[test]
    fn paths_that_differ_only_in_case_are_refused() {
        let dir = folder(&[("db/a.yaml", DEPLOYMENT), ("DB/a.yaml", DEPLOYMENT)]);
        let err = read(dir.path(), false).unwrap_err();
        assert_eq!(
            err,
            "db/a.yaml: differs from DB/a.yaml only in case or Unicode form, which macOS and Windows take for one file; rename one of them"
        );
        let dir = folder(&[
            ("caf\u{e9}.yaml", DEPLOYMENT),
            ("cafe\u{301}.yaml", DEPLOYMENT),
        ]);
        let err = read(dir.path(), false).unwrap_err();
        assert!(err.contains("only in case or Unicode form"), "{err}");
    }

    #[test]
    fn names_git_would_refuse_or_take_for_its_own_are_refused() {
        for name in [
            ".git",
            ".Git",
            "git~1",
            ".git.",
            ".git ",
            ".gitmodules",
            "a\\b",
            "x\ny",
        ] {
            let dir = folder(&[("ok.yaml", DEPLOYMENT)]);
            fs::create_dir(dir.path().join(name)).unwrap();
            fs::write(dir.path().join(name).join("a.yaml"), DEPLOYMENT).unwrap();
            let err = read(dir.path(), false).unwrap_err();
            assert!(
                err.starts_with(&format!("{name}: this name may not be written to Git: it ")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_digest_file_name_is_reserved() {
        let dir = folder(&[(DIGEST_FILE, DEPLOYMENT)]);
        assert!(read(dir.path(), false).is_err());
    }

    #[test]
    fn named_pipes_are_refused_without_waiting_for_a_writer() {
        let dir = folder(&[("a.yaml", DEPLOYMENT)]);
        nix::unistd::mkfifo(&dir.path().join("pipe.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = read(dir.path(), false).unwrap_err();
        assert!(err.starts_with("pipe.yaml: is a named pipe"), "{err}");
    }

    #[test]
    fn reading_stops_at_the_byte_limit_without_reading_the_rest() {
        // A sparse file of 64 GiB: reading it whole would not end in any test's time.
        let dir = folder(&[("a.yaml", DEPLOYMENT)]);
        let huge = fs::File::create(dir.path().join("huge.yaml")).unwrap();
        huge.set_len(64 << 30).unwrap();
        let limits = OutputLimits {
            max_bytes: 1 << 20,
            ..OutputLimits::default()
        };
        let err = read_within(dir.path(), false, limits).unwrap_err();
        assert_eq!(
            err,
            "holds more than 1 MiB (found at huge.yaml), the most one pipeline's output may \
             hold; write less, or raise the limit with --max-output-bytes"
        );
    }

    #[test]
    fn the_byte_limit_counts_every_file_together() {
        let dir = folder(&[("a.yaml", DEPLOYMENT), ("b.yaml", DEPLOYMENT)]);
        let exact = DEPLOYMENT.len() as u64 * 2;
        let within = |max_bytes| OutputLimits {
            max_bytes,
            ..OutputLimits::default()
        };
        assert_eq!(
            read_within(dir.path(), false, within(exact)).unwrap().len(),
            2
        );
        let err = read_within(dir.path(), false, within(exact - 1)).unwrap_err();
        assert!(err.contains("--max-output-bytes"), "{err}");
    }

    #[test]
    fn files_and_folders_past_the_file_limit_are_refused_naming_the_flag() {
        let dir = folder(&[("a.yaml", DEPLOYMENT), ("db/b.yaml", DEPLOYMENT)]);
        let within = |max_files| OutputLimits {
            max_files,
            ..OutputLimits::default()
        };
        assert_eq!(read_within(dir.path(), false, within(3)).unwrap().len(), 2);
        let err = read_within(dir.path(), false, within(2)).unwrap_err();
        assert!(err.contains("holds more than 2 files and folders"), "{err}");
        assert!(err.contains("--max-output-files"), "{err}");
    }

    #[test]
    fn folders_nested_too_deep_are_refused() {
        let deep = vec!["d"; MAX_DEPTH + 1].join("/");
        let dir = folder(&[(&format!("{deep}/a.yaml"), DEPLOYMENT)]);
        let err = read(dir.path(), false).unwrap_err();
        assert!(err.contains("nest deeper than"), "{err}");
        let fine = vec!["d"; MAX_DEPTH].join("/");
        let dir = folder(&[(&format!("{fine}/a.yaml"), DEPLOYMENT)]);
        assert_eq!(read(dir.path(), false).unwrap().len(), 1);
    }

    #[test]
    fn nothing_is_read_once_the_deadline_has_passed() {
        let dir = folder(&[("a.yaml", DEPLOYMENT)]);
        let passed = Deadline::after(Duration::ZERO);
        let err = read_output(dir.path(), false, OutputLimits::default(), &passed).unwrap_err();
        assert!(err.contains("time limit (0s) ran out"), "{err}");
    }
}
