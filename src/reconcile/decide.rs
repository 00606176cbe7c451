//! What a pass does with each Promise and each request, decided as data before anything
//! runs. Pure: the platform, the records of the last pass and the scope come in; one
//! decision per Promise and per request comes out, which the run step carries out and
//! rendering lays out.
//!
//! The order of a pass follows from the decisions: Promise configure workflows first
//! (their requests wait on them), then request workflows (configure and delete), then
//! Promise delete workflows (after the delete workflows of their requests).

use std::collections::{BTreeMap, BTreeSet};

use super::scope::Scope;
use crate::model::{Platform, Promise, RequestKey};
use crate::state::promise_status::{Availability, PromiseRecord, Unavailable};
use crate::state::status::{Phase, Record};

/// What a pass does with one Promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PromiseDecision {
    /// It has no Promise workflow: write its static dependencies; it is available
    /// unless it [waits](PromiseDecision::Wait).
    Static,
    /// Run its Promise configure workflow (it is new, changed or due), then write its
    /// dependencies and the workflow's outputs.
    Configure,
    /// Leave its dependencies and status as the last pass wrote them.
    Keep,
    /// A Promise it requires is missing, unavailable or at another version: nothing of
    /// it runs and its requests wait. Its outputs stay.
    Wait(String),
    /// Its file is gone and so are its requests' files: run its requests' delete
    /// workflows, then its own, then remove its outputs and status.
    Delete,
    /// Its file is gone while request files of it remain: everything stays, and the
    /// pass says so.
    Hold(String),
    /// It carries `kratix.io/paused: "true"`: none of its workflows runs, nor any of its
    /// requests'; its outputs stay and its status says so (Kratix's
    /// `PausedReconciliation`).
    Pause(String),
}

/// What a pass does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestDecision {
    /// Check it and run its configure workflow.
    Configure {
        /// Where it starts: `None` for its first pipeline; the index of the pipeline that
        /// suspended it when neither the request nor its Promise changed since, as
        /// removing Kratix's `kratix.io/workflow-suspended` label resumes it.
        resume: Option<usize>,
    },
    /// Leave its outputs and status as they are (not in this pass's scope, or its file
    /// is gone and so is its Promise's, which cannot be read back).
    Keep,
    /// Its Promise is not available: its status says why; its outputs stay.
    Wait(String),
    /// Its file is gone and its Promise has a delete workflow: run it on the request as
    /// last committed, then remove its outputs and status.
    Delete,
    /// Its file is gone: remove its outputs and status.
    Remove,
    /// It or its Promise carries `kratix.io/paused: "true"`: no pipeline runs, its
    /// outputs stay, and its status says why.
    Pause(String),
}

/// Decides each Promise's fate: the loaded ones, and those whose status file remains
/// but whose file is gone.
pub(crate) fn promises(
    platform: &Platform,
    records: &BTreeMap<String, PromiseRecord>,
    scope: &Scope,
) -> BTreeMap<String, PromiseDecision> {
    let waiting = unmet_requirements(platform, records, scope);
    let mut decisions = BTreeMap::new();
    for (name, promise) in &platform.promises {
        let decision = match waiting.get(name) {
            _ if promise.paused => PromiseDecision::Pause(PAUSED.into()),
            Some(why) => PromiseDecision::Wait(why.clone()),
            None if promise.workflows.promise.configure.is_empty() => PromiseDecision::Static,
            None if reruns(scope, promise, records.get(name)) => PromiseDecision::Configure,
            None => PromiseDecision::Keep,
        };
        decisions.insert(name.clone(), decision);
    }
    let requested: BTreeSet<&str> = platform
        .requests
        .iter()
        .chain(&platform.displaced)
        .map(|r| r.key.promise.as_str())
        .collect();
    for (name, record) in records {
        if platform.promises.contains_key(name) {
            continue;
        }
        let decision = if platform.promises_incomplete {
            PromiseDecision::Hold(format!(
                "{} is gone or unreadable while a file under promises/ has errors; the \
                 Promise's outputs stay until they are fixed",
                record.promise.path
            ))
        } else if requested.contains(name.as_str()) {
            PromiseDecision::Hold(format!(
                "{} was removed while request files under requests/{name}/ remain; its \
                 dependencies and its requests' outputs stay: remove the requests first \
                 (their delete workflows run), or restore the Promise",
                record.promise.path
            ))
        } else {
            PromiseDecision::Delete
        };
        decisions.insert(name.clone(), decision);
    }
    decisions
}

/// Why a paused Promise does nothing.
const PAUSED: &str = "paused: the Promise carries the label kratix.io/paused: \"true\"";

