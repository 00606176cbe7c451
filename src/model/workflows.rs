//! A Promise's workflows: the pipelines Kratix runs on each request (`resource`) and on
//! the Promise itself (`promise`), when they are new or changed (`configure`) and when
//! they are removed (`delete`).

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Problem;
use super::pipeline::{Pipeline, check_image};

/// What a workflow runs on, as Kratix names it in `KRATIX_WORKFLOW_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkflowType {
    /// A request of the Promise's API.
    Resource,
    /// The Promise itself.
    Promise,
}

/// Why a workflow runs, as Kratix names it in `KRATIX_WORKFLOW_ACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// The object is new or changed, or due for a rerun.
    Configure,
    /// The object was removed.
    Delete,
}

impl fmt::Display for WorkflowType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkflowType::Resource => "resource",
            WorkflowType::Promise => "promise",
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Configure => "configure",
            Action::Delete => "delete",
        })
    }
}

/// `spec.workflows` of a Promise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workflows {
    /// Run on each request: `spec.workflows.resource`, or the seed's
    /// `xaasRequestPipeline` as one chained configure pipeline.
    pub resource: Workflow,
    /// Run on the Promise: `spec.workflows.promise`.
    pub(crate) promise: Workflow,
    /// `spec.workflows.config.pipelineNamespace`: where the kubernetes executor runs
    /// this Promise's pipelines, of both types, instead of the request's namespace or
    /// `--kube-namespace` (as Kratix does). A DNS-1123 label.
    pub(crate) pipeline_namespace: Option<String>,
}

/// The pipelines of one workflow type, by action, each list run in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workflow {
    /// `configure`.
    pub configure: Vec<Pipeline>,
    /// `delete`.
    pub(crate) delete: Vec<Pipeline>,
}

impl Workflows {
    /// The pipelines run for `action` on an object of `kind`.
    pub(crate) fn pipelines(&self, kind: WorkflowType, action: Action) -> &[Pipeline] {
        let workflow = match kind {
            WorkflowType::Resource => &self.resource,
            WorkflowType::Promise => &self.promise,
        };
        match action {
            Action::Configure => &workflow.configure,
            Action::Delete => &workflow.delete,
        }
    }

    /// Every pipeline of every workflow.
    #[cfg(test)]
    pub(crate) fn all(&self) -> impl Iterator<Item = &Pipeline> {
        let resource = self.resource.configure.iter().chain(&self.resource.delete);
        resource
            .chain(&self.promise.configure)
            .chain(&self.promise.delete)
    }
}

/// `spec.workflows` as written.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WorkflowsDoc {
    #[serde(default)]
    resource: Option<WorkflowDoc>,
    #[serde(default)]
    promise: Option<WorkflowDoc>,
    #[serde(default)]
    pub(super) config: Option<WorkflowConfig>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

