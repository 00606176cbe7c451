//! Reading a pipeline's output folder: every file must be a regular file holding one or
//! more Kubernetes documents. Anything else fails the whole run, so that nothing of a
//! half-good output is ever written.

use std::collections::BTreeMap;
use std::path::Path;

use fs_err as fs;

use crate::state::DIGEST_FILE;
use crate::yaml;

/// Output files by `/`-separated path relative to the output folder.
pub type OutputFiles = BTreeMap<String, Vec<u8>>;

/// Reads and checks every file under `dir`. `flat` (the seed's chained form) refuses
/// subfolders. Errors name the file and say what is wrong with it.
pub fn read_output(dir: &Path, flat: bool) -> Result<OutputFiles, String> {
    let mut files = OutputFiles::new();
    walk(dir, "", flat, &mut files)?;
    for (path, bytes) in &files {
        check_documents(bytes).map_err(|message| format!("{path}: {message}"))?;
    }
    Ok(files)
}

fn walk(dir: &Path, prefix: &str, flat: bool, files: &mut OutputFiles) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| e.to_string())?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name();
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
        let kind = fs::symlink_metadata(entry.path())
            .map_err(|e| e.to_string())?
            .file_type();
        if kind.is_symlink() {
            return Err(format!(
                "{path}: is a symbolic link; write the file itself, links may point outside the output"
            ));
        } else if kind.is_dir() {
            if flat {
                return Err(format!(
                    "{path}: is a folder; in the chained (xaasRequestPipeline) form all files must be at the top of /output"
                ));
            }
            walk(&entry.path(), &format!("{path}/"), flat, files)?;
        } else if kind.is_file() {
            files.insert(path, fs::read(entry.path()).map_err(|e| e.to_string())?);
        } else {
            return Err(format!("{path}: is not a regular file"));
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
    use super::*;

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
        let files = read_output(dir.path(), false).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a.yaml", "db/b.yaml"]);
    }

    #[test]
    fn the_chained_form_refuses_subfolders() {
        let dir = folder(&[("db/b.yaml", DEPLOYMENT)]);
        let err = read_output(dir.path(), true).unwrap_err();
        assert!(err.starts_with("db: is a folder"), "{err}");
    }

    #[test]
    fn non_kubernetes_documents_are_refused() {
        let dir = folder(&[("a.yaml", DEPLOYMENT), ("notes.yaml", "hello: world\n")]);
        let err = read_output(dir.path(), false).unwrap_err();
        assert_eq!(
            err,
            "notes.yaml: document 1 is not a Kubernetes object: apiVersion, kind, metadata.name missing"
        );
        let dir = folder(&[("empty.yaml", "# nothing\n")]);
        let err = read_output(dir.path(), false).unwrap_err();
        assert_eq!(err, "empty.yaml: holds no Kubernetes document");
    }

    #[test]
    fn symlinks_are_refused() {
        let dir = folder(&[("a.yaml", DEPLOYMENT)]);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("b.yaml")).unwrap();
        let err = read_output(dir.path(), false).unwrap_err();
        assert!(err.starts_with("b.yaml: is a symbolic link"), "{err}");
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
            let err = read_output(dir.path(), false).unwrap_err();
            assert!(
                err.starts_with(&format!("{name}: this name may not be written to Git: it ")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_digest_file_name_is_reserved() {
        let dir = folder(&[(DIGEST_FILE, DEPLOYMENT)]);
        assert!(read_output(dir.path(), false).is_err());
    }
}
