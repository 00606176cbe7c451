//! The platform repository as input: Promises, Destinations and Resource Requests, read
//! from the files of one commit. Pure: the caller hands over paths and bytes.

mod destination;
#[cfg(test)]
pub(crate) mod fixtures;
mod pipeline;
mod platform;
pub(crate) mod problem;
mod promise;
mod request;
mod workflows;

#[cfg(test)]
mod hostile_input_tests;

use std::collections::BTreeMap;

use crate::path_segment::{Segment, SegmentError};

pub(crate) use destination::{Destination, FilepathMode};
pub(crate) use pipeline::Container;
#[cfg(test)]
pub(crate) use pipeline::EnvVar;
pub use pipeline::Pipeline;
pub(crate) use platform::{
    INPUT_DIRS, PIPELINES_DIR, input_dir, is_input, is_script, outside_layout,
};
pub use platform::{Platform, SourceFile};
pub(crate) use problem::Problem;
pub use promise::Promise;
pub(crate) use promise::{ApiVersion, PLATFORM_API_VERSION, VERSION_LABEL, kind_for};
#[cfg(test)]
pub(crate) use request::INVALID_NAMES;
pub(crate) use request::promise_folder;
pub use request::{RequestDoc, RequestFile, RequestKey};
pub use workflows::{Action, Workflow, WorkflowType, Workflows};

/// Kubernetes labels, or a selector's `matchLabels`; sorted, so output is stable.
pub(crate) type Labels = BTreeMap<String, String>;

/// A file of the platform repository that could not be read, or a warning about one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct LoadError {
    /// Repository path of the file.
    pub(crate) path: String,
    /// What is wrong, and where in the file.
    pub(crate) problem: Problem,
}

impl LoadError {
    /// An error about the file at `path`.
    pub(crate) fn new(path: &str, problem: impl Into<Problem>) -> Self {
        LoadError {
            path: path.to_string(),
            problem: problem.into(),
        }
    }

    /// What is wrong, as written after the path: `field: message`.
    pub(crate) fn message(&self) -> String {
        self.problem.to_string()
    }
}

/// One entry of a Kratix `destinationSelectors` list.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KratixSelector {
    #[serde(default)]
    pub(crate) match_labels: Labels,
}

/// Kratix lists selectors; every entry must match, so they merge into one label set.
fn selectors_from_kratix(list: &[KratixSelector]) -> Labels {
    let labels = list.iter().flat_map(|s| s.match_labels.clone());
    labels.collect()
}

/// The warning for a field that `what` does not have, with the known field it is
/// closest to: `volumeMount: not a field of a Kubernetes container, and not read; did
/// you mean volumeMounts?`.
pub(crate) fn unknown_field(field: &str, what: &str, known: &[&str]) -> Problem {
    let closest = known
        .iter()
        .map(|k| (strsim::levenshtein(field, k), *k))
        .min()
        .filter(|(distance, _)| *distance <= 2);
    let hint = closest.map_or(String::new(), |(_, k)| format!("; did you mean {k}?"));
    Problem::at(field, format!("not a field of {what}, and not read{hint}"))
}

/// Whether every label of `selector` is on `labels` (equality matching, as Kratix does).
pub(crate) fn labels_match(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Why a name is refused: not a Kubernetes name, or not a safe path segment.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NameError {
    #[error("is not a Kubernetes name: use at most {0} lowercase letters, digits, '-' and '.'")]
    NotKubernetes(usize),
    #[error("cannot be a folder name in Git: it {0}")]
    Unsafe(#[from] SegmentError),
    #[error(
        "ends in .yaml: as a Promise's name it would put its requests' status folder \
         status/{0}/ where the status file of Promise {1:?} is (status/{0}); rename it"
    )]
    PromiseStatusFile(String, String),
}

/// `name` if it can name a Promise (and its folder under `requests/`): a Kubernetes
/// name that does not end in `.yaml`, since `status/<name>/` holds its requests'
/// status files beside each Promise's `status/<promise>.yaml`.
pub(crate) fn promise_name(name: &str) -> Result<Segment, NameError> {
    let segment = kubernetes_name(name, 253)?;
    match name.strip_suffix(".yaml") {
        Some(stem) => Err(NameError::PromiseStatusFile(name.into(), stem.into())),
        None => Ok(segment),
    }
}

/// Whether `name` is a DNS-1123 label, as a namespace's name must be: 1 to 63
/// lowercase letters, digits and `-`, starting and ending with a letter or digit.
pub(crate) fn is_dns_label(name: &str) -> bool {
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    name.len() <= 63
        && edge(name.as_bytes().first())
        && edge(name.as_bytes().last())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `name` if it is a Kubernetes name of at most `max` bytes (lowercase letters, digits,
/// `-`, `.`) and a safe path segment (which refuses `.git`, `..`, ...).
pub(crate) fn kubernetes_name(name: &str, max: usize) -> Result<Segment, NameError> {
    let kubernetes = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !kubernetes {
        // The segment error says more when there is one (a `/`, a newline, `..`).
        Segment::new(name)?;
        return Err(NameError::NotKubernetes(max));
    }
    Ok(Segment::new(name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        let pairs = pairs.iter();
        pairs.map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selectors_match_by_equality_and_empty_matches_all() {
        let dest = labels(&[("env", "dev"), ("region", "eu")]);
        assert!(labels_match(&labels(&[("env", "dev")]), &dest));
        assert!(!labels_match(&labels(&[("env", "prod")]), &dest));
        assert!(!labels_match(&labels(&[("tier", "gold")]), &dest));
        assert!(labels_match(&Labels::new(), &dest));
    }
}