#[derive(Deserialize, Default)]
struct WorkflowDoc {
    #[serde(default)]
    configure: Vec<Value>,
    #[serde(default)]
    delete: Vec<Value>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// `spec.workflows.config`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WorkflowConfig {
    #[serde(default)]
    pub(super) reconciliation_interval: Option<String>,
    #[serde(default)]
    pipeline_namespace: Option<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// Reads `spec.workflows` (or the seed's `xaasRequestPipeline`), with a warning for
/// each field that is not read. Errors and warnings start with the field's path.
pub(super) fn read(
    promise: &str,
    doc: Option<WorkflowsDoc>,
    xaas: Vec<String>,
) -> Result<(Workflows, Vec<Problem>), Problem> {
    let doc = doc.unwrap_or_default();
    let mut notes = Vec::new();
    for field in doc.other.keys() {
        let known = ["resource", "promise", "config"];
        let unread = super::unknown_field(field, "a Promise's spec.workflows", &known);
        notes.push(unread.within("spec.workflows"));
    }
    if let Some(config) = &doc.config {
        for field in config.other.keys() {
            let known = ["reconciliationInterval", "pipelineNamespace"];
            let unread = super::unknown_field(field, "spec.workflows.config", &known);
            notes.push(unread.within("spec.workflows.config"));
        }
    }
    let pipeline_namespace = doc.config.and_then(|c| c.pipeline_namespace);
    if let Some(namespace) = &pipeline_namespace
        && !super::is_dns_label(namespace)
    {
        return Err(Problem::at(
            "spec.workflows.config.pipelineNamespace",
            format!(
                "{namespace:?} is not a namespace name: 1 to 63 lowercase letters, digits and \
                 '-', starting and ending with a letter or digit"
            ),
        ));
    }
    let mut workflows = Workflows {
        resource: workflow("resource", doc.resource, &mut notes)?,
        promise: workflow("promise", doc.promise, &mut notes)?,
        pipeline_namespace,
    };
    if !xaas.is_empty() {
        if !workflows.resource.configure.is_empty() {
            let why =
                "give spec.workflows.resource.configure or spec.xaasRequestPipeline, not both";
            return Err(Problem::at("spec", why));
        }
        for (i, image) in xaas.iter().enumerate() {
            check_image(image)
                .map_err(|why| Problem::at(format!("spec.xaasRequestPipeline[{i}]"), why))?;
        }
        workflows.resource.configure = vec![Pipeline::from_seed_images(promise, &xaas)];
    }
    Ok((workflows, notes))
}

/// Reads `spec.workflows.<kind>`: each pipeline, and a warning for each unread field.
fn workflow(
    kind: &str,
    doc: Option<WorkflowDoc>,
    notes: &mut Vec<Problem>,
) -> Result<Workflow, Problem> {
    let Some(doc) = doc else {
        return Ok(Workflow::default());
    };
    for field in doc.other.keys() {
        let what = format!("spec.workflows.{kind}");
        let unread = super::unknown_field(field, &what, &["configure", "delete"]);
        notes.push(unread.within(&what));
    }
    let mut read = |action: &str, values: Vec<Value>| -> Result<Vec<Pipeline>, Problem> {
        let mut pipelines: Vec<Pipeline> = Vec::new();
        for (i, value) in values.into_iter().enumerate() {
            let field = format!("spec.workflows.{kind}.{action}[{i}]");
            let (pipeline, unread) =
                Pipeline::with_notes(value).map_err(|problem| problem.within(&field))?;
            if pipelines.iter().any(|p| p.name == pipeline.name) {
                // Kratix records a workflow's progress by pipeline name.
                return Err(Problem::at(
                    format!("{field}.metadata.name"),
                    format!(
                        "{:?} names an earlier pipeline of this workflow too",
                        pipeline.name
                    ),
                ));
            }
            notes.extend(unread.into_iter().map(|note| note.within(&field)));
            pipelines.push(pipeline);
        }
        Ok(pipelines)
    };
    Ok(Workflow {
        configure: read("configure", doc.configure)?,
        delete: read("delete", doc.delete)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn read_text(text: &str) -> Result<(Workflows, Vec<String>), String> {
        let doc: WorkflowsDoc = yaml::typed(yaml::document(text).unwrap()).unwrap();
        let (workflows, notes) = read("app", Some(doc), Vec::new()).map_err(|p| p.to_string())?;
        Ok((workflows, notes.iter().map(ToString::to_string).collect()))
    }

    const PIPELINE: &str =
        "{kind: Pipeline, metadata: {name: p}, spec: {containers: [{name: c, image: i}]}}";

    #[test]
    fn every_workflow_and_action_is_read() {
        let text = format!(
            "resource: {{configure: [{PIPELINE}], delete: [{PIPELINE}]}}\npromise: {{configure: [{PIPELINE}], delete: [{PIPELINE}]}}\n"
        );
        let (workflows, notes) = read_text(&text).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        for kind in [WorkflowType::Resource, WorkflowType::Promise] {
            for action in [Action::Configure, Action::Delete] {
                assert_eq!(
                    workflows.pipelines(kind, action).len(),
                    1,
                    "{kind} {action}"
                );
            }
        }
        assert_eq!(workflows.all().count(), 4);
    }

    #[test]
    fn unread_fields_are_named_with_the_closest_known_one() {
        let text = format!(
            "resource: {{configur: [{PIPELINE}]}}\npromis: {{}}\nconfig: {{reconcileInterval: 1h}}\n"
        );
        let (_, notes) = read_text(&text).unwrap();
        assert_eq!(
            notes,
            [
                "spec.workflows.promis: not a field of a Promise's spec.workflows, and not read; did you mean promise?",
                "spec.workflows.config.reconcileInterval: not a field of spec.workflows.config, and not read",
                "spec.workflows.resource.configur: not a field of spec.workflows.resource, and not read; did you mean configure?",
            ]
        );
    }

    #[test]
    fn two_pipelines_of_one_workflow_with_one_name_are_refused() {
        let text = format!("promise: {{delete: [{PIPELINE}, {PIPELINE}]}}\n");
        let err = read_text(&text).unwrap_err();
        assert!(
            err.starts_with("spec.workflows.promise.delete[1].metadata.name: \"p\""),
            "{err}"
        );
    }
}
