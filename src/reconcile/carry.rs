//! The files a request keeps from pipelines that did not run in a pass, as Kratix keeps
//! each pipeline's Work: a workflow suspended at one pipeline keeps the outputs of the
//! pipelines after it as they were, and a workflow resumed at that pipeline keeps those
//! of the pipelines before it.
//!
//! Which files a pipeline wrote is in the request's record ([`PlacementRef::files`]);
//! their bytes are read from the branch, inside the request's own folder only: a status
//! file is in the repository, where a pull request can edit it. [`Runner`] runs a
//! request's configure workflow in a pass's worker, from the pipeline its decision
//! says, and reads what it carries.

use super::Options;
use super::render::{Outcome, Ran};
use super::run::{Start, Workflow};
use crate::executor::Executor;
use crate::git::Store;
use crate::model::{Platform, RequestKey};
use crate::path_segment::SegmentPath;
use crate::pipeline::OutputFiles;
use crate::pipeline::RunFolder;
use crate::state::layout::resource_dir;
use crate::state::status::PlacementRef;
use crate::state::status::Record;
use crate::state::{CurrentTree, DIGEST_FILE};

/// One output group kept from an earlier run: where it was placed, and its files.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Carried {
    /// Its placement, as recorded.
    pub(crate) placement: PlacementRef,
    /// Its files, by path in the request's folder.
    pub(crate) files: OutputFiles,
}

/// Where the files of a run's outputs are read from.
pub(crate) struct Branch<'a> {
    pub(crate) store: &'a dyn Store,
    /// The managed files as they are: path to blob id.
    pub(crate) current: &'a CurrentTree,
    /// For the destinations' folders.
    pub(crate) platform: &'a Platform,
}

/// What could be carried, and what could not (said for the log).
#[derive(Debug, Default)]
pub(crate) struct Carry {
    /// The groups read, with the files that are there.
    pub(crate) groups: Vec<Carried>,
    /// Why a group or a file is not there: a group that was pending (it wrote
    /// nothing), one whose destination is gone, a recorded file that is not on the
    /// branch, or a recorded path that is not a file path.
    pub(crate) missing: Vec<String>,
}

impl Branch<'_> {
    /// Reads the recorded groups of the pipelines `of` chooses, each file from the
    /// request's own folder on the branch. What is not there is skipped and named in
    /// [`Carry::missing`]: a suspension keeps what it can, and a resume that misses
    /// anything runs from the first pipeline instead.
    pub(crate) fn carry(
        &self,
        key: &RequestKey,
        placements: &[PlacementRef],
        of: impl Fn(&str) -> bool,
    ) -> Carry {
        let mut carry = Carry::default();
        for placement in placements.iter().filter(|p| of(p.pipeline())) {
            let group = &placement.group;
            let Some(destination) = &placement.destination else {
                carry
                    .missing
                    .push(format!("output group {group} was pending"));
                continue;
            };
            let Some(loaded) = self.platform.destinations.get(destination) else {
                carry.missing.push(format!(
                    "output group {group} was placed on destination {destination:?}, which is gone"
                ));
                continue;
            };
            let dir = resource_dir(&loaded.folder, key);
            let mut files = OutputFiles::new();
            for file in &placement.files {
                match self.read(&dir, file) {
                    Ok(bytes) if !files.contains_key(file) => {
                        files.insert(file.clone(), bytes);
                    }
                    Ok(_) => carry
                        .missing
                        .push(format!("the record lists {file:?} twice")),
                    Err(why) => carry.missing.push(why),
                }
            }
            carry.groups.push(Carried {
                placement: placement.clone(),
                files,
            });
        }
        carry
    }

    /// The bytes of `file` in the request's folder `dir` on the branch.
    fn read(&self, dir: &str, file: &str) -> Result<Vec<u8>, String> {
        if SegmentPath::new(file).is_err() || file == DIGEST_FILE {
            return Err(format!(
                "the record names {file:?}, which is not a file path"
            ));
        }
        let path = format!("{dir}/{file}");
        let Some(blob) = self.current.get(&path) else {
            return Err(format!("{path} is not on the branch"));
        };
        self.store.read_blob(blob, &path).map_err(|e| e.to_string())
    }
}

/// Runs a request's configure workflow, from its first pipeline or from the one that
/// suspended it (`resume`), and reads what it keeps of the pipelines that did not run
/// from their files on the branch. A resumed workflow whose earlier outputs are not all
/// there runs from its first pipeline instead.
pub(crate) struct Runner<'a> {
    /// Where carried files are read from.
    pub(crate) branch: Branch<'a>,
    /// Where pipelines run.
    pub(crate) executor: &'a dyn Executor,
    /// How they run.
    pub(crate) options: &'a Options,
}

impl Runner<'_> {
    pub(crate) async fn configure(
        &self,
        key: &RequestKey,
        workflow: &Workflow<'_>,
        resume: Option<usize>,
        record: Option<&Record>,
        folder: &RunFolder,
    ) -> Outcome {
        let branch = &self.branch;
        let placements = record.map_or(&[][..], |r| &r.placements);
        let names: Vec<&str> = workflow
            .pipelines()
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let mut start = Start::default();
        let mut carried = Vec::new();
        let suspended = record.and_then(|r| r.suspended.as_ref());
        if let (Some(at), Some(suspended)) = (resume, suspended) {
            let earlier = &names[..at];
            let carry = branch.carry(key, placements, |p| earlier.contains(&p));
            match carry.missing.first() {
                None => {
                    tracing::info!(request = %key, pipeline = names[at], "resuming the suspended workflow");
                    start = Start {
                        pipeline: at,
                        status: suspended.status_before.clone(),
                        seen: Some(suspended.status.clone()),
                    };
                    carried = carry.groups;
                }
                Some(why) => {
                    tracing::warn!(request = %key, "cannot resume at pipeline {:?} ({why}); running from the first", names[at]);
                }
            }
        }
        let first = start.pipeline;
        let finished = match workflow
            .run(start, self.executor, self.options, folder)
            .await
        {
            Ok(finished) => finished,
            Err(stopped) => return Outcome::Failed(stopped),
        };
        if finished.suspended.is_some() {
            let after = &names[(first + finished.outputs.len()).min(names.len())..];
            let carry = branch.carry(key, placements, |p| after.contains(&p));
            // What is not on the branch cannot be kept; what is, is.
            for why in &carry.missing {
                tracing::warn!(request = %key, "a later pipeline's output is not kept: {why}");
            }
            carried.extend(carry.groups);
        }
        Outcome::Ran(Box::new(Ran { finished, carried }))
    }
}
