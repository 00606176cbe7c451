//! Which requests can run: a request runs only when its document reads, its Promise is
//! loaded, its apiVersion/kind is one the Promise serves, and, stored as the API server
//! would store it (pruned and defaulted), it has no unknown field and fits that
//! version's schema. Pure.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use super::render::Outcome;
use crate::model::{
    ApiVersion, Platform, Problem, Promise, RequestDoc, RequestFile, RequestKey, problem,
};
use serde_json::Value;

use crate::schema::{InvalidSchema, RequestSchema, admit_without_schema};
use crate::state::status::Record;

/// A version's compiled schema, `None` when it has none, or why it does not compile.
type Compiled = Arc<Result<Option<RequestSchema>, InvalidSchema>>;

/// Compiled schemas by Promise and version, so each compiles once per pass, whichever
/// worker checks a request of it first.
#[derive(Default)]
pub(crate) struct Schemas {
    compiled: Mutex<HashMap<(String, String), Compiled>>,
}

impl Schemas {
    /// The compiled schema of `version` of `promise`, compiled on first use. An error
    /// is the Promise's: `validate` reports it at the Promise's file, once.
    pub(crate) fn get(&self, promise: &Promise, version: &ApiVersion) -> Compiled {
        let mut compiled = self.compiled.lock().expect("no panics hold the lock");
        let slot = (promise.name.to_string(), version.name.clone());
        let schema = compiled.entry(slot).or_insert_with(|| {
            let schema = version.schema.as_ref().map(RequestSchema::compile);
            Arc::new(schema.transpose())
        });
        Arc::clone(schema)
    }
}

/// A request that passed every check, ready to run.
pub(crate) struct Ready<'a> {
    pub(crate) promise: &'a Promise,
    pub(crate) document: &'a RequestDoc,
    /// What its pipelines read as `object.yaml`: the request as the API server would
    /// store it. That is the committed bytes, comments and all, when storing changes
    /// nothing; otherwise the pruned and defaulted document, written anew.
    pub(crate) object: Cow<'a, [u8]>,
}

/// Why a request does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Its Promise may be one of the unreadable files: it is left as it is.
    Unreconciled(String),
    /// Its Promise's schema does not compile: it cannot run until the Promise is
    /// fixed. The problem is the Promise's, and `validate` reports it there.
    PromiseSchema(String),
    /// It cannot run until the requester fixes it.
    Invalid {
        /// A line that introduces the problems, if there are several.
        headline: Option<String>,
        /// What is wrong.
        problems: Vec<Problem>,
    },
}

impl Rejection {
    fn invalid(problem: Problem) -> Self {
        Rejection::Invalid {
            headline: None,
            problems: vec![problem],
        }
    }

    /// The outcome a pass records for it.
    pub(crate) fn into_outcome(self) -> Outcome {
        match self {
            Rejection::Unreconciled(message) => Outcome::Unreconciled(message),
            Rejection::PromiseSchema(message) => Outcome::Invalid(message),
            Rejection::Invalid { headline, problems } => {
                let lines = problem::lines(&problems);
                Outcome::Invalid(match headline {
                    Some(headline) => format!("{headline}:\n{lines}"),
                    None => lines,
                })
            }
        }
    }
}

/// Checks one request. On failure, says what the requester must fix, starting with the
/// document when its file holds several.
pub(crate) fn prepare<'a>(
    platform: &'a Platform,
    schemas: &Schemas,
    request: &'a RequestFile,
) -> Result<Ready<'a>, Outcome> {
    check(platform, schemas, request).map_err(|rejection| match (rejection, &request.part) {
        (Rejection::Invalid { headline, problems }, Some(part)) => {
            let headline = match headline {
                Some(headline) => format!("{part}: {headline}"),
                None if problems.len() == 1 => {
                    let only = &problems[0];
                    return Outcome::Invalid(format!("{part}: {only}"));
                }
                None => part.to_string(),
            };
            Rejection::Invalid {
                headline: Some(headline),
                problems,
            }
            .into_outcome()
        }
        (rejection, _) => rejection.into_outcome(),
    })
}

