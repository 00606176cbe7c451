//! A corpus of credential shapes, each of which must go, and of ordinary text, which
//! must stay. Every secret here is made up and says so (`EXAMPLE`, `FAKE`, `x`s).

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn none() -> Known {
    Known::default()
}

/// `ghp_` and 36 characters of the token alphabet.
fn github_token() -> String {
    format!("ghp_{}", "FAKEx".repeat(7) + "x")
}

const FAKE_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
FAKEKEYFAKEKEYFAKEKEYFAKEKEYFAKEKEYFAKEKEYFAKEKEYFAKEKEYFAKEKEYFA
NOTAREALKEYNOTAREALKEYNOTAREALKEYNOTAREALKEYNOTAREALKEYNOTAREALK
-----END RSA PRIVATE KEY-----";

/// Text holding a secret, and the part of it that must not survive.
fn corpus() -> Vec<(&'static str, String, String)> {
    let gh = github_token();
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJGQUtFIn0.RkFLRS1zaWduYXR1cmUtZmFrZQ";
    vec![
        ("pem block", format!("loading key\n{FAKE_PEM}\ndone"), "FAKEKEYFAKEKEY".into()),
        (
            "openssh key",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEFAKEFAKE\n-----END OPENSSH PRIVATE KEY-----".into(),
            "b3BlbnNzaC1rZXktdjEFAKEFAKE".into(),
        ),
        (
            "pgp key block",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBFAKEPGPFAKEPGP\n-----END PGP PRIVATE KEY BLOCK-----".into(),
            "lQOYBFAKEPGPFAKEPGP".into(),
        ),
        (
            "pem block cut by the start of the tail",
            "Rk9PQkFSRkFLRUZBS0VGQUtF\n-----END PRIVATE KEY-----\nexit".into(),
            "Rk9PQkFSRkFLRUZBS0VGQUtF".into(),
        ),
        (
            "pem block cut by the end of the log",
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFAKEFAKEFAKE".into(),
            "MHcCAQEEIFAKEFAKEFAKE".into(),
        ),
        (
            "aws access key id",
            "using key AKIAEXAMPLEFAKE00000 for s3".into(),
            "AKIAEXAMPLEFAKE00000".into(),
        ),
        (
            "aws secret access key",
            "aws_secret_access_key = FAKEfakeFAKEfakeFAKEfakeFAKE/fake+FAKEfa".into(),
            "FAKEfakeFAKEfakeFAKEfakeFAKE/fake+FAKEfa".into(),
        ),
        (
            "gcp service account json",
            json!({"type": "service_account", "private_key_id": "0", "private_key": format!("{FAKE_PEM}\n")})
                .to_string(),
            "FAKEKEYFAKEKEY".into(),
        ),
        ("github classic token", format!("token {gh} refused"), gh.clone()),
        (
            "github oauth token",
            format!("gho_{}", "x".repeat(36)),
            "x".repeat(36),
        ),
        (
            "github server token",
            format!("GITHUB_TOKEN is ghs_{}", "y".repeat(36)),
            "y".repeat(36),
        ),
        (
            "github fine-grained token",
            format!("github_pat_{}_{}", "FAKE".repeat(6), "x".repeat(59)),
            "FAKEFAKEFAKE".into(),
        ),
        (
            "gitlab token",
            "glpat-FAKEfakeFAKEfake0000 rejected".into(),
            "FAKEfakeFAKEfake0000".into(),
        ),
        (
            "slack token",
            "xoxb-000000000000-FAKEFAKEFAKE".into(),
            "FAKEFAKEFAKE".into(),
        ),
        ("jwt", format!("cookie session={jwt};"), "RkFLRS1zaWduYXR1cmUtZmFrZQ".into()),
        (
            "authorization bearer header",
            "> Authorization: Bearer opaque.FAKE.token-000".into(),
            "opaque.FAKE.token-000".into(),
        ),
        (
            "authorization basic header",
            "curl -H 'Authorization: Basic ZmFrZTpmYWtl' https://x".into(),
            "ZmFrZTpmYWtl".into(),
        ),
        (
            "bearer token alone",
            "sending Bearer FAKEfakeFAKEfake0000 to the api".into(),
            "FAKEfakeFAKEfake0000".into(),
        ),
        (
            "url with a password",
            "fatal: https://deploy:FAKEpassw0rd@git.example.com/x.git not found".into(),
            "FAKEpassw0rd".into(),
        ),
        (
            "password assignment",
            "connecting with DB_PASSWORD=FAKEhunter2".into(),
            "FAKEhunter2".into(),
        ),
        (
            "token in yaml",
            "  apiToken: \"FAKE-token-value\"".into(),
            "FAKE-token-value".into(),
        ),
        (
            "client secret in json",
            r#"{"client_secret": "FAKEclientsecret"}"#.into(),
            "FAKEclientsecret".into(),
        ),
    ]
}

#[test]
fn every_credential_shape_of_the_corpus_is_redacted() {
    for (what, text, secret) in corpus() {
        let redacted = redact(&text, &none());
        assert!(
            !redacted.contains(&secret),
            "{what}: {secret:?} survived in {redacted:?}"
        );
        assert!(redacted.contains("[REDACTED "), "{what}: {redacted:?}");
    }
}

