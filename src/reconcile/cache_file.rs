//! Files of JSON lines that a full pass keeps beside the object database, in the
//! store's cache folder (`<git dir>/promised/<branch's ref>/`), for the next full pass:
//! what it read from the branch, so that the next does not read and parse it again.
//!
//! Each is derived from the branch and never committed; Git stays the only state. A
//! file starts with a header naming what it holds, its format and the version of
//! promised that wrote it, and is read only by the same. Each of its entries names the
//! blob it was read from, and is taken only where the branch still holds that blob: so
//! a stale, foreign or damaged file costs reads, never a wrong result, and deleting the
//! folder costs one slower pass.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One kind of cache file.
pub(super) struct CacheFile {
    /// Its name in the cache folder.
    pub(super) name: &'static str,
    /// What its header says it holds.
    pub(super) holds: &'static str,
    /// Its format: raise it with any change to what an entry holds or means, so that a
    /// build never takes what another build's reading would not give.
    pub(super) format: u32,
}

/// The first line of a file. One another version of promised or another format wrote
/// is not read: its entries may not mean what this build's do.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Header {
    cache: String,
    format: u32,
    promised: String,
}

/// How old a temporary file must be to count as left by a pass that was killed: a pass
/// writes to its own as it goes, so one still running touches it.
pub(super) const ABANDONED: std::time::Duration = std::time::Duration::from_secs(3600);

impl CacheFile {
    fn header(&self) -> Header {
        Header {
            cache: self.holds.into(),
            format: self.format,
            promised: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// The entries of the file in `dir`, in the order written. No file, or one of
    /// another version or format, gives none; reading stops at the first line that
    /// does not parse (a write cut short).
    pub(super) fn entries<T: DeserializeOwned>(&self, dir: &Path) -> impl Iterator<Item = T> {
        let path = dir.join(self.name);
        let file = fs_err::File::open(&path)
            .inspect_err(|e| {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!("{} not read: {e}", self.holds);
                }
            })
            .ok();
        let mut lines = file.map(|file| BufReader::new(file).lines().map_while(Result::ok));
        let header = lines.as_mut().and_then(Iterator::next);
        let ours = header.is_some_and(|line| {
            serde_json::from_str::<Header>(&line).is_ok_and(|h| h == self.header())
        });
        if lines.is_some() && !ours {
            tracing::debug!(cache = %path.display(), "{} of another version, not read", self.holds);
        }
        let lines = lines.filter(|_| ours).into_iter().flatten();
        lines.map_while(|line| serde_json::from_str(&line).ok())
    }

    /// A new file for `dir`, written an entry at a time into a temporary file that
    /// [`LineWriter::persist`] puts in place of the old one. `None` when it cannot be
    /// made: the next pass then reads the branch.
    pub(super) fn create(&self, dir: &Path) -> Option<LineWriter> {
        let temporary = format!("{}.", self.name);
        remove_abandoned(dir, &temporary);
        let made = fs_err::create_dir_all(dir)
            .and_then(|()| {
                let mut named = tempfile::Builder::new();
                named.prefix(&temporary).suffix(".tmp").tempfile_in(dir)
            })
            .and_then(|file| {
                let mut file = BufWriter::new(file);
                serde_json::to_writer(&mut file, &self.header())?;
                file.write_all(b"\n")?;
                Ok(file)
            });
        let file = made
            .inspect_err(|e| tracing::debug!(cache = %dir.display(), "no {}: {e}", self.holds))
            .ok()?;
        Some(LineWriter {
            file: Some(file),
            path: dir.join(self.name),
        })
    }
}

/// A cache file being written. It fails quietly: a file that cannot be written costs
/// the next pass reads.
pub(super) struct LineWriter {
    file: Option<BufWriter<tempfile::NamedTempFile>>,
    path: PathBuf,
}

impl LineWriter {
    /// Adds one entry, as a line of JSON.
    pub(super) fn add(&mut self, entry: &impl Serialize) {
        let Some(file) = &mut self.file else {
            return;
        };
        let written = serde_json::to_writer(&mut *file, entry)
            .map_err(std::io::Error::from)
            .and_then(|()| file.write_all(b"\n"));
        if let Err(e) = written {
            tracing::debug!(cache = %self.path.display(), "left unwritten: {e}");
            self.file = None;
        }
    }

    /// Puts the new file in place of the old one.
    pub(super) fn persist(mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        let persisted = file
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.persist(&self.path).map_err(|e| e.error));
        if let Err(e) = persisted {
            tracing::debug!(cache = %self.path.display(), "not written: {e}");
        }
    }
}

/// Removes the temporary files (`<temporary>*.tmp`) of passes that were killed before
/// they put theirs in place.
fn remove_abandoned(dir: &Path, temporary: &str) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(temporary) && name.ends_with(".tmp")) {
            continue;
        }
        let modified = entry.metadata().and_then(|m| m.modified());
        let age = modified.ok().and_then(|at| at.elapsed().ok());
        if age.is_some_and(|age| age > ABANDONED) {
            let _ = fs_err::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
impl CacheFile {
    /// The header line this build writes.
    pub(super) fn header_line(&self) -> String {
        serde_json::to_string(&self.header()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: CacheFile = CacheFile {
        name: "test-entries",
        holds: "promised test entries",
        format: 1,
    };

    #[test]
    fn entries_are_read_back_up_to_a_line_cut_short_and_only_under_this_build_s_header() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = TEST.create(dir.path()).unwrap();
        for n in [1, 2] {
            writer.add(&n);
        }
        assert!(
            !dir.path().join(TEST.name).exists(),
            "in place once persisted"
        );
        writer.persist();
        let read = |dir: &Path| TEST.entries::<u32>(dir).collect::<Vec<_>>();
        assert_eq!(read(dir.path()), [1, 2]);

        let path = dir.path().join(TEST.name);
        let ours = TEST.header_line();
        fs_err::write(&path, format!("{ours}\n1\n\"cut\n3\n")).unwrap();
        assert_eq!(read(dir.path()), [1]);
        let version = env!("CARGO_PKG_VERSION");
        let others = [
            r#"{"cache":"promised test entries","promised":"0.0.1"}"#.to_string(),
            format!(r#"{{"cache":"promised test entries","format":0,"promised":"{version}"}}"#),
            format!(r#"{{"cache":"promised other entries","format":1,"promised":"{version}"}}"#),
            String::new(),
        ];
        for header in others {
            fs_err::write(&path, format!("{header}\n1\n")).unwrap();
            assert!(read(dir.path()).is_empty(), "{header}");
        }
        assert!(read(&dir.path().join("none")).is_empty());
    }

    #[test]
    fn a_temporary_file_a_killed_pass_left_is_removed_and_a_running_pass_s_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let (left, running) = (
            dir.join("test-entries.a.tmp"),
            dir.join("test-entries.b.tmp"),
        );
        for file in [&left, &running] {
            fs_err::write(file, "").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - 2 * ABANDONED;
        let file = std::fs::File::options().write(true).open(&left).unwrap();
        file.set_modified(two_hours_ago).unwrap();
        let writer = TEST.create(dir).unwrap();
        assert!(!left.exists() && running.exists());
        drop(writer);
        let names: Vec<String> = fs_err::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["test-entries.b.tmp"],
            "a writer dropped unpersisted leaves none"
        );
    }
}
