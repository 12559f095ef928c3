//! Who holds which host: the map the `tenant-ingress-hosts` admission policy reads.
//!
//! A host belongs to one tenant: the Tenant whose `customDomain` names it (a wildcard
//! `*.shop.example.com` holds every host below `shop.example.com`). When several Tenants name
//! overlapping domains, the oldest holds it. The map is one ConfigMap, `tenant-domains`, in the
//! operator's namespace: key = the domain (`_.` instead of `*.` for a wildcard, since a key may
//! not contain `*`), value = the tenantId; the key `_unclaimed` holds the platform's setting for
//! hosts no tenant holds (`allow` or `refuse`). The policy refuses a tenant's Ingress for a host
//! another tenant holds, and, with `refuse`, for a host nobody holds.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use serde_json::json;
use tenant_api::{Tenant, labels};

use crate::object::Object;

/// The ConfigMap's name.
pub const CONFIG_MAP: &str = "tenant-domains";
/// The key of the platform's setting for hosts no tenant holds.
pub const UNCLAIMED_KEY: &str = "_unclaimed";
/// How a wildcard domain is written in a key (`*` is not allowed in ConfigMap keys).
pub const WILDCARD_PREFIX: &str = "_.";

/// What tenants may do with hosts no tenant holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unclaimed {
    /// Any tenant may use them (the default: a tenant without a custom domain can still publish
    /// a host the platform hands out, e.g. under a shared apps domain).
    #[default]
    Allow,
    /// A tenant may publish only hosts under its own `customDomain`.
    Refuse,
}

impl Unclaimed {
    pub fn as_str(self) -> &'static str {
        match self {
            Unclaimed::Allow => "allow",
            Unclaimed::Refuse => "refuse",
        }
    }
}

/// The key of a `customDomain` in the map.
pub fn key(domain: &str) -> String {
    match domain.strip_prefix("*.") {
        Some(base) => format!("{WILDCARD_PREFIX}{base}"),
        None => domain.to_string(),
    }
}

/// Whether the claims of two keys overlap (one covers a host the other covers).
fn overlaps(a: &str, b: &str) -> bool {
    let split = |k: &str| match k.strip_prefix(WILDCARD_PREFIX) {
        Some(base) => (true, base.to_string()),
        None => (false, k.to_string()),
    };
    let ((aw, ad), (bw, bd)) = (split(a), split(b));
    let below = |x: &str, y: &str| x.ends_with(&format!(".{y}"));
    match (aw, bw) {
        (false, false) => ad == bd,
        (true, false) => below(&bd, &ad),
        (false, true) => below(&ad, &bd),
        (true, true) => ad == bd || below(&ad, &bd) || below(&bd, &ad),
    }
}

