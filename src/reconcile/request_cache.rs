//! What a full pass read from each request file, kept for the next full pass
//! (`request-reads` in the store's cache folder; see [`cache_file`](super::cache_file)).
//!
//! Before a full pass runs anything it reads every request file: the blob (often a
//! delta in a pack, to resolve and inflate), its YAML, the names that key it, and its
//! Promise's schema check. A request file reads the same as long as its bytes, its path
//! and its Promise do. So each entry is a request file's path, blob id and text, the
//! blob id of the Promise file it was checked against (none when its Promise was not
//! loaded), and what the reading gave: the key, the fields promised keeps of the
//! document, and whether the schema admitted it as committed. The next full pass takes
//! an entry only where the branch holds that blob at that path, the text hashes to that
//! blob id (so a damaged text is never given to a pipeline) and its Promise file is
//! that blob; it then reads and parses nothing of that file.
//!
//! Only files of one document that read are kept: the others say why they do not, or
//! where in their file each request is, which the next pass finds by reading them again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cache_file::CacheFile;
use crate::git::{BlobId, Snapshot};
use crate::model::{Platform, RequestDoc, RequestFile, promise_folder};

/// The cache's file. Raise its format with any change to what reading a request file
/// gives ([`RequestFile::read_all`] and the schema check), or to an entry.
const CACHE: CacheFile = CacheFile {
    name: "request-reads",
    holds: "promised request reads",
    format: 1,
};

/// One line after the header.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Entry<'a> {
    path: Cow<'a, str>,
    blob: Cow<'a, str>,
    promise: Option<Cow<'a, str>>,
    namespace: Cow<'a, str>,
    name: Cow<'a, str>,
    #[serde(rename = "apiVersion")]
    api_version: Cow<'a, str>,
    kind: Cow<'a, str>,
    paused: bool,
    admitted: bool,
    /// The file's bytes: only a file that reads as UTF-8 is kept.
    text: Cow<'a, str>,
}

/// The entries of a cache, in path order, until a pass takes its requests from them.
/// The strings most requests share (namespaces, API versions, kinds, Promise blob ids)
/// are held once: at 100k requests this is read whole before any request is.
#[derive(Debug, Default)]
pub(super) struct Reads {
    /// In path order.
    reads: Vec<Read>,
    shared: Vec<Box<str>>,
}

#[derive(Debug)]
struct Read {
    path: Box<str>,
    blob: BlobId,
    name: Box<str>,
    /// Indices into [`Reads::shared`].
    promise: Option<u32>,
    namespace: u32,
    api_version: u32,
    kind: u32,
    paused: bool,
    admitted: bool,
    text: String,
}

impl Reads {
    /// The entries of the cache in `dir`.
    pub(super) fn read(dir: &Path) -> Self {
        let mut shared = Shared::default();
        let mut reads: Vec<Read> = CACHE
            .entries::<Entry<'static>>(dir)
            .filter_map(|entry| {
                Some(Read {
                    blob: BlobId::from_hex(entry.blob.as_bytes()).ok()?,
                    path: entry.path.into(),
                    name: entry.name.into(),
                    promise: entry.promise.map(|p| shared.index(p)),
                    namespace: shared.index(entry.namespace),
                    api_version: shared.index(entry.api_version),
                    kind: shared.index(entry.kind),
                    paused: entry.paused,
                    admitted: entry.admitted,
                    text: entry.text.into_owned(),
                })
            })
            .collect();
        reads.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        reads.dedup_by(|a, b| a.path == b.path);
        Reads {
            reads,
            shared: shared.strings,
        }
    }

    /// Adds to `taken` the requests of the files at `paths` (in path order) that
    /// entries give: where `listing` holds an entry's blob at its path, its text has
    /// that blob id (`blob_id`), and its Promise file is the blob it was checked against
    /// (`promise_blob`, by Promise folder). The paths of the others are given back, to
    /// be read.
    pub(super) fn take<'l, 'p>(
        self,
        listing: &Snapshot,
        paths: Vec<&'l str>,
        promise_blob: impl Fn(&str) -> Option<&'p str>,
        blob_id: impl Fn(&[u8]) -> BlobId,
        taken: &mut Vec<RequestFile>,
    ) -> Vec<&'l str> {
        let Reads { reads, shared } = self;
        let mut reads = reads.into_iter().peekable();
        let mut left = Vec::new();
        for path in paths {
            while reads.next_if(|read| *read.path < *path).is_some() {}
            let read = reads.next_if(|read| *read.path == *path);
            let request = read.and_then(|read| {
                let blob = listing.files.get(path)?;
                read.request(path, *blob, &shared, &promise_blob, &blob_id)
            });
            match request {
                Some(request) => taken.push(request),
                None => left.push(path),
            }
        }
        left
    }
}

