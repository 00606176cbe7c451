//! The daemon's HTTP endpoints: health, readiness, metrics, and the push webhook.
//!
//! How connections are accepted and bounded is [`super::connections`]; this file is what
//! each request gets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

use super::log_limit::LogLimit;
use super::metrics::Metrics;
use crate::reconcile::Scope;

/// The largest webhook body read. GitHub caps push payloads at 25 MB but sends far less
/// for a push; the webhook only needs the body to check its signature. A larger body is
/// refused with 413 as soon as its `Content-Length` or the bytes read say so, without
/// reading the rest.
pub(crate) const WEBHOOK_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// At most one warning per this interval for refused webhook calls.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Who may call the endpoints that act, and on what.
#[derive(Debug, Clone, Default)]
pub(crate) struct Access {
    /// The webhook's shared secret; without one the webhook is off.
    pub(crate) webhook_secret: Option<String>,
    /// The input branch: a push event for another branch wakes nothing.
    pub(crate) branch: String,
    /// The bearer token of `POST /reconcile`; without one that endpoint is off.
    pub(crate) reconcile_token: Option<String>,
}

/// What the handlers share with the daemon.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) metrics: Arc<Metrics>,
    /// Set once the first sync succeeded.
    pub(crate) ready: Arc<AtomicBool>,
    /// Who holds the lease and until when, while this daemon stands by.
    pub(crate) standby: Arc<Mutex<Option<String>>>,
    /// Wakes the daemon for a sync.
    pub(crate) wake: Arc<Notify>,
    /// Who may call what, and which branch the webhook follows.
    pub(crate) access: Arc<Access>,
    /// Reruns asked for through `POST /reconcile`, for the next sync to take.
    pub(crate) requested: Arc<Mutex<Scope>>,
    /// Keeps refused webhook calls from flooding the log.
    refusals: Arc<Mutex<LogLimit>>,
}

impl AppState {
    /// The handlers' state.
    pub(crate) fn new(
        metrics: Arc<Metrics>,
        ready: Arc<AtomicBool>,
        wake: Arc<Notify>,
        requested: Arc<Mutex<Scope>>,
        standby: Arc<Mutex<Option<String>>>,
        access: Access,
    ) -> Self {
        AppState {
            metrics,
            ready,
            standby,
            wake,
            access: Arc::new(access),
            requested,
            refusals: Arc::new(Mutex::new(LogLimit::new(REFUSAL_LOG_INTERVAL))),
        }
    }

    /// Logs a refused call, unless one was logged within the interval.
    pub(super) fn log_refusal(&self, why: &str) {
        let mut limit = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(suppressed) = limit.allow(Instant::now()) {
            tracing::warn!(
                suppressed,
                "webhook call refused: {why} (and {suppressed} refused calls not logged since the last such line)"
            );
        }
    }
}

/// The routes: `GET /healthz`, `GET /readyz`, `GET /metrics`, `POST /hooks/git`,
/// `POST /reconcile`.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/hooks/git", post(hook))
        .route("/reconcile", post(super::rerun::rerun))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if !state.ready.load(Ordering::Relaxed) {
        let failed = "the last sync failed, or none has succeeded yet\n";
        return (StatusCode::SERVICE_UNAVAILABLE, failed.into());
    }
    // A standby is ready (to take over): a rollout or a disruption budget counts it.
    match state
        .standby
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_deref()
    {
        Some(holder) => (StatusCode::OK, format!("ready: standby; {holder}\n")),
        None => (StatusCode::OK, "ready\n".into()),
    }
}

async fn metrics(State(state): State<AppState>) -> ([(&'static str, &'static str); 1], String) {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([("content-type", content_type)], state.metrics.render())
}

async fn hook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, &'static str) {
    let Some(secret) = &state.access.webhook_secret else {
        return (
            StatusCode::NOT_FOUND,
            "the webhook is off: start serve with a webhook secret\n",
        );
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let too_large = (
        StatusCode::PAYLOAD_TOO_LARGE,
        "the body is larger than the webhook's 2 MiB limit\n",
    );
    let declared = header("content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > WEBHOOK_BODY_LIMIT as u64) {
        state.log_refusal("body over 2 MiB");
        return too_large;
    }
    // Stops reading at the first chunk past the limit (a chunked body declares no length).
    let Ok(body) = axum::body::to_bytes(body, WEBHOOK_BODY_LIMIT).await else {
        state.log_refusal("body over 2 MiB, or not read whole");
        return too_large;
    };
    let verified = verify(
        secret.as_bytes(),
        &body,
        header("x-hub-signature-256"),
        header("x-gitlab-token"),
    );
    if !verified {
        state.log_refusal("missing or wrong signature");
        return (StatusCode::UNAUTHORIZED, "bad signature\n");
    }
    if let Some(other) = pushed_elsewhere(&body, &state.access.branch) {
        tracing::debug!(reference = %other, "webhook: a push to a branch not followed");
        return (
            StatusCode::ACCEPTED,
            "ignored: a push to a branch the daemon does not follow\n",
        );
    }
    tracing::info!("webhook: syncing now");
    state.wake.notify_one();
    (StatusCode::ACCEPTED, "sync scheduled\n")
}

