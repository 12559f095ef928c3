//! Prune: delete this Tenant's objects the desired set no longer has. Never the namespace (that
//! goes only with the Tenant), never an object without the operator's label, this Tenant's
//! owner annotation and uid, and its selector labels, and never one outside the Tenant's own
//! namespace: the operator creates none there, so one that carries this Tenant's marks there was
//! marked by someone else, and is reported instead. (The one exception is the backup Schedule,
//! whose home is Velero's namespace: see `Desired::at_home`.)

use std::collections::{BTreeMap, HashSet};

use tenant_api::labels;
use tenant_core::{Object, naming};

use super::build::Desired;
use super::{Pass, events};
use crate::cache::CachedRef;
use crate::error::{Error, Result};
use crate::io;

/// `Kind name` of each object deleted.
pub struct Pruned {
    pub deleted: Vec<String>,
}

pub async fn run(pass: &Pass<'_>, desired: &Desired) -> Result<Pruned> {
    let desired_keys: HashSet<String> = desired.objects.iter().map(Object::key).collect();
    let owned = pass.ctx.kinds.owned_by(&pass.owner);
    let foreign: Vec<String> = owned
        .iter()
        .filter(|r| {
            r.kind != "Namespace"
                && !desired.at_home(&r.api_version, &r.kind, r.namespace.as_deref())
        })
        .map(|r| {
            format!(
                "{} {}/{}",
                r.kind,
                r.namespace.as_deref().unwrap_or(""),
                r.name
            )
        })
        .collect();
    if !foreign.is_empty() {
        events::tampered(
            pass,
            format!(
                "{} outside the tenant's namespace carry this Tenant's ownership marks; the operator did not create them and leaves them alone",
                foreign.join(", ")
            ),
        )
        .await;
    }
    let selector = naming::selector_labels(&pass.tenant.spec);
    let mut deleted = Vec::new();
    for r in candidates(&owned, &desired_keys, pass.uid, &selector)
        .into_iter()
        .filter(|r| desired.at_home(&r.api_version, &r.kind, r.namespace.as_deref()))
    {
        if r.kind == "Namespace" {
            continue;
        }
        let Some(kind) = pass.ctx.kinds.find(&r.api_version, &r.kind) else {
            continue;
        };
        pass.ctx.metrics.write(&r.kind, "delete");
        io::delete(&pass.ctx.client, &kind.resource, r)
            .await
            .map_err(|source| Error::Prune {
                kind: r.kind.clone(),
                name: r.name.clone(),
                source,
            })?;
        deleted.push(format!("{} {}", r.kind, r.name));
    }
    Ok(Pruned { deleted })
}

/// What pruning may delete: objects of this owner (owner annotation already matched by the
/// caller; uid and the selector labels checked here) that the desired set no longer contains.
/// Objects without the managed-by label never reach this point (the stores only hold labelled
/// objects), and the selector requires it again.
pub fn candidates<'a>(
    owned: &'a [CachedRef],
    desired_keys: &HashSet<String>,
    uid: &str,
    selector: &BTreeMap<String, String>,
) -> Vec<&'a CachedRef> {
    owned
        .iter()
        .filter(|r| r.owner_uid.as_deref() == Some(uid))
        .filter(|r| selector.iter().all(|(k, v)| r.labels.get(k) == Some(v)))
        .filter(|r| r.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER))
        .filter(|r| !r.deleting)
        .filter(|r| !desired_keys.contains(&r.key()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_core::Owner;

    fn cached(name: &str, uid: Option<&str>, labels: &[(&str, &str)]) -> CachedRef {
        CachedRef {
            api_version: "networking.k8s.io/v1".into(),
            kind: "NetworkPolicy".into(),
            namespace: Some("tenant-a-prod".into()),
            name: name.into(),
            uid: Some(format!("obj-{name}")),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            owner: Owner::parse("default/a"),
            owner_uid: uid.map(str::to_string),
            deleting: false,
        }
    }

    #[test]
    fn prune_only_touches_this_tenants_labelled_objects_not_desired() {
        let sel = BTreeMap::from([
            (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
            (labels::TENANT_ID.to_string(), "a".to_string()),
        ]);
        let full = [
            (labels::MANAGED_BY, labels::MANAGER),
            (labels::TENANT_ID, "a"),
        ];
        let owned = vec![
            cached("keep", Some("u1"), &full),
            cached("stale", Some("u1"), &full),
            cached("other-uid", Some("u0"), &full),
            cached("no-uid", None, &full),
            cached("no-label", Some("u1"), &[(labels::TENANT_ID, "a")]),
            cached(
                "other-tenant",
                Some("u1"),
                &[
                    (labels::MANAGED_BY, labels::MANAGER),
                    (labels::TENANT_ID, "b"),
                ],
            ),
        ];
        let desired: HashSet<String> = [owned[0].key()].into();
        let names: Vec<&str> = candidates(&owned, &desired, "u1", &sel)
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, vec!["stale"]);
    }
}
