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
pub const STATE_DIR: &str = "state";
/// The folder holding one status file per request.
pub const STATUS_DIR: &str = "status";
/// The file beside every written unit listing the sha256 of each of its files, in the
/// format `sha256sum -c` checks.
pub const DIGEST_FILE: &str = "SHA256SUMS";
/// The file holding a Promise's static `spec.dependencies`.
pub const STATIC_DEPENDENCIES_FILE: &str = "static-dependencies.yaml";

/// The folder of one request's output on one destination. Built only of checked
/// segments ([`Segment`], [`SegmentPath`]): no name can make it leave its folder or hold
/// a tree entry Git refuses.
pub fn resource_dir(destination_folder: &SegmentPath, key: &RequestKey) -> String {
    format!(
        "{STATE_DIR}/{destination_folder}/resources/{}/{}/{}",
        key.namespace, key.promise, key.name
    )
}

/// The folder of one Promise's dependencies on one destination.
pub fn dependency_dir(destination_folder: &SegmentPath, promise: &Segment) -> String {
    format!("{STATE_DIR}/{destination_folder}/dependencies/{promise}")
}

/// The status file of a request. A request whose names cannot be folder names has a key
/// made of safe parts (`status/<promise>/_invalid-names/<hash>.yaml`, see
/// [`RequestFile::parse`](crate::model::RequestFile::parse)).
pub fn status_path(key: &RequestKey) -> String {
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
pub fn promise_status_path(promise: &Segment) -> String {
    format!("{STATUS_DIR}/{promise}.yaml")
}

/// The Promise whose status file `path` is, if it is one.
pub fn promise_status_owner(path: &str) -> Option<Segment> {
    let file = path.strip_prefix("status/")?;
    let name = file.strip_suffix(".yaml")?;
    check(file).ok()?;
    (!name.contains('/')).then(|| Segment::new(name).ok())?
}

/// Whether a pipeline's output file at `path` must hold Kubernetes documents (and is
/// listed in its destination's `kustomization.yaml`): names ending in `.yaml`, `.yml`
/// or `.json`. Other files (`main.tf`) pass through byte for byte, as Kratix writes
/// whatever a pipeline leaves.
pub fn is_document_file(path: &str) -> bool {
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ending| path.ends_with(ending))
}

/// Whether `path` lies in the folders `promised` owns. Everything there is derived
/// from the inputs: a file there that the inputs do not explain is removed.
pub fn is_managed(path: &str) -> bool {
    path.starts_with("state/") || path.starts_with("status/")
}

/// The request whose status file `path` is, if it is one. A path whose parts are not
/// safe segments is no request's: it is removed as any unexplained file is.
pub fn status_owner(path: &str) -> Option<RequestKey> {
    let rest = path.strip_prefix("status/")?;
    let mut parts = rest.split('/');
    let (promise, namespace, file) = (parts.next()?, parts.next()?, parts.next()?);
    let name = file.strip_suffix(".yaml")?;
    check(file).ok()?;
    parts
        .next()
        .is_none()
        .then(|| key(promise, namespace, name))?
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

/// The Promise whose dependency file `path` is, if it is one.
pub fn dependency_owner(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("state/")?;
    let (_, after) = rest.split_once("/dependencies/")?;
    after.split_once('/').map(|(promise, _)| promise)
}

/// The request whose output file `path` is, if it is one.
pub fn resource_owner(path: &str) -> Option<RequestKey> {
    let rest = path.strip_prefix("state/")?;
    let (_, after) = rest.split_once("/resources/")?;
    let mut parts = after.splitn(4, '/');
    let (namespace, promise, name) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next()?;
    key(promise, namespace, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RequestKey {
        RequestKey {
            promise: "redis".into(),
            namespace: "team-a".into(),
            name: "cache".into(),
        }
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
            resource_owner("state/dev/resources/.Git/redis/cache/x.yaml"),
            None
        );
        let fallback = status_owner("status/redis/_invalid-names/0123abcd.yaml").unwrap();
        assert_eq!(fallback.namespace.as_str(), "_invalid-names");
    }

    #[test]
    fn ownership_is_recognised_on_any_destination() {
        let on_gone = resource_owner("state/gone/resources/team-a/redis/cache/x.yaml");
        assert_eq!(on_gone, Some(key()));
        let other = resource_owner("state/dev/resources/team-a/redis/cache2/x.yaml");
        assert_ne!(other, Some(key()));
        assert_eq!(
            dependency_owner("state/a/b/dependencies/redis/x.yaml"),
            Some("redis")
        );
        let owner = resource_owner("state/a/b/resources/team-a/redis/cache/sub/x.yaml");
        assert_eq!(owner, Some(key()));
        assert_eq!(resource_owner("state/a/resources/team-a/redis/cache"), None);
        assert!(is_managed("status/x") && !is_managed("requests/x"));
    }
}
