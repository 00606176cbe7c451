//! The records of request status files, kept between passes beside the object database
//! (`<git dir>/promised/<branch's ref>/status-records`), so that a full pass does not
//! read and parse again the status files an earlier pass left.
//!
//! A full pass needs every request's record before it runs anything, and reading them
//! (each blob, then its YAML) was the largest part of promised's own CPU in a full
//! rerun. A record is a function of its status file's bytes, and a blob id names those
//! bytes: so each entry here is a status file's path, its blob id and its record, as
//! JSON, and a pass takes an entry only where the branch holds that blob at that path.
//! A stale, foreign or damaged entry then costs a read of the file, never a wrong
//! record; deleting the cache costs one slower pass. Git stays the only state: this is
//! derived from it, and nothing here is ever committed.
//!
//! Each full pass writes the cache anew, with an entry for every request status file it
//! leaves (rendered, or kept as it was), and replaces the old one when it ends. A
//! narrow pass neither reads nor writes it: it reads only the records it needs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::render::RecordSink;
use crate::git::{BlobId, Snapshot, Store};
use crate::model::RequestKey;
use crate::state::CurrentTree;
use crate::state::layout::status_owner;
use crate::state::status::{Record, record_read_alone};

/// The cache's file in the store's cache folder.
const FILE: &str = "status-records";

/// The cache's format: raise it with any change to [`Record`], to how a status file is
/// read into one (`read_record`, `records::as_previous`) or to what is cached, so that
/// a build never takes what another build's reading would not give.
const FORMAT: u32 = 1;

/// The first line of the file. A cache another version of promised or another format
/// wrote is not read: its records may not mean what this build's do.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Header {
    cache: String,
    format: u32,
    promised: String,
}

impl Header {
    fn ours() -> Self {
        Header {
            cache: "promised status records".into(),
            format: FORMAT,
            promised: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// How old a temporary file of the cache's must be to count as left by a pass that was
/// killed: a pass writes to its own as it renders, so one still running touches it.
const ABANDONED: std::time::Duration = std::time::Duration::from_secs(3600);

/// One line after the header, as read.
#[derive(Deserialize)]
struct Entry {
    path: String,
    blob: String,
    record: Record,
}

/// One line after the header, as written.
#[derive(Serialize)]
struct EntryRef<'a> {
    path: &'a str,
    blob: &'a str,
    record: &'a Record,
}

/// The records the cache in `dir` holds for status files `snapshot` holds as they were
/// when cached, by request. No cache, or one that cannot be read, gives none; reading
/// stops at the first line that does not parse (a write cut short).
pub(super) fn read(dir: &Path, snapshot: &Snapshot) -> BTreeMap<RequestKey, Record> {
    let path = dir.join(FILE);
    let mut records = BTreeMap::new();
    let file = match fs_err::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return records,
        Err(e) => {
            tracing::debug!("status records are read from the branch: {e}");
            return records;
        }
    };
    let mut lines = BufReader::new(file).lines();
    let header = lines.next().and_then(Result::ok);
    let header = header.and_then(|line| serde_json::from_str::<Header>(&line).ok());
    if header != Some(Header::ours()) {
        tracing::debug!(cache = %path.display(), "status record cache of another version, not read");
        return records;
    }
    for line in lines {
        let Some(entry) = line
            .ok()
            .and_then(|l| serde_json::from_str::<Entry>(&l).ok())
        else {
            break;
        };
        let Some(key) = status_owner(&entry.path) else {
            continue;
        };
        let cached = BlobId::from_hex(entry.blob.as_bytes()).ok();
        if cached.is_some() && snapshot.files.get(&entry.path) == cached.as_ref() {
            records.insert(key, super::records::as_previous(entry.record));
        }
    }
    records
}

/// Writes a new cache, entry by entry as the pass renders or keeps each status file,
/// into a temporary file that [`CacheWriter::persist`] puts in place of the old one.
/// It fails quietly: a cache that cannot be written costs the next pass a read.
pub(super) struct CacheWriter<'p> {
    store: &'p dyn Store,
    /// The status files the pass started from: the blob ids of those it keeps.
    current: &'p CurrentTree,
    /// The request files whose records the pass changed before it rendered them
    /// (`--replace` forgets their placements): such a record is not its file's.
    replaced: &'p BTreeSet<String>,
    file: Option<BufWriter<tempfile::NamedTempFile>>,
    path: PathBuf,
}

impl<'p> CacheWriter<'p> {
    /// A new cache for `store`'s cache folder, `None` when the store has none.
    pub(super) fn create(
        store: &'p dyn Store,
        current: &'p CurrentTree,
        replaced: &'p BTreeSet<String>,
    ) -> Option<Self> {
        let dir = store.cache_dir()?;
        remove_abandoned(&dir);
        let made = fs_err::create_dir_all(&dir)
            .and_then(|()| {
                let mut named = tempfile::Builder::new();
                named.prefix(TEMPORARY).suffix(".tmp").tempfile_in(&dir)
            })
            .and_then(|file| {
                let mut file = BufWriter::new(file);
                serde_json::to_writer(&mut file, &Header::ours())?;
                file.write_all(b"\n")?;
                Ok(file)
            });
        let file = made
            .inspect_err(|e| tracing::debug!(cache = %dir.display(), "no status record cache: {e}"))
            .ok()?;
        Some(CacheWriter {
            store,
            current,
            replaced,
            file: Some(file),
            path: dir.join(FILE),
        })
    }

