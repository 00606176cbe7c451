//! The files a request keeps from pipelines that did not run in a pass, as Kratix keeps
//! each pipeline's Work: a workflow suspended at one pipeline keeps the outputs of the
//! pipelines after it as they were, and a workflow resumed at that pipeline keeps those
//! of the pipelines before it.
//!
//! Which files a pipeline wrote is in the request's record ([`PlacementRef::files`]);
//! their bytes are read from the branch, inside the request's own folder only: a status
//! file is in the repository, where a pull request can edit it.

use crate::git::Store;
use crate::model::{Platform, RequestKey};
use crate::path_segment::SegmentPath;
use crate::pipeline::OutputFiles;
use crate::state::layout::resource_dir;
use crate::state::status::PlacementRef;
use crate::state::{CurrentTree, DIGEST_FILE};

/// One output group kept from an earlier run: where it was placed, and its files.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    /// Its placement, as recorded.
    pub placement: PlacementRef,
    /// Its files, by path in the request's folder.
    pub files: OutputFiles,
}

/// Where the files of a run's outputs are read from.
pub struct Branch<'a> {
    /// The repository.
    pub store: &'a dyn Store,
    /// The managed files as they are: path to blob id.
    pub current: &'a CurrentTree,
    /// For the destinations' folders.
    pub platform: &'a Platform,
}

impl Branch<'_> {
    /// Reads the recorded groups of the pipelines `of` chooses. Groups that were pending
    /// wrote nothing and are not carried. Fails, saying why, when a recorded file is not
    /// in the request's folder on the branch (or its path or destination is not one).
    pub fn carry(
        &self,
        key: &RequestKey,
        placements: &[PlacementRef],
        of: impl Fn(&str) -> bool,
    ) -> Result<Vec<Carried>, String> {
        let mut carried = Vec::new();
        for placement in placements.iter().filter(|p| of(p.pipeline())) {
            let Some(destination) = &placement.destination else {
                continue;
            };
            let Some(loaded) = self.platform.destinations.get(destination) else {
                return Err(format!(
                    "output group {} was placed on destination {destination:?}, which is gone",
                    placement.group
                ));
            };
            let dir = resource_dir(&loaded.folder, key);
            let mut files = OutputFiles::new();
            for file in &placement.files {
                if SegmentPath::new(file).is_err() || file == DIGEST_FILE {
                    return Err(format!(
                        "the record names {file:?}, which is not a file path"
                    ));
                }
                let path = format!("{dir}/{file}");
                let Some(blob) = self.current.get(&path) else {
                    return Err(format!("{path} is not on the branch"));
                };
                let bytes = self
                    .store
                    .read_blob(blob, &path)
                    .map_err(|e| e.to_string())?;
                if files.insert(file.clone(), bytes).is_some() {
                    return Err(format!("the record lists {file:?} twice"));
                }
            }
            carried.push(Carried {
                placement: placement.clone(),
                files,
            });
        }
        Ok(carried)
    }
}
