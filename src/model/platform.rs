//! The whole input of a pass: every Promise, Destination and request of one commit.

use std::collections::BTreeMap;

use serde_json::Value;

use super::request::Admits;
use super::{
    Destination, LoadError, Problem, Promise, RequestDoc, RequestFile, RequestKey, promise_folder,
};

/// A file of the repository, as the git store hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFile {
    /// Repository path, `/`-separated.
    pub path: String,
    /// Git blob id, hex.
    pub blob: String,
    /// Content.
    pub bytes: Vec<u8>,
}

#[cfg(test)]
impl SourceFile {
    /// A file for tests, whose blob id names its path: two files differ, and a file
    /// keeps its id from one load to the next.
    pub(crate) fn test(path: &str, bytes: impl AsRef<[u8]>) -> Self {
        SourceFile {
            path: path.into(),
            blob: format!("blob-of-{path}"),
            bytes: bytes.as_ref().to_vec(),
        }
    }
}

/// Everything `promised` reads from one commit.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    /// Promises by name.
    pub promises: BTreeMap<String, Promise>,
    /// Destinations by name.
    pub(crate) destinations: BTreeMap<String, Destination>,
    /// Requests, sorted by key; keys are unique.
    pub requests: Vec<RequestFile>,
    /// Files that could not be read. Nothing they describe is changed in this pass.
    pub(crate) problems: Vec<LoadError>,
    /// Whether a Destination file could not be read: then no destination folder is
    /// removed and no placement is moved, since the missing one may be it.
    pub(crate) destinations_incomplete: bool,
    /// Whether a Promise file could not be read: then requests whose Promise is missing
    /// are left as they are (their Promise may be the unreadable one).
    pub(crate) promises_incomplete: bool,
    /// Request files that declare an identity another file holds. Loading keeps the
    /// first in path order; a pass gives the identity back to the file that its status
    /// records (`reconcile::prepare::keep_identities`), so a new file cannot take over
    /// another team's request by sorting first.
    pub(crate) displaced: Vec<RequestFile>,
    /// What loads but deserves a word, by file: deprecated seed-era forms, documents of
    /// a destination file that are not read. `validate` prints them as warnings.
    pub(crate) notes: Vec<LoadError>,
}

/// The folders `promised` reads.
pub(crate) const INPUT_DIRS: [&str; 3] = ["promises", "destinations", "requests"];

/// The folder of scripts the process executor's containers reach as
/// `$PROMISED_PIPELINES`: read from the commit a pass reads, like the inputs, but not an
/// input itself (nothing in it is a Promise, Destination or request).
pub(crate) const PIPELINES_DIR: &str = "pipelines";

/// Whether `path` is a file of [`PIPELINES_DIR`]: a change to one reruns every request,
/// since any Promise's pipeline may run it.
pub(crate) fn is_script(path: &str) -> bool {
    path.strip_prefix(PIPELINES_DIR)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Which input folder a path belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Promise,
    Destination,
    Request,
}

fn kind_of(path: &str) -> Option<Kind> {
    if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
        return None;
    }
    let top_level = |dir: &str| {
        path.strip_prefix(dir)
            .is_some_and(|rest| !rest.contains('/'))
    };
    if top_level("promises/") {
        Some(Kind::Promise)
    } else if top_level("destinations/") {
        Some(Kind::Destination)
    } else if promise_folder(path).is_some() {
        Some(Kind::Request)
    } else {
        None
    }
}

/// Why the YAML file at `path` is not read, when it lies where someone may expect it
/// to be: directly under `requests/`, in a folder under `promises/` or
/// `destinations/`, or in a folder named almost like an input folder (`request/`,
/// `Promises/`). `None` for an input, and for any other file.
pub(crate) fn outside_layout(path: &str) -> Option<String> {
    if !(path.ends_with(".yaml") || path.ends_with(".yml")) || is_input(path) {
        return None;
    }
    let (top, rest) = path.split_once('/')?;
    if let Some(dir) = INPUT_DIRS.iter().find(|dir| **dir == top) {
        return Some(match *dir {
            "requests" => format!(
                "a request file goes in the folder of its Promise: requests/<promise>/{rest}"
            ),
            _ => format!("{dir}/ is read at its top only, not in its folders"),
        });
    }
    let lower = top.to_ascii_lowercase();
    let near = INPUT_DIRS
        .iter()
        .find(|dir| lower == **dir || lower == dir.trim_end_matches('s'))?;
    Some(format!("promised reads {near}/, not {top}/"))
}

