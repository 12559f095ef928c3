//! Claim: may this Tenant use its namespace? The verdict is `tenant_core::claim::decide` on the
//! live namespace; the check and the create happen under a per-namespace lock, so two Tenants
//! wanting the same namespace cannot both see it free. (Across replicas the lock is not needed:
//! with leader election only one replica writes.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::Value;
use tenant_core::claim::{self, Claim};
use tenant_core::status::Outcome;
use tokio::sync::OwnedMutexGuard;

use super::build::Desired;
use super::{Pass, Refusal, events};
use crate::error::{Error, Result};
use crate::io;

/// How long a conflicting Tenant waits before looking again (the namespace it wants belongs to
/// someone else, whose changes do not trigger this Tenant).
pub const CONFLICT_RECHECK: Duration = Duration::from_secs(60);

/// The namespace may be used: the verdict (`Free` or `Ours`), the live namespace, and the lock,
/// held until the apply step has created the namespace.
pub struct Claimed {
    pub verdict: Claim,
    pub live: Option<Value>,
    pub guard: OwnedMutexGuard<()>,
}

pub async fn run(pass: &Pass<'_>, desired: &mut Desired) -> Result<Result<Claimed, Refusal>> {
    let namespace = &desired.namespace.clone();
    let guard = pass.ctx.locks.lock(namespace).await;
    let live = live_namespace(pass, namespace).await?;
    let meta = live
        .as_ref()
        .and_then(|v| v.get("metadata"))
        .and_then(|m| serde_json::from_value(m.clone()).ok());
    let recorded = pass
        .status
        .as_ref()
        .and_then(|s| s.namespace_uid.as_deref());
    let mut verdict = claim::decide(meta.as_ref(), &pass.owner, pass.uid, recorded);
    // An existing namespace without an owner, which the Tenant asked to adopt.
    if matches!(verdict, Claim::Conflict { .. })
        && adopt_requested(pass)
        && let Some(m) = &meta
    {
        let protected = [pass.ctx.config.operator_namespace.as_str()];
        verdict = match claim::adoptable(m, &protected) {
            Ok(()) => Claim::Adopt,
            Err(why) => Claim::Conflict {
                holder: format!("someone else, and it cannot be adopted: {why}"),
            },
        };
    }
    // An adopted namespace stays marked as adopted for as long as the Tenant has it, so that
    // deleting the Tenant keeps it (see cleanup).
    let adopted = verdict == Claim::Adopt
        || (verdict == Claim::Ours && meta.as_ref().is_some_and(is_adopted));
    if adopted {
        let at = meta
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(tenant_api::labels::ADOPTED_AT))
            .cloned()
            .unwrap_or_else(adoption_time);
        mark_adopted(desired, &at);
    }
    if verdict == Claim::Adopt {
        events::publish(
            pass,
            kube::runtime::events::EventType::Normal,
            "NamespaceAdopted",
            "Claim",
            format!(
                "namespace {namespace} existed without an owner and is adopted as it is; deleting the Tenant will remove what the operator puts in it and keep the namespace"
            ),
        )
        .await;
    }
    // Ours by the recorded uid, but its marks name someone else: somebody changed them. The
    // apply puts them back; the change is reported.
    if verdict == Claim::Ours
        && let Some(m) = &meta
        && !claim::marks_match(m, &pass.owner, pass.uid)
        && recorded.is_some()
    {
        let found = m
            .annotations
            .as_ref()
            .and_then(|a| a.get(tenant_api::labels::OWNER))
            .cloned()
            .unwrap_or_else(|| "none".into());
        events::tampered(
            pass,
            format!(
                "namespace {namespace}: its owner annotation said {found:?}; it is this Tenant's (the uid its status recorded), and the operator restores the marks"
            ),
        )
        .await;
    }
    Ok(match verdict {
        Claim::Conflict { holder } => Err(conflict(namespace.clone(), holder)),
        Claim::OursTerminating => Err(Refusal {
            message: format!("namespace {namespace} from an earlier deletion is still terminating"),
            outcome: Box::new(Outcome::NamespaceTerminating {
                namespace: namespace.clone(),
            }),
            reason: "NamespaceTerminating",
            action: "Claim",
            then: Action::requeue(pass.ctx.config.wait_requeue),
        }),
        Claim::Free | Claim::Ours | Claim::Adopt => Ok(Claimed {
            verdict,
            live,
            guard,
        }),
    })
}

