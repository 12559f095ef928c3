//! The parts of `kubectl-tenant` that talk to a cluster, as a library so the operator's
//! integration tests run exactly what the plugin runs.

pub mod backups;
pub mod cost;