/// Whether a path is an input of the platform (a change to it may change the output).
pub(crate) fn is_input(path: &str) -> bool {
    kind_of(path).is_some()
}

/// The input folder (one of [`INPUT_DIRS`]) that `path` lies in, input or not.
pub(crate) fn input_dir(path: &str) -> Option<&'static str> {
    INPUT_DIRS
        .into_iter()
        .find(|dir| path.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
}

/// Asks whether a Promise admits a request's document (its whole parsed `Value`) as
/// committed: see [`Platform::request_reader`].
pub(crate) type PromiseAdmits<'a> = &'a (dyn Fn(&Promise, &RequestDoc, Value) -> bool + Sync);

impl Platform {
    /// Reads every input file. Files outside `promises/`, `destinations/` and
    /// `requests/<promise>/`, and files not ending in `.yaml`/`.yml`, are ignored.
    /// One bad file never stops the others: it is recorded in `Platform::problems`.
    pub fn load(files: impl IntoIterator<Item = SourceFile>) -> Self {
        Platform::load_admitting(files, None)
    }

    /// [`Platform::load`], asking `admits` of each request document that reads (see
    /// [`Platform::request_reader`]).
    pub(crate) fn load_admitting(
        files: impl IntoIterator<Item = SourceFile>,
        admits: Option<PromiseAdmits>,
    ) -> Self {
        let (mut platform, request_files) = Platform::load_definitions(files);
        // Most request files hold one request: room for them all at once, so that the
        // list of 100k requests is not copied as it grows.
        let mut requests = Vec::with_capacity(request_files.len());
        let read = platform.request_reader(admits);
        requests.extend(request_files.into_iter().flat_map(read));
        platform.add_requests(requests);
        platform
    }

    /// Loads the Promises and Destinations of `files`, and hands back the request files,
    /// unread, in path order: [`Platform::request_reader`] reads them (a pass reads them
    /// on several threads), and [`Platform::add_requests`] takes what it read.
    pub(crate) fn load_definitions(
        files: impl IntoIterator<Item = SourceFile>,
    ) -> (Self, Vec<SourceFile>) {
        let mut files: Vec<SourceFile> = files.into_iter().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut platform = Platform::default();
        let mut requests = Vec::new();
        for file in files {
            match kind_of(&file.path) {
                Some(Kind::Promise) => platform.add_promise(&file),
                Some(Kind::Destination) => platform.add_destination(&file),
                Some(Kind::Request) => requests.push(file),
                None => {}
            }
        }
        (platform, requests)
    }

    /// Whether `path` is a request file's.
    pub(crate) fn is_request_file(path: &str) -> bool {
        kind_of(path) == Some(Kind::Request)
    }

