//! Promises and requests for unit tests, built as documents and read by the real
//! parsers, so that a test says what it needs (`Promise::test("app").requiring("db")`)
//! instead of spelling out YAML it does not care about.

use serde_json::{Value, json};

use super::{Promise, SourceFile, kind_for};
use crate::yaml;

/// The API group of every test Promise.
pub(crate) const GROUP: &str = "test.promised.dev";

/// A Promise being built for a test: see [`Promise::test`].
#[derive(Debug, Clone)]
pub(crate) struct TestPromise {
    document: Value,
}

impl Promise {
    /// A Promise `name` that serves kind `Name` (the name capitalised) in
    /// `test.promised.dev/v1`, with no schema and no workflow.
    pub(crate) fn test(name: &str) -> TestPromise {
        let document = json!({
            "apiVersion": "platform.kratix.io/v1alpha1",
            "kind": "Promise",
            "metadata": {"name": name},
            "spec": {
                "api": {"spec": {
                    "group": GROUP,
                    "names": {"kind": kind_for(name), "plural": format!("{name}s")},
                    "versions": [{"name": "v1"}],
                }},
            },
        });
        TestPromise { document }
    }
}

impl TestPromise {
    /// Without `spec.api`: a Promise that offers dependencies only.
    pub(crate) fn without_api(mut self) -> Self {
        self.spec().remove("api");
        self
    }

    /// With `schema` as the `openAPIV3Schema` of its one version.
    pub(crate) fn with_schema(mut self, schema: Value) -> Self {
        let version = &mut self.spec()["api"]["spec"]["versions"][0];
        version["schema"] = json!({"openAPIV3Schema": schema});
        self
    }

    /// With a pipeline `name` appended to `workflow` (`resource.configure`,
    /// `promise.delete`, ...): one container `c` running `true`.
    pub(crate) fn with_pipeline(self, workflow: &str, name: &str) -> Self {
        self.with_script(workflow, name, "true")
    }

    /// With a pipeline `name` appended to `workflow`, whose one container `c` runs
    /// `script` with `sh -c` (on the process executor; the image is never pulled).
    pub(crate) fn with_script(mut self, workflow: &str, name: &str, script: &str) -> Self {
        let (kind, action) = workflow
            .split_once('.')
            .expect("a workflow is <resource|promise>.<configure|delete>");
        let image = format!("test/{}:v1", self.name());
        let pipeline = json!({
            "apiVersion": "platform.kratix.io/v1alpha1",
            "kind": "Pipeline",
            "metadata": {"name": name},
            "spec": {"containers": [{
                "name": "c",
                "image": image,
                "command": ["sh", "-c"],
                "args": [script],
            }]},
        });
        let pipelines = &mut self.document["spec"]["workflows"][kind][action];
        if pipelines.is_null() {
            *pipelines = json!([]);
        }
        pipelines.as_array_mut().expect("a list").push(pipeline);
        self
    }

    /// Requiring the Promise `name` (at `version`, when given): `spec.requiredPromises`.
    pub(crate) fn requiring(mut self, name: &str, version: Option<&str>) -> Self {
        let mut required = json!({"name": name});
        if let Some(version) = version {
            required["version"] = json!(version);
        }
        let list = &mut self.document["spec"]["requiredPromises"];
        if list.is_null() {
            *list = json!([]);
        }
        list.as_array_mut().expect("a list").push(required);
        self
    }

    /// With the label `key: value` on the Promise.
    pub(crate) fn labelled(mut self, key: &str, value: &str) -> Self {
        self.document["metadata"]["labels"][key] = json!(value);
        self
    }

    /// With the annotation `key: value` on the Promise.
    pub(crate) fn annotated(mut self, key: &str, value: &str) -> Self {
        self.document["metadata"]["annotations"][key] = json!(value);
        self
    }

    /// Sending its outputs only to destinations labelled `key: value`.
    pub(crate) fn selecting(mut self, key: &str, value: &str) -> Self {
        let selector = json!([{"matchLabels": {key: value}}]);
        self.spec().insert("destinationSelectors".into(), selector);
        self
    }

    /// The Promise as YAML.
    pub(crate) fn text(&self) -> String {
        yaml::to_string(&self.document)
    }

    /// The Promise as the file `promises/<name>.yaml` of a commit.
    pub(crate) fn file(&self) -> SourceFile {
        SourceFile::test(&format!("promises/{}.yaml", self.name()), self.text())
    }

    /// The Promise, read by the parser a pass uses.
    pub(crate) fn build(&self) -> Promise {
        let path = format!("promises/{}.yaml", self.name());
        Promise::parse(&path, &self.text()).expect("a test Promise reads")
    }

    fn name(&self) -> String {
        self.document["metadata"]["name"]
            .as_str()
            .expect("a name")
            .to_string()
    }

    fn spec(&mut self) -> &mut serde_json::Map<String, Value> {
        self.document["spec"].as_object_mut().expect("a mapping")
    }
}

/// The request `requests/<promise>/<name>.yaml` for `Promise::test(promise)`, in the
/// default namespace.
pub(crate) fn request(promise: &str, name: &str) -> SourceFile {
    let path = format!("requests/{promise}/{name}.yaml");
    SourceFile::test(&path, request_text(promise, name))
}

/// The text of [`request`].
pub(crate) fn request_text(promise: &str, name: &str) -> String {
    format!(
        "apiVersion: {GROUP}/v1\nkind: {}\nmetadata: {{name: {name}}}\n",
        kind_for(promise)
    )
}

/// The Destination `destinations/<name>.yaml`, with no labels: every Promise without
/// selectors writes to it.
pub(crate) fn destination(name: &str) -> SourceFile {
    let path = format!("destinations/{name}.yaml");
    SourceFile::test(&path, destination_text(name))
}

/// The text of [`destination`].
pub(crate) fn destination_text(name: &str) -> String {
    format!("kind: Destination\nmetadata: {{name: {name}}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Platform, WorkflowType};

    #[test]
    fn a_built_promise_and_its_request_load_as_a_pass_reads_them() {
        let promise = Promise::test("app")
            .with_pipeline("resource.configure", "first")
            .with_pipeline("resource.configure", "second")
            .with_pipeline("promise.configure", "install")
            .requiring("db", Some("v2"))
            .labelled(crate::model::VERSION_LABEL, "v1")
            .selecting("env", "dev");
        let platform = Platform::load([promise.file(), request("app", "a")]);
        assert!(platform.problems.is_empty(), "{:?}", platform.problems);
        let app = &platform.promises["app"];
        let names = |w: WorkflowType, a: Action| -> Vec<String> {
            let pipelines = app.workflows.pipelines(w, a);
            pipelines.iter().map(|p| p.name.clone()).collect()
        };
        assert_eq!(
            names(WorkflowType::Resource, Action::Configure),
            ["first", "second"]
        );
        assert_eq!(names(WorkflowType::Promise, Action::Configure), ["install"]);
        assert_eq!(app.required_promises.len(), 1);
        assert_eq!(app.version.as_deref(), Some("v1"));
        assert_eq!(platform.requests.len(), 1);
        assert!(platform.requests[0].document.is_ok());
    }
}
