//! The repository as output: where files go (`layout`), how units are hashed
//! (`digest`), what a request's and a Promise's status files say (`status`, `promise_status`), and what a pass changes
//! (`tree`).

pub(crate) mod aggregate;
pub(crate) mod digest;
pub(crate) mod kustomization;
pub(crate) mod layout;
pub(crate) mod promise_status;
pub(crate) mod status;
pub(crate) mod tree;

pub(crate) use layout::{DIGEST_FILE, STATE_DIR, STATUS_DIR};
pub use tree::{Changes, Content};
pub(crate) use tree::{CurrentTree, DesiredTree, Keep};