    /// Reads a request file into its requests, asking `admits` of each document that
    /// reads whether its Promise (this platform's, by the request's key) admits it as
    /// committed; the answer is kept as [`RequestFile::admitted`]. A request is then
    /// checked once, where its parsed document is at hand, rather than parsed again
    /// before its run.
    pub(crate) fn request_reader<'p>(
        &'p self,
        admits: Option<PromiseAdmits<'p>>,
    ) -> impl Fn(SourceFile) -> Vec<RequestFile> + Sync + 'p {
        let promises = &self.promises;
        let by_key = admits.map(|admits| {
            move |key: &RequestKey, document: &RequestDoc, value: Value| {
                let promise = promises.get(key.promise.as_str());
                promise.is_some_and(|promise| admits(promise, document, value))
            }
        });
        move |file: SourceFile| {
            let by_key = by_key.as_ref().map(|f| f as Admits);
            RequestFile::read_admitting(&file.path, file.blob, file.bytes, by_key)
        }
    }

    /// Takes the requests read from the request files, in any order: one per identity
    /// stays, the others are displaced (see [`Platform::hold_identities`]).
    pub(crate) fn add_requests(&mut self, mut requests: Vec<RequestFile>) {
        self.hold_identities(&mut requests);
        self.requests = requests;
    }

    /// Leaves one request per identity in `requests` (read in any order), sorted by
    /// key; the others are displaced, as if read in path order, then document order. Of two that declare
    /// one, the first holds it, except that a request that declares the identity holds
    /// it against one whose identity is only its file name (no name, or no YAML).
    ///
    /// Sorted in place rather than gathered in a map: at 100k requests a map by key
    /// (its nodes, 38 MB of them, and a copy of every key) met the finished list at the
    /// end of the load, the peak of a rerun.
    fn hold_identities(&mut self, requests: &mut Vec<RequestFile>) {
        requests.sort_unstable_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then_with(|| read_order(a).cmp(&read_order(b)))
        });
        // (the request whose reading made the clash, the one displaced, its holder)
        let mut clashes: Vec<((String, usize), RequestFile, String)> = Vec::new();
        requests.dedup_by(|later, holder| {
            if later.key != holder.key {
                return false;
            }
            let (path, index) = read_order(later);
            let read = (path.to_string(), index);
            if holder.document.is_err() && later.document.is_ok() {
                std::mem::swap(later, holder);
            }
            clashes.push((read, later.clone(), holder.origin()));
            true
        });
        // Displaced in the order their clashes were read, as a file at a time would.
        clashes.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, displaced, holder) in clashes {
            self.displace(displaced, &holder);
        }
    }

    /// Records that `request` declares an identity the request at `holder` holds: a problem
    /// of its file, and the request kept aside (see [`Platform::displaced`]).
    pub(crate) fn displace(&mut self, request: RequestFile, holder: &str) {
        self.problems.push(clash(&request, holder));
        self.displaced.push(request);
    }

    /// Gives `owner`, a displaced file, back the identity it declares: the file that held
    /// it is displaced in its place, and the problem moves with it. Two documents of one
    /// file stay as loading left them: the later one is the problem.
    pub(crate) fn reinstate(&mut self, owner: RequestFile) {
        let holder = self.requests.iter().position(|r| r.key == owner.key);
        let Some(holder) = holder.filter(|&at| self.requests[at].path != owner.path) else {
            self.displaced.push(owner);
            return;
        };
        let stale = clash(&owner, &self.requests[holder].origin());
        self.problems.retain(|p| *p != stale);
        let newcomer = std::mem::replace(&mut self.requests[holder], owner);
        let owner = self.requests[holder].origin();
        self.displace(newcomer, &owner);
    }

    /// Records an entry under an input folder that is not read (a symbolic link or a
    /// submodule: `why` says which); others are ignored, as other files there are. It
    /// counts as an unreadable file of its folder: it may hold the Promise or
    /// Destination that others need.
    pub(crate) fn add_unread(&mut self, path: &str, why: &str) {
        let Some(dir) = input_dir(path) else {
            return;
        };
        match dir {
            "promises" => self.promises_incomplete = true,
            "destinations" => self.destinations_incomplete = true,
            _ => {}
        }
        self.problems.push(LoadError::new(path, Problem::new(why)));
        self.problems.sort_by(|a, b| a.path.cmp(&b.path));
    }

    fn add_promise(&mut self, file: &SourceFile) {
        let promise = text(file).and_then(|t| Promise::parse(&file.path, t));
        match promise {
            Ok(p) if self.promises.contains_key(p.name.as_str()) => {
                let first = &self.promises[p.name.as_str()].path;
                let why = format!("Promise {:?} is also defined in {first}", p.name);
                let problem = Problem::at("metadata.name", why);
                self.problems.push(LoadError::new(&file.path, problem));
            }
            Ok(mut p) => {
                p.blob.clone_from(&file.blob);
                let notes = p
                    .notes
                    .iter()
                    .map(|note| LoadError::new(&p.path, note.clone()));
                self.notes.extend(notes);
                self.promises.insert(p.name.to_string(), p);
            }
            Err(err) => {
                self.promises_incomplete = true;
                self.problems.push(err);
            }
        }
    }

    fn add_destination(&mut self, file: &SourceFile) {
        let destinations = text(file).and_then(|t| Destination::parse_file(&file.path, t));
        let destinations = destinations.and_then(|(all, notes)| {
            let notes = notes
                .into_iter()
                .map(|note| LoadError::new(&file.path, note));
            self.notes.extend(notes);
            for (i, d) in all.iter().enumerate() {
                let earlier = self.destinations.values().chain(&all[..i]);
                let clash = earlier.into_iter().find(|o| {
                    o.name == d.name
                        || same_folder(&o.folder, &d.folder)
                        || holds_aggregate(o, &d.folder)
                        || holds_aggregate(d, &o.folder)
                });
                if let Some(other) = clash {
                    let why = format!(
                        "Destination {:?} (folder {:?}) clashes with {} (folder {:?})",
                        d.name, d.folder, other.path, other.folder
                    );
                    return Err(LoadError::new(&file.path, Problem::new(why)));
                }
            }
            Ok(all)
        });
        match destinations {
            Ok(all) => {
                for d in all {
                    self.destinations.insert(d.name.clone(), d);
                }
            }
            Err(err) => {
                self.destinations_incomplete = true;
                self.problems.push(err);
            }
        }
    }
}

