//! Who may use a namespace: the pure decision from a live Namespace's metadata and what the
//! Tenant's own status recorded.
//!
//! Evidence, strongest first: the namespace's uid equals the one the Tenant's status recorded
//! (only the operator writes the status); else its owner annotations name this Tenant and its
//! uid (written by the operator, but forgeable by whoever may patch the namespace where the
//! admission policies do not run). A namespace whose marks name this Tenant but whose uid is not
//! the recorded one is not the Tenant's: someone else's namespace carrying forged marks.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tenant_api::labels;

use crate::owner::Owner;

/// The verdict on a Tenant's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// No such namespace: the Tenant may create it.
    Free,
    /// It exists and carries this Tenant's owner annotation and uid.
    Ours,
    /// It is ours but being deleted (a previous incarnation): wait until it is gone.
    OursTerminating,
    /// It exists without any owner and the Tenant asked to adopt it
    /// ([`labels::ADOPT_NAMESPACE`]; see [`adoptable`]): it is used as it is, and kept when the
    /// Tenant goes.
    Adopt,
    /// It exists and belongs to someone else; `holder` says who, for the condition message.
    Conflict { holder: String },
}

/// Namespaces never adopted, whatever a Tenant asks: the cluster's own.
const NEVER_ADOPTED: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Whether an existing namespace may be adopted by a Tenant that asks for it: it carries no
/// owner annotation or uid and is not labelled as the operator's (so it is no Tenant's, not
/// even a deleted one's), it is not being deleted, and it is neither one of the cluster's own
/// (`default`, `kube-*`) nor one of `protected` (the operator's). `Err` says why not.
pub fn adoptable(meta: &ObjectMeta, protected: &[&str]) -> Result<(), String> {
    let name = meta.name.as_deref().unwrap_or_default();
    let ann = |k: &str| meta.annotations.as_ref().is_some_and(|a| a.contains_key(k));
    if ann(labels::OWNER) || ann(labels::OWNER_UID) {
        return Err("it carries an owner annotation".into());
    }
    let label = |k: &str| {
        meta.labels
            .as_ref()
            .and_then(|l| l.get(k))
            .map(String::as_str)
    };
    if label(labels::MANAGED_BY) == Some(labels::MANAGER)
        || label(labels::TENANT_NAMESPACE).is_some()
    {
        return Err("it is labelled as the operator's".into());
    }
    if meta.deletion_timestamp.is_some() {
        return Err("it is being deleted".into());
    }
    if NEVER_ADOPTED.contains(&name) || name.starts_with("kube-") || protected.contains(&name) {
        return Err("it is one of the cluster's or the operator's own namespaces".into());
    }
    Ok(())
}

/// Whether `meta`'s owner annotations name `owner` with `uid`.
pub fn marks_match(meta: &ObjectMeta, owner: &Owner, uid: &str) -> bool {
    let ann = |k: &str| meta.annotations.as_ref().and_then(|a| a.get(k));
    ann(labels::OWNER).and_then(|o| Owner::parse(o)).as_ref() == Some(owner)
        && ann(labels::OWNER_UID).map(String::as_str) == Some(uid)
}

