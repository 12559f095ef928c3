//! Who may use a namespace: the pure decision from a live Namespace's metadata.

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
    /// It exists and belongs to someone else; `holder` says who, for the condition message.
    Conflict { holder: String },
}

/// Decides whether `owner` with `uid` may use a namespace whose live metadata is `ns` (`None`:
/// it does not exist).
pub fn decide(ns: Option<&ObjectMeta>, owner: &Owner, uid: &str) -> Claim {
    let Some(meta) = ns else {
        return Claim::Free;
    };
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
        assert_eq!(decide(Some(&m), &a(), "u1"), Claim::Ours);
        let m = meta(Some("PRStack/default/a"), Some("u1"));
        assert!(matches!(
            decide(Some(&m), &a(), "u1"),
            Claim::Conflict { holder } if holder == "PRStack default/a"
        ));
        let m = meta(Some("garbage"), Some("u1"));
        assert!(matches!(
            decide(Some(&m), &a(), "u1"),
            Claim::Conflict { holder } if holder.contains("unknown owner")
        ));
    }

    #[test]
    fn absent_namespace_is_free() {
        assert_eq!(decide(None, &a(), "u1"), Claim::Free);
    }

    #[test]
    fn owner_and_uid_must_both_match() {
        assert_eq!(
            decide(Some(&meta(Some("default/a"), Some("u1"))), &a(), "u1"),
            Claim::Ours
        );
        assert!(matches!(
            decide(Some(&meta(Some("default/a"), Some("u0"))), &a(), "u1"),
            Claim::Conflict { holder } if holder.contains("earlier Tenant default/a")
        ));
        assert!(matches!(
            decide(Some(&meta(Some("default/a"), None)), &a(), "u1"),
            Claim::Conflict { .. }
        ));
    }

    #[test]
    fn other_tenants_and_unmanaged_namespaces_conflict() {
        assert!(matches!(
            decide(Some(&meta(Some("team/b"), Some("u2"))), &a(), "u1"),
            Claim::Conflict { holder } if holder == "Tenant team/b"
        ));
        assert!(matches!(
            decide(Some(&meta(None, None)), &a(), "u1"),
            Claim::Conflict { holder } if holder.contains("not created by the operator")
        ));
    }

    #[test]
    fn our_terminating_namespace_means_wait() {
        let mut m = meta(Some("default/a"), Some("u1"));
        m.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(decide(Some(&m), &a(), "u1"), Claim::OursTerminating);
    }
}