/// Where a request was read: its file, then its place among the file's documents.
fn read_order(request: &RequestFile) -> (&str, usize) {
    let index = request.part.as_ref().map_or(0, |part| part.index);
    (&request.path, index)
}

/// The problem of `request`, which declares an identity the request at `holder` (its
/// [origin](RequestFile::origin)) holds: on its file, naming the document when the file
/// holds several.
fn clash(request: &RequestFile, holder: &str) -> LoadError {
    let document = request
        .part
        .as_ref()
        .map_or(String::new(), |part| format!("{part}: "));
    let message = format!(
        "{document}declares request {} which {holder} declares already; rename one of them",
        request.key
    );
    let problem = Problem {
        line: request.part.as_ref().map(|part| part.line),
        ..Problem::new(message)
    };
    LoadError::new(&request.path, problem)
}

/// Whether two destination folders are one on some clone: equal, or equal but for case
/// or Unicode form (macOS and Windows file systems ignore both).
fn same_folder(a: &str, b: &str) -> bool {
    a == b || crate::path_segment::folded(a) == crate::path_segment::folded(b)
}

/// Whether `folder` is, or is inside, the path of `destination`'s aggregate: Git cannot
/// hold a file and a folder at one path.
fn holds_aggregate(destination: &Destination, folder: &str) -> bool {
    destination.aggregate_path().is_some_and(|file| {
        let folder = crate::path_segment::folded(folder);
        let file = crate::path_segment::folded(&file);
        folder == file || folder.starts_with(&format!("{file}/"))
    })
}