/// Checks one request, keeping each problem apart (for `promised validate`).
pub(crate) fn check<'a>(
    platform: &'a Platform,
    schemas: &Schemas,
    request: &'a RequestFile,
) -> Result<Ready<'a>, Rejection> {
    if request.held {
        let why = request.document.as_ref().err();
        return Err(Rejection::Unreconciled(
            why.map_or(String::new(), |p| problem::lines(p)),
        ));
    }
    // A document that does not read is the requester's to fix, whatever its Promise.
    if let Err(problems) = &request.document {
        return Err(Rejection::Invalid {
            headline: None,
            problems: problems.clone(),
        });
    }
    let promise_name = &request.key.promise;
    let Some(promise) = platform.promises.get(promise_name.as_str()) else {
        if platform.promises_incomplete {
            return Err(Rejection::Unreconciled(format!(
                "Promise {promise_name:?} is not loaded and a file under promises/ has errors; \
                 the request is left as it is until they are fixed"
            )));
        }
        return Err(Rejection::invalid(Problem::new(format!(
            "no Promise named {promise_name:?}: requests under requests/{promise_name}/ need a \
             Promise with metadata.name {promise_name:?} in promises/"
        ))));
    };
    if request.admitted {
        // Admitted as committed by this Promise when the platform was loaded.
        let document = request
            .document
            .as_ref()
            .expect("an admitted document reads");
        return Ok(Ready {
            promise,
            document,
            object: Cow::Borrowed(request.bytes.as_slice()),
        });
    }
    check_against(promise, schemas, request)
}

/// Checks one request against its Promise, which may be one no longer loaded (a delete
/// workflow runs on a request as last committed, under its Promise as last committed).
pub(crate) fn check_against<'a>(
    promise: &'a Promise,
    schemas: &Schemas,
    request: &'a RequestFile,
) -> Result<Ready<'a>, Rejection> {
    let document = request
        .document
        .as_ref()
        .map_err(|problems| Rejection::Invalid {
            headline: None,
            problems: problems.clone(),
        })?;
    let value = request.value().map_err(Rejection::invalid)?;
    let object = match admit(promise, schemas, document, value)? {
        None => Cow::Borrowed(request.bytes.as_slice()),
        Some(stored) => Cow::Owned(stored),
    };
    Ok(Ready {
        promise,
        document,
        object,
    })
}

/// Whether `promise` admits `value`, a request's whole document, exactly as committed:
/// what [`Platform::request_reader`] asks of each request as it reads it.
pub(crate) fn admits_as_committed(
    promise: &Promise,
    schemas: &Schemas,
    document: &RequestDoc,
    value: Value,
) -> bool {
    matches!(admit(promise, schemas, document, value), Ok(None))
}