impl Read {
    /// The request this entry gives for the file at `path`, if it holds `blob` there.
    fn request<'p>(
        self,
        path: &str,
        blob: BlobId,
        shared: &[Box<str>],
        promise_blob: &impl Fn(&str) -> Option<&'p str>,
        blob_id: &impl Fn(&[u8]) -> BlobId,
    ) -> Option<RequestFile> {
        let shared = |index: u32| &*shared[index as usize];
        let folder = promise_folder(path).unwrap_or_default();
        let same = self.blob == blob
            && self.promise.map(shared) == promise_blob(folder)
            && blob_id(self.text.as_bytes()) == blob;
        if !same {
            return None;
        }
        // Checked as reading the file checks them: the entry names folders.
        let key = RequestFile::key_of(folder, shared(self.namespace), &self.name)?;
        let document = RequestDoc {
            api_version: shared(self.api_version).to_string(),
            kind: shared(self.kind).to_string(),
            paused: self.paused,
        };
        Some(RequestFile::read_before(
            path,
            blob.to_string(),
            self.text.into_bytes(),
            key,
            document,
            self.admitted,
        ))
    }
}

/// Strings held once, by index.
#[derive(Default)]
struct Shared {
    strings: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
}

impl Shared {
    fn index(&mut self, text: Cow<'_, str>) -> u32 {
        if let Some(&at) = self.index.get(&*text) {
            return at;
        }
        let at = u32::try_from(self.strings.len()).expect("fewer strings than entries");
        let text: Box<str> = text.into();
        self.strings.push(text.clone());
        self.index.insert(text, at);
        at
    }
}