fn text(file: &SourceFile) -> Result<&str, LoadError> {
    std::str::from_utf8(&file.bytes)
        .map_err(|_| LoadError::new(&file.path, Problem::new("the file is not UTF-8 text")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_outside_the_layout_is_named_with_the_reason() {
        let cases = [
            (
                "requests/top-level.yaml",
                "a request file goes in the folder of its Promise: requests/<promise>/top-level.yaml",
            ),
            (
                "promises/old/redis.yaml",
                "promises/ is read at its top only, not in its folders",
            ),
            (
                "request/redis/a.yaml",
                "promised reads requests/, not request/",
            ),
            (
                "Promises/redis.yml",
                "promised reads promises/, not Promises/",
            ),
            (
                "destination/dev.yaml",
                "promised reads destinations/, not destination/",
            ),
        ];
        for (path, why) in cases {
            assert_eq!(outside_layout(path).as_deref(), Some(why), "{path}");
        }
        for read_or_unrelated in [
            "requests/redis/a.yaml",
            "promises/redis.yaml",
            "state/dev/kustomization.yaml",
            "README.md",
            ".github/workflows/ci.yaml",
            "requests/notes.txt",
        ] {
            assert_eq!(
                outside_layout(read_or_unrelated),
                None,
                "{read_or_unrelated}"
            );
        }
    }

    #[test]
    fn destination_folders_that_differ_only_in_case_clash() {
        let destination = |name: &str, path: &str| {
            format!(
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {{name: {name}}}\nspec: {{path: {path}}}\n"
            )
        };
        let platform = Platform::load([
            SourceFile::test("destinations/a.yaml", destination("a", "clusters/Dev")),
            SourceFile::test("destinations/b.yaml", destination("b", "clusters/dev")),
        ]);
        assert_eq!(platform.destinations.len(), 1);
        assert!(platform.destinations_incomplete);
        assert!(
            platform.problems[0].to_string().starts_with(
                "destinations/b.yaml: Destination \"b\" (folder \"clusters/dev\") clashes with destinations/a.yaml"
            ),
            "{}",
            platform.problems[0]
        );
    }

    const DEST: &str = "kind: Destination\nmetadata: {name: dev}\n";

    #[test]
    fn one_bad_file_does_not_stop_the_others() {
        let platform = Platform::load([
            SourceFile::test("destinations/dev.yaml", DEST),
            SourceFile::test("destinations/broken.yaml", "kind: [\n"),
            SourceFile::test(
                "requests/redis/a.yaml",
                "apiVersion: x/v1\nkind: redis\nmetadata: {name: a}\n",
            ),
            SourceFile::test("README.md", "# not an input"),
            SourceFile::test("requests/redis/notes.txt", "ignored"),
        ]);
        assert_eq!(platform.destinations.len(), 1);
        assert_eq!(platform.requests.len(), 1);
        assert_eq!(platform.problems.len(), 1);
        assert_eq!(platform.problems[0].path, "destinations/broken.yaml");
        assert!(platform.destinations_incomplete);
    }

    #[test]
    fn two_files_claiming_one_request_are_reported() {
        let doc = "apiVersion: x/v1\nkind: redis\nmetadata: {name: a}\n";
        let platform = Platform::load([
            SourceFile::test("requests/redis/b.yaml", doc),
            SourceFile::test("requests/redis/a.yaml", doc),
        ]);
        assert_eq!(platform.requests.len(), 1);
        assert_eq!(platform.requests[0].path, "requests/redis/a.yaml");
        assert_eq!(platform.problems[0].path, "requests/redis/b.yaml");
    }

    #[test]
    fn clashes_are_reported_in_the_order_they_were_read_and_a_declared_name_wins() {
        let named =
            |name: &str| format!("apiVersion: x/v1\nkind: redis\nmetadata: {{name: {name}}}\n");
        let platform = Platform::load([
            SourceFile::test("requests/redis/a.yaml", named("zz")),
            SourceFile::test("requests/redis/b.yaml", named("yy")),
            SourceFile::test("requests/redis/c.yaml", named("zz")),
            SourceFile::test("requests/redis/d.yaml", named("yy")),
            // No name: its identity is its file name, which e.yaml declares.
            SourceFile::test("requests/redis/q.yaml", "apiVersion: x/v1\nkind: redis\n"),
            SourceFile::test("requests/redis/e.yaml", named("q")),
        ]);
        let held: Vec<(String, &str)> = platform
            .requests
            .iter()
            .map(|r| (r.key.to_string(), r.path.as_str()))
            .collect();
        assert_eq!(
            held,
            [
                ("redis/default/q".to_string(), "requests/redis/e.yaml"),
                ("redis/default/yy".to_string(), "requests/redis/b.yaml"),
                ("redis/default/zz".to_string(), "requests/redis/a.yaml"),
            ]
        );
        let problems: Vec<&str> = platform.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            problems,
            [
                "requests/redis/c.yaml",
                "requests/redis/d.yaml",
                "requests/redis/q.yaml"
            ]
        );
        let displaced: Vec<&str> = platform.displaced.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(displaced, problems);
    }

    #[test]
    fn requests_read_in_any_order_are_held_as_when_read_in_path_order() {
        let named =
            |name: &str| format!("apiVersion: x/v1\nkind: redis\nmetadata: {{name: {name}}}\n");
        let several = format!("{}---\n{}", named("yy"), named("ww"));
        let files = [
            SourceFile::test("requests/redis/a.yaml", named("zz")),
            SourceFile::test("requests/redis/b.yaml", &several),
            SourceFile::test("requests/redis/c.yaml", named("zz")),
            SourceFile::test("requests/redis/d.yaml", named("ww")),
            SourceFile::test("requests/redis/q.yaml", "apiVersion: x/v1\nkind: redis\n"),
            SourceFile::test("requests/redis/e.yaml", named("q")),
        ];
        let in_order = Platform::load(files.clone());
        let summary = |p: &Platform| {
            let held: Vec<(String, String)> = p
                .requests
                .iter()
                .map(|r| (r.key.to_string(), r.origin()))
                .collect();
            let problems: Vec<String> = p.problems.iter().map(|p| p.to_string()).collect();
            let displaced: Vec<String> = p.displaced.iter().map(|r| r.origin()).collect();
            (held, problems, displaced)
        };
        // Two threads, each a slice of files, finishing in any order.
        for split in 0..files.len() {
            let (mut platform, requests) = Platform::load_definitions(files.clone());
            let read = platform.request_reader(None);
            let (first, second) = requests.split_at(split);
            let mut loaded: Vec<RequestFile> = second.iter().cloned().flat_map(&read).collect();
            loaded.extend(first.iter().rev().cloned().flat_map(&read));
            drop(read);
            platform.add_requests(loaded);
            assert_eq!(summary(&platform), summary(&in_order), "split at {split}");
        }
    }

    #[test]
    fn a_clash_between_documents_is_a_problem_of_the_later_one() {
        let doc =
            |name: &str| format!("apiVersion: x/v1\nkind: redis\nmetadata: {{name: {name}}}\n");
        let several = format!("{}---\n{}---\n{}", doc("a"), doc("b"), doc("a"));
        let platform = Platform::load([
            SourceFile::test("requests/redis/x.yaml", &several),
            SourceFile::test(
                "requests/redis/y.yaml",
                format!("{}---\n{}", doc("c"), doc("b")),
            ),
        ]);
        let keys: Vec<String> = platform
            .requests
            .iter()
            .map(|r| r.key.to_string())
            .collect();
        assert_eq!(
            keys,
            ["redis/default/a", "redis/default/b", "redis/default/c"]
        );
        let problems: Vec<String> = platform.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "requests/redis/x.yaml: document 3 (line 9): declares request redis/default/a which document 1 (line 1) of requests/redis/x.yaml declares already; rename one of them",
                "requests/redis/y.yaml: document 2 (line 5): declares request redis/default/b which document 2 (line 5) of requests/redis/x.yaml declares already; rename one of them",
            ]
        );
    }

    #[test]
    fn destinations_may_not_share_a_folder() {
        let platform = Platform::load([
            SourceFile::test("destinations/a.yaml", DEST),
            SourceFile::test(
                "destinations/b.yaml",
                "kind: Destination\nmetadata: {name: b}\nspec: {path: dev}\n",
            ),
        ]);
        assert_eq!(platform.destinations.len(), 1);
        assert!(platform.problems[0].message().contains("clashes"));
    }

    #[test]
    fn no_destination_folder_may_be_where_another_writes_its_aggregate() {
        let aggregated = "kind: Destination\nmetadata: {name: a}\nspec: {path: dev, filepath: {mode: aggregatedYAML, filename: all.yaml}}\n";
        for folder in ["dev/all.yaml", "dev/All.yaml/eu"] {
            let other =
                format!("kind: Destination\nmetadata: {{name: b}}\nspec: {{path: {folder:?}}}\n");
            for (first, second) in [(aggregated, other.as_str()), (other.as_str(), aggregated)] {
                let platform = Platform::load([
                    SourceFile::test("destinations/a.yaml", first),
                    SourceFile::test("destinations/b.yaml", second),
                ]);
                assert_eq!(platform.destinations.len(), 1, "{folder}");
                assert!(
                    platform.problems[0].message().contains("clashes"),
                    "{folder}"
                );
            }
        }
        let beside = "kind: Destination\nmetadata: {name: b}\nspec: {path: dev/eu}\n";
        let platform = Platform::load([
            SourceFile::test("destinations/a.yaml", aggregated),
            SourceFile::test("destinations/b.yaml", beside),
        ]);
        assert_eq!(platform.destinations.len(), 2, "{:?}", platform.problems);
    }

    #[test]
    fn only_input_folders_count_as_inputs() {
        assert!(is_input("promises/redis.yaml"));
        assert!(is_input("requests/redis/team/a.yml"));
        assert!(!is_input("promises/sub/redis.yaml"));
        assert!(!is_input("state/dev/resources/default/redis/a/x.yaml"));
        assert!(!is_input("status/redis/default/a.yaml"));
    }
}
