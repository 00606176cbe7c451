//! The lease as a Kubernetes `Lease` (`coordination.k8s.io/v1`), for `--lease kubernetes`:
//! what `kubectl get lease` shows and what in-cluster tooling expects. The same
//! [`Lease`] as the Git lease, kept in the object's spec (`holderIdentity`, `renewTime`,
//! `leaseDurationSeconds`); its `resourceVersion` is the version a write expects, so
//! two daemons never both take it (the API server refuses the second with 409).
//!
//! Unlike the Git lease it cannot travel in the push of the outputs, so it does not
//! fence them: the daemon renews it just before each push instead, and a daemon that
//! stalled between that renewal and its push may push once more after losing it. Its
//! push still expects the branch where it read it, so nothing is overwritten.

use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease as KubeLeaseObject, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};

use super::lease::{Found, Lease};
use crate::executor::KubeSettings;
use crate::executor::kubernetes::CALL_TIMEOUT;

/// Where the lease object lives, and the client that reaches it.
pub(crate) struct KubeLease {
    settings: KubeSettings,
    name: String,
    /// The client, made at the first call that can make one, then kept (kube-rs
    /// rereads a mounted ServiceAccount token as it rotates).
    client: OnceLock<kube::Client>,
    /// The metadata of the object as last read: a replace keeps the labels and
    /// annotations others set on it.
    seen: Mutex<Option<ObjectMeta>>,
}

/// What a write of the lease did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// It holds; the object's new version.
    Held(String),
    /// Another daemon wrote it first; why.
    Lost(String),
}

impl KubeLease {
    /// The lease of the daemons writing `branch`, in the namespace of `settings`.
    pub(crate) fn new(settings: KubeSettings, branch: &str) -> Self {
        KubeLease {
            settings,
            name: object_name(branch),
            client: OnceLock::new(),
            seen: Mutex::new(None),
        }
    }

    /// The object's name and namespace, for messages.
    pub(crate) fn describe(&self) -> String {
        format!("Lease {}/{}", self.settings.namespace, self.name)
    }

    /// The lease as the API server holds it, with its version; `None` when there is none
    /// yet. A lease object whose spec does not say who holds it reads as `Err`.
    pub(crate) fn read(&self) -> Result<Option<Found>, String> {
        let name = self.name.clone();
        let object = self
            .call(move |api| async move { api.get_opt(&name).await.map_err(|e| e.to_string()) })?;
        let found = object.as_ref().map(|object| {
            let version = object.metadata.resource_version.clone().unwrap_or_default();
            (version, from_object(object))
        });
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = object.map(|o| o.metadata);
        Ok(found)
    }

    /// Writes `lease` if the object is still at `expected` (`None`: there is none yet).
    pub(crate) fn write(&self, lease: &Lease, expected: Option<&str>) -> Result<Written, String> {
        let mut object = to_object(&self.name, lease, expected)?;
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(seen) = seen.filter(|s| s.resource_version.as_deref() == expected) {
            keep_metadata(&mut object.metadata, seen);
        }
        let (name, create) = (self.name.clone(), expected.is_none());
        self.call(move |api| async move {
            let params = PostParams::default();
            let written = match create {
                true => api.create(&params, &object).await,
                false => api.replace(&name, &params, &object).await,
            };
            match written {
                Ok(object) => Ok(Written::Held(
                    object.metadata.resource_version.unwrap_or_default(),
                )),
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    Ok(Written::Lost(status.message))
                }
                Err(err) => Err(err.to_string()),
            }
        })
    }

    fn call<T, F>(&self, call: impl FnOnce(Api<KubeLeaseObject>) -> F) -> Result<T, String>
    where
        F: std::future::Future<Output = Result<T, String>>,
    {
        let client = match self.client.get() {
            Some(client) => client.clone(),
            None => {
                let connecting = crate::executor::kubernetes::client(&self.settings);
                let client = crate::runtime::block_on(connecting)?;
                self.client.get_or_init(|| client).clone()
            }
        };
        let api = Api::namespaced(client, &self.settings.namespace);
        let what = self.describe();
        // A hung API server must not hold a sync (or the renewal during a pass) for the
        // client's own timeout of minutes, far past the lease.
        let limited = tokio::time::timeout(CALL_TIMEOUT, call(api));
        match crate::runtime::block_on(limited) {
            Ok(result) => result.map_err(|e| format!("{what}: {e}")),
            Err(_) => Err(format!("{what}: no answer within {CALL_TIMEOUT:?}")),
        }
    }
}