/// Stores `value`, the document of a request of `promise`, as the API server would:
/// `None` when that changes nothing, else the document to give the pipelines.
fn admit(
    promise: &Promise,
    schemas: &Schemas,
    document: &RequestDoc,
    mut value: Value,
) -> Result<Option<Vec<u8>>, Rejection> {
    let Some(api) = &promise.api else {
        return Err(Rejection::invalid(Problem::new(format!(
            "Promise {:?} has no spec.api: it offers dependencies, not requests; remove \
             requests/{}/ or give the Promise an API",
            promise.name, promise.name
        ))));
    };
    let Some(version) = api.version_for(&document.api_version, &document.kind) else {
        return Err(Rejection::invalid(Problem::at(
            "apiVersion",
            format!(
                "Promise {:?} serves kind {} as {}; this request is {} {}",
                promise.name,
                api.kind,
                api.served().join(", "),
                document.api_version,
                document.kind,
            ),
        )));
    };
    let compiled = schemas.get(promise, version);
    let schema = compiled.as_ref().as_ref().map_err(|_| {
        Rejection::PromiseSchema(format!(
            "Promise {:?}'s schema of {} is invalid (see {}; `promised validate` says where); \
             its requests wait until it is fixed",
            promise.name, document.api_version, promise.path
        ))
    })?;
    let admitted = match schema {
        Some(schema) => schema
            .admit(&mut value)
            .map_err(|v| Rejection::invalid(Problem::at(v.field, v.message)))?,
        None => admit_without_schema(&mut value),
    };
    let mut problems: Vec<Problem> = admitted
        .unknown
        .iter()
        .map(|unknown| Problem::at(unknown.field.clone(), unknown.message()))
        .collect();
    if admitted.unlisted > 0 {
        let more = format!("and {} more unknown fields", admitted.unlisted);
        problems.push(Problem::new(more));
    }
    if let Some(schema) = schema {
        let violations = schema.violations(&value).into_iter();
        problems.extend(violations.map(|v| Problem::at(v.field, v.message)));
    }
    if !problems.is_empty() {
        return Err(Rejection::Invalid {
            headline: Some(format!(
                "the request does not match the schema of {}",
                document.api_version
            )),
            problems,
        });
    }
    Ok(admitted
        .changed
        .then(|| crate::yaml::to_string(&value).into_bytes()))
}

/// Forgets where the requests of the files in `replace` were placed, and any suspended
/// workflow of theirs: they run from their first pipeline and each output group goes
/// where the selectors say now, as for a new request (`reconcile --replace`). Their old
/// outputs go, as those of any rerun that writes elsewhere.
pub(crate) fn forget_placements(
    previous: &mut BTreeMap<RequestKey, Record>,
    replace: &BTreeSet<String>,
) {
    let replaced = previous
        .values_mut()
        .filter(|record| replace.contains(&record.request.path));
    for record in replaced {
        record.placements.clear();
        record.suspended = None;
    }
}

/// Keeps the identities the last statuses recorded for request files that no longer
/// read (a YAML error, a missing name, a file that does not read as a whole): their
/// identity would otherwise come from the file name (or be none), and the outputs of the
/// services they name would look orphaned and be removed.
///
/// Per file, the recorded identities that no request holds now are its orphans; its
/// requests whose document does not read are its broken ones, and of those the ones
/// without an identity recorded for this file are candidates to be an orphan. One
/// candidate and one orphan: the candidate takes the identity (as a file of one document
/// that breaks does). Otherwise, while any request of the file is broken, every orphan
/// is [held](RequestFile::held): left as it is, outputs and status, since which of them
/// the broken documents were cannot be known; a document removed meanwhile goes once
/// the file reads again. With no broken request, orphans are documents removed on
/// purpose and go.
pub(crate) fn keep_identities(platform: &mut Platform, previous: &BTreeMap<RequestKey, Record>) {
    return_identities(platform, previous);
    let taken: BTreeSet<&RequestKey> = platform.requests.iter().map(|r| &r.key).collect();
    let mut orphans: BTreeMap<&str, Vec<&RequestKey>> = BTreeMap::new();
    for (key, record) in previous.iter().filter(|(key, _)| !taken.contains(key)) {
        let path = record.request.path.as_str();
        orphans.entry(path).or_default().push(key);
    }
    drop(taken);
    // Per file with orphans: its broken requests, and which of them are candidates.
    let mut broken: BTreeMap<&str, Vec<(usize, bool)>> = BTreeMap::new();
    for (at, request) in platform.requests.iter().enumerate() {
        let Some((path, _)) = orphans.get_key_value(request.path.as_str()) else {
            continue;
        };
        if request.document.is_err() {
            let recorded_here = previous
                .get(&request.key)
                .is_some_and(|record| record.request.path == request.path);
            broken.entry(path).or_default().push((at, !recorded_here));
        }
    }
    let mut held = Vec::new();
    for (path, unread) in broken {
        let candidates: Vec<usize> = unread.iter().filter(|u| u.1).map(|u| u.0).collect();
        if let ([one], [key]) = (candidates.as_slice(), orphans[path].as_slice()) {
            platform.requests[*one].key = (*key).clone();
            continue;
        }
        let unread: Vec<&RequestFile> = unread.iter().map(|u| &platform.requests[u.0]).collect();
        let why = unreadable(path, &unread);
        let blob = unread[0].blob.clone();
        held.extend(orphans[path].iter().map(|key| RequestFile {
            path: path.to_string(),
            blob: blob.clone(),
            bytes: Vec::new(),
            key: (*key).clone(),
            document: Err(vec![Problem::new(format!(
                "{why}; this request, last reconciled from that file, is left as it is \
                 until the file reads again"
            ))]),
            part: None,
            held: true,
            admitted: false,
        }));
    }
    platform.requests.extend(held);
    platform.requests.sort_by(|a, b| a.key.cmp(&b.key));
}