/// The ref a push event names, when it is a branch other than `branch`. GitHub, GitLab,
/// Gitea and Forgejo all name it in a top-level `ref` of their push payloads; any other
/// call (a ping, a payload without `ref`, a tag) wakes the daemon, which then finds
/// whether anything changed.
fn pushed_elsewhere(body: &[u8], branch: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Push {
        #[serde(rename = "ref")]
        reference: String,
    }
    let push: Push = serde_json::from_slice(body).ok()?;
    let pushed = push.reference.strip_prefix("refs/heads/")?;
    (pushed != branch).then_some(push.reference)
}

/// Checks a webhook call: GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
/// body>`, or GitLab's `X-Gitlab-Token: <secret>`. Both compare in constant time.
pub(crate) fn verify(
    secret: &[u8],
    body: &[u8],
    github: Option<&str>,
    gitlab: Option<&str>,
) -> bool {
    if let Some(signature) = github {
        let Some(hex_digest) = signature.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(expected) = hex::decode(hex_digest) else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(body);
        return mac.verify_slice(&expected).is_ok();
    }
    if let Some(token) = gitlab {
        return same_secret(secret, token.as_bytes());
    }
    false
}

/// Whether `given` is `secret`, compared through MACs of both, so that the time taken
/// says nothing about the secret.
pub(crate) fn same_secret(secret: &[u8], given: &[u8]) -> bool {
    let tag = |bytes: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(bytes);
        mac
    };
    let expected = tag(secret).finalize().into_bytes();
    tag(given).verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github_signature(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_push_to_another_branch_is_ignored_and_anything_else_wakes() {
        let push = |reference: &str| format!(r#"{{"ref":"{reference}","after":"0a"}}"#);
        assert_eq!(
            pushed_elsewhere(push("refs/heads/feature").as_bytes(), "main").as_deref(),
            Some("refs/heads/feature")
        );
        assert_eq!(
            pushed_elsewhere(push("refs/heads/main").as_bytes(), "main"),
            None
        );
        assert_eq!(
            pushed_elsewhere(push("refs/tags/v1").as_bytes(), "main"),
            None
        );
        assert_eq!(pushed_elsewhere(br#"{"zen":"ping"}"#, "main"), None);
        assert_eq!(pushed_elsewhere(b"not json", "main"), None);
    }

    #[test]
    fn github_signatures_are_checked_against_the_body() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = github_signature(b"s3cret", body);
        assert!(verify(b"s3cret", body, Some(&good), None));
        assert!(!verify(b"other", body, Some(&good), None));
        assert!(!verify(b"s3cret", b"tampered", Some(&good), None));
        assert!(!verify(b"s3cret", body, Some("sha1=abc"), None));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Whatever a caller sends, the check answers without panicking, and only the
        /// right signature or token passes.
        #[test]
        fn any_body_and_headers_are_checked_without_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            github in proptest::option::of(".{0,80}"),
            gitlab in proptest::option::of(".{0,40}"),
        ) {
            let passed = verify(b"s3cret", &body, github.as_deref(), gitlab.as_deref());
            let right_github = github.as_deref() == Some(github_signature(b"s3cret", &body).as_str());
            let right_gitlab = github.is_none() && gitlab.as_deref() == Some("s3cret");
            proptest::prop_assert_eq!(passed, right_github || right_gitlab);
            let signed = github_signature(b"s3cret", &body);
            proptest::prop_assert!(verify(b"s3cret", &body, Some(&signed), gitlab.as_deref()));
        }
    }

    #[test]
    fn gitlab_tokens_must_equal_the_secret_and_nothing_is_not_enough() {
        assert!(verify(b"s3cret", b"", None, Some("s3cret")));
        assert!(!verify(b"s3cret", b"", None, Some("s3cre")));
        assert!(!verify(b"s3cret", b"", None, None));
    }
}
