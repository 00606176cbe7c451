//! Handing a Pod's output back to the reconciler: the last container packs the output
//! and metadata folders into a tar archive and prints it, base64-encoded between two
//! marker lines, on its log; the reconciler reads the log through the API server and
//! unpacks it. Only folders and regular files cross; anything else fails the run.

use std::io::Read;
use std::path::{Component, Path};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fs_err as fs;

/// The line before the archive.
pub const BEGIN: &str = "promised-handback v1 begin";
/// The line after the archive.
pub const END: &str = "promised-handback v1 end";
/// The largest archive accepted, decoded.
const MAX_BYTES: usize = 256 << 20;

/// The log text for the `output` and `metadata` folders.
pub fn pack(output: &Path, metadata: &Path) -> std::io::Result<String> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Deterministic);
    builder.append_dir_all("output", output)?;
    builder.append_dir_all("metadata", metadata)?;
    let archive = builder.into_inner()?;
    let encoded = STANDARD.encode(archive);
    let mut text = format!("{BEGIN}\n");
    for chunk in encoded.as_bytes().chunks(76) {
        text.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str(END);
    text.push('\n');
    Ok(text)
}

/// Unpacks what [`pack`] printed, found anywhere in `log`, into `output` and `metadata`.
/// The error says what is wrong, in the words of the local output checks.
pub fn unpack(log: &str, output: &Path, metadata: &Path) -> Result<(), String> {
    let start = log
        .find(BEGIN)
        .ok_or("the handback container printed no archive")?;
    let rest = &log[start + BEGIN.len()..];
    let end = rest
        .find(END)
        .ok_or("the archive on the handback container's log is cut short")?;
    let encoded: String = rest[..end].split_whitespace().collect();
    let archive = STANDARD
        .decode(encoded)
        .map_err(|e| format!("the archive on the log is not base64: {e}"))?;
    if archive.len() > MAX_BYTES {
        return Err(format!("the output is larger than {} MiB", MAX_BYTES >> 20));
    }
    let mut tar = tar::Archive::new(archive.as_slice());
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let mut parts = path.components();
        let root = match parts.next() {
            Some(Component::Normal(top)) if top == "output" => output,
            Some(Component::Normal(top)) if top == "metadata" => metadata,
            _ => {
                return Err(format!(
                    "{}: is outside the output and metadata folders",
                    path.display()
                ));
            }
        };
        let rest = parts.as_path();
        if rest
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(format!("{}: escapes its folder", path.display()));
        }
        let target = root.join(rest);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            fs::create_dir_all(&target).map_err(|e| e.to_string())?;
        } else if kind.is_file() {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
            fs::write(&target, bytes).map_err(|e| e.to_string())?;
        } else if kind.is_symlink() {
            return Err(format!(
                "{}: is a symbolic link; write the file itself, links may point outside the output",
                rest.display()
            ));
        } else {
            return Err(format!("{}: is not a regular file", rest.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_cross_the_log_intact() {
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join("out/sub")).unwrap();
        fs::create_dir_all(from.path().join("meta")).unwrap();
        fs::write(from.path().join("out/a.yaml"), "a").unwrap();
        fs::write(from.path().join("out/sub/b.yaml"), "b").unwrap();
        fs::write(from.path().join("meta/status.yaml"), "message: hi").unwrap();
        let log = format!(
            "some noise\n{}",
            pack(&from.path().join("out"), &from.path().join("meta")).unwrap()
        );
        let to = tempfile::tempdir().unwrap();
        let (out, meta) = (to.path().join("output"), to.path().join("metadata"));
        unpack(&log, &out, &meta).unwrap();
        assert_eq!(fs::read_to_string(out.join("sub/b.yaml")).unwrap(), "b");
        assert_eq!(
            fs::read_to_string(meta.join("status.yaml")).unwrap(),
            "message: hi"
        );
    }

    #[test]
    fn symlinks_do_not_cross() {
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join("out")).unwrap();
        fs::create_dir_all(from.path().join("meta")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.path().join("out/passwd.yaml")).unwrap();
        let log = pack(&from.path().join("out"), &from.path().join("meta")).unwrap();
        let to = tempfile::tempdir().unwrap();
        let err = unpack(&log, &to.path().join("o"), &to.path().join("m")).unwrap_err();
        assert!(err.starts_with("passwd.yaml: is a symbolic link"), "{err}");
    }

    #[test]
    fn a_log_without_the_archive_is_an_error() {
        let to = tempfile::tempdir().unwrap();
        let err = unpack("just logs\n", to.path(), to.path()).unwrap_err();
        assert_eq!(err, "the handback container printed no archive");
    }
}
