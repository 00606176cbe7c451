//! Writing objects: loose when there are few, one pack when there are many.
//!
//! A first pass over a large platform writes hundreds of thousands of blobs and trees.
//! As loose objects each is a file of its own, and every later pass reads them back one
//! `open` and `mmap` at a time. So a batch of at least [`LOOSE_LIMIT`] objects is written
//! as one pack with its index, the way `git fetch` keeps what it receives (git's
//! `transfer.unpackLimit` is 100 too); fewer are written loose.

use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::objs::{Kind, Write as _};
use gix_pack::data::output;

use super::GitError;

/// Batches of fewer objects than this are written loose.
pub(crate) const LOOSE_LIMIT: usize = 100;

/// How many bytes of objects a [`ObjectBatch`] holds before it writes them.
const HELD_BYTES: usize = 4 << 20;

/// Objects to write, held until there are enough to write them well.
pub(crate) struct ObjectBatch<'r> {
    repo: &'r gix::Repository,
    held: Vec<(ObjectId, Kind, Vec<u8>)>,
    held_bytes: usize,
}

impl<'r> ObjectBatch<'r> {
    /// An empty batch for `repo`'s object database.
    pub(crate) fn new(repo: &'r gix::Repository) -> Self {
        ObjectBatch {
            repo,
            held: Vec::new(),
            held_bytes: 0,
        }
    }

    /// Adds an object and returns its id; it is in the database once [`Self::finish`]
    /// returns (or earlier, when many bytes are held).
    pub(crate) fn add(&mut self, kind: Kind, data: Vec<u8>) -> Result<ObjectId, GitError> {
        let id = object_id(self.repo.object_hash(), kind, &data);
        self.held_bytes += data.len();
        self.held.push((id, kind, data));
        if self.held_bytes >= HELD_BYTES {
            self.write_held()?;
        }
        Ok(id)
    }

    /// Writes what is held.
    pub(crate) fn finish(mut self) -> Result<(), GitError> {
        self.write_held()
    }

    fn write_held(&mut self) -> Result<(), GitError> {
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let objects: Vec<(ObjectId, Kind, &[u8])> = held
            .iter()
            .map(|(id, kind, data)| (*id, *kind, data.as_slice()))
            .collect();
        write_objects(self.repo, &objects)
    }
}

/// The id an object of `kind` holding `data` has.
pub(crate) fn object_id(hash: gix::hash::Kind, kind: Kind, data: &[u8]) -> ObjectId {
    gix::objs::compute_hash(hash, kind, data).expect("hashing in memory does not fail")
}

/// Writes `objects` (with their ids): loose if there are fewer than [`LOOSE_LIMIT`],
/// else as one pack.
pub(crate) fn write_objects(
    repo: &gix::Repository,
    objects: &[(ObjectId, Kind, &[u8])],
) -> Result<(), GitError> {
    if objects.len() < LOOSE_LIMIT {
        for (id, kind, data) in objects {
            repo.write_buf(*kind, data)
                .map_err(|e| write_error(&format!("object {id}"), e))?;
        }
        return Ok(());
    }
    write_pack(repo, objects)
}

/// Writes `objects` as one pack and its index into the object database's `pack/`.
fn write_pack(repo: &gix::Repository, objects: &[(ObjectId, Kind, &[u8])]) -> Result<(), GitError> {
    let dir: PathBuf = repo.objects.store_ref().path().join("pack");
    let what = format!("a pack of {} objects in {}", objects.len(), dir.display());
    let error = |e: &dyn std::fmt::Display| write_error(&what, e);
    let hash = repo.object_hash();
    let count = u32::try_from(objects.len()).map_err(|e| error(&e))?;

    // A repository made by another tool may have no `pack/` yet.
    fs_err::create_dir_all(&dir).map_err(|e| error(&e))?;
    // The pack data goes to a temporary file first: only a few objects are compressed
    // and held at a time.
    let mut data = tempfile::tempfile_in(&dir).map_err(|e| error(&e))?;
    let entries = objects.chunks(256).map(|chunk| {
        chunk
            .iter()
            .map(|(id, kind, bytes)| {
                output::Entry::from_data(
                    &output::Count::from_data(*id, None),
                    &gix::objs::Data::new(bytes, *kind, hash),
                    gix::zlib::Compression::BEST_SPEED,
                )
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let mut writer = output::bytes::FromEntriesIter::new(
        entries,
        BufWriter::new(&mut data),
        count,
        gix_pack::data::Version::V2,
        hash,
    );
    for written in &mut writer {
        written.map_err(|e| error(&e))?;
    }
    writer.into_write().flush().map_err(|e| error(&e))?;
    data.rewind().map_err(|e| error(&e))?;

    let outcome = gix_pack::Bundle::write_to_directory(
        &mut BufReader::new(data),
        Some(&dir),
        &mut gix::progress::Discard,
        &AtomicBool::new(false),
        None::<gix::objs::find::Never>,
        hash,
        gix_pack::bundle::write::Options {
            thread_limit: Some(1),
            ..Default::default()
        },
    )
    .map_err(|e| error(&e))?;
    // The `.keep` file guards a pack until a ref points into it. These objects are as
    // safe as loose ones without it: `git gc` keeps recent unreachable objects.
    if let Some(keep) = outcome.keep_path {
        fs_err::remove_file(keep).map_err(|e| error(&e))?;
    }
    Ok(())
}

fn write_error(what: &str, e: impl std::fmt::Display) -> GitError {
    GitError::Write {
        what: what.to_string(),
        message: e.to_string(),
    }
}