#[test]
fn a_marker_says_what_was_redacted() {
    let text = format!("Authorization: Bearer {}", github_token());
    assert_eq!(
        redact(&text, &none()),
        "Authorization: Bearer [REDACTED github-token]"
    );
    assert_eq!(
        redact(&format!("a\n{FAKE_PEM}\nb"), &none()),
        "a\n[REDACTED private-key]\nb"
    );
    assert_eq!(
        redact("https://me:FAKEsecret@example.com/x", &none()),
        "https://[REDACTED url-credentials]@example.com/x"
    );
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: cache
  namespace: team-a
  labels: {app: cache}
spec:
  replicas: 2
  selector:
    matchLabels: {app: cache}
  template:
    metadata:
      labels: {app: cache}
    spec:
      serviceAccountName: cache
      automountServiceAccountToken: false
      imagePullSecrets:
        - name: regcred
      containers:
        - name: redis
          image: registry.example.com/redis@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
          env:
            - name: REDIS_PASSWORD
              valueFrom:
                secretKeyRef: {name: cache-auth, key: password}
          volumeMounts:
            - {name: tls, mountPath: /tls, readOnly: true}
      volumes:
        - name: tls
          secret: {secretName: cache-tls}
"#;

const BENIGN: [&str; 7] = [
    DEPLOYMENT,
    "thread 'main' panicked at src/main.rs:14:5:\ncalled `Result::unwrap()` on an `Err` value: Os { code: 2, kind: NotFound, message: \"No such file or directory\" }\nstack backtrace:\n   0: rust_begin_unwind\n   1: core::panicking::panic_fmt\n",
    "Exception in thread \"main\" java.lang.NullPointerException: token was null\n\tat com.example.Auth.check(Auth.java:42)\n\tat com.example.Main.main(Main.java:7)\n",
    "pulled sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "HEAD is now at 3f2c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e fix the build",
    "request 123e4567-e89b-12d3-a456-426614174000 done in 12ms",
    "cloning ssh://git@github.com/example/repo.git and https://github.com/example/repo: basic configuration ok",
];

#[test]
fn ordinary_text_is_left_as_it_is() {
    for text in BENIGN {
        assert_eq!(redact(text, &none()), text);
    }
}

fn container(env: serde_json::Value, env_from: Option<serde_json::Value>) -> Container {
    let mut doc = json!({"name": "c", "image": "i", "env": env});
    if let Some(from) = env_from {
        doc["envFrom"] = from;
    }
    serde_json::from_value(doc).unwrap()
}

#[test]
fn values_of_env_named_as_secrets_are_redacted_wherever_they_appear() {
    let env = json!([
        {"name": "API_TOKEN", "value": "opaque-FAKE-value"},
        {"name": "GREETING", "value": "hello there"},
        {"name": "SHORT_KEY", "value": "abc"},
    ]);
    let known = Known::of(&[container(env, None)]);
    let text = "said hello there with opaque-FAKE-value and abc";
    assert_eq!(
        redact(text, &known),
        "said hello there with [REDACTED value of env API_TOKEN] and abc"
    );
}

#[test]
fn what_follows_the_name_of_a_secret_sourced_variable_is_redacted() {
    let env =
        json!([{"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "s", "key": "url"}}}]);
    let env_from = json!([{"secretRef": {"name": "creds"}, "prefix": "CRED_"}, {"configMapRef": {"name": "c"}, "prefix": "CFG_"}]);
    let known = Known::of(&[container(env, Some(env_from))]);
    let text = "DB_URL=postgres-FAKE CRED_USER: FAKEuser CFG_MODE=fast";
    assert_eq!(
        redact(text, &known),
        "DB_URL=[REDACTED secret env] CRED_USER: [REDACTED secret env] CFG_MODE=fast"
    );
}

/// Known secrets for the properties: a value made of characters markers never hold.
fn known_value(value: &str) -> Known {
    let mut known = Known::default();
    known.add_value("SOME_TOKEN", value);
    known
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn redaction_is_idempotent(text in "(?s).{0,300}", secret in "[A-Za-z0-9+/_.-]{6,40}") {
        let known = known_value(&secret);
        let once = redact(&text, &known);
        prop_assert_eq!(redact(&once, &known), once.clone());
    }

    #[test]
    fn redacting_corpus_text_twice_changes_nothing_more(i in 0usize..22, prefix in "(?s).{0,40}") {
        let corpus = corpus();
        let text = format!("{prefix}{}", corpus[i % corpus.len()].1);
        let once = redact(&text, &none());
        prop_assert_eq!(redact(&once, &none()), once.clone());
    }

    #[test]
    fn a_known_secret_never_survives_wherever_it_is(
        before in "(?s).{0,200}",
        after in "(?s).{0,200}",
        secret in "[0-9][A-Za-z0-9+/_.-]{5,39}",
    ) {
        let known = known_value(&secret);
        let text = format!("{before}{secret}{after}");
        let redacted = redact(&text, &known);
        if !known.values.is_empty() {
            prop_assert!(!redacted.contains(&secret), "{:?}", redacted);
        }
    }

    #[test]
    fn redaction_only_adds_markers(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        // Invalid UTF-8 is decoded lossily, as a log is.
        let text = String::from_utf8_lossy(&bytes);
        let redacted = redact(&text, &none());
        let markers = redacted.matches(MARKER).count();
        prop_assert!(redacted.len() <= text.len() + markers * "[REDACTED aws-secret-access-key]".len());
        if markers == 0 {
            prop_assert_eq!(&redacted, &text);
        }
    }
}
