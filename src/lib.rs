//! `promised`: a GitOps-native reconciler for Kratix-style Promises.
//!
//! A platform repository holds Promises, Destinations and Resource Requests. One
//! reconcile pass reads them from a commit ([`model`]), validates each request against
//! its Promise's schema (`schema`), runs the Promise's pipelines through an
//! [`executor`] under the [`pipeline`] contract, decides where each output goes
//! (`scheduling`), lays the outputs and statuses out as files ([`state`]), and commits
//! what changed ([`git`]). [`reconcile`] ties these together.

mod child;
pub mod cli;
mod escape;
pub mod executor;
pub mod git;
pub mod model;
pub mod path_segment;
pub mod pipeline;
pub mod reconcile;
mod redact;
mod runtime;
mod scheduling;
mod schema;
mod serve;
pub mod state;
mod validate;
pub mod yaml;
