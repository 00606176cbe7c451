//! Where files go in the output repository. This layout is a public interface: Flux and
//! Argo CD are pointed at `state/<destination>/`, so it changes only with a major release.
//!
//! ```text
//! state/<destination>/resources/<namespace>/<promise>/<request>/<file>
//! state/<destination>/dependencies/<promise>/<file>
//! status/<promise>/<namespace>/<request>.yaml
//! status/<promise>.yaml
//! ```

use crate::model::RequestKey;
use crate::path_segment::{Segment, SegmentPath, check};

/// The folder holding one sub-folder per destination.
pub(crate) const STATE_DIR: &str = "state";
/// The folder holding one status file per request.
pub(crate) const STATUS_DIR: &str = "status";
/// The file beside every written unit listing the sha256 of each of its files, in the
/// format `sha256sum -c` checks.
pub(crate) const DIGEST_FILE: &str = "SHA256SUMS";
/// The file holding a Promise's static `spec.dependencies`.
pub(crate) const STATIC_DEPENDENCIES_FILE: &str = "static-dependencies.yaml";

/// The folder of one request's output on one destination. Built only of checked
/// segments ([`Segment`], [`SegmentPath`]): no name can make it leave its folder or hold
/// a tree entry Git refuses.
pub(crate) fn resource_dir(destination_folder: &SegmentPath, key: &RequestKey) -> String {
    format!("{STATE_DIR}/{destination_folder}/{}", request_folder(key))
}

/// The folder of one request's output relative to its destination's folder, as the
/// destination's `kustomization.yaml` names its files.
pub(crate) fn request_folder(key: &RequestKey) -> String {
    format!("resources/{}/{}/{}", key.namespace, key.promise, key.name)
}

/// The folder of one Promise's dependencies on one destination.
pub(crate) fn dependency_dir(destination_folder: &SegmentPath, promise: &Segment) -> String {
    format!("{STATE_DIR}/{destination_folder}/dependencies/{promise}")
}

/// The status file of a request. A request whose names cannot be folder names has a key
/// made of safe parts (`status/<promise>/_invalid-names/<hash>.yaml`, see
/// [`RequestFile::parse`](crate::model::RequestFile::parse)).
pub(crate) fn status_path(key: &RequestKey) -> String {
    let file = format!("{}.yaml", key.name);
    debug_assert!(
        crate::path_segment::check(&file).is_ok(),
        "a key's name is checked with .yaml added"
    );
    format!("{STATUS_DIR}/{}/{}/{file}", key.promise, key.namespace)
}

/// The status file of a Promise: its workflows' outcome and whether it is available.
/// Beside its requests' folder, and never one of theirs (a request's status is three
/// levels down).
pub(crate) fn promise_status_path(promise: &Segment) -> String {
    format!("{STATUS_DIR}/{promise}.yaml")
}

/// Whether a pipeline's output file at `path` must hold Kubernetes documents (and is
/// listed in its destination's `kustomization.yaml`): names ending in `.yaml`, `.yml`
/// or `.json`. Other files (`main.tf`) pass through byte for byte, as Kratix writes
/// whatever a pipeline leaves.
pub(crate) fn is_document_file(path: &str) -> bool {
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ending| path.ends_with(ending))
}

/// Whether `path` lies in the folders `promised` owns. Everything there is derived
/// from the inputs: a file there that the inputs do not explain is removed.
pub(crate) fn is_managed(path: &str) -> bool {
    path.starts_with("state/") || path.starts_with("status/")
}

/// Whose a managed file is, as the layout says: the one place that reads a path back.
/// A status record also lists the files it wrote, but a status file is in the
/// repository, where a pull request can edit it; the layout is derived from nothing a
/// user writes, so it decides which request or Promise a path belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owned {
    /// A file of a request's output, on any destination.
    RequestOutput(RequestKey),
    /// A request's status file.
    RequestStatus(RequestKey),
    /// A file of a Promise's dependencies, on any destination.
    PromiseOutput(Segment),
    /// A Promise's status file.
    PromiseStatus(Segment),
}

impl Owned {
    /// Whose the file at `path` is, if it is in the layout. A path whose parts are not
    /// safe segments is no one's: it is removed as any unexplained file is.
    pub(crate) fn of(path: &str) -> Option<Self> {
        if let Some(rest) = path.strip_prefix("status/") {
            return Self::status(rest);
        }
        let rest = path.strip_prefix("state/")?;
        // A destination's folder has no part named `resources` or `dependencies`
        // (checked when it is loaded), so the first one is the layout's.
        let resources = rest.find("/resources/").map(|at| (at, "/resources/".len()));
        let dependencies = rest
            .find("/dependencies/")
            .map(|at| (at, "/dependencies/".len()));
        match (resources, dependencies) {
            (Some((r, len)), d) if d.is_none_or(|(d, _)| r < d) => {
                let mut parts = rest[r + len..].splitn(4, '/');
                let (namespace, promise, name) = (parts.next()?, parts.next()?, parts.next()?);
                parts.next()?;
                key(promise, namespace, name).map(Owned::RequestOutput)
            }
            (_, Some((d, len))) => {
                let (promise, _) = rest[d + len..].split_once('/')?;
                Segment::new(promise).ok().map(Owned::PromiseOutput)
            }
            _ => None,
        }
    }

