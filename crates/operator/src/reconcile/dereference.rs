//! Dereference: what the Tenant's spec refers to, read from the watched state (no request).
//!
//! Today that is the other Tenants the builders need: those this Tenant grants cross-tenant
//! access to, and the other environments of the same tenantId (passing only these, not the
//! whole store, keeps the builders O(1) in the number of Tenants); and the older Tenant that
//! holds this Tenant's custom domain, if any (one pass over the cached Tenants).

use std::collections::HashSet;

use tenant_api::Tenant;

use super::Pass;

/// What the spec refers to.
pub struct Refs {
    pub related: Vec<Tenant>,
    /// `(domain, holder)` when an older Tenant holds this Tenant's custom domain.
    pub domain_holder: Option<(String, String)>,
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
    // A Tenant placed on other clusters holds nothing here (no domain, no shared identity).
    let mut all = pass.ctx.tenants.state();
    all.retain(|t| pass.ctx.config.placed(t));
    let domain_holder =
        tenant_core::build::domains::holder(tenant, all.iter().map(|t| &**t)).map(|h| {
            (
                tenant.spec.custom_domain.clone().unwrap_or_default(),
                format!(
                    "Tenant {}/{} (tenantId {}, customDomain {})",
                    h.metadata.namespace.as_deref().unwrap_or(""),
                    h.metadata.name.as_deref().unwrap_or(""),
                    h.spec.tenant_id,
                    h.spec.custom_domain.as_deref().unwrap_or("")
                ),
            )
        });
    let related = all
        .iter()
        .filter(|t| t.metadata.uid != tenant.metadata.uid)
        .filter(|t| {
            t.spec.tenant_id == tenant.spec.tenant_id || allowed.contains(t.spec.tenant_id.as_str())
        })
        .map(|t| (**t).clone())
        .collect();
    Refs {
        related,
        domain_holder,
    }
}
