//! Who owns a managed object: the custom resource named by its owner annotation.
//!
//! Objects the operator creates for a Tenant (or, later, a PRStack) cannot always carry an
//! ownerReference: cluster-scoped objects and objects in another namespace cannot point at a
//! namespaced owner. So every managed object carries the annotation `shop.pilab.hu/owner` with
//! the value `<Kind>/<namespace>/<name>` (names and namespaces never contain `/`), and
//! `shop.pilab.hu/owner-uid` with the owner's uid. Objects written before the kind was part of
//! the value carry `<namespace>/<name>`, which reads as a Tenant.

use std::fmt;

use tenant_api::Tenant;

/// The kinds of custom resources that own managed objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerKind {
    Tenant,
    PRStack,
}

impl OwnerKind {
    pub const ALL: [OwnerKind; 2] = [OwnerKind::Tenant, OwnerKind::PRStack];

    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Tenant => "Tenant",
            OwnerKind::PRStack => "PRStack",
        }
    }

    pub fn parse(s: &str) -> Option<OwnerKind> {
        OwnerKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One owner: kind, namespace and name (not the uid: that is a separate annotation, so a
/// recreated owner of the same name finds the objects of its predecessor and can tell them apart).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    pub kind: OwnerKind,
    pub namespace: String,
    pub name: String,
}

impl Owner {
    pub fn new(kind: OwnerKind, namespace: impl Into<String>, name: impl Into<String>) -> Owner {
        Owner {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The owner of a Tenant's objects. A Tenant read from a file may lack a namespace: it is
    /// applied to `default` then, as kubectl would.
    pub fn of_tenant(t: &Tenant) -> Owner {
        Owner::new(
            OwnerKind::Tenant,
            t.metadata.namespace.as_deref().unwrap_or("default"),
            t.metadata.name.as_deref().unwrap_or_default(),
        )
    }

    /// The owner annotation's value: `<Kind>/<namespace>/<name>`.
    pub fn annotation(&self) -> String {
        format!("{}/{}/{}", self.kind.as_str(), self.namespace, self.name)
    }

    /// Reads an owner annotation; `<namespace>/<name>` (written before the kind was recorded)
    /// is a Tenant. Anything else (empty parts, an unknown kind, more parts) is no owner.
    pub fn parse(value: &str) -> Option<Owner> {
        let parts: Vec<&str> = value.split('/').collect();
        let (kind, ns, name) = match parts.as_slice() {
            [ns, name] => (OwnerKind::Tenant, *ns, *name),
            [kind, ns, name] => (OwnerKind::parse(kind)?, *ns, *name),
            _ => return None,
        };
        if ns.is_empty() || name.is_empty() {
            return None;
        }
        Some(Owner::new(kind, ns, name))
    }

    /// `namespace/name`, the key of the owner in its kind's store.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_names_the_kind_and_round_trips() {
        let o = Owner::new(OwnerKind::PRStack, "previews", "pr-42");
        assert_eq!(o.annotation(), "PRStack/previews/pr-42");
        assert_eq!(Owner::parse(&o.annotation()), Some(o.clone()));
        assert_eq!(o.to_string(), "PRStack previews/pr-42");
    }

    #[test]
    fn a_value_without_kind_is_a_tenant() {
        assert_eq!(
            Owner::parse("default/acme"),
            Some(Owner::new(OwnerKind::Tenant, "default", "acme"))
        );
    }

    #[test]
    fn malformed_values_name_no_owner() {
        for v in [
            "",
            "acme",
            "/acme",
            "default/",
            "Tenant//acme",
            "Widget/default/acme",
            "Tenant/a/b/c",
        ] {
            assert_eq!(Owner::parse(v), None, "{v:?}");
        }
    }
}