/// Writes the cache in `dir` anew, from the requests of `platform` as this pass read
/// them, and puts it in place of the old one.
pub(super) fn write(dir: &Path, platform: &Platform) {
    let Some(mut lines) = CACHE.create(dir) else {
        return;
    };
    let mut kept: Vec<&RequestFile> = platform
        .requests
        .iter()
        .filter(|request| request.part.is_none() && !request.held)
        .collect();
    kept.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    for request in kept {
        let (Ok(document), Ok(text)) = (&request.document, std::str::from_utf8(&request.bytes))
        else {
            continue;
        };
        let promise = platform.promises.get(request.key.promise.as_str());
        lines.add(&Entry {
            path: Cow::Borrowed(&request.path),
            blob: Cow::Borrowed(&request.blob),
            promise: promise.map(|p| Cow::Borrowed(p.blob.as_str())),
            namespace: Cow::Borrowed(&request.key.namespace),
            name: Cow::Borrowed(&request.key.name),
            api_version: Cow::Borrowed(&document.api_version),
            kind: Cow::Borrowed(&document.kind),
            paused: document.paused,
            admitted: request.admitted,
            text: Cow::Borrowed(text),
        });
    }
    lines.persist();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::sha1_blob_id;
    use crate::model::{RequestKey, SourceFile};

    /// A platform of one Promise, `app`, and `requests`, read as a full pass reads them
    /// (every request checked against its Promise's schema).
    fn platform(requests: &[(&str, &str)]) -> Platform {
        let mut files = vec![crate::model::Promise::test("app").file()];
        files.extend(requests.iter().map(|(path, text)| SourceFile {
            path: path.to_string(),
            blob: sha1_blob_id(text.as_bytes()).to_string(),
            bytes: text.as_bytes().to_vec(),
        }));
        let schemas = crate::reconcile::prepare::Schemas::default();
        let admits = |promise: &crate::model::Promise, document: &RequestDoc, value| {
            crate::reconcile::prepare::admits_as_committed(promise, &schemas, document, value)
        };
        Platform::load_admitting(files, Some(&admits))
    }

    /// The branch listing of `files`.
    fn listing(files: &[(&str, &str)]) -> Snapshot {
        let files = files
            .iter()
            .map(|(p, text)| (p.to_string(), sha1_blob_id(text.as_bytes())));
        Snapshot {
            files: files.collect(),
            ..Snapshot::default()
        }
    }

    /// What a pass takes from the cache in `dir` for the files of `branch`, with the
    /// Promise files of `platform`: the requests it takes, and the paths left to read.
    fn take(
        dir: &Path,
        branch: &[(&str, &str)],
        promise_blob: Option<&str>,
    ) -> (Vec<RequestFile>, Vec<String>) {
        let listing = listing(branch);
        let paths = listing.paths(|_| true);
        let reads = Reads::read(dir);
        let mut taken = Vec::new();
        let left = reads.take(&listing, paths, |_| promise_blob, sha1_blob_id, &mut taken);
        (taken, left.into_iter().map(String::from).collect())
    }

    const A: &str = "apiVersion: test.promised.dev/v1\nkind: App\nmetadata:\n  name: first\n  namespace: team\n  labels: {kratix.io/paused: \"true\"}\nspec: {}\n";
    const B: &str = "kind: App\nmetadata: {name: b}\n";

    #[test]
    fn a_request_comes_back_from_the_cache_as_reading_its_file_gives_it() {
        let files = [("requests/app/a.yaml", A), ("requests/app/b.yaml", B)];
        let platform = platform(&files);
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &platform);
        let promise = Some(platform.promises["app"].blob.as_str());
        let (taken, left) = take(dir.path(), &files, promise);
        let read = platform
            .requests
            .iter()
            .find(|r| r.path == "requests/app/a.yaml");
        assert_eq!(taken.first(), read, "the same request as read");
        let read = read.unwrap();
        assert!(read.admitted && read.document().unwrap().paused);
        assert_eq!(read.key, RequestKey::test("app", "team", "first"));
        let again = ["requests/app/b.yaml"];
        assert_eq!(left, again, "a file that does not read is read again");
    }

    #[test]
    fn an_entry_is_taken_only_for_the_blob_it_names_and_the_promise_it_was_checked_against() {
        let platform = platform(&[("requests/app/a.yaml", A)]);
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &platform);
        let now = Some(platform.promises["app"].blob.as_str());
        let left = |branch: &[(&str, &str)], promise: Option<&str>| {
            take(dir.path(), branch, promise).1.len()
        };
        let changed = [("requests/app/a.yaml", "kind: App\n")];
        assert_eq!(left(&changed, now), 1, "the file changed");
        assert_eq!(
            left(&[("requests/app/moved.yaml", A)], now),
            1,
            "another path"
        );
        let same = [("requests/app/a.yaml", A)];
        assert_eq!(left(&same, Some("0123")), 1, "another Promise file");
        assert_eq!(left(&same, None), 1, "no Promise now");
        assert_eq!(left(&same, now), 0);
    }

    #[test]
    fn a_damaged_entry_costs_a_read_and_never_gives_a_pipeline_other_bytes() {
        let platform = platform(&[("requests/app/a.yaml", A)]);
        let dir = tempfile::tempdir().unwrap();
        let blob = sha1_blob_id(A.as_bytes()).to_string();
        let promise = platform.promises["app"].blob.as_str();
        let entry = |name: &str, text: &str| Entry {
            path: Cow::Borrowed("requests/app/a.yaml"),
            blob: Cow::Borrowed(&blob),
            promise: Some(Cow::Borrowed(promise)),
            namespace: Cow::Borrowed("team"),
            name: Cow::Owned(name.to_string()),
            api_version: Cow::Borrowed("test.promised.dev/v1"),
            kind: Cow::Borrowed("App"),
            paused: false,
            admitted: true,
            text: Cow::Owned(text.to_string()),
        };
        let branch = [("requests/app/a.yaml", A)];
        let damaged = [
            // A name that is no safe folder.
            entry("../x", A),
            // A safe folder, but no Kubernetes name: reading the file would refuse it.
            entry("Not_A_Name", A),
            // Another text than the blob the entry names.
            entry("first", &A.replace("team", "other")),
        ];
        for damaged in damaged {
            let line = serde_json::to_string(&damaged).unwrap();
            let text = format!("{}\n{line}\n", CACHE.header_line());
            fs_err::write(dir.path().join(CACHE.name), text).unwrap();
            let (taken, left) = take(dir.path(), &branch, Some(promise));
            assert!(taken.is_empty() && left.len() == 1, "{damaged:?}");
        }
    }
}
