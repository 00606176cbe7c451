//! The repository as output: where files go ([`layout`]), how units are hashed
//! ([`digest`]), what a request's and a Promise's status files say ([`status`], [`promise_status`]), and what a pass changes
//! ([`tree`]).

pub(crate) mod aggregate;
pub mod digest;
pub mod kustomization;
pub mod layout;
pub mod promise_status;
pub mod status;
pub mod tree;

pub use layout::{DIGEST_FILE, STATE_DIR, STATUS_DIR};
pub use tree::{Changes, Content, CurrentTree, DesiredTree, Keep};
