//! End-to-end tests: real Git repositories in temporary folders, the real binary.

mod daemon_support;
mod example;
mod failures;
mod git_store;
mod hostile_reads;
mod kube_double;
mod kubernetes;
mod plan;
mod podman;
mod reconcile;
mod scheduling;
mod serve;
mod support;
