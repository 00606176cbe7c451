//! Where files go in the output repository. This layout is a public interface: Flux and
//! Argo CD are pointed at `state/<destination>/`, so it changes only with a major release.
//!
//! ```text
//! state/<destination>/resources/<namespace>/<promise>/<request>/<file>
//! state/<destination>/dependencies/<promise>/<file>
//! status/<promise>/<namespace>/<request>.yaml
//! ```

use crate::model::RequestKey;

/// The folder holding one sub-folder per destination.
pub const STATE_DIR: &str = "state";
/// The folder holding one status file per request.
pub const STATUS_DIR: &str = "status";
/// The file beside every written unit listing the sha256 of each of its files, in the
/// format `sha256sum -c` checks.
pub const DIGEST_FILE: &str = "SHA256SUMS";
/// The file holding a Promise's static `spec.dependencies`.
pub const STATIC_DEPENDENCIES_FILE: &str = "static-dependencies.yaml";

/// The folder of one request's output on one destination.
pub fn resource_dir(destination_folder: &str, key: &RequestKey) -> String {
    format!(
        "{STATE_DIR}/{destination_folder}/resources/{}/{}/{}",
        key.namespace, key.promise, key.name
    )
}

/// The folder of one Promise's dependencies on one destination.
pub fn dependency_dir(destination_folder: &str, promise: &str) -> String {
    format!("{STATE_DIR}/{destination_folder}/dependencies/{promise}")
}

/// The status file of a request.
pub fn status_path(key: &RequestKey) -> String {
    format!(
        "{STATUS_DIR}/{}/{}/{}.yaml",
        key.promise, key.namespace, key.name
    )
}

/// Whether `path` lies in the folders `promised` owns. Everything there is derived
/// from the inputs: a file there that the inputs do not explain is removed.
pub fn is_managed(path: &str) -> bool {
    path.starts_with("state/") || path.starts_with("status/")
}

/// The request whose status file `path` is, if it is one.
pub fn status_owner(path: &str) -> Option<RequestKey> {
    let rest = path.strip_prefix("status/")?.strip_suffix(".yaml")?;
    let mut parts = rest.split('/');
    let (promise, namespace, name) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then(|| RequestKey {
        promise: promise.into(),
        namespace: namespace.into(),
        name: name.into(),
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
    parts.next().map(|_| RequestKey {
        promise: promise.into(),
        namespace: namespace.into(),
        name: name.into(),
    })
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
        assert_eq!(
            resource_dir("dev", &key()),
            "state/dev/resources/team-a/redis/cache"
        );
        assert_eq!(
            dependency_dir("clusters/dev", "redis"),
            "state/clusters/dev/dependencies/redis"
        );
        assert_eq!(status_path(&key()), "status/redis/team-a/cache.yaml");
        assert_eq!(status_owner("status/redis/team-a/cache.yaml"), Some(key()));
        assert_eq!(status_owner("status/redis/cache.yaml"), None);
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
