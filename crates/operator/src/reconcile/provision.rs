//! Provision: the tenant's accounts in systems outside the cluster (data-store users on the
//! platform's shared MongoDB, NATS and Redis). No concern provisions anything yet; the step is
//! here so the first one plugs in between prune and status, where it belongs: after the
//! connection Secret its credentials go into, before the status that reports them.

use super::Pass;
use crate::error::Result;

/// What provisioning did (nothing yet).
pub struct Provisioned;

pub async fn run(_pass: &Pass<'_>) -> Result<Provisioned> {
    Ok(Provisioned)
}
