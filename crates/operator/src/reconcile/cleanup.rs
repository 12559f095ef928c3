//! Cleanup, while the Tenant is being deleted: take its last backup (when backups are on), delete
//! its backup Schedule and its namespace (everything else it created lives there and goes with
//! it), wait until it is gone, then release the finalizer. Only what is
//! provably the Tenant's is deleted (see `own_namespace`); anything else carrying its ownership
//! marks is reported and left in place.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use tenant_api::labels;
use tenant_core::naming;
use tenant_core::status::Outcome;
use tracing::{debug, info};

use super::{Pass, backup, events, finalizer, status};

/// How often a Tenant being deleted looks at its final backup.
const FINAL_BACKUP_POLL: std::time::Duration = std::time::Duration::from_secs(3);
/// A namespace terminating for longer than this is reported as stuck (the Tenant's Ready
/// condition says what holds it, an Event tells once)...
const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(60);
/// ... and looked at this often instead of every `wait_requeue`: the namespace watch still
/// brings the Tenant back as soon as the namespace changes or goes.
const STUCK_REQUEUE: std::time::Duration = std::time::Duration::from_secs(30);
use crate::cache::CachedRef;
use crate::error::{Error, Result};
use crate::io;

pub async fn run(pass: &mut Pass<'_>) -> Result<Action> {
    if !finalizer::present(pass) {
        pass.ctx.forget(&pass.owner, pass.uid);
        return Ok(Action::await_change());
    }
    let stuck = stuck_namespace(pass).await;
    let outcome = Outcome::Cleaning {
        namespace: pass.status.as_ref().and_then(|s| s.namespace.clone()),
        stuck: stuck.clone(),
    };
    // The status write may fail with 404/409 while the object is going away: not worth an error.
    match status::write(pass, &outcome).await {
        Ok(true) => {
            if let Some(why) = &stuck {
                events::publish(
                    pass,
                    EventType::Warning,
                    "NamespaceStuck",
                    "Cleanup",
                    why.clone(),
                )
                .await;
            }
        }
        Ok(false) => {}
        Err(e) => debug!(error = %e, "could not record the Cleaning phase"),
    }
    let wait = if stuck.is_some() {
        STUCK_REQUEUE
    } else {
        pass.ctx.config.wait_requeue
    };

    // Its identities on the shared data servers go first: a server that cannot be reached
    // holds the Tenant (the finalizer stays) and is tried again; its data stays unless the spec
    // says Delete.
    match pass.ctx.data.revoke(pass.tenant).await {
        Ok(done) => {
            for d in done {
                info!(tenant = %pass.owner, "{d}");
            }
        }
        Err(message) => {
            events::publish(
                pass,
                EventType::Warning,
                "RevokeFailed",
                "Cleanup",
                format!("revoking the tenant's data store identities: {message}; retrying"),
            )
            .await;
            return Ok(Action::requeue(std::time::Duration::from_secs(10)));
        }
    }

    // What carries this Tenant's marks (owner annotation and uid, the operator's label).
    let marked: Vec<CachedRef> = pass
        .ctx
        .kinds
        .owned_by(&pass.owner)
        .into_iter()
        .filter(|r| r.owner_uid.as_deref() == Some(pass.uid))
        .filter(|r| r.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER))
        .collect();
    // What is provably this Tenant's: the namespace its spec names (its name cannot change),
    // and, where the status recorded a uid, only the namespace with that uid, whatever its marks
    // say now. Everything in it goes with it. Nothing else is deleted: the operator creates no
    // per-tenant object elsewhere, so anything else carrying the marks was marked by someone
    // else, and is reported.
    let own = own_namespace(pass, &marked).await?;
    let own_name = own.as_ref().map(|r| r.name.clone());
    let foreign: Vec<String> = marked
        .iter()
        .filter(|r| {
            let is_own = r.kind == "Namespace" && Some(&r.name) == own_name.as_ref();
            let inside = r.namespace.is_some() && r.namespace == own_name;
            !is_own && !inside && !backup::in_velero_home(pass, r)
        })
        .map(|r| match &r.namespace {
            Some(ns) => format!("{} {ns}/{}", r.kind, r.name),
            None => format!("{} {}", r.kind, r.name),
        })
        .collect();
    if !foreign.is_empty() {
        events::tampered(
            pass,
            format!(
                "{} carry this Tenant's ownership marks but are not its own; left in place",
                foreign.join(", ")
            ),
        )
        .await;
    }
    let Some(ns) = own else {
        backup::remove_schedules(pass, &marked).await?;
        finalizer::release(pass).await?;
        pass.ctx.forget(&pass.owner, pass.uid);
        info!(tenant = %pass.owner, "cleanup finished (no namespace of its own left); finalizer released");
        return Ok(Action::await_change());
    };
    if !ns.deleting && adopted(pass, &ns.name).await? {
        // Adopted, not created: what the operator put in it goes, the namespace stays.
        if let backup::Final::Waiting = backup::final_backup(pass).await {
            return Ok(Action::requeue(FINAL_BACKUP_POLL));
        }
        backup::remove_schedules(pass, &marked).await?;
        release_namespace(pass, &ns.name, &marked).await?;
        events::publish(
            pass,
            EventType::Normal,
            "NamespaceReleased",
            "Cleanup",
            format!(
                "namespace {} was adopted, not created, by the operator: what the operator created in it was deleted, the namespace and everything else in it were kept",
                ns.name
            ),
        )
        .await;
        finalizer::release(pass).await?;
        pass.ctx.forget(&pass.owner, pass.uid);
        info!(tenant = %pass.owner, namespace = %ns.name, "cleanup finished (adopted namespace released); finalizer released");
        return Ok(Action::await_change());
    }
    if !ns.deleting {
        // One last backup of the namespace before it goes (bounded wait), then its Schedule.
        if let backup::Final::Waiting = backup::final_backup(pass).await {
            return Ok(Action::requeue(FINAL_BACKUP_POLL));
        }
        backup::remove_schedules(pass, &marked).await?;
        // The dedicated stores' volumes outlive the namespace unless the spec says Delete.
        retain_volumes(pass, &ns.name).await?;
        let Some(kind) = pass.ctx.kinds.find("v1", "Namespace") else {
            return Ok(Action::requeue(pass.ctx.config.wait_requeue));
        };
        pass.ctx.metrics.write("Namespace", "delete");
        let gone = io::delete(&pass.ctx.client, &kind.resource, &ns)
            .await
            .map_err(|source| Error::Cleanup {
                kind: "Namespace".into(),
                name: ns.name.clone(),
                source,
            })?;
        if gone {
            info!(namespace = %ns.name, "deleting the tenant's namespace");
            events::publish(
                pass,
                EventType::Normal,
                "Deleting",
                "Cleanup",
                format!("deleting Namespace {}", ns.name),
            )
            .await;
        }
    }
    debug!(namespace = %ns.name, "waiting for the tenant's namespace to disappear");
    Ok(Action::requeue(wait))
}