/// Whether the Tenant asks to adopt its namespace if it exists without an owner.
fn adopt_requested(pass: &Pass<'_>) -> bool {
    pass.tenant
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(tenant_api::labels::ADOPT_NAMESPACE))
        .is_some_and(|v| v == "true")
}

/// Whether a namespace carries the operator's adoption mark.
pub fn is_adopted(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(tenant_api::labels::ADOPTED))
        .is_some_and(|v| v == "true")
}

/// The adoption time recorded on a namespace: now, in whole seconds as the API server stamps
/// objects, less [`CLOCK_TOLERANCE`] so that an object the operator creates right after is
/// never older than it on a server whose clock is a little behind the operator's.
fn adoption_time() -> String {
    let s = jiff::Timestamp::now().as_second() - CLOCK_TOLERANCE;
    jiff::Timestamp::from_second(s)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Seconds the operator's clock may be ahead of the API server's (see [`adoption_time`]).
const CLOCK_TOLERANCE: i64 = 5;

/// Puts the adoption mark and its time on the desired namespace.
fn mark_adopted(desired: &mut Desired, at: &str) {
    let namespace = desired.namespace.clone();
    if let Some(ns) = desired
        .objects
        .iter_mut()
        .find(|o| o.kind == "Namespace" && o.api_version == "v1" && o.name == namespace)
        && let Some(meta) = ns
            .manifest
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
    {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(tenant_api::labels::ADOPTED.into(), Value::from("true"));
            a.insert(tenant_api::labels::ADOPTED_AT.into(), Value::from(at));
        }
    }
}

/// The namespace belongs to someone else: `Ready=False, NamespaceConflict`, nothing taken over,
/// and a look again later (the holder's changes do not trigger this Tenant).
pub fn conflict(namespace: String, holder: String) -> Refusal {
    Refusal {
        message: format!("namespace {namespace} belongs to {holder}; nothing was taken over"),
        outcome: Box::new(Outcome::Conflict { namespace, holder }),
        reason: "NamespaceConflict",
        action: "Claim",
        then: Action::requeue(CONFLICT_RECHECK),
    }
}

/// The live namespace: from the store when it is labelled as ours, else from the API server
/// (unlabelled namespaces are not watched).
async fn live_namespace(pass: &Pass<'_>, name: &str) -> Result<Option<Value>> {
    let Some(kind) = pass.ctx.kinds.find("v1", "Namespace") else {
        return Ok(None);
    };
    if let Some(v) = kind.cache.get(None, name) {
        return Ok(Some(v));
    }
    let live = io::get(&pass.ctx.client, &kind.resource, None, name)
        .await
        .map_err(|source| Error::Claim {
            namespace: name.to_string(),
            source,
        })?;
    Ok(live.map(io::to_value))
}

/// One async mutex per namespace name, created on demand.
#[derive(Default)]
pub struct NamespaceLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl NamespaceLocks {
    /// Waits for and takes the lock of namespace `name`.
    pub async fn lock(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Drop locks nobody holds or waits for, so the map does not grow without bound.
            map.retain(|_, l| Arc::strong_count(l) > 1);
            map.entry(name.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// An older Tenant holds the custom domain: `Ready=False, DomainConflict`, nothing applied, and
/// a look again later (the holder's changes do not trigger this Tenant).
pub fn domain_conflict(domain: String, holder: String) -> Refusal {
    Refusal {
        message: format!("customDomain {domain} is held by {holder}; nothing was applied"),
        outcome: Box::new(Outcome::DomainConflict { domain, holder }),
        reason: "DomainConflict",
        action: "Claim",
        then: Action::requeue(CONFLICT_RECHECK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_namespace_lock_serialises_claims() {
        let locks = Arc::new(NamespaceLocks::default());
        let g = locks.lock("ns").await;
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move {
            let _g = l2.lock("ns").await;
        });
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "second claim must wait for the first"
        );
        // A different namespace is not blocked.
        let _other = locks.lock("other").await;
        drop(g);
        assert!(waiter.await.is_ok());
    }
}
