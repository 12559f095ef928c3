//! Who may use a namespace: the pure decision from a live Namespace's metadata, plus the
//! per-namespace lock that makes "check, then claim" atomic inside one operator process.
//!
//! Across replicas the lock is not needed: with leader election only one replica writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tenant_api::labels;

/// The verdict on a Tenant's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// No such namespace: the Tenant may create it.
    Free,
    /// It exists and carries this Tenant's owner annotation and uid.
    Ours,
    /// It is ours but being deleted (a previous incarnation): wait until it is gone.
    OursTerminating,
    /// It exists and belongs to someone else; `holder` says who, for the condition message.
    Conflict { holder: String },
}

/// Decides whether the Tenant `owner` (`namespace/name`) with `uid` may use a namespace whose
/// live metadata is `ns` (`None`: it does not exist).
pub fn decide(ns: Option<&ObjectMeta>, owner: &str, uid: &str) -> Claim {
    let Some(meta) = ns else {
        return Claim::Free;
    };
    let ann = |k: &str| {
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(k))
            .map(String::as_str)
    };
    match (ann(labels::OWNER), ann(labels::OWNER_UID)) {
        (Some(o), Some(u)) if o == owner && u == uid => {
            if meta.deletion_timestamp.is_some() {
                Claim::OursTerminating
            } else {
                Claim::Ours
            }
        }
        (Some(o), Some(u)) if o == owner => Claim::Conflict {
            holder: format!("an earlier Tenant {o} (uid {u})"),
        },
        (Some(o), _) => Claim::Conflict {
            holder: format!("Tenant {o}"),
        },
        (None, _) => Claim::Conflict {
            holder: "no Tenant (it was not created by the operator)".to_string(),
        },
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::collections::BTreeMap;

    fn meta(owner: Option<&str>, uid: Option<&str>) -> ObjectMeta {
        let mut a = BTreeMap::new();
        if let Some(o) = owner {
            a.insert(labels::OWNER.to_string(), o.to_string());
        }
        if let Some(u) = uid {
            a.insert(labels::OWNER_UID.to_string(), u.to_string());
        }
        ObjectMeta {
            name: Some("tenant-a-prod".into()),
            annotations: Some(a),
            ..Default::default()
        }
    }

    #[test]
    fn absent_namespace_is_free() {
        assert_eq!(decide(None, "default/a", "u1"), Claim::Free);
    }

    #[test]
    fn owner_and_uid_must_both_match() {
        assert_eq!(
            decide(
                Some(&meta(Some("default/a"), Some("u1"))),
                "default/a",
                "u1"
            ),
            Claim::Ours
        );
        assert!(matches!(
            decide(Some(&meta(Some("default/a"), Some("u0"))), "default/a", "u1"),
            Claim::Conflict { holder } if holder.contains("earlier Tenant default/a")
        ));
        assert!(matches!(
            decide(Some(&meta(Some("default/a"), None)), "default/a", "u1"),
            Claim::Conflict { .. }
        ));
    }

    #[test]
    fn other_tenants_and_unmanaged_namespaces_conflict() {
        assert!(matches!(
            decide(Some(&meta(Some("team/b"), Some("u2"))), "default/a", "u1"),
            Claim::Conflict { holder } if holder == "Tenant team/b"
        ));
        assert!(matches!(
            decide(Some(&meta(None, None)), "default/a", "u1"),
            Claim::Conflict { holder } if holder.contains("not created by the operator")
        ));
    }

    #[test]
    fn our_terminating_namespace_means_wait() {
        let mut m = meta(Some("default/a"), Some("u1"));
        m.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(decide(Some(&m), "default/a", "u1"), Claim::OursTerminating);
    }

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