    /// Puts the new cache in place of the old one.
    pub(super) fn persist(mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        let persisted = file
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.persist(&self.path).map_err(|e| e.error));
        if let Err(e) = persisted {
            tracing::debug!(cache = %self.path.display(), "status record cache not written: {e}");
        }
    }

    fn add(&mut self, path: &str, blob: BlobId, record: &Record) {
        // The status a suspended workflow's pipelines wrote is read back from the rest
        // of the file, which the cache does not hold.
        if record.suspended.is_some() {
            return;
        }
        let Some(file) = &mut self.file else {
            return;
        };
        let blob = blob.to_string();
        let entry = EntryRef {
            path,
            blob: &blob,
            record,
        };
        let written = serde_json::to_writer(&mut *file, &entry)
            .map_err(std::io::Error::from)
            .and_then(|()| file.write_all(b"\n"));
        if let Err(e) = written {
            tracing::debug!("status record cache left unwritten: {e}");
            self.file = None;
        }
    }
}

/// How the cache's temporary files begin.
const TEMPORARY: &str = "status-records.";

/// Removes the temporary files of passes that were killed before they put theirs in
/// place (each about 500 bytes per request).
fn remove_abandoned(dir: &Path) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(TEMPORARY) && name.ends_with(".tmp")) {
            continue;
        }
        let modified = entry.metadata().and_then(|m| m.modified());
        let age = modified.ok().and_then(|at| at.elapsed().ok());
        if age.is_some_and(|age| age > ABANDONED) {
            let _ = fs_err::remove_file(entry.path());
        }
    }
}

