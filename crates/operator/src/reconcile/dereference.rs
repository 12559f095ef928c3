//! Dereference: what the Tenant's spec refers to, read from the watched state (no request).
//!
//! Today that is the other Tenants the builders need: those this Tenant grants cross-tenant
//! access to, and the other environments of the same tenantId. Passing only these (not the
//! whole store) keeps a reconcile O(1) in the number of Tenants.

use std::collections::HashSet;

use tenant_api::Tenant;

use super::Pass;

/// What the spec refers to.
pub struct Refs {
    pub related: Vec<Tenant>,
}

pub fn run(pass: &Pass<'_>) -> Refs {
    let tenant = pass.tenant;
    let allowed: HashSet<&str> = match tenant.spec.rbac.as_ref() {
        Some(r) if r.allow_cross_tenant_access == Some(true) => r
            .allowed_tenants
            .iter()
            .flatten()
            .map(String::as_str)
            .collect(),
        _ => HashSet::new(),
    };
    let related = pass
        .ctx
        .tenants
        .state()
        .iter()
        .filter(|t| t.metadata.uid != tenant.metadata.uid)
        .filter(|t| {
            t.spec.tenant_id == tenant.spec.tenant_id || allowed.contains(t.spec.tenant_id.as_str())
        })
        .map(|t| (**t).clone())
        .collect();
    Refs { related }
}