/// The held domains, key -> tenantId: every Tenant's `customDomain`, oldest Tenant first; a
/// domain that overlaps one an older Tenant holds is not held by the younger one (that Tenant
/// has a domain conflict to resolve).
pub fn claims<T: Borrow<Tenant>>(tenants: &[T]) -> BTreeMap<String, String> {
    let mut ordered: Vec<&Tenant> = tenants
        .iter()
        .map(Borrow::borrow)
        .filter(|t| t.metadata.deletion_timestamp.is_none())
        .filter(|t| t.spec.custom_domain.as_deref().is_some_and(valid_domain))
        .collect();
    ordered.sort_by(|a, b| {
        if older(a, b) {
            std::cmp::Ordering::Less
        } else if older(b, a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for t in ordered {
        let Some(domain) = t.spec.custom_domain.as_deref() else {
            continue;
        };
        let k = key(domain);
        let taken = out
            .iter()
            .any(|(held, id)| *id != t.spec.tenant_id && overlaps(held, &k));
        if !taken {
            out.insert(k, t.spec.tenant_id.clone());
        }
    }
    out
}

/// Whether `a` was created before `b` (ties broken by namespace and name), the order in which
/// Tenants claim domains.
fn older(a: &Tenant, b: &Tenant) -> bool {
    let age = |t: &Tenant| t.metadata.creation_timestamp.clone().map(|c| c.0);
    age(a)
        .cmp(&age(b))
        .then_with(|| a.metadata.namespace.cmp(&b.metadata.namespace))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        .is_lt()
}

/// The oldest other Tenant (not being deleted) whose `customDomain` overlaps `tenant`'s and that
/// is older than `tenant`: it holds the domain, and `tenant` may not publish it (its Ingress
/// would fight the holder's for the same host). `None` when `tenant` holds its domain or has
/// none.
pub fn holder<'a>(
    tenant: &Tenant,
    others: impl IntoIterator<Item = &'a Tenant>,
) -> Option<&'a Tenant> {
    let mine = key(tenant
        .spec
        .custom_domain
        .as_deref()
        .filter(|d| valid_domain(d))?);
    others
        .into_iter()
        .filter(|o| o.metadata.deletion_timestamp.is_none())
        // strictly older: never the Tenant itself
        .filter(|o| older(o, tenant))
        .filter(|o| {
            o.spec
                .custom_domain
                .as_deref()
                .filter(|d| valid_domain(d))
                .is_some_and(|d| overlaps(&key(d), &mine))
        })
        .min_by(|a, b| {
            if older(a, b) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        })
}

/// A lower-case DNS name, optionally `*.`-prefixed (the CRD's rule; anything else is skipped,
/// never put into the map).
fn valid_domain(d: &str) -> bool {
    let name = d.strip_prefix("*.").unwrap_or(d);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The ConfigMap of the map, in `namespace`.
pub fn config_map<T: Borrow<Tenant>>(
    tenants: &[T],
    namespace: &str,
    unclaimed: Unclaimed,
) -> Object {
    let mut data = claims(tenants);
    data.insert(UNCLAIMED_KEY.to_string(), unclaimed.as_str().to_string());
    Object::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIG_MAP,
            "namespace": namespace,
            "labels": {
                labels::MANAGED_BY: labels::MANAGER,
                labels::PART_OF: "tenant",
                labels::APP_COMPONENT: "admission-policy",
            },
        },
        "data": data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_api::{TenantSpec, TenantType};

    fn tenant(id: &str, domain: &str, created: i64) -> Tenant {
        let mut spec = TenantSpec::new(id, TenantType::Production);
        spec.custom_domain = Some(domain.into());
        let mut t = Tenant::new(id, spec);
        t.metadata.namespace = Some("tenants".into());
        t.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(created)
                .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        ));
        t
    }

    #[test]
    fn the_oldest_tenant_holds_a_domain_and_overlaps_are_not_held_twice() {
        let c = claims(&[
            tenant("late", "shop.example.com", 20),
            tenant("early", "shop.example.com", 10),
            tenant("wild", "*.example.com", 30),
            tenant("sub", "a.b.example.org", 5),
            tenant("wild-org", "*.example.org", 40),
            tenant("other", "other.net", 50),
        ]);
        assert_eq!(c.get("shop.example.com").map(String::as_str), Some("early"));
        assert!(
            !c.contains_key("_.example.com"),
            "covers early's host: {c:?}"
        );
        assert!(!c.contains_key("_.example.org"), "covers sub's host: {c:?}");
        assert_eq!(c.get("a.b.example.org").map(String::as_str), Some("sub"));
        assert_eq!(c.get("other.net").map(String::as_str), Some("other"));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn the_younger_of_two_tenants_on_one_domain_has_a_holder() {
        let a = tenant("a", "shop.example.com", 10);
        let b = tenant("b", "shop.example.com", 20);
        let w = tenant("w", "*.example.com", 30);
        let all = [a.clone(), b.clone(), w.clone()];
        assert!(holder(&a, &all).is_none());
        assert_eq!(
            holder(&b, &all).map(|t| t.spec.tenant_id.as_str()),
            Some("a")
        );
        assert_eq!(
            holder(&w, &all).map(|t| t.spec.tenant_id.as_str()),
            Some("a")
        );
        let other = tenant("c", "other.example.org", 5);
        assert!(holder(&other, &all).is_none());
    }

    #[test]
    fn a_wildcard_is_a_key_without_a_star() {
        let c = claims(&[tenant("w", "*.shop.example.com", 1)]);
        assert_eq!(c.get("_.shop.example.com").map(String::as_str), Some("w"));
        let cm = config_map::<Tenant>(&[], "tenant-system", Unclaimed::Refuse);
        assert_eq!(cm.manifest["data"][UNCLAIMED_KEY], "refuse");
        assert_eq!(cm.namespace.as_deref(), Some("tenant-system"));
        assert_eq!(cm.name, CONFIG_MAP);
    }

    #[test]
    fn overlap_rules() {
        assert!(overlaps("a.com", "a.com"));
        assert!(!overlaps("a.com", "b.a.com"));
        assert!(overlaps("_.a.com", "b.a.com"));
        assert!(!overlaps("_.a.com", "a.com"));
        assert!(overlaps("b.a.com", "_.a.com"));
        assert!(overlaps("_.a.com", "_.b.a.com"));
        assert!(!overlaps("_.a.com", "_.b.com"));
        assert!(!valid_domain("Shop.com") && !valid_domain("-a.com") && valid_domain("*.a.com"));
    }
}
