//! Plain Secrets in a pipeline's output. Outputs are committed to Git, where every
//! developer reads them and history keeps them: a `kind: Secret` whose `data` or
//! `stringData` holds values would publish those values. Such a document fails the run
//! unless its Promise opts in with [`ALLOW_PLAIN_SECRETS_ANNOTATION`]. Encrypted forms
//! pass: other kinds that carry secrets encrypted (`SealedSecret`, `ExternalSecret`,
//! which holds only a reference), and Secrets encrypted by SOPS (a top-level `sops` key,
//! every value `ENC[...]`).
//!
//! A Promise's static `spec.dependencies` are not checked: they come from the Promise
//! file, which its author already committed to the same repository.

use serde_json::Value;

use super::OutputFiles;
use crate::model::Promise;
use crate::state::layout::is_document_file;
use crate::yaml;

/// The annotation with which a Promise lets its pipelines write plain Secrets: `"true"`.
pub(crate) const ALLOW_PLAIN_SECRETS_ANNOTATION: &str = "promised.dev/allow-plain-secrets";

/// Fails on the first document of `files` that is a plain Secret with values, unless
/// `promise` allows them. The error names the file, the document and the annotation.
pub(crate) fn refuse_plain_secrets(files: &OutputFiles, promise: &Promise) -> Result<(), String> {
    let allowed = promise.annotations.get(ALLOW_PLAIN_SECRETS_ANNOTATION);
    if allowed.is_some_and(|v| v == "true") {
        return Ok(());
    }
    let documents = files.iter().filter(|(path, _)| is_document_file(path));
    for (path, bytes) in documents {
        // Most files hold no Secret: only those that name the kind, or that hold an
        // escape (a quoted `"Secr\u0065t"` spells it without the word), are parsed again.
        let may_name_secret = bytes.windows(6).any(|w| w == b"Secret") || bytes.contains(&b'\\');
        if !may_name_secret {
            continue;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let docs = yaml::documents(text).map_err(|e| format!("{path}: is not YAML: {e}"))?;
        for (i, doc) in docs.iter().enumerate() {
            if let Some(name) = plain_secret(doc) {
                return Err(format!(
                    "{path}: document {} is a plain Secret ({name:?}) whose values would be \
                     committed to Git; write it encrypted (a SealedSecret, an ExternalSecret, \
                     or a SOPS-encrypted Secret), or let the Promise write plain Secrets with \
                     the annotation {ALLOW_PLAIN_SECRETS_ANNOTATION}: \"true\"",
                    i + 1
                ));
            }
        }
    }
    Ok(())
}

/// The name of `doc` (or of an item of a `List`) if it is a plain Secret with values.
fn plain_secret(doc: &Value) -> Option<String> {
    let kind = doc.get("kind").and_then(Value::as_str)?;
    if kind.ends_with("List") {
        let items = doc.get("items").and_then(Value::as_array)?;
        return items.iter().find_map(plain_secret);
    }
    let core = doc.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if kind != "Secret" || !core {
        return None;
    }
    let values = ["data", "stringData"]
        .into_iter()
        .filter_map(|field| doc.get(field)?.as_object())
        .flat_map(|map| map.values());
    let values: Vec<&Value> = values.collect();
    if values.is_empty() {
        return None;
    }
    let sops = doc.get("sops").is_some_and(Value::is_object);
    let encrypted = |v: &Value| v.as_str().is_some_and(|s| s.starts_with("ENC["));
    if sops && values.iter().all(|v| encrypted(v)) {
        return None;
    }
    let name = doc.pointer("/metadata/name").and_then(Value::as_str);
    Some(name.unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promise() -> Promise {
        Promise::test("app").build()
    }

    fn files(text: &str) -> OutputFiles {
        let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n";
        OutputFiles::from([
            ("a.yaml".to_string(), deployment.as_bytes().to_vec()),
            ("db/creds.yaml".to_string(), text.as_bytes().to_vec()),
        ])
    }

    const PLAIN: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: FAKE}\n";

    #[test]
    fn a_plain_secret_is_refused_naming_the_file_the_document_and_the_annotation() {
        let err = refuse_plain_secrets(&files(PLAIN), &promise()).unwrap_err();
        assert!(
            err.starts_with("db/creds.yaml: document 2 is a plain Secret (\"db\")"),
            "{err}"
        );
        assert!(
            err.contains("promised.dev/allow-plain-secrets: \"true\""),
            "{err}"
        );
        let data =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: RkFLRQ==}\n";
        assert!(refuse_plain_secrets(&files(data), &promise()).is_err());
        let listed = "apiVersion: v1\nkind: List\nmetadata: {name: l}\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: db}, data: {a: RkFLRQ==}}\n";
        assert!(refuse_plain_secrets(&files(listed), &promise()).is_err());
    }

    #[test]
    fn a_secret_whose_kind_is_spelt_with_escapes_is_refused() {
        for kind in [
            r#""Secr\u0065t""#,
            r#""\x53ecret""#,
            r#""Sec\
            ret""#,
        ] {
            let text = format!(
                "apiVersion: v1\nkind: {kind}\nmetadata: {{name: db}}\nstringData: {{password: FAKE}}\n"
            );
            let err = refuse_plain_secrets(&files(&text), &promise()).unwrap_err();
            assert!(err.contains("is a plain Secret"), "{kind}: {err}");
        }
    }

    #[test]
    fn a_promise_that_opts_in_writes_plain_secrets() {
        let promise = Promise::test("app").annotated(ALLOW_PLAIN_SECRETS_ANNOTATION, "true");
        refuse_plain_secrets(&files(PLAIN), &promise.build()).unwrap();
    }

    #[test]
    fn encrypted_and_empty_secrets_pass() {
        let passing = [
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: db}\nspec: {encryptedData: {password: AgBFAKE}}\n",
            "apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata: {name: db}\nspec: {secretStoreRef: {name: vault}}\n",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: 'ENC[AES256_GCM,data:FAKE,type:str]'}\nsops: {version: 3.9.0, mac: 'ENC[AES256_GCM,data:FAKE]'}\n",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: tls}\ntype: kubernetes.io/tls\n",
        ];
        for text in passing {
            refuse_plain_secrets(&files(text), &promise()).unwrap();
        }
    }

    #[test]
    fn a_sops_secret_with_a_value_left_in_clear_is_refused() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {user: admin, password: 'ENC[AES256_GCM,data:FAKE]'}\nsops: {version: 3.9.0}\n";
        assert!(refuse_plain_secrets(&files(text), &promise()).is_err());
    }
}