/// Decides whether `owner` with `uid` may use a namespace whose live metadata is `ns` (`None`:
/// it does not exist); `recorded` is the namespace uid the Tenant's status recorded, if any.
pub fn decide(ns: Option<&ObjectMeta>, owner: &Owner, uid: &str, recorded: Option<&str>) -> Claim {
    let Some(meta) = ns else {
        return Claim::Free;
    };
    if let Some(r) = recorded {
        if meta.uid.as_deref() == Some(r) {
            // The very namespace the operator recorded: ours, whatever its marks now say (the
            // apply puts them back).
            return if meta.deletion_timestamp.is_some() {
                Claim::OursTerminating
            } else {
                Claim::Ours
            };
        }
        if marks_match(meta, owner, uid) {
            return Claim::Conflict {
                holder: format!(
                    "no one this Tenant knows: it carries this Tenant's ownership marks, but it is not the namespace the operator recorded for it (uid {r}); the marks were forged or copied"
                ),
            };
        }
    }
    let ann = |k: &str| {
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(k))
            .map(String::as_str)
    };
    let recorded = ann(labels::OWNER).map(|o| (o, Owner::parse(o)));
    match (recorded, ann(labels::OWNER_UID)) {
        (Some((_, Some(o))), Some(u)) if o == *owner && u == uid => {
            if meta.deletion_timestamp.is_some() {
                Claim::OursTerminating
            } else {
                Claim::Ours
            }
        }
        (Some((_, Some(o))), Some(u)) if o == *owner => Claim::Conflict {
            holder: format!("an earlier {o} (uid {u})"),
        },
        (Some((_, Some(o))), _) => Claim::Conflict {
            holder: o.to_string(),
        },
        (Some((raw, None)), _) => Claim::Conflict {
            holder: format!("an unknown owner ({raw:?})"),
        },
        (None, _) => Claim::Conflict {
            holder: "no Tenant (it was not created by the operator)".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::collections::BTreeMap;

    use crate::owner::OwnerKind;

    fn a() -> Owner {
        Owner::new(OwnerKind::Tenant, "default", "a")
    }

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
    fn the_owner_annotation_may_name_the_kind() {
        let m = meta(Some("Tenant/default/a"), Some("u1"));
        assert_eq!(decide(Some(&m), &a(), "u1", None), Claim::Ours);
        let m = meta(Some("PRStack/default/a"), Some("u1"));
        assert!(matches!(
            decide(Some(&m), &a(), "u1", None),
            Claim::Conflict { holder } if holder == "PRStack default/a"
        ));
        let m = meta(Some("garbage"), Some("u1"));
        assert!(matches!(
            decide(Some(&m), &a(), "u1", None),
            Claim::Conflict { holder } if holder.contains("unknown owner")
        ));
    }

    #[test]
    fn the_recorded_uid_outweighs_the_marks() {
        let mut m = meta(Some("Tenant/default/other"), Some("u9"));
        m.uid = Some("ns-1".into());
        // Marks tampered with, but it is the namespace the status recorded: ours.
        assert_eq!(decide(Some(&m), &a(), "u1", Some("ns-1")), Claim::Ours);
        // Our marks on a namespace that is not the recorded one: not ours.
        let mut forged = meta(Some("Tenant/default/a"), Some("u1"));
        forged.uid = Some("ns-2".into());
        assert!(matches!(
            decide(Some(&forged), &a(), "u1", Some("ns-1")),
            Claim::Conflict { holder } if holder.contains("not the namespace the operator recorded")
        ));
        assert!(marks_match(&forged, &a(), "u1"));
        assert!(!marks_match(&m, &a(), "u1"));
    }

    #[test]
    fn absent_namespace_is_free() {
        assert_eq!(decide(None, &a(), "u1", None), Claim::Free);
    }

    #[test]
    fn owner_and_uid_must_both_match() {
        assert_eq!(
            decide(Some(&meta(Some("default/a"), Some("u1"))), &a(), "u1", None),
            Claim::Ours
        );
        assert!(matches!(
            decide(Some(&meta(Some("default/a"), Some("u0"))), &a(), "u1", None),
            Claim::Conflict { holder } if holder.contains("earlier Tenant default/a")
        ));
        assert!(matches!(
            decide(Some(&meta(Some("default/a"), None)), &a(), "u1", None),
            Claim::Conflict { .. }
        ));
    }

    #[test]
    fn other_tenants_and_unmanaged_namespaces_conflict() {
        assert!(matches!(
            decide(Some(&meta(Some("team/b"), Some("u2"))), &a(), "u1", None),
            Claim::Conflict { holder } if holder == "Tenant team/b"
        ));
        assert!(matches!(
            decide(Some(&meta(None, None)), &a(), "u1", None),
            Claim::Conflict { holder } if holder.contains("not created by the operator")
        ));
    }

    #[test]
    fn only_an_unowned_ordinary_namespace_is_adoptable() {
        let mut m = meta(None, None);
        m.name = Some("pr-7-shop-pilab-hu".into());
        assert_eq!(adoptable(&m, &["tenant-system"]), Ok(()));
        let mut marked = meta(Some("Tenant/default/b"), None);
        marked.name = m.name.clone();
        assert!(
            adoptable(&marked, &[])
                .unwrap_err()
                .contains("owner annotation")
        );
        let mut uid_only = meta(None, Some("u2"));
        uid_only.name = m.name.clone();
        assert!(adoptable(&uid_only, &[]).is_err());
        let mut labelled = m.clone();
        labelled.labels = Some(BTreeMap::from([(
            labels::MANAGED_BY.to_string(),
            labels::MANAGER.to_string(),
        )]));
        assert!(adoptable(&labelled, &[]).unwrap_err().contains("labelled"));
        let mut going = m.clone();
        going.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert!(adoptable(&going, &[]).unwrap_err().contains("deleted"));
        for name in ["default", "kube-system", "kube-anything", "tenant-system"] {
            let mut own = m.clone();
            own.name = Some(name.into());
            assert!(adoptable(&own, &["tenant-system"]).is_err(), "{name}");
        }
    }

    #[test]
    fn our_terminating_namespace_means_wait() {
        let mut m = meta(Some("default/a"), Some("u1"));
        m.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(decide(Some(&m), &a(), "u1", None), Claim::OursTerminating);
    }
}