/// What holds the Tenant's namespace, when it has been terminating for longer than
/// `STUCK_AFTER`: the namespace controller's conditions that are true (a finalizer of some
/// content, content it cannot delete, a discovery failure) and the namespace's own finalizers.
/// One GET of the namespace per look (its status is not cached); `None` while it is not stuck.
async fn stuck_namespace(pass: &Pass<'_>) -> Option<String> {
    let name = naming::namespace_name(&pass.tenant.spec);
    let meta = live_namespace_meta(pass, &name).await.ok()??;
    let since = meta.deletion_timestamp.as_ref()?.0;
    let terminating = k8s_openapi::jiff::Timestamp::now().duration_since(since);
    if terminating < k8s_openapi::jiff::SignedDuration::try_from(STUCK_AFTER).ok()? {
        return None;
    }
    let kind = pass.ctx.kinds.find("v1", "Namespace")?;
    let live = io::get(&pass.ctx.client, &kind.resource, None, &name)
        .await
        .ok()
        .flatten()
        .map(io::to_value)?;
    let mut holds: Vec<String> = live["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "True")
        .map(|c| {
            format!(
                "{}: {}",
                c["type"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    if let Some(f) = meta.finalizers.as_ref().filter(|f| !f.is_empty()) {
        holds.push(format!("the namespace's own finalizers: {}", f.join(", ")));
    }
    if holds.is_empty() {
        holds.push("the namespace controller reports nothing yet".into());
    }
    Some(format!(
        "namespace {name} has been terminating since {since}; what holds it: {}. The Tenant is released once the namespace is gone",
        holds.join("; ")
    ))
}

/// Deletes one of the Tenant's cached objects (guarded by its uid) during cleanup.
pub(super) async fn delete_cached(pass: &Pass<'_>, r: &CachedRef) -> Result<()> {
    let Some(kind) = pass.ctx.kinds.find(&r.api_version, &r.kind) else {
        return Ok(());
    };
    pass.ctx.metrics.write(&r.kind, "delete");
    io::delete(&pass.ctx.client, &kind.resource, r)
        .await
        .map_err(|source| Error::Cleanup {
            kind: r.kind.clone(),
            name: r.name.clone(),
            source,
        })?;
    Ok(())
}

/// Whether the live namespace `name` carries the operator's adoption mark.
async fn adopted(pass: &Pass<'_>, name: &str) -> Result<bool> {
    let meta = live_namespace_meta(pass, name).await?;
    Ok(meta.as_ref().is_some_and(super::claim::is_adopted))
}

async fn live_namespace_meta(
    pass: &Pass<'_>,
    name: &str,
) -> Result<Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>> {
    let Some(kind) = pass.ctx.kinds.find("v1", "Namespace") else {
        return Ok(None);
    };
    let live = match kind.cache.get(None, name) {
        Some(v) => Some(v),
        None => io::get(&pass.ctx.client, &kind.resource, None, name)
            .await
            .map_err(|source| Error::Cleanup {
                kind: "Namespace".into(),
                name: name.to_string(),
                source,
            })?
            .map(io::to_value),
    };
    Ok(live
        .as_ref()
        .and_then(|v| v.get("metadata"))
        .and_then(|m| serde_json::from_value(m.clone()).ok()))
}

/// Gives an adopted namespace back: deletes the objects the operator created in it (carrying
/// this Tenant's marks and created after the adoption; never a claim, whose data stays), and
/// withdraws the operator's labels and annotations from the namespace, all but the adoption
/// mark, so a cleanup interrupted after this step still knows not to delete the namespace.
/// Objects that existed before the adoption and were taken over are left as they are.
async fn release_namespace(pass: &Pass<'_>, namespace: &str, marked: &[CachedRef]) -> Result<()> {
    let meta = live_namespace_meta(pass, namespace).await?;
    let since = meta
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(labels::ADOPTED_AT))
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    for r in marked {
        if r.namespace.as_deref() != Some(namespace) || r.kind == "PersistentVolumeClaim" {
            continue;
        }
        let Some(kind) = pass.ctx.kinds.find(&r.api_version, &r.kind) else {
            continue;
        };
        let created = kind
            .cache
            .get(r.namespace.as_deref(), &r.name)
            .and_then(|v| {
                v["metadata"]["creationTimestamp"]
                    .as_str()
                    .map(str::to_string)
            })
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        // Made by the operator: created at or after the adoption (timestamps have whole
        // seconds). Unknown either way: kept.
        let ours = matches!((since, created), (Some(s), Some(c)) if c.as_second() >= s.as_second());
        if !ours || r.deleting {
            continue;
        }
        delete_cached(pass, r).await?;
    }
    // Already given back (a cleanup interrupted after this step): nothing of the operator's
    // is left on it but the adoption mark.
    let marked_ns = meta.as_ref().is_some_and(|m| {
        m.labels.as_ref().is_some_and(|l| {
            l.contains_key(labels::TENANT_NAMESPACE) || l.contains_key(labels::BUDGET_FROZEN)
        }) || m
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(labels::OWNER))
    });
    if !marked_ns {
        return Ok(());
    }
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(pass.ctx.client.clone());
    let mut keep = serde_json::Map::new();
    keep.insert(labels::ADOPTED.into(), "true".into());
    if let Some(t) = since {
        keep.insert(labels::ADOPTED_AT.into(), t.to_string().into());
    }
    let withdraw = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "annotations": keep},
    });
    let err = |source| Error::Cleanup {
        kind: "Namespace".into(),
        name: namespace.to_string(),
        source,
    };
    pass.ctx.metrics.write("Namespace", "apply");
    api.patch(
        namespace,
        &kube::api::PatchParams::apply(labels::FIELD_MANAGER).force(),
        &kube::api::Patch::Apply(&withdraw),
    )
    .await
    .map_err(err)?;
    let frozen = meta
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .is_some_and(|l| l.contains_key(labels::BUDGET_FROZEN));
    if frozen {
        let bare = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
        pass.ctx.metrics.write("Namespace", "apply");
        api.patch(
            namespace,
            &kube::api::PatchParams::apply(crate::cost::BUDGET_FIELD_MANAGER).force(),
            &kube::api::Patch::Apply(&bare),
        )
        .await
        .map_err(err)?;
    }
    Ok(())
}