impl RecordSink for CacheWriter<'_> {
    fn rendered(&mut self, path: &str, bytes: &[u8], record: &Record) {
        // Only where reading the file gives this record back (see `record_read_alone`).
        if !record_read_alone(bytes) {
            return;
        }
        let blob = self.store.blob_id(bytes);
        self.add(path, blob, record);
    }

    fn kept(&mut self, path: &str, record: &Record) {
        if self.replaced.contains(&record.request.path) {
            return;
        }
        if let Some(&blob) = self.current.get(path) {
            self.add(path, blob, record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::tests::MemoryStore;
    use crate::state::status::read_record;

    /// A status file whose record uses every field a cached record keeps.
    const STATUS: &str = "\
message: output written to dev
promised:
  phase: Ready
  request: {path: requests/app/a.yaml, blob: 0123}
  pipelines:
  - {name: one, images: [img:1, img:2]}
  placements:
  - group: one/extra
    destination: dev
    state: misplaced
    reason: \"no longer matches env: prod\"
    files: [extra/cm.yaml]
    selectors: {env: prod}
  - {group: two, state: pending, reason: no destination}
  outputs:
  - {destination: dev, path: state/dev/resources/default/app/a, digest: \"sha256:00\"}
";

    fn record() -> Record {
        read_record(STATUS.as_bytes()).unwrap()
    }

    fn entry(path: &str, blob: &str, record: &Record) -> String {
        let entry = EntryRef { path, blob, record };
        serde_json::to_string(&entry).unwrap()
    }

    fn snapshot(files: &[(&str, &str)]) -> Snapshot {
        let files = files.iter().map(|(p, text)| {
            let blob = crate::git::sha1_blob_id(text.as_bytes());
            (p.to_string(), blob)
        });
        Snapshot {
            files: files.collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_record_comes_back_from_the_cache_as_it_went_in() {
        let record = record();
        let text = entry("status/app/default/a.yaml", "00", &record);
        let back: Entry = serde_json::from_str(&text).unwrap();
        assert_eq!(back.record, record);
    }

    #[test]
    fn only_an_entry_for_the_blob_the_branch_holds_at_its_path_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let branch = [
            ("status/app/default/a.yaml", "a"),
            ("status/app/default/b.yaml", "b"),
            ("status/app/default/d.yaml", "d"),
        ];
        let id = |text: &str| crate::git::sha1_blob_id(text.as_bytes()).to_string();
        let record = record();
        let lines = [
            serde_json::to_string(&Header::ours()).unwrap(),
            entry("status/app/default/a.yaml", &id("a"), &record),
            // Another blob than the branch holds there: the file changed since.
            entry("status/app/default/b.yaml", &id("old b"), &record),
            // Not a request's status file.
            entry("status/app.yaml", &id("a"), &record),
            entry("status/app/default/c.yaml", "not a blob id", &record),
            // A write cut short: nothing after it is read.
            "{\"path\": \"status/app/def".to_string(),
            entry("status/app/default/d.yaml", &id("d"), &record),
        ];
        fs_err::write(dir.path().join(FILE), lines.join("\n")).unwrap();
        let read = read(dir.path(), &snapshot(&branch));
        let keys: Vec<String> = read.keys().map(|k| k.name.to_string()).collect();
        assert_eq!(keys, ["a"]);
        let a = &read.values().next().unwrap();
        assert!(a.pipelines.is_empty(), "dropped as from a status file");
        assert_eq!(a.placements, record.placements);
        // A pass holds a record per request: read one element at a time, a list has
        // room for four.
        assert_eq!(a.placements.capacity(), a.placements.len(), "no spare room");
    }

    #[test]
    fn a_cache_another_version_wrote_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let branch = [("status/app/default/a.yaml", "a")];
        let blob = crate::git::sha1_blob_id(b"a").to_string();
        let line = entry("status/app/default/a.yaml", &blob, &record());
        let version = env!("CARGO_PKG_VERSION");
        let headers = [
            r#"{"cache":"promised status records","promised":"0.0.1"}"#.to_string(),
            format!(r#"{{"cache":"promised status records","format":0,"promised":"{version}"}}"#),
        ];
        for header in headers {
            fs_err::write(dir.path().join(FILE), format!("{header}\n{line}\n")).unwrap();
            assert!(read(dir.path(), &snapshot(&branch)).is_empty(), "{header}");
        }
        let ours = serde_json::to_string(&Header::ours()).unwrap();
        fs_err::write(dir.path().join(FILE), format!("{ours}\n{line}\n")).unwrap();
        assert_eq!(read(dir.path(), &snapshot(&branch)).len(), 1, "{ours}");
        fs_err::write(dir.path().join(FILE), "").unwrap();
        assert!(read(dir.path(), &snapshot(&branch)).is_empty());
    }

    #[test]
    fn a_pass_caches_what_it_writes_and_keeps_but_not_a_record_it_changed() {
        let store = MemoryStore::default().with_cache();
        let kept = "status/app/default/kept.yaml";
        let current = CurrentTree::from([
            (kept.to_string(), crate::git::sha1_blob_id(b"kept")),
            (
                "status/app/default/replaced.yaml".into(),
                crate::git::sha1_blob_id(b"r"),
            ),
        ]);
        let replaced = BTreeSet::from(["requests/app/replaced.yaml".to_string()]);
        let mut writer = CacheWriter::create(&store, &current, &replaced).unwrap();
        let mut replaced_record = record();
        replaced_record.request.path = "requests/app/replaced.yaml".into();
        let mut suspended = record();
        suspended.suspended = Some(Box::new(crate::state::status::SuspendedRef {
            pipeline: "one".into(),
            message: None,
            retry_after: None,
            attempts: 0,
            promise: String::new(),
            status: Default::default(),
            status_before: Default::default(),
        }));
        let rendered = "message: ok\npromised:\n  phase: Ready\n";
        // Read whole, as a file with a document marker among the pipelines' keys is.
        let marked = "# Status\n...x: 1\npromised:\n  phase: Ready\n";
        writer.rendered(
            "status/app/default/new.yaml",
            rendered.as_bytes(),
            &record(),
        );
        writer.rendered(
            "status/app/default/marked.yaml",
            marked.as_bytes(),
            &record(),
        );
        writer.rendered("status/app/default/suspended.yaml", b"s", &suspended);
        writer.kept(kept, &record());
        writer.kept("status/app/default/replaced.yaml", &replaced_record);
        let dir = store.cache_dir().unwrap();
        assert!(!dir.join(FILE).exists(), "in place only once the pass ends");
        writer.persist();
        let branch = [
            ("status/app/default/new.yaml", rendered),
            ("status/app/default/marked.yaml", marked),
            ("status/app/default/suspended.yaml", "s"),
            (kept, "kept"),
            ("status/app/default/replaced.yaml", "r"),
        ];
        let read = read(&dir, &snapshot(&branch));
        let names: Vec<String> = read.keys().map(|k| k.name.to_string()).collect();
        assert_eq!(names, ["kept", "new"]);
    }

    #[test]
    fn a_temporary_file_a_killed_pass_left_is_removed_and_a_running_pass_s_is_not() {
        let store = MemoryStore::default().with_cache();
        let dir = store.cache_dir().unwrap();
        fs_err::create_dir_all(&dir).unwrap();
        let (left, running) = (
            dir.join("status-records.a.tmp"),
            dir.join("status-records.b.tmp"),
        );
        for file in [&left, &running] {
            fs_err::write(file, "").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - 2 * ABANDONED;
        let file = std::fs::File::options().write(true).open(&left).unwrap();
        file.set_modified(two_hours_ago).unwrap();
        let (current, replaced) = (CurrentTree::new(), BTreeSet::new());
        let writer = CacheWriter::create(&store, &current, &replaced).unwrap();
        assert!(!left.exists() && running.exists());
        drop(writer);
        let names: Vec<String> = fs_err::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["status-records.b.tmp"],
            "a writer dropped unpersisted leaves none"
        );
    }
}
