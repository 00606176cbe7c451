//! End-to-end tests: real Git repositories in temporary folders, the real binary.

mod compat;
mod daemon_support;
mod example;
mod failures;
mod filepath;
mod git_store;
mod hostile;
mod hostile_paths;
mod hostile_reads;
mod http_limits;
mod interplay;
mod kube_double;
mod kubernetes;
mod lifecycle;
mod lifecycle_hostile;
mod multidoc;
mod plan;
mod podman;
mod reconcile;
mod scheduling;
mod secrets;
mod serve;
mod stored_requests;
mod support;
mod unread_entries;
mod worktree;
