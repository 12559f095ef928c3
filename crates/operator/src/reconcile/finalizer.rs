//! The finalizer that holds a deleted Tenant until its objects are gone. New Tenants get it from
//! the API server (the `tenant-finalizer` MutatingAdmissionPolicy); the operator adds it only
//! where that is missing (Kubernetes before 1.36, Tenants created before the policy).

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tenant_api::labels;

use super::Pass;
use crate::error::{Error, Result, api_code};

pub fn present(pass: &Pass<'_>) -> bool {
    pass.tenant
        .finalizers()
        .iter()
        .any(|f| f == labels::FINALIZER)
}

/// Adds the finalizer when it is missing.
pub async fn ensure(pass: &Pass<'_>) -> Result<()> {
    if present(pass) {
        return Ok(());
    }
    set(pass, true).await
}

/// Removes the finalizer; a Tenant already gone (someone removed the finalizer by hand) has
/// nothing left to release.
pub async fn release(pass: &Pass<'_>) -> Result<()> {
    match set(pass, false).await {
        Err(Error::Finalizer(e)) if api_code(&e) == Some(404) => Ok(()),
        other => other,
    }
}

/// A merge patch of the finalizer list guarded by resourceVersion (a concurrent change to the
/// list makes it fail with 409, and the reconcile retries).
async fn set(pass: &Pass<'_>, on: bool) -> Result<()> {
    let mut finalizers: Vec<String> = pass
        .tenant
        .finalizers()
        .iter()
        .filter(|f| *f != labels::FINALIZER)
        .cloned()
        .collect();
    if on {
        finalizers.push(labels::FINALIZER.to_string());
    }
    let patch = json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": pass.tenant.metadata.resource_version,
        }
    });
    pass.ctx.metrics.write("Tenant", "patch");
    pass.api
        .patch(
            &pass.owner.name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(Error::Finalizer)?;
    Ok(())
}