    /// `status/<promise>.yaml` or `status/<promise>/<namespace>/<name>.yaml`.
    fn status(rest: &str) -> Option<Self> {
        let mut parts = rest.split('/');
        let first = parts.next()?;
        let Some(namespace) = parts.next() else {
            check(first).ok()?;
            let name = first.strip_suffix(".yaml")?;
            return Segment::new(name).ok().map(Owned::PromiseStatus);
        };
        let file = parts.next()?;
        parts.next().is_none().then_some(())?;
        check(file).ok()?;
        let name = file.strip_suffix(".yaml")?;
        key(first, namespace, name).map(Owned::RequestStatus)
    }
}

/// The request whose status file `path` is, if it is one.
pub(crate) fn status_owner(path: &str) -> Option<RequestKey> {
    match Owned::of(path)? {
        Owned::RequestStatus(key) => Some(key),
        _ => None,
    }
}

/// The Promise whose status file `path` is, if it is one.
pub(crate) fn promise_status_owner(path: &str) -> Option<Segment> {
    match Owned::of(path)? {
        Owned::PromiseStatus(name) => Some(name),
        _ => None,
    }
}

/// A key of three safe segments whose name is also safe with `.yaml` added.
fn key(promise: &str, namespace: &str, name: &str) -> Option<RequestKey> {
    check(&format!("{name}.yaml")).ok()?;
    Some(RequestKey {
        promise: Segment::new(promise).ok()?,
        namespace: Segment::new(namespace).ok()?,
        name: Segment::new(name).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RequestKey {
        RequestKey::test("redis", "team-a", "cache")
    }

    #[test]
    fn paths_follow_the_documented_layout() {
        let dev = SegmentPath::new("dev").unwrap();
        assert_eq!(
            resource_dir(&dev, &key()),
            "state/dev/resources/team-a/redis/cache"
        );
        let nested = SegmentPath::new("clusters/dev").unwrap();
        assert_eq!(
            dependency_dir(&nested, &"redis".into()),
            "state/clusters/dev/dependencies/redis"
        );
        assert_eq!(status_path(&key()), "status/redis/team-a/cache.yaml");
        assert_eq!(status_owner("status/redis/team-a/cache.yaml"), Some(key()));
        assert_eq!(status_owner("status/redis/cache.yaml"), None);
        let promise = Segment::new("redis").unwrap();
        assert_eq!(promise_status_path(&promise), "status/redis.yaml");
        assert_eq!(promise_status_owner("status/redis.yaml"), Some(promise));
        assert_eq!(promise_status_owner("status/redis/team-a/cache.yaml"), None);
        assert_eq!(promise_status_owner("status/.yaml"), None);
    }

    #[test]
    fn paths_with_unsafe_parts_are_no_requests() {
        for path in [
            "status/redis/../cache.yaml",
            "status/redis/.git/cache.yaml",
            "status/redis/team-a/.yaml",
            "status/redis/team-a/..yaml",
        ] {
            assert_eq!(status_owner(path), None, "{path}");
        }
        assert_eq!(
            Owned::of("state/dev/resources/.Git/redis/cache/x.yaml"),
            None
        );
        let fallback = status_owner("status/redis/_invalid-names/0123abcd.yaml").unwrap();
        assert_eq!(fallback.namespace.as_str(), "_invalid-names");
    }

    #[test]
    fn ownership_is_recognised_on_any_destination() {
        let output = Some(Owned::RequestOutput(key()));
        let on_gone = Owned::of("state/gone/resources/team-a/redis/cache/x.yaml");
        assert_eq!(on_gone, output);
        let other = Owned::of("state/dev/resources/team-a/redis/cache2/x.yaml");
        assert_ne!(other, output);
        assert_eq!(
            Owned::of("state/a/b/dependencies/redis/x.yaml"),
            Some(Owned::PromiseOutput("redis".into()))
        );
        let nested = Owned::of("state/a/b/resources/team-a/redis/cache/sub/x.yaml");
        assert_eq!(nested, output);
        assert_eq!(Owned::of("state/a/resources/team-a/redis/cache"), None);
        assert_eq!(
            Owned::of("state/a/dependencies/redis/resources/x/y/z/f.yaml"),
            Some(Owned::PromiseOutput("redis".into())),
            "a Promise's output may hold a folder named resources"
        );
        assert_eq!(
            Owned::of("state/a/resources/team-a/redis/cache/dependencies/x.yaml"),
            output
        );
        assert!(is_managed("status/x") && !is_managed("requests/x"));
    }
}