/// A Kubernetes object name for the lease of `branch`: readable, and unique per branch
/// (a branch name may hold characters a name may not).
fn object_name(branch: &str) -> String {
    let readable: String = branch
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .take(32)
        .collect();
    let digest = Sha256::digest(branch.as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("promised-{}-{hash}", readable.trim_matches('-'))
}

fn to_object(name: &str, lease: &Lease, version: Option<&str>) -> Result<KubeLeaseObject, String> {
    let duration = humantime::parse_duration(&lease.duration)
        .map_err(|e| format!("lease duration {:?}: {e}", lease.duration))?;
    let renewed = k8s_openapi::jiff::Timestamp::from_millisecond(lease.renewed.timestamp_millis())
        .map_err(|e| e.to_string())?;
    Ok(KubeLeaseObject {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            resource_version: version.map(String::from),
            labels: Some([("app.kubernetes.io/managed-by".into(), "promised".into())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(lease.holder.clone()),
            // Whole seconds, rounded up: rounded down, a lease of 1.5 s would end in the
            // cluster before its holder renews it.
            lease_duration_seconds: Some(
                i32::try_from(duration.as_secs_f64().ceil() as u64).unwrap_or(i32::MAX),
            ),
            renew_time: Some(MicroTime(renewed)),
            ..LeaseSpec::default()
        }),
    })
}

/// Adds to `ours` the labels and annotations of `seen` that it does not set itself.
fn keep_metadata(ours: &mut ObjectMeta, seen: ObjectMeta) {
    for (kept, mine) in [
        (seen.labels, &mut ours.labels),
        (seen.annotations, &mut ours.annotations),
    ] {
        for (key, value) in kept.unwrap_or_default() {
            mine.get_or_insert_default().entry(key).or_insert(value);
        }
    }
}

fn from_object(object: &KubeLeaseObject) -> Result<Lease, String> {
    let spec = object.spec.as_ref().ok_or("the Lease has no spec")?;
    let holder = spec
        .holder_identity
        .clone()
        .ok_or("the Lease names no holder")?;
    let renewed = spec
        .renew_time
        .as_ref()
        .ok_or("the Lease has no renewTime")?;
    let renewed = DateTime::<Utc>::from_timestamp_millis(renewed.0.as_millisecond())
        .ok_or("the Lease's renewTime is out of range")?;
    let seconds = spec.lease_duration_seconds.unwrap_or(0).max(0);
    Ok(Lease {
        holder,
        renewed,
        duration: format!("{seconds}s"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_goes_to_the_object_and_back() {
        let lease = Lease {
            holder: "promised-0".into(),
            renewed: "2026-12-03T10:00:00.250Z".parse().unwrap(),
            duration: "45s".into(),
        };
        let object = to_object("x", &lease, Some("7")).unwrap();
        assert_eq!(object.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(from_object(&object).unwrap(), lease);
    }

    #[test]
    fn a_lease_object_written_by_anyone_else_reads_as_a_lease_to_take_or_one_that_ends() {
        let lease = Lease {
            holder: "a".into(),
            renewed: "2026-12-03T10:00:00Z".parse().unwrap(),
            duration: "45s".into(),
        };
        let mut object = to_object("x", &lease, Some("1")).unwrap();
        object.spec.as_mut().unwrap().holder_identity = None;
        assert!(from_object(&object).is_err(), "no holder: it is taken");
        object.spec = None;
        assert!(from_object(&object).is_err(), "no spec: it is taken");
        let mut object = to_object("x", &lease, Some("1")).unwrap();
        object.spec.as_mut().unwrap().lease_duration_seconds = Some(-5);
        let read = from_object(&object).unwrap();
        assert_eq!(read.duration, "0s", "a negative duration has ended");
        let seen = lease.renewed;
        assert_eq!(read.ends(seen), seen);
        object.spec.as_mut().unwrap().lease_duration_seconds = Some(i32::MAX);
        let read = from_object(&object).unwrap();
        assert_eq!(read.ends(seen), seen, "past the 24 h bound, it has ended");
    }

    #[test]
    fn a_replace_keeps_the_labels_and_annotations_others_set() {
        let lease = Lease {
            holder: "a".into(),
            renewed: "2026-12-03T10:00:00Z".parse().unwrap(),
            duration: "45s".into(),
        };
        let mut seen = to_object("x", &lease, Some("3")).unwrap().metadata;
        seen.labels.as_mut().unwrap().extend([
            ("team".to_string(), "platform".to_string()),
            ("app.kubernetes.io/managed-by".into(), "someone-else".into()),
        ]);
        seen.annotations = Some([("note".to_string(), "kept".to_string())].into());
        let mut object = to_object("x", &lease, Some("3")).unwrap();
        keep_metadata(&mut object.metadata, seen);
        let labels = object.metadata.labels.unwrap();
        assert_eq!(labels["team"], "platform");
        assert_eq!(
            labels["app.kubernetes.io/managed-by"], "promised",
            "ours win"
        );
        assert_eq!(object.metadata.annotations.unwrap()["note"], "kept");
    }

    #[test]
    fn a_duration_of_part_of_a_second_is_rounded_up() {
        let lease = Lease {
            holder: "a".into(),
            renewed: "2026-12-03T10:00:00Z".parse().unwrap(),
            duration: "1s 500ms".into(),
        };
        let object = to_object("x", &lease, None).unwrap();
        assert_eq!(object.spec.unwrap().lease_duration_seconds, Some(2));
    }

    #[test]
    fn an_object_name_is_readable_and_differs_per_branch() {
        let main = object_name("main");
        assert!(main.starts_with("promised-main-"), "{main}");
        assert_ne!(object_name("team/a"), object_name("team-a"));
        let long = object_name(&"Ü".repeat(300));
        assert!(long.len() <= 63, "{long}");
        assert!(
            long.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
