//! What a delete workflow runs on: a removed request or Promise as last committed, read
//! back from history by the blob id its status records (Kratix runs a delete workflow
//! on the object as the API server last held it).

use std::collections::BTreeMap;

use super::decide::PromiseDecision;
use super::prepare::{Schemas, check_against};
use super::run::Workflow;
use crate::git::{Store, parse_blob_id};
use crate::model::{
    Action, LoadError, Platform, Problem, Promise, RequestFile, RequestKey, WorkflowType, problem,
};
use crate::pipeline::Subject;
use crate::state::promise_status::PromiseRecord;
use crate::state::status::Record;

/// Promises whose file is gone, as last committed.
#[derive(Debug, Default)]
pub(crate) struct Removed {
    /// By name.
    pub(crate) promises: BTreeMap<String, Promise>,
    /// Records whose file could not be read back: what they describe stays.
    pub(crate) problems: Vec<LoadError>,
}

/// A request whose file is gone and whose Promise has a delete workflow.
pub(crate) struct RemovedRequest<'p> {
    pub(crate) key: RequestKey,
    /// Its Promise, as loaded or as last committed.
    pub(crate) promise: &'p Promise,
    /// The request as last committed, or why it could not be read back.
    pub(crate) file: Result<RequestFile, String>,
    /// What its delete workflow reads as `object.yaml`: the request as the API server
    /// would have stored it, or as committed when it no longer fits its Promise's schema.
    pub(crate) object: Vec<u8>,
}

impl Removed {
    /// Reads back each Promise that is to be deleted or held (its file is gone), and
    /// whose requests or own delete workflow may need it.
    pub(crate) fn read(
        store: &dyn Store,
        platform: &Platform,
        records: &BTreeMap<String, PromiseRecord>,
        decisions: &BTreeMap<String, PromiseDecision>,
    ) -> Self {
        let mut removed = Removed::default();
        for (name, decision) in decisions {
            if !matches!(decision, PromiseDecision::Delete | PromiseDecision::Hold(_))
                || platform.promises.contains_key(name)
            {
                continue;
            }
            let Some(record) = records.get(name) else {
                continue;
            };
            let path = &record.promise.path;
            let read = parse_blob_id(&record.promise.blob, path)
                .and_then(|id| store.read_blob(&id, path))
                .map_err(|e| e.to_string())
                .and_then(|bytes| String::from_utf8(bytes).map_err(|e| e.to_string()))
                .and_then(|text| Promise::parse(path, &text).map_err(|e| e.message()))
                // A record edited to point at another Promise's file must not run that
                // Promise's delete workflow, nor remove it.
                .and_then(|promise| {
                    if promise.name.as_str() == name {
                        return Ok(promise);
                    }
                    Err(format!(
                        "blob {} holds Promise {:?}, not {name:?}",
                        record.promise.blob,
                        promise.name.as_str()
                    ))
                });
            match read {
                Ok(mut promise) => {
                    promise.blob.clone_from(&record.promise.blob);
                    removed.promises.insert(name.clone(), promise);
                }
                Err(why) => removed.problems.push(LoadError::new(
                    path,
                    Problem::new(format!(
                        "the removed Promise cannot be read back from history ({why}); its \
                         outputs and status stay, and so do those of its removed requests, \
                         whose delete workflows cannot run without it: reconcile in a clone \
                         with full history, or restore the Promise file"
                    )),
                )),
            }
        }
        removed
    }

    /// The request `key` as last committed, with its Promise, when that Promise is
    /// known. `record` is its status record.
    pub(crate) fn request<'p>(
        &'p self,
        store: &dyn Store,
        platform: &'p Platform,
        key: &RequestKey,
        record: &Record,
    ) -> Option<RemovedRequest<'p>> {
        let name = key.promise.as_str();
        let promise = platform
            .promises
            .get(name)
            .or_else(|| self.promises.get(name))?;
        let path = &record.request.path;
        let file = parse_blob_id(&record.request.blob, path)
            .and_then(|id| store.read_blob(&id, path))
            .map_err(|e| {
                format!(
                    "{path} as last committed cannot be read back from history ({e}): \
                     reconcile in a clone with full history, or restore the file and \
                     remove it again"
                )
            })
            .and_then(|bytes| {
                // A file of several requests holds this one among others: picked by key.
                let all = RequestFile::read_all(path, record.request.blob.clone(), bytes);
                let file = all.into_iter().find(|r| r.key == *key).ok_or_else(|| {
                    format!("{path} as last committed holds no request {key} that reads")
                })?;
                match &file.document {
                    Ok(_) => Ok(file),
                    Err(why) => Err(format!(
                        "{path} as last committed does not read: {}",
                        problem::lines(why)
                    )),
                }
            });
        let object = match &file {
            Ok(file) => match check_against(promise, &Schemas::default(), file) {
                Ok(ready) => ready.object.into_owned(),
                Err(_) => file.bytes.clone(),
            },
            Err(_) => Vec::new(),
        };
        Some(RemovedRequest {
            key: key.clone(),
            promise,
            file,
            object,
        })
    }
}

impl RemovedRequest<'_> {
    /// Its delete workflow, when its object could be read back.
    pub(crate) fn workflow(&self) -> Result<Workflow<'_>, String> {
        let file = self.file.as_ref().map_err(Clone::clone)?;
        let document = file.document.as_ref().map_err(|p| problem::lines(p))?;
        Ok(Workflow {
            promise: self.promise,
            kind: (WorkflowType::Resource, Action::Delete),
            subject: Subject::request(&self.key, document),
            object_yaml: &self.object,
        })
    }
}