/// Whether a Promise with a configure workflow runs it in this pass.
fn reruns(scope: &Scope, promise: &Promise, record: Option<&PromiseRecord>) -> bool {
    let Some(record) = record else { return true };
    // It waited for a Promise it requires and waits no more (a Promise that still
    // waits is decided so before this is asked).
    record.unavailable == Some(Unavailable::Requirements)
        || record.promise.blob != promise.blob
        || record.promise.path != promise.path
        || scope.all
        || scope.promises.contains(promise.name.as_str())
        || scope.promise_files.contains(&promise.path)
        // A destination added, changed or removed may change where its outputs go.
        || !scope.destination_files.is_empty()
}

/// The Promises that cannot be available because of the Promises they require, with
/// why: each required Promise must be loaded, at the version asked for, and available,
/// that is not waiting itself and not left unavailable by its last Promise workflow
/// (unless that reruns in this pass). Chains are followed to a fixed point.
fn unmet_requirements(
    platform: &Platform,
    records: &BTreeMap<String, PromiseRecord>,
    scope: &Scope,
) -> BTreeMap<String, String> {
    let failed = |name: &str, promise: &Promise| {
        let record = records.get(name);
        record.is_some_and(|r| r.availability == Availability::Unavailable && r.reason.is_some())
            && !promise.workflows.promise.configure.is_empty()
            && !reruns(scope, promise, record)
    };
    let mut waiting: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let mut changed = false;
        for (name, promise) in &platform.promises {
            if waiting.contains_key(name) || promise.required_promises.is_empty() {
                continue;
            }
            let unmet: Vec<String> = promise
                .required_promises
                .iter()
                .filter_map(|required| {
                    let wanted = &required.name;
                    let Some(found) = platform.promises.get(wanted) else {
                        return Some(format!("Promise {wanted:?} is not installed"));
                    };
                    if let Some(version) = &required.version
                        && found.version.as_ref() != Some(version)
                    {
                        let actual = found.version.as_deref().unwrap_or("no version label");
                        return Some(format!(
                            "Promise {wanted:?} is at {actual}, not {version} (label {})",
                            crate::model::VERSION_LABEL
                        ));
                    }
                    if found.paused {
                        return Some(format!("Promise {wanted:?} is paused"));
                    }
                    (waiting.contains_key(wanted) || failed(wanted, found))
                        .then(|| format!("Promise {wanted:?} is not available"))
                })
                .collect();
            if !unmet.is_empty() {
                waiting.insert(name.clone(), format!("requires {}", unmet.join("; ")));
                changed = true;
            }
        }
        if !changed {
            return waiting;
        }
    }
}

/// The Promises decided `Configure`, each after the Promises it requires that are
/// decided so too: a Promise workflow that installs what another needs runs first. In
/// a cycle, the order within it is by name.
pub(crate) fn configure_order<'a>(
    platform: &'a Platform,
    decisions: &'a BTreeMap<String, PromiseDecision>,
) -> Vec<&'a str> {
    fn visit<'a>(
        name: &'a str,
        platform: &'a Platform,
        decisions: &'a BTreeMap<String, PromiseDecision>,
        seen: &mut BTreeSet<&'a str>,
        order: &mut Vec<&'a str>,
    ) {
        if decisions.get(name) != Some(&PromiseDecision::Configure) || !seen.insert(name) {
            return;
        }
        let Some(promise) = platform.promises.get(name) else {
            return;
        };
        for required in &promise.required_promises {
            visit(&required.name, platform, decisions, seen, order);
        }
        order.push(name);
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for name in decisions.keys() {
        visit(name, platform, decisions, &mut seen, &mut order);
    }
    order
}

