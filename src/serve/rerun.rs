//! `POST /reconcile`: ask the daemon to rerun one request, one Promise's requests, or
//! everything, now. Authenticated with a bearer token; what it asks joins the work of
//! the next sync, which it wakes.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::http::{AppState, same_secret};
use crate::model::{is_input, kubernetes_name};
use crate::reconcile::Scope;

/// The largest body read: a path or a name, with room to spare.
pub(crate) const RERUN_BODY_LIMIT: usize = 64 * 1024;

/// The shortest token accepted: one that cannot be guessed by trying.
pub(crate) const MIN_TOKEN_BYTES: usize = 16;

/// What a call asks to rerun: exactly one of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rerun {
    /// A request file's repository path (`requests/app/a.yaml`): its every request.
    request: Option<String>,
    /// A Promise's name: its every request.
    promise: Option<String>,
    /// Everything.
    #[serde(default)]
    all: bool,
}

const USAGE: &str = r#"the body must be one of {"request": "requests/<promise>/<file>"}, {"promise": "<name>"}, {"all": true}"#;

impl Rerun {
    /// The scope it asks for, and how to say it; or why it is refused.
    fn scope(self) -> Result<(Scope, String), String> {
        let mut scope = Scope::default();
        let what = match (self.request, self.promise, self.all) {
            (Some(path), None, false) => {
                if !path.starts_with("requests/") || !is_input(&path) || path.contains("..") {
                    return Err(format!("{path:?} is not a request file's path; {USAGE}"));
                }
                let what = format!("request file {path}");
                scope.request_paths.insert(path);
                what
            }
            (None, Some(name), false) => {
                kubernetes_name(&name, 253)
                    .map_err(|e| format!("{name:?} is not a Promise's name: {e}"))?;
                let what = format!("the requests of Promise {name}");
                scope.promises.insert(name);
                what
            }
            (None, None, true) => {
                scope.all = true;
                "everything".to_string()
            }
            _ => return Err(USAGE.to_string()),
        };
        Ok((scope, what))
    }
}

pub(crate) async fn rerun(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, String) {
    let Some(token) = &state.access.reconcile_token else {
        let off = "the reconcile endpoint is off: start serve with --reconcile-token-file or \
                   PROMISED_RECONCILE_TOKEN\n";
        return (StatusCode::NOT_FOUND, off.into());
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|given| same_secret(token.as_bytes(), given.as_bytes())) {
        state.log_refusal("POST /reconcile without the right bearer token");
        let refused = "missing or wrong bearer token (Authorization: Bearer <token>)\n";
        return (StatusCode::UNAUTHORIZED, refused.into());
    }
    if let Some(holder) = state
        .standby
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
    {
        let elsewhere = format!("this daemon stands by ({holder}): send the call to the holder\n");
        return (StatusCode::SERVICE_UNAVAILABLE, elsewhere);
    }
    let Ok(body) = axum::body::to_bytes(body, RERUN_BODY_LIMIT).await else {
        let large = format!("the body is larger than {RERUN_BODY_LIMIT} bytes\n");
        return (StatusCode::PAYLOAD_TOO_LARGE, large);
    };
    let asked = serde_json::from_slice::<Rerun>(&body)
        .map_err(|e| format!("{USAGE}: {e}"))
        .and_then(Rerun::scope);
    let (scope, what) = match asked {
        Ok(asked) => asked,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")),
    };
    tracing::info!(%what, "rerun asked for over HTTP");
    state
        .requested
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(scope);
    state.wake.notify_one();
    (StatusCode::ACCEPTED, format!("rerun queued: {what}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(body: &str) -> Result<(Scope, String), String> {
        serde_json::from_str::<Rerun>(body)
            .map_err(|e| e.to_string())
            .and_then(Rerun::scope)
    }

    #[test]
    fn a_call_asks_for_one_request_file_one_promise_or_everything() {
        let (asked, what) = scope(r#"{"request": "requests/app/a.yaml"}"#).unwrap();
        assert!(asked.request_paths.contains("requests/app/a.yaml"));
        assert_eq!(what, "request file requests/app/a.yaml");
        let (asked, _) = scope(r#"{"promise": "app"}"#).unwrap();
        assert!(asked.promises.contains("app"));
        assert!(scope(r#"{"all": true}"#).unwrap().0.all);
    }

    #[test]
    fn anything_else_is_refused_saying_what_is_expected() {
        for body in [
            r#"{}"#,
            r#"{"all": false}"#,
            r#"{"request": "requests/app/a.yaml", "all": true}"#,
            r#"{"request": "promises/app.yaml"}"#,
            r#"{"request": "requests/../status/x.yaml"}"#,
            r#"{"promise": "App/.."}"#,
            r#"{"requests": "requests/app/a.yaml"}"#,
            r#"["all"]"#,
        ] {
            assert!(scope(body).is_err(), "{body}");
        }
        let err = scope(r#"{"request": "status/app.yaml"}"#).unwrap_err();
        assert!(err.contains("is not a request file's path"), "{err}");
    }
}
