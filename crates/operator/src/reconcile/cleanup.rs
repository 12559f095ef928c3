//! Cleanup, while the Tenant is being deleted: delete what it created (only objects with the
//! operator's label and this Tenant's owner annotation and uid), wait until they are gone, then
//! release the finalizer. Objects inside the Tenant's namespaces go with the namespace.

use std::collections::HashSet;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use tenant_api::labels;
use tenant_core::status::Outcome;
use tracing::{debug, info};

use super::{Pass, events, finalizer, status};
use crate::cache::CachedRef;
use crate::error::{Error, Result};
use crate::io;

pub async fn run(pass: &mut Pass<'_>) -> Result<Action> {
    if !finalizer::present(pass) {
        pass.ctx.forget(&pass.owner, pass.uid);
        return Ok(Action::await_change());
    }
    let outcome = Outcome::Cleaning {
        namespace: pass.status.as_ref().and_then(|s| s.namespace.clone()),
    };
    // The status write may fail with 404/409 while the object is going away: not worth an error.
    if let Err(e) = status::write(pass, &outcome).await {
        debug!(error = %e, "could not record the Cleaning phase");
    }

    let owned: Vec<CachedRef> = pass
        .ctx
        .kinds
        .owned_by(&pass.owner)
        .into_iter()
        .filter(|r| r.owner_uid.as_deref() == Some(pass.uid))
        .filter(|r| r.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER))
        .collect();
    let namespaces: HashSet<&str> = owned
        .iter()
        .filter(|r| r.kind == "Namespace")
        .map(|r| r.name.as_str())
        .collect();
    let mut deleted = Vec::new();
    for r in owned.iter().filter(|r| !r.deleting) {
        let inside = r
            .namespace
            .as_deref()
            .is_some_and(|ns| namespaces.contains(ns));
        if inside {
            continue;
        }
        let Some(kind) = pass.ctx.kinds.find(&r.api_version, &r.kind) else {
            continue;
        };
        pass.ctx.metrics.write(&r.kind, "delete");
        let gone = io::delete(&pass.ctx.client, &kind.resource, r)
            .await
            .map_err(|source| Error::Cleanup {
                kind: r.kind.clone(),
                name: r.name.clone(),
                source,
            })?;
        if gone {
            deleted.push(format!("{} {}", r.kind, r.name));
        }
    }
    if !deleted.is_empty() {
        let names = deleted.join(", ");
        info!(objects = %names, "deleting the tenant's objects");
        events::publish(
            pass,
            EventType::Normal,
            "Deleting",
            "Cleanup",
            format!("deleting {names}"),
        )
        .await;
    }
    if !owned.is_empty() {
        debug!(
            remaining = owned.len(),
            "waiting for the tenant's objects to disappear"
        );
        return Ok(Action::requeue(pass.ctx.config.wait_requeue));
    }
    finalizer::release(pass).await?;
    pass.ctx.forget(&pass.owner, pass.uid);
    info!(tenant = %pass.owner, "cleanup finished; finalizer released");
    Ok(Action::await_change())
}