/// Whether requests of `promise` may run: why not, when they may not. `ran` holds, for
/// each Promise configure workflow run in this pass, why it left the Promise
/// unavailable (it failed, was suspended, or its outputs clash), if it did.
pub(crate) fn availability(
    decisions: &BTreeMap<String, PromiseDecision>,
    records: &BTreeMap<String, PromiseRecord>,
    ran: &BTreeMap<String, Result<(), String>>,
    promise: &str,
) -> Result<(), String> {
    match decisions.get(promise) {
        Some(PromiseDecision::Wait(why) | PromiseDecision::Pause(why)) => Err(why.clone()),
        // Said as its status records it, as a pass that keeps it reads it back.
        Some(PromiseDecision::Configure) => match ran.get(promise) {
            Some(Err(why)) => Err(why.clone()),
            _ => Ok(()),
        },
        Some(PromiseDecision::Keep) => match records.get(promise) {
            Some(r) if r.availability == Availability::Unavailable => Err(r
                .reason
                .clone()
                .unwrap_or_else(|| "its Promise workflow has not succeeded".into())),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Decides each request with a file: run it, leave it, or wait for its Promise.
pub(crate) fn present_request(
    platform: &Platform,
    scope: &Scope,
    request: &crate::model::RequestFile,
    record: Option<&Record>,
    available: impl Fn(&str) -> Result<(), String>,
) -> RequestDecision {
    if !scope.includes(platform, request, record) {
        return RequestDecision::Keep;
    }
    let promise = request.key.promise.as_str();
    if platform.promises.get(promise).is_some_and(|p| p.paused) {
        return RequestDecision::Pause(format!(
            "paused: its Promise {promise:?} carries the label kratix.io/paused: \"true\""
        ));
    }
    if request.document.as_ref().is_ok_and(|d| d.paused) {
        return RequestDecision::Pause(
            "paused: the request carries the label kratix.io/paused: \"true\"".into(),
        );
    }
    match available(promise) {
        Err(why) if platform.promises.contains_key(promise) => {
            RequestDecision::Wait(format!("Promise {promise:?} is not available: {why}"))
        }
        _ => RequestDecision::Configure {
            resume: suspended_at(platform, request, record),
        },
    }
}

/// The index of the pipeline that suspended the request's workflow, if the request and
/// its Promise are as they were then and the Promise still has that pipeline.
fn suspended_at(
    platform: &Platform,
    request: &crate::model::RequestFile,
    record: Option<&Record>,
) -> Option<usize> {
    let record = record.filter(|r| r.phase == Phase::Suspended && r.request.describes(request))?;
    let suspended = record.suspended.as_ref()?;
    let promise = platform.promises.get(request.key.promise.as_str())?;
    if suspended.promise.is_empty() || suspended.promise != promise.blob {
        return None;
    }
    let pipelines = &promise.workflows.resource.configure;
    pipelines.iter().position(|p| p.name == suspended.pipeline)
}

/// Decides each request whose file is gone but whose status remains: run its delete
/// workflow when its Promise (as loaded, or as last committed when its file is gone
/// too) has one, else remove it. When its Promise cannot be known (its file does not
/// read, or its last committed version cannot be read back), whether it has a delete
/// workflow cannot be known either: the request is kept as it is.
pub(crate) fn gone_requests<'r, 'p>(
    records: &'r BTreeMap<RequestKey, Record>,
    present: &BTreeSet<&RequestKey>,
    promise_of: impl Fn(&str) -> Option<&'p Promise>,
    present_promise: impl Fn(&str) -> bool,
    unknown: impl Fn(&str) -> bool,
) -> Vec<(&'r RequestKey, RequestDecision)> {
    let gone = records.keys().filter(|key| !present.contains(key));
    gone.map(|key| {
        let name = key.promise.as_str();
        let record = &records[key];
        // Invalid from its first version on, it never reached the API server: there is
        // nothing for a delete workflow to tear down, and its object was never checked.
        let never_admitted = record.phase == Phase::Invalid
            && record.pipelines.is_empty()
            && record.outputs.is_empty()
            && record.placements.is_empty();
        let decision = match promise_of(name) {
            // As Kratix holds the deletion of a paused Promise's request. (A Promise whose
            // own file is gone is not paused: its removal was asked for.)
            Some(p) if p.paused && present_promise(name) => RequestDecision::Keep,
            Some(p) if !p.workflows.resource.delete.is_empty() && !never_admitted => {
                RequestDecision::Delete
            }
            None if unknown(name) => RequestDecision::Keep,
            _ => RequestDecision::Remove,
        };
        (key, decision)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::request;
    use crate::model::{Promise, VERSION_LABEL};
    use crate::state::status::RequestRef;

    fn record(path: &str, availability: Availability) -> PromiseRecord {
        PromiseRecord {
            availability,
            reason: None,
            unavailable: None,
            promise: RequestRef {
                path: path.into(),
                blob: format!("blob-of-{path}"),
                document: None,
            },
            pipelines: vec![],
            placements: vec![],
            outputs: vec![],
        }
    }

    #[test]
    fn a_promise_workflow_runs_when_new_or_changed_and_is_kept_otherwise() {
        let with_workflow = Promise::test("op").with_pipeline("promise.configure", "install");
        let platform = Platform::load([with_workflow.file(), Promise::test("plain").file()]);
        let none = BTreeMap::new();
        let decisions = promises(&platform, &none, &Scope::default());
        assert_eq!(decisions["op"], PromiseDecision::Configure);
        assert_eq!(decisions["plain"], PromiseDecision::Static);

        let records = BTreeMap::from([(
            "op".to_string(),
            record("promises/op.yaml", Availability::Available),
        )]);
        let decisions = promises(&platform, &records, &Scope::default());
        assert_eq!(decisions["op"], PromiseDecision::Keep);
        let decisions = promises(&platform, &records, &Scope::all());
        assert_eq!(decisions["op"], PromiseDecision::Configure);
    }

    #[test]
    fn promise_workflows_run_after_those_of_the_promises_they_require() {
        let with = |name: &str, requires: &[&str]| {
            let promise = Promise::test(name).with_pipeline("promise.configure", "install");
            let promise = requires.iter().fold(promise, |p, r| p.requiring(r, None));
            promise.file()
        };
        let platform = Platform::load([
            with("app", &["db", "net"]),
            with("db", &["net"]),
            with("net", &[]),
            with("zzz", &[]),
        ]);
        let decisions = BTreeMap::from(
            ["app", "db", "net", "zzz"].map(|n| (n.to_string(), PromiseDecision::Configure)),
        );
        assert_eq!(
            configure_order(&platform, &decisions),
            ["net", "db", "app", "zzz"]
        );
    }

    #[test]
    fn a_removed_promise_is_deleted_only_once_its_requests_are_gone() {
        let records = BTreeMap::from([(
            "gone".to_string(),
            record("promises/gone.yaml", Availability::Available),
        )]);
        let platform = Platform::load([]);
        let decisions = promises(&platform, &records, &Scope::default());
        assert_eq!(decisions["gone"], PromiseDecision::Delete);

        let platform = Platform::load([request("gone", "a")]);
        let decisions = promises(&platform, &records, &Scope::default());
        let PromiseDecision::Hold(why) = &decisions["gone"] else {
            panic!("{decisions:?}")
        };
        assert!(
            why.contains("request files under requests/gone/ remain"),
            "{why}"
        );
    }

    #[test]
    fn promises_that_require_each_other_or_themselves_are_decided_and_not_held() {
        let a = Promise::test("a").requiring("b", None).requiring("a", None);
        let b = Promise::test("b").requiring("a", None);
        let platform = Platform::load([a.file(), b.file()]);
        let decisions = promises(&platform, &BTreeMap::new(), &Scope::default());
        assert_eq!(decisions["a"], PromiseDecision::Static);
        assert_eq!(decisions["b"], PromiseDecision::Static);
    }

    #[test]
    fn unmet_required_promises_make_a_promise_wait_and_say_which() {
        let app = Promise::test("app")
            .requiring("db", Some("v2"))
            .requiring("net", None)
            .file();
        let db = Promise::test("db").labelled(VERSION_LABEL, "v1").file();
        let platform = Platform::load([app.clone(), db]);
        let decisions = promises(&platform, &BTreeMap::new(), &Scope::default());
        assert_eq!(
            decisions["app"],
            PromiseDecision::Wait(
                "requires Promise \"db\" is at v1, not v2 (label kratix.io/promise-version); \
                 Promise \"net\" is not installed"
                    .into()
            )
        );
        let db = Promise::test("db").labelled(VERSION_LABEL, "v2").file();
        let platform = Platform::load([app, db, Promise::test("net").file()]);
        let decisions = promises(&platform, &BTreeMap::new(), &Scope::default());
        assert_eq!(decisions["app"], PromiseDecision::Static);
    }

    #[test]
    fn a_suspended_request_resumes_at_its_pipeline_only_under_the_same_request_and_promise() {
        let app = Promise::test("app")
            .with_pipeline("resource.configure", "first")
            .with_pipeline("resource.configure", "approve");
        let platform = Platform::load([app.file(), request("app", "a")]);
        let request = &platform.requests[0];
        let suspended = |pipeline: &str, promise_blob: &str| Record {
            phase: Phase::Suspended,
            request: RequestRef::of(request),
            pipelines: vec![],
            placements: vec![],
            outputs: vec![],
            suspended: Some(Box::new(crate::state::status::SuspendedRef {
                pipeline: pipeline.into(),
                message: None,
                retry_after: None,
                attempts: 0,
                promise: promise_blob.into(),
                status: Default::default(),
                status_before: Default::default(),
            })),
        };
        let decide = |record: &Record| {
            let scope = Scope::default();
            present_request(&platform, &scope, request, Some(record), |_| Ok(()))
        };
        let resume = |at| RequestDecision::Configure { resume: at };
        let record = suspended("approve", "blob-of-promises/app.yaml");
        assert_eq!(decide(&record), RequestDecision::Keep, "not asked for");
        let asked = Scope {
            request_paths: ["requests/app/a.yaml".to_string()].into(),
            ..Scope::default()
        };
        let decide_asked =
            |record: &Record| present_request(&platform, &asked, request, Some(record), |_| Ok(()));
        assert_eq!(decide_asked(&record), resume(Some(1)));
        let changed_promise = suspended("approve", "an-older-blob");
        assert_eq!(decide_asked(&changed_promise), resume(None));
        let gone_pipeline = suspended("renamed", "blob-of-promises/app.yaml");
        assert_eq!(decide_asked(&gone_pipeline), resume(None));
        let mut changed_request = record.clone();
        changed_request.request.blob = "an-older-request".into();
        assert_eq!(decide_asked(&changed_request), resume(None));
    }
}