/// What of the file at `path` does not read: the file, or the documents of `unread`.
fn unreadable(path: &str, unread: &[&RequestFile]) -> String {
    if let [whole] = unread
        && whole.part.is_none()
    {
        let why = whole.document.as_ref().err().map(|p| problem::lines(p));
        return format!("{path} does not read: {}", why.unwrap_or_default());
    }
    let parts: Vec<String> = unread
        .iter()
        .filter_map(|r| r.part.as_ref().map(ToString::to_string))
        .collect();
    let verb = if parts.len() == 1 { "does" } else { "do" };
    format!("{} of {path} {verb} not read", parts.join(", "))
}

/// Gives each identity that two files declare to the file its status records, where
/// loading gave it to the other: the newcomer is then the file with the problem.
fn return_identities(platform: &mut Platform, previous: &BTreeMap<RequestKey, Record>) {
    let displaced = std::mem::take(&mut platform.displaced);
    for request in displaced {
        let owner = previous.get(&request.key);
        if owner.is_some_and(|record| record.request.path == request.path) {
            platform.reinstate(request);
        } else {
            platform.displaced.push(request);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SourceFile, fixtures};
    use crate::state::status::{Phase, RequestRef};

    /// A request of kind App in namespace team, named `name`.
    fn file(path: &str, name: &str) -> SourceFile {
        let text =
            format!("apiVersion: a.b/v1\nkind: App\nmetadata: {{name: {name}, namespace: team}}\n");
        SourceFile::test(path, &text)
    }

    fn record_of(path: &str) -> Record {
        Record {
            phase: Phase::Ready,
            request: RequestRef {
                path: path.into(),
                blob: "b0".into(),
                document: None,
            },
            pipelines: vec![],
            placements: vec![],
            outputs: vec![],
            suspended: None,
        }
    }

    #[test]
    fn a_new_file_that_sorts_first_cannot_take_over_a_recorded_request() {
        let files = [
            file("requests/app/good.yaml", "good"),
            file("requests/app/0.yaml", "good"),
        ];
        let mut platform = Platform::load(files);
        assert_eq!(
            platform.requests[0].path, "requests/app/0.yaml",
            "loading keeps the first"
        );
        let key = platform.requests[0].key.clone();
        keep_identities(
            &mut platform,
            &BTreeMap::from([(key, record_of("requests/app/good.yaml"))]),
        );
        assert_eq!(platform.requests.len(), 1);
        assert_eq!(platform.requests[0].path, "requests/app/good.yaml");
        let problems: Vec<String> = platform.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "requests/app/0.yaml: declares request app/team/good which requests/app/good.yaml declares already; rename one of them"
            ]
        );
    }

    #[test]
    fn a_file_without_a_name_cannot_take_the_identity_its_file_name_gives_from_a_named_one() {
        let nameless = SourceFile::test(
            "requests/app/a/good.yaml",
            "apiVersion: a.b/v1\nkind: App\nmetadata: {}\n",
        );
        let named = SourceFile::test(
            "requests/app/good.yaml",
            "apiVersion: a.b/v1\nkind: App\nmetadata: {name: good}\n",
        );
        let platform = Platform::load([nameless, named]);
        assert_eq!(platform.requests.len(), 1);
        assert_eq!(platform.requests[0].path, "requests/app/good.yaml");
        assert_eq!(platform.problems[0].path, "requests/app/a/good.yaml");
    }

    /// The platform of Promise `app`, whose schema defaults `spec.size` and knows no
    /// other field, and of `requests`, loaded as a pass loads it.
    fn admitting(requests: &[(&str, &str)]) -> Platform {
        let schema = serde_json::json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"size": {"type": "string", "default": "small"}},
        }}});
        let promise = Promise::test("app").with_schema(schema).file();
        let requests = requests.iter().map(|(name, spec)| {
            let text = format!("{}spec: {spec}\n", fixtures::request_text("app", name));
            SourceFile::test(&format!("requests/app/{name}.yaml"), text)
        });
        let schemas = Schemas::default();
        let admits = |promise: &Promise, document: &RequestDoc, value| {
            admits_as_committed(promise, &schemas, document, value)
        };
        Platform::load_admitting([promise].into_iter().chain(requests), Some(&admits))
    }

    #[test]
    fn a_request_the_schema_leaves_as_committed_is_admitted_as_it_is_read() {
        let platform = admitting(&[
            ("plain", "{size: large}"),
            ("defaulted", "{}"),
            ("unknown", "{size: large, colour: red}"),
            ("wrong", "{size: 3}"),
        ]);
        let admitted: Vec<(&str, bool)> = platform
            .requests
            .iter()
            .map(|r| (r.key.name.as_str(), r.admitted))
            .collect();
        assert_eq!(
            admitted,
            [
                ("defaulted", false),
                ("plain", true),
                ("unknown", false),
                ("wrong", false)
            ]
        );
        // Those it did not admit as committed are checked again before their run, and
        // get what the check gives.
        let schemas = Schemas::default();
        let ready = |name: &str| {
            let request = platform
                .requests
                .iter()
                .find(|r| r.key.name.as_str() == name);
            check(&platform, &schemas, request.unwrap())
        };
        let defaulted = ready("defaulted").ok().unwrap();
        assert!(String::from_utf8_lossy(&defaulted.object).contains("size: small"));
        assert!(matches!(ready("unknown"), Err(Rejection::Invalid { .. })));
        assert!(matches!(ready("wrong"), Err(Rejection::Invalid { .. })));
        let plain = ready("plain").ok().unwrap();
        assert!(matches!(plain.object, Cow::Borrowed(_)));
    }

    #[test]
    fn an_admitted_request_is_not_parsed_again_before_its_run() {
        let mut platform = admitting(&[("plain", "{size: large}")]);
        let request = &mut platform.requests[0];
        assert!(request.admitted);
        // Bytes that would not parse: the check trusts what the load found.
        request.bytes = b"{ not: [yaml".to_vec();
        let ready = check(&platform, &Schemas::default(), &platform.requests[0]);
        assert_eq!(ready.ok().unwrap().object.as_ref(), b"{ not: [yaml");
        platform.requests[0].admitted = false;
        let again = check(&platform, &Schemas::default(), &platform.requests[0]);
        assert!(matches!(again, Err(Rejection::Invalid { .. })));
    }

    #[test]
    fn a_request_for_a_promise_without_an_api_is_invalid_and_says_why() {
        let promise = Promise::test("base").without_api().file();
        let platform = Platform::load([promise, fixtures::request("base", "x")]);
        let outcome = prepare(&platform, &Schemas::default(), &platform.requests[0]);
        let Err(Outcome::Invalid(message)) = outcome else {
            panic!("expected Invalid");
        };
        assert!(
            message.starts_with("Promise \"base\" has no spec.api"),
            "{message}"
        );
    }

    #[test]
    fn an_unreadable_request_keeps_its_recorded_identity() {
        let file = SourceFile::test("requests/app/cache.yaml", "metadata: {name: [\n");
        let mut platform = Platform::load([file]);
        assert_eq!(platform.requests[0].key.to_string(), "app/default/cache");
        let recorded = RequestKey::test("app", "team", "redis-cache");
        let record = record_of("requests/app/cache.yaml");
        keep_identities(&mut platform, &BTreeMap::from([(recorded.clone(), record)]));
        assert_eq!(platform.requests[0].key, recorded);
    }

    /// Requests of kind App in namespace team, one document each.
    fn several(path: &str, documents: &[&str]) -> SourceFile {
        let documents: Vec<String> = documents
            .iter()
            .map(|name| match *name {
                "broken" => "metadata: {name: [\n".to_string(),
                name => format!(
                    "apiVersion: a.b/v1\nkind: App\nmetadata: {{name: {name}, namespace: team}}\n"
                ),
            })
            .collect();
        SourceFile::test(path, documents.join("---\n"))
    }

    /// The records of a pass over `requests/app/x.yaml` holding `names`.
    fn recorded(names: &[&str]) -> BTreeMap<RequestKey, Record> {
        let key = |name: &str| RequestKey::test("app", "team", name);
        let names = names.iter();
        names
            .map(|n| (key(n), record_of("requests/app/x.yaml")))
            .collect()
    }

    /// Each request's key and whether it is held.
    fn identities(platform: &Platform) -> Vec<(String, bool)> {
        let requests = platform.requests.iter();
        requests.map(|r| (r.key.to_string(), r.held)).collect()
    }

    #[test]
    fn a_broken_document_keeps_the_one_identity_its_file_lost() {
        let mut platform = Platform::load([several("requests/app/x.yaml", &["a", "broken", "c"])]);
        keep_identities(&mut platform, &recorded(&["a", "b", "c"]));
        let identities = identities(&platform);
        assert_eq!(
            identities,
            [
                ("app/team/a".to_string(), false),
                ("app/team/b".to_string(), false),
                ("app/team/c".to_string(), false)
            ]
        );
        let outcome = prepare(&platform, &Schemas::default(), &platform.requests[1]);
        let Err(Outcome::Invalid(message)) = outcome else {
            panic!("expected Invalid");
        };
        assert!(
            message.starts_with("document 2 (line 5): line 5 column 18"),
            "{message}"
        );
    }

    #[test]
    fn a_file_of_several_requests_that_stops_reading_holds_every_recorded_identity() {
        let mut platform = Platform::load([SourceFile::test("requests/app/x.yaml", "# emptied\n")]);
        keep_identities(&mut platform, &recorded(&["a", "b", "c"]));
        let identities = identities(&platform);
        assert_eq!(
            identities,
            [
                ("app/default/x".to_string(), false),
                ("app/team/a".to_string(), true),
                ("app/team/b".to_string(), true),
                ("app/team/c".to_string(), true)
            ]
        );
        let outcome = prepare(&platform, &Schemas::default(), &platform.requests[1]);
        let Err(Outcome::Unreconciled(message)) = outcome else {
            panic!("a held request is left as it is");
        };
        assert_eq!(
            message,
            "requests/app/x.yaml does not read: the file holds no YAML document; this request, last reconciled from that file, is left as it is until the file reads again"
        );
    }

    #[test]
    fn with_two_broken_documents_every_lost_identity_is_held() {
        let file = several("requests/app/x.yaml", &["a", "broken", "broken"]);
        let mut platform = Platform::load([file]);
        keep_identities(&mut platform, &recorded(&["a", "b", "c"]));
        let held: Vec<&str> = platform
            .requests
            .iter()
            .filter(|r| r.held)
            .map(|r| r.key.name.as_str())
            .collect();
        assert_eq!(held, ["b", "c"]);
        let unread = platform
            .requests
            .iter()
            .filter(|r| !r.held && r.document.is_err());
        assert_eq!(
            unread.count(),
            2,
            "the broken documents say why, each under its own key"
        );
        let message = platform.requests.iter().find(|r| r.held).unwrap().error();
        assert!(message.starts_with(
            "document 2 (line 5), document 3 (line 7) of requests/app/x.yaml do not read;"
        ));
    }

    #[test]
    fn a_file_that_stops_reading_holds_its_other_requests_even_when_its_name_is_one_of_them() {
        let recorded = |name: &str, namespace: &str| {
            let key = RequestKey::test("app", namespace, name);
            (key, record_of("requests/app/x.yaml"))
        };
        let previous = BTreeMap::from([recorded("x", "default"), recorded("y", "team")]);
        let mut platform = Platform::load([SourceFile::test("requests/app/x.yaml", "# emptied\n")]);
        keep_identities(&mut platform, &previous);
        let identities = identities(&platform);
        assert_eq!(
            identities,
            [
                ("app/default/x".to_string(), false),
                ("app/team/y".to_string(), true)
            ]
        );
    }

    #[test]
    fn while_a_document_with_its_own_name_does_not_read_a_removed_one_is_held() {
        let no_kind = "metadata: {name: b, namespace: team}\n";
        let text = format!(
            "apiVersion: a.b/v1\nkind: App\nmetadata: {{name: a, namespace: team}}\n---\n{no_kind}"
        );
        let mut platform = Platform::load([SourceFile::test("requests/app/x.yaml", &text)]);
        keep_identities(&mut platform, &recorded(&["a", "b", "c"]));
        let identities = identities(&platform);
        assert_eq!(
            identities,
            [
                ("app/team/a".to_string(), false),
                ("app/team/b".to_string(), false),
                ("app/team/c".to_string(), true)
            ]
        );
    }

    #[test]
    fn a_document_removed_from_a_file_that_reads_loses_its_identity() {
        let mut platform = Platform::load([several("requests/app/x.yaml", &["a", "c"])]);
        keep_identities(&mut platform, &recorded(&["a", "b", "c"]));
        let identities = identities(&platform);
        assert_eq!(
            identities,
            [
                ("app/team/a".to_string(), false),
                ("app/team/c".to_string(), false)
            ]
        );
    }

    #[test]
    fn of_two_documents_of_one_file_that_claim_a_recorded_identity_the_first_keeps_it() {
        let mut platform = Platform::load([several("requests/app/x.yaml", &["a", "a"])]);
        keep_identities(&mut platform, &recorded(&["a"]));
        assert_eq!(platform.requests.len(), 1);
        assert_eq!(platform.requests[0].part.as_ref().unwrap().index, 1);
        assert_eq!(platform.problems.len(), 1);
        assert!(
            platform.problems[0]
                .message()
                .starts_with("document 2 (line 5): declares")
        );
    }

    #[test]
    fn a_request_whose_names_turn_unsafe_keeps_its_recorded_identity() {
        let file = SourceFile::test(
            "requests/app/cache.yaml",
            "apiVersion: a/v1\nkind: App\nmetadata: {name: x, namespace: ../../state}\n",
        );
        let mut platform = Platform::load([file]);
        assert_eq!(
            platform.requests[0].key.namespace.as_str(),
            crate::model::INVALID_NAMES
        );
        let recorded = RequestKey::test("app", "team", "x");
        let record = record_of("requests/app/cache.yaml");
        keep_identities(&mut platform, &BTreeMap::from([(recorded.clone(), record)]));
        assert_eq!(platform.requests[0].key, recorded);
        assert!(platform.requests[0].document.is_err());
    }
}
