//! Provision: the tenant's identities on the platform's shared data servers (see
//! [`crate::data`]). [`prepare`] runs before the build: it decides the credentials the
//! connection Secret carries (kept while the rotation token stays, else new), and refuses a
//! data location another tenant holds. [`run`] runs after the apply (the Secret with the
//! credentials is in place): it makes each server agree. A server that cannot be reached makes
//! `DataReady` False naming it, and the reconcile looks again with backoff; everything else of
//! the Tenant is applied all the same.

use std::time::Duration;

use tenant_core::build::data as tdata;
use tenant_core::naming;
use tenant_core::status::StoreState;

use super::Pass;
use crate::data::Prepared;
use tenant_core::build::config::SECRET;

/// What provisioning found.
pub struct Provisioned {
    /// One state per store the tenant has an identity on.
    pub data: Vec<StoreState>,
    /// When to try again after a failure.
    pub retry: Option<Duration>,
}

/// The tenant's credentials for the build (nothing when no shared server is registered).
pub async fn prepare(pass: &Pass<'_>) -> Prepared {
    let data = &pass.ctx.data;
    let tenant = pass.tenant;
    if let Some((what, holder)) = tdata::conflict(
        tenant,
        pass.ctx
            .tenants
            .state()
            .iter()
            .map(|t| t.as_ref())
            .filter(|t| pass.ctx.config.placed(t)),
        &data.registered(),
    ) {
        return Prepared {
            servers: Default::default(),
            wiring: Default::default(),
            problems: vec![StoreState {
                store: crate::data::REDIS.into(),
                ready: false,
                conflict: true,
                message: format!("{what} is held by {holder}; no identity was provisioned"),
            }],
        };
    }
    let namespace = naming::namespace_name(&tenant.spec);
    let cached = pass
        .ctx
        .kinds
        .find("v1", "Secret")
        .and_then(|k| k.cache.get(Some(&namespace), SECRET));
    data.prepare(tenant, cached).await
}

pub async fn run(pass: &Pass<'_>, prepared: &Prepared) -> Provisioned {
    if prepared.wiring.is_empty() && prepared.problems.is_empty() {
        return Provisioned {
            data: Vec::new(),
            retry: None,
        };
    }
    let (data, retry) = pass.ctx.data.provision(pass.tenant, prepared).await;
    Provisioned { data, retry }
}