/// The annotation of a PersistentVolume kept for a deleted Tenant: `Tenant <namespace>/<name>
/// <claim>`, so the platform can find its data again.
pub const RETAINED_FOR: &str = "shop.pilab.hu/retained-for";

/// Before the namespace goes (and its claims with it): the volumes of the tenant's dedicated
/// stores get `persistentVolumeReclaimPolicy: Retain`, so their data stays (`onTenantDeletion:
/// Retain`, the default). Only volumes bound to the stores' claims in the tenant's own namespace
/// are touched, and only that field and an annotation.
async fn retain_volumes(pass: &Pass<'_>, namespace: &str) -> Result<()> {
    let data = tenant_core::build::data::dedicated(pass.tenant);
    if !data || tenant_core::build::data::deletes_data(pass.tenant) {
        return Ok(());
    }
    let cleanup = |source: kube::Error| Error::Cleanup {
        kind: "PersistentVolume".into(),
        name: namespace.to_string(),
        source,
    };
    let claims: kube::Api<PersistentVolumeClaim> =
        kube::Api::namespaced(pass.ctx.client.clone(), namespace);
    let lp = kube::api::ListParams::default().labels(tenant_core::build::dedicated::STORE_LABEL);
    let volumes: kube::Api<PersistentVolume> = kube::Api::all(pass.ctx.client.clone());
    for claim in claims.list(&lp).await.map_err(cleanup)? {
        let Some(volume) = claim.spec.as_ref().and_then(|s| s.volume_name.clone()) else {
            continue;
        };
        let note = format!(
            "{} {}",
            pass.owner,
            claim.metadata.name.as_deref().unwrap_or("")
        );
        let Some(live) = volumes.get_opt(&volume).await.map_err(cleanup)? else {
            continue;
        };
        let kept = live
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
            == Some("Retain")
            && live
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(RETAINED_FOR))
                == Some(&note);
        if kept {
            continue;
        }
        let patch = serde_json::json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume, "annotations": {RETAINED_FOR: note}},
            "spec": {"persistentVolumeReclaimPolicy": "Retain"},
        });
        pass.ctx.metrics.write("PersistentVolume", "apply");
        volumes
            .patch(
                &volume,
                &kube::api::PatchParams::apply(labels::FIELD_MANAGER).force(),
                &kube::api::Patch::Apply(&patch),
            )
            .await
            .map_err(cleanup)?;
        info!(tenant = %pass.owner, volume = %volume, "volume of a dedicated store kept (reclaim policy Retain)");
    }
    Ok(())
}

/// The Tenant's own namespace, if it still exists: by the uid its status recorded (from the
/// store, else a GET: its marks or label may have been taken off), else, for a Tenant whose
/// status recorded none, the namespace its spec names when its marks name this Tenant.
async fn own_namespace(pass: &Pass<'_>, marked: &[CachedRef]) -> Result<Option<CachedRef>> {
    let name = naming::namespace_name(&pass.tenant.spec);
    let recorded = pass
        .status
        .as_ref()
        .and_then(|s| s.namespace_uid.as_deref());
    let Some(recorded) = recorded else {
        return Ok(marked
            .iter()
            .find(|r| r.kind == "Namespace" && r.name == name)
            .cloned());
    };
    Ok(live_namespace_meta(pass, &name)
        .await?
        .filter(|m| m.uid.as_deref() == Some(recorded))
        .map(|m| CachedRef::from_meta("v1", "Namespace", &m)))
}
