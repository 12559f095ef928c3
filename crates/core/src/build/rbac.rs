//! RBAC (`rbac`): the tenant roles, RoleBindings and ServiceAccounts.
//!
//! The three built-in roles are **ClusterRoles shared by every tenant** (part of
//! [`crate::build::shared_objects`]); each tenant namespace gets only RoleBindings to them. A
//! RoleBinding to a ClusterRole grants its rules inside that one namespace, so the roles are the
//! same per-namespace grants as before, defined once instead of copied into every namespace:
//! 3 objects less per tenant, one place to read them, and nothing a tenant admin could edit.
//! It is also much cheaper for the API server: creating a namespaced Role makes it check that
//! its creator holds every permission in it (RBAC escalation prevention), which costs two
//! consistent lists of bindings per Role; binding a ClusterRole the creator may `bind` (the
//! operator may bind exactly these three) is one authorizer lookup.
//!
//! Built-in roles, with explicit rules (no wildcards, never `bind`, `escalate` or
//! `impersonate`; resourcequotas, limitranges, networkpolicies and everything in
//! `shop.pilab.hu` are read-only for every role; no aggregation labels, so they never grow
//! behind the Tenant's back):
//! - `tenant-admin`: full on workloads and their config (pods and exec/attach/port-forward,
//!   services, configmaps, secrets, serviceaccounts, PVCs, deployments, statefulsets,
//!   replicasets, jobs, cronjobs, HPAs, PDBs, ingresses), Roles and RoleBindings (the apiserver's
//!   escalation check still limits them to permissions the admin holds); read on endpoints,
//!   events and the guardrails. DaemonSets are left out: they run on every node.
//! - `tenant-developer`: the admin rules without Roles/RoleBindings and with Secrets read-only.
//!   Developers can read Secrets because they can mount any Secret into a pod they create
//!   anyway; hiding them would only look safer.
//! - `tenant-viewer`: get/list/watch on everything except Secrets (pod logs included).
//!
//! `rbac.roles` entries named `admin`, `developer` or `viewer` replace those roles' rules for
//! one tenant: it then gets a namespaced Role of that name, and its bindings reference the Role
//! instead of the ClusterRole. Other names add a Role `tenant-{name}` (bound by the tenant's
//! admins). A resource is `resource`, `group/resource`, `resource/subresource` or
//! `group/resource/subresource`; bare names map to their API group through a table of common
//! resources (unknown: core group). Verbs and resources are listed explicitly: a `*` anywhere, a
//! write verb on a guardrail resource, or a verb outside
//! get/list/watch/create/update/patch/delete/deletecollection is an error (validation refuses
//! the same, so a valid Tenant always renders).
//!
//! RoleBindings (a binding without subjects is left out; subjects sorted and deduplicated):
//! `tenant-admins` (owner, admins, rbac.admins; rbac.adminGroups), `tenant-developers`,
//! `tenant-viewers`, `tenant-service-accounts` (rbac.serviceAccounts to serviceAccountRole,
//! default developer) and `tenant-cross-tenant-viewers` (with allowCrossTenantAccess: the
//! admins and developers, users and groups, of the Tenants in ctx.other_tenants whose tenantId
//! is in allowedTenants, bound to `tenant-viewer`).

use crate::build::namespace::object_meta;
use crate::build::{BuildContext, BuildError};
use crate::naming::names;
use crate::object::Object;
use crate::presets::Effective;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, BTreeSet};
use tenant_api::{RbacSpec, RoleRules, Tenant, TenantSpec, labels};

pub const BINDING_ADMINS: &str = "tenant-admins";
pub const BINDING_DEVELOPERS: &str = "tenant-developers";
pub const BINDING_VIEWERS: &str = "tenant-viewers";
pub const BINDING_SERVICE_ACCOUNTS: &str = "tenant-service-accounts";
pub const BINDING_CROSS_TENANT: &str = "tenant-cross-tenant-viewers";
/// The role service accounts get when `rbac.serviceAccountRole` is unset.
pub const DEFAULT_SERVICE_ACCOUNT_ROLE: &str = "developer";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const TENANCY_GROUP: &str = tenant_api::GROUP;

/// Verbs that only read.
pub const READ_VERBS: [&str; 3] = ["get", "list", "watch"];
/// Every verb a tenant role may carry, in canonical order.
pub const ALLOWED_VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
/// Groups that would reach far beyond the tenant (every user, every service account).
pub const FORBIDDEN_GROUPS: [&str; 3] = [
    "system:authenticated",
    "system:unauthenticated",
    "system:serviceaccounts",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Access {
    /// get, list, watch
    Read,
    /// every allowed verb
    Full,
    /// exec / attach / port-forward: create (SPDY) and get (WebSocket)
    Connect,
    /// the scale subresource
    Scale,
}

impl Access {
    fn verbs(self) -> &'static [&'static str] {
        match self {
            Access::Read => &READ_VERBS,
            Access::Full => &ALLOWED_VERBS,
            Access::Connect => &["get", "create"],
            // list/watch too, so the scale rights of admin and developer contain the viewer's
            // (an admin can only bind a role whose every permission it holds itself)
            Access::Scale => &["get", "list", "watch", "update", "patch"],
        }
    }
}

use Access::{Connect, Full, Read, Scale};

/// The curated resources: (group, resource, admin, developer, viewer).
type Entry = (
    &'static str,
    &'static str,
    Option<Access>,
    Option<Access>,
    Option<Access>,
);
const CURATED: &[Entry] = &[
    ("", "pods", Some(Full), Some(Full), Some(Read)),
    ("", "pods/log", Some(Read), Some(Read), Some(Read)),
    ("", "pods/exec", Some(Connect), Some(Connect), None),
    ("", "pods/attach", Some(Connect), Some(Connect), None),
    ("", "pods/portforward", Some(Connect), Some(Connect), None),
    ("", "services", Some(Full), Some(Full), Some(Read)),
    ("", "endpoints", Some(Read), Some(Read), Some(Read)),
    ("", "configmaps", Some(Full), Some(Full), Some(Read)),
    ("", "secrets", Some(Full), Some(Read), None),
    ("", "serviceaccounts", Some(Full), Some(Full), Some(Read)),
    (
        "",
        "persistentvolumeclaims",
        Some(Full),
        Some(Full),
        Some(Read),
    ),
    ("", "events", Some(Read), Some(Read), Some(Read)),
    ("", "resourcequotas", Some(Read), Some(Read), Some(Read)),
    ("", "limitranges", Some(Read), Some(Read), Some(Read)),
    ("apps", "deployments", Some(Full), Some(Full), Some(Read)),
    (
        "apps",
        "deployments/scale",
        Some(Scale),
        Some(Scale),
        Some(Read),
    ),
    ("apps", "statefulsets", Some(Full), Some(Full), Some(Read)),
    (
        "apps",
        "statefulsets/scale",
        Some(Scale),
        Some(Scale),
        Some(Read),
    ),
    ("apps", "replicasets", Some(Full), Some(Full), Some(Read)),
    (
        "apps",
        "replicasets/scale",
        Some(Scale),
        Some(Scale),
        Some(Read),
    ),
    ("batch", "jobs", Some(Full), Some(Full), Some(Read)),
    ("batch", "cronjobs", Some(Full), Some(Full), Some(Read)),
    (
        "autoscaling",
        "horizontalpodautoscalers",
        Some(Full),
        Some(Full),
        Some(Read),
    ),
    (
        "policy",
        "poddisruptionbudgets",
        Some(Full),
        Some(Full),
        Some(Read),
    ),
    (
        "networking.k8s.io",
        "ingresses",
        Some(Full),
        Some(Full),
        Some(Read),
    ),
    (
        "networking.k8s.io",
        "networkpolicies",
        Some(Read),
        Some(Read),
        Some(Read),
    ),
    (
        "discovery.k8s.io",
        "endpointslices",
        Some(Read),
        Some(Read),
        Some(Read),
    ),
    (
        "events.k8s.io",
        "events",
        Some(Read),
        Some(Read),
        Some(Read),
    ),
    (RBAC_GROUP, "roles", Some(Full), None, None),
    (RBAC_GROUP, "rolebindings", Some(Full), None, None),
    (
        TENANCY_GROUP,
        "tenantpolicies",
        Some(Read),
        Some(Read),
        Some(Read),
    ),
    (TENANCY_GROUP, "tenants", Some(Read), Some(Read), Some(Read)),
    // A tenant admin may ask for a restore of the tenant's own backup into its own namespace
    // (the operator decides what that may touch: docs/backups.md).
    (
        TENANCY_GROUP,
        "tenantrestores",
        Some(Full),
        Some(Read),
        Some(Read),
    ),
];

/// API groups of common bare resource names (for custom roles), beyond the curated ones.
const KNOWN_GROUPS: &[(&str, &str)] = &[
    ("replicationcontrollers", ""),
    ("podtemplates", ""),
    ("daemonsets", "apps"),
    ("controllerrevisions", "apps"),
    ("servicemonitors", "monitoring.coreos.com"),
    ("podmonitors", "monitoring.coreos.com"),
    ("prometheusrules", "monitoring.coreos.com"),
];

/// Whether tenant roles may only read `resource` of `group` (the operator's guardrails).
pub fn is_guardrail(group: &str, resource: &str) -> bool {
    let base = resource.split('/').next().unwrap_or(resource);
    (group == TENANCY_GROUP && base != "tenantrestores")
        || (group.is_empty() && matches!(base, "resourcequotas" | "limitranges"))
        || (group == "networking.k8s.io" && base == "networkpolicies")
}

/// The API group of a bare resource name (core for unknown names).
fn group_of(resource: &str) -> Option<&'static str> {
    let base = resource.split('/').next().unwrap_or(resource);
    // "events" is in two groups; the bare name means the core one
    CURATED
        .iter()
        .find(|(_, r, ..)| *r == base)
        .map(|(g, ..)| *g)
        .or_else(|| {
            KNOWN_GROUPS
                .iter()
                .find(|(r, _)| *r == base)
                .map(|(_, g)| *g)
        })
}

/// `(group, resource)` of a custom rule's resource entry; `resource` may carry a subresource.
fn parse_resource(s: &str) -> (String, String) {
    match s.split_once('/') {
        // `pods/log`: a known resource with a subresource
        Some((first, _)) if group_of(first).is_some() => {
            (group_of(first).unwrap_or("").to_string(), s.to_string())
        }
        Some(("core", rest)) => (String::new(), rest.to_string()),
        Some((group, rest)) => (group.to_string(), rest.to_string()),
        None => (group_of(s).unwrap_or("").to_string(), s.to_string()),
    }
}

fn verb_rank(v: &str) -> usize {
    ALLOWED_VERBS
        .iter()
        .position(|a| *a == v)
        .unwrap_or(ALLOWED_VERBS.len())
}

/// Policy rules from `(group, resource, verbs)` triples: one rule per group and verb set,
/// resources sorted, rules sorted by group then verbs.
fn to_rules(grants: impl IntoIterator<Item = (String, String, Vec<String>)>) -> Vec<PolicyRule> {
    // merge verbs per (group, resource) first, so repeated entries union
    let mut per_resource: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (g, r, verbs) in grants {
        per_resource.entry((g, r)).or_default().extend(verbs);
    }
    let mut grouped: BTreeMap<(String, Vec<String>), BTreeSet<String>> = BTreeMap::new();
    for ((g, r), verbs) in per_resource {
        let mut verbs: Vec<String> = verbs.into_iter().collect();
        verbs.sort_by_key(|v| (verb_rank(v), v.clone()));
        grouped.entry((g, verbs)).or_default().insert(r);
    }
    grouped
        .into_iter()
        .map(|((group, verbs), resources)| PolicyRule {
            api_groups: Some(vec![group]),
            resources: Some(resources.into_iter().collect()),
            verbs,
            non_resource_urls: None,
            resource_names: None,
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinRole {
    Admin,
    Developer,
    Viewer,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 3] = [
        BuiltinRole::Admin,
        BuiltinRole::Developer,
        BuiltinRole::Viewer,
    ];

    /// The key in `rbac.roles` and `serviceAccountRole`.
    pub fn key(self) -> &'static str {
        match self {
            BuiltinRole::Admin => "admin",
            BuiltinRole::Developer => "developer",
            BuiltinRole::Viewer => "viewer",
        }
    }

    pub fn role_name(self) -> &'static str {
        match self {
            BuiltinRole::Admin => names::ROLE_ADMIN,
            BuiltinRole::Developer => names::ROLE_DEVELOPER,
            BuiltinRole::Viewer => names::ROLE_VIEWER,
        }
    }

    pub fn from_key(key: &str) -> Option<BuiltinRole> {
        BuiltinRole::ALL.into_iter().find(|r| r.key() == key)
    }

    fn access(self, e: &Entry) -> Option<Access> {
        match self {
            BuiltinRole::Admin => e.2,
            BuiltinRole::Developer => e.3,
            BuiltinRole::Viewer => e.4,
        }
    }

    /// The curated rules of the built-in role.
    pub fn rules(self) -> Vec<PolicyRule> {
        to_rules(CURATED.iter().filter_map(|e| {
            self.access(e).map(|a| {
                let verbs = a.verbs().iter().map(|v| v.to_string()).collect();
                (e.0.to_string(), e.1.to_string(), verbs)
            })
        }))
    }
}

fn invalid(field: String, message: String) -> BuildError {
    BuildError::Invalid { field, message }
}

/// The rules of a custom role `rbac.roles.{name}` (see the module docs for the semantics).
pub fn custom_rules(name: &str, role: &RoleRules) -> Result<Vec<PolicyRule>, BuildError> {
    let field = format!("spec.rbac.roles.{name}");
    for (i, v) in role.verbs.iter().enumerate() {
        if !ALLOWED_VERBS.contains(&v.as_str()) {
            return Err(invalid(
                format!("{field}.verbs[{i}]"),
                format!(
                    "{v:?} is not a verb tenant roles may carry ({}); list them explicitly",
                    ALLOWED_VERBS.join(", ")
                ),
            ));
        }
    }
    let write = role
        .verbs
        .iter()
        .find(|v| !READ_VERBS.contains(&v.as_str()));
    let mut grants = Vec::new();
    for (i, entry) in role.resources.iter().enumerate() {
        if entry.contains('*') || entry.is_empty() {
            return Err(invalid(
                format!("{field}.resources[{i}]"),
                format!(
                    "{entry:?}: tenant roles list their resources explicitly, without wildcards"
                ),
            ));
        }
        let (g, r) = parse_resource(entry);
        if let (true, Some(w)) = (is_guardrail(&g, &r), write) {
            return Err(invalid(
                format!("{field}.resources[{i}]"),
                format!("tenant roles may only read {entry}, not {w} it: the operator manages it"),
            ));
        }
        grants.push((g, r, role.verbs.clone()));
    }
    Ok(to_rules(grants))
}

fn role(tenant: &Tenant, eff: &Effective, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: object_meta(tenant, eff, name),
        rules: Some(rules),
    }
}

/// The shared ClusterRoles of the built-in roles (cluster-scoped, labelled as the operator's,
/// without tenant labels: they belong to no tenant).
pub fn cluster_roles() -> Vec<ClusterRole> {
    BuiltinRole::ALL
        .into_iter()
        .map(|b| ClusterRole {
            metadata: ObjectMeta {
                name: Some(b.role_name().to_string()),
                labels: Some(BTreeMap::from([
                    (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
                    (labels::PART_OF.to_string(), "tenant".to_string()),
                    (labels::APP_COMPONENT.to_string(), "tenant-role".to_string()),
                ])),
                ..Default::default()
            },
            rules: Some(b.rules()),
            aggregation_rule: None,
        })
        .collect()
}

fn custom_roles(tenant: &Tenant) -> BTreeMap<String, RoleRules> {
    tenant
        .spec
        .rbac
        .as_ref()
        .and_then(|r| r.roles.clone())
        .unwrap_or_default()
}

/// The namespaced Roles of one tenant: the built-in roles it overrides (`rbac.roles.admin`,
/// `developer`, `viewer`), then its custom roles by name. Without `rbac.roles` there are none.
pub fn roles(tenant: &Tenant, eff: &Effective) -> Result<Vec<Role>, BuildError> {
    let custom = custom_roles(tenant);
    let mut out = Vec::new();
    for b in BuiltinRole::ALL {
        if let Some(rr) = custom.get(b.key()) {
            out.push(role(tenant, eff, b.role_name(), custom_rules(b.key(), rr)?));
        }
    }
    for (name, rr) in &custom {
        if BuiltinRole::from_key(name).is_none() {
            out.push(role(
                tenant,
                eff,
                &format!("tenant-{name}"),
                custom_rules(name, rr)?,
            ));
        }
    }
    Ok(out)
}

/// What a binding of built-in role `b` references for this tenant: its own Role when it
/// overrides the role, else the shared ClusterRole.
pub fn role_ref(tenant: &Tenant, b: BuiltinRole) -> RoleRef {
    let kind = if custom_roles(tenant).contains_key(b.key()) {
        "Role"
    } else {
        "ClusterRole"
    };
    RoleRef {
        api_group: RBAC_GROUP.to_string(),
        kind: kind.to_string(),
        name: b.role_name().to_string(),
    }
}

fn subject(kind: &str, name: &str) -> Subject {
    Subject {
        api_group: Some(RBAC_GROUP.to_string()),
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: None,
    }
}

/// User and Group subjects, sorted by kind then name, deduplicated, empty names skipped.
fn subjects<'a>(
    users: impl IntoIterator<Item = &'a String>,
    groups: impl IntoIterator<Item = &'a String>,
) -> Vec<Subject> {
    let groups: BTreeSet<&str> = groups
        .into_iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let users: BTreeSet<&str> = users
        .into_iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    groups
        .into_iter()
        .map(|g| subject("Group", g))
        .chain(users.into_iter().map(|u| subject("User", u)))
        .collect()
}

fn opt(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

fn check_groups(field: &str, groups: &[String]) -> Result<(), BuildError> {
    match groups
        .iter()
        .position(|g| FORBIDDEN_GROUPS.contains(&g.trim()))
    {
        Some(i) => Err(invalid(
            format!("spec.rbac.{field}[{i}]"),
            format!(
                "{:?} would grant every user or service account of the cluster",
                groups[i]
            ),
        )),
        None => Ok(()),
    }
}

fn binding(
    tenant: &Tenant,
    eff: &Effective,
    name: &str,
    role: BuiltinRole,
    subjects: Vec<Subject>,
) -> Option<RoleBinding> {
    (!subjects.is_empty()).then(|| RoleBinding {
        metadata: object_meta(tenant, eff, name),
        role_ref: role_ref(tenant, role),
        subjects: Some(subjects),
    })
}

/// The users and groups of another tenant that cross-tenant access grants: its admins and
/// developers (cluster-wide groups dropped).
fn cross_tenant_members(spec: &TenantSpec) -> (Vec<String>, Vec<String>) {
    let empty = RbacSpec::default();
    let r = spec.rbac.as_ref().unwrap_or(&empty);
    let users = spec
        .owner
        .iter()
        .chain(opt(&spec.admins))
        .chain(opt(&r.admins))
        .chain(opt(&r.developers))
        .cloned()
        .collect();
    let groups = opt(&r.admin_groups)
        .iter()
        .chain(opt(&r.developer_groups))
        .filter(|g| !FORBIDDEN_GROUPS.contains(&g.trim()))
        .cloned()
        .collect();
    (users, groups)
}

/// The RoleBindings, in a fixed order, those without subjects left out.
pub fn role_bindings(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<RoleBinding>, BuildError> {
    let spec = &tenant.spec;
    let empty = RbacSpec::default();
    let r = spec.rbac.as_ref().unwrap_or(&empty);
    check_groups("adminGroups", opt(&r.admin_groups))?;
    check_groups("developerGroups", opt(&r.developer_groups))?;
    check_groups("viewerGroups", opt(&r.viewer_groups))?;

    let mut out = Vec::new();
    let admins = subjects(
        spec.owner
            .iter()
            .chain(opt(&spec.admins))
            .chain(opt(&r.admins)),
        opt(&r.admin_groups),
    );
    out.extend(binding(
        tenant,
        eff,
        BINDING_ADMINS,
        BuiltinRole::Admin,
        admins,
    ));
    let developers = subjects(opt(&r.developers), opt(&r.developer_groups));
    out.extend(binding(
        tenant,
        eff,
        BINDING_DEVELOPERS,
        BuiltinRole::Developer,
        developers,
    ));
    let viewers = subjects(opt(&r.viewers), opt(&r.viewer_groups));
    out.extend(binding(
        tenant,
        eff,
        BINDING_VIEWERS,
        BuiltinRole::Viewer,
        viewers,
    ));

    let sa_key = r
        .service_account_role
        .as_deref()
        .unwrap_or(DEFAULT_SERVICE_ACCOUNT_ROLE);
    let sa_role = BuiltinRole::from_key(sa_key).ok_or_else(|| {
        invalid(
            "spec.rbac.serviceAccountRole".into(),
            format!("{sa_key:?} must be admin, developer or viewer"),
        )
    })?;
    let accounts: BTreeSet<&str> = opt(&r.service_accounts)
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let sa_subjects = accounts
        .into_iter()
        .map(|name| Subject {
            api_group: None,
            kind: "ServiceAccount".to_string(),
            name: name.to_string(),
            namespace: Some(eff.namespace.clone()),
        })
        .collect();
    out.extend(binding(
        tenant,
        eff,
        BINDING_SERVICE_ACCOUNTS,
        sa_role,
        sa_subjects,
    ));

    if r.allow_cross_tenant_access == Some(true) {
        let allowed: BTreeSet<&str> = opt(&r.allowed_tenants).iter().map(String::as_str).collect();
        let (mut users, mut groups) = (Vec::new(), Vec::new());
        for other in ctx.other_tenants {
            let same_object = other.metadata.namespace == tenant.metadata.namespace
                && other.metadata.name == tenant.metadata.name;
            if same_object || !allowed.contains(other.spec.tenant_id.as_str()) {
                continue;
            }
            let (u, g) = cross_tenant_members(&other.spec);
            users.extend(u);
            groups.extend(g);
        }
        let cross = subjects(&users, &groups);
        out.extend(binding(
            tenant,
            eff,
            BINDING_CROSS_TENANT,
            BuiltinRole::Viewer,
            cross,
        ));
    }
    Ok(out)
}

/// The ServiceAccounts of `rbac.serviceAccounts`, sorted by name.
pub fn service_accounts(tenant: &Tenant, eff: &Effective) -> Vec<ServiceAccount> {
    let names: BTreeSet<&str> = tenant
        .spec
        .rbac
        .as_ref()
        .map(|r| opt(&r.service_accounts))
        .unwrap_or(&[])
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    names
        .into_iter()
        .map(|name| ServiceAccount {
            metadata: object_meta(tenant, eff, name),
            ..Default::default()
        })
        .collect()
}

/// ServiceAccounts, then Roles, then RoleBindings (apply order).
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<Object>, BuildError> {
    let mut out = Vec::new();
    for sa in service_accounts(tenant, eff) {
        out.push(Object::from_resource(&sa)?);
    }
    for r in roles(tenant, eff)? {
        out.push(Object::from_resource(&r)?);
    }
    for b in role_bindings(tenant, eff, ctx)? {
        out.push(Object::from_resource(&b)?);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking
mod tests {
    use super::*;
    use tenant_api::TenantType;

    fn tenant_named(name: &str, id: &str, rbac: Option<RbacSpec>) -> Tenant {
        let mut spec = TenantSpec::new(id, TenantType::Production);
        spec.rbac = rbac;
        let mut t = Tenant::new(name, spec);
        t.metadata.namespace = Some("tenants".into());
        t
    }

    fn tenant(rbac: Option<RbacSpec>) -> Tenant {
        tenant_named("acme", "acme", rbac)
    }

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    fn objects(t: &Tenant, ctx: &BuildContext) -> Vec<Object> {
        build(t, &Effective::of(t), ctx).unwrap_or_else(|e| panic!("{e}"))
    }

    fn find<'a>(objs: &'a [Object], kind: &str, name: &str) -> Option<&'a serde_json::Value> {
        objs.iter()
            .find(|o| o.kind == kind && o.name == name)
            .map(|o| &o.manifest)
    }

    fn bindings(t: &Tenant, ctx: &BuildContext) -> BTreeMap<String, RoleBinding> {
        role_bindings(t, &Effective::of(t), ctx)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|b| (b.metadata.name.clone().unwrap_or_default(), b))
            .collect()
    }

    /// (kind, name) of each subject.
    fn subject_names(b: &RoleBinding) -> Vec<(String, String)> {
        b.subjects
            .iter()
            .flatten()
            .map(|s| (s.kind.clone(), s.name.clone()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// The verbs a set of rules grants on `group`/`resource`.
    fn verbs_on(rules: &[PolicyRule], group: &str, resource: &str) -> BTreeSet<String> {
        rules
            .iter()
            .filter(|r| {
                r.api_groups
                    .iter()
                    .flatten()
                    .any(|g| g == group || g == "*")
            })
            .filter(|r| {
                r.resources
                    .iter()
                    .flatten()
                    .any(|x| x == resource || x == "*")
            })
            .flat_map(|r| r.verbs.iter().cloned())
            .collect()
    }

    fn writes(verbs: &BTreeSet<String>) -> Vec<String> {
        verbs
            .iter()
            .filter(|v| !READ_VERBS.contains(&v.as_str()))
            .cloned()
            .collect()
    }

    const GUARDRAILS: [(&str, &str); 5] = [
        ("", "resourcequotas"),
        ("", "limitranges"),
        ("networking.k8s.io", "networkpolicies"),
        ("shop.pilab.hu", "tenantpolicies"),
        ("shop.pilab.hu", "tenants"),
    ];

    /// The invariant every tenant role keeps, built-in or custom.
    fn assert_safe(rules: &[PolicyRule]) {
        for r in rules {
            for v in &r.verbs {
                assert!(ALLOWED_VERBS.contains(&v.as_str()), "verb {v} in {r:?}");
            }
            for x in r
                .api_groups
                .iter()
                .flatten()
                .chain(r.resources.iter().flatten())
            {
                assert!(!x.contains('*'), "wildcard in {r:?}");
            }
            assert!(r.non_resource_urls.is_none() && r.resource_names.is_none());
        }
        for (g, res) in GUARDRAILS {
            assert_eq!(
                writes(&verbs_on(rules, g, res)),
                Vec::<String>::new(),
                "write on {g}/{res}"
            );
        }
    }

    #[test]
    fn builtin_roles_never_write_guardrails_use_wildcards_or_escalate() {
        for b in BuiltinRole::ALL {
            let rules = b.rules();
            assert!(!rules.is_empty());
            assert_safe(&rules);
            for v in ["bind", "escalate", "impersonate", "*"] {
                assert!(
                    rules.iter().all(|r| !r.verbs.iter().any(|x| x == v)),
                    "{v} in {b:?}"
                );
            }
            // every role can at least read the guardrails
            for (g, res) in GUARDRAILS {
                assert_eq!(verbs_on(&rules, g, res).len(), 3, "{b:?} reads {g}/{res}");
            }
            assert!(
                verbs_on(&rules, "apps", "daemonsets").is_empty(),
                "no DaemonSets"
            );
        }
    }

    #[test]
    fn builtin_roles_differ_as_documented() {
        let admin = BuiltinRole::Admin.rules();
        let dev = BuiltinRole::Developer.rules();
        let viewer = BuiltinRole::Viewer.rules();
        let full: BTreeSet<String> = ALLOWED_VERBS.iter().map(|v| v.to_string()).collect();
        let read: BTreeSet<String> = READ_VERBS.iter().map(|v| v.to_string()).collect();
        assert_eq!(verbs_on(&admin, "", "secrets"), full);
        assert_eq!(verbs_on(&dev, "", "secrets"), read);
        assert!(verbs_on(&viewer, "", "secrets").is_empty());
        assert_eq!(verbs_on(&admin, RBAC_GROUP, "rolebindings"), full);
        assert_eq!(verbs_on(&admin, RBAC_GROUP, "roles"), full);
        assert!(verbs_on(&dev, RBAC_GROUP, "rolebindings").is_empty());
        assert!(verbs_on(&viewer, RBAC_GROUP, "roles").is_empty());
        assert_eq!(verbs_on(&dev, "apps", "deployments"), full);
        assert_eq!(verbs_on(&viewer, "apps", "deployments"), read);
        assert!(verbs_on(&dev, "", "pods/exec").contains("create"));
        assert!(verbs_on(&viewer, "", "pods/exec").is_empty());
        assert_eq!(verbs_on(&viewer, "", "pods/log"), read);
        assert_eq!(verbs_on(&admin, "", "events"), read);
        // every viewer rule is read-only
        assert!(
            viewer
                .iter()
                .all(|r| r.verbs.iter().all(|v| READ_VERBS.contains(&v.as_str())))
        );
    }

    #[test]
    fn custom_roles_add_tenant_prefixed_roles_with_resource_groups() {
        let rbac = RbacSpec {
            roles: Some(BTreeMap::from([(
                "ci".to_string(),
                RoleRules {
                    verbs: strings(&["get", "patch"]).unwrap(),
                    resources: strings(&[
                        "apps/deployments",
                        "pods/log",
                        "batch/jobs",
                        "batch/cronjobs",
                        "widgets",
                        "example.com/gadgets/status",
                        "core/configmaps",
                        "daemonsets",
                    ])
                    .unwrap(),
                },
            )])),
            ..Default::default()
        };
        let t = tenant(Some(rbac));
        let objs = objects(&t, &BuildContext::default());
        let role = find(&objs, "Role", "tenant-ci").expect("custom role");
        assert_eq!(
            role["rules"],
            serde_json::json!([
                {"apiGroups": [""], "resources": ["configmaps", "pods/log", "widgets"], "verbs": ["get", "patch"]},
                {"apiGroups": ["apps"], "resources": ["daemonsets", "deployments"], "verbs": ["get", "patch"]},
                {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": ["get", "patch"]},
                {"apiGroups": ["example.com"], "resources": ["gadgets/status"], "verbs": ["get", "patch"]},
            ])
        );
        // the built-in roles stay the shared ClusterRoles: no namespaced copies
        for n in [names::ROLE_ADMIN, names::ROLE_DEVELOPER, names::ROLE_VIEWER] {
            assert!(find(&objs, "Role", n).is_none(), "{n}");
        }
    }

    #[test]
    fn the_builtin_roles_are_shared_cluster_roles() {
        let roles = cluster_roles();
        let names: Vec<&str> = roles
            .iter()
            .filter_map(|r| r.metadata.name.as_deref())
            .collect();
        assert_eq!(
            names,
            vec![names::ROLE_ADMIN, names::ROLE_DEVELOPER, names::ROLE_VIEWER]
        );
        for (role, b) in roles.iter().zip(BuiltinRole::ALL) {
            assert_eq!(role.rules.as_deref(), Some(b.rules().as_slice()));
            assert!(role.aggregation_rule.is_none(), "never aggregated");
            assert!(role.metadata.namespace.is_none());
            let l = role.metadata.labels.clone().unwrap_or_default();
            assert_eq!(
                l.get(labels::MANAGED_BY).map(String::as_str),
                Some(labels::MANAGER)
            );
            assert!(
                !l.contains_key(labels::TENANT_ID),
                "they belong to no tenant"
            );
        }
    }

    #[test]
    fn an_overridden_builtin_role_is_a_namespaced_role_its_bindings_reference() {
        let t = tenant(Some(RbacSpec {
            roles: Some(BTreeMap::from([(
                "developer".to_string(),
                RoleRules {
                    verbs: strings(&["get", "list", "watch"]).unwrap(),
                    resources: strings(&["pods", "apps/deployments"]).unwrap(),
                },
            )])),
            admins: strings(&["a@acme.com"]),
            developers: strings(&["d@acme.com"]),
            ..Default::default()
        }));
        let objs = objects(&t, &BuildContext::default());
        let dev = find(&objs, "Role", names::ROLE_DEVELOPER).expect("the override");
        assert_eq!(dev["metadata"]["namespace"], "tenant-acme-production");
        assert!(find(&objs, "Role", names::ROLE_ADMIN).is_none());
        let b = bindings(&t, &BuildContext::default());
        assert_eq!(b[BINDING_DEVELOPERS].role_ref.kind, "Role");
        assert_eq!(b[BINDING_ADMINS].role_ref.kind, "ClusterRole");
    }

    #[test]
    fn custom_roles_cannot_write_guardrails_or_escalate() {
        let err = |verbs: &[&str], resources: &[&str]| {
            let rr = RoleRules {
                verbs: strings(verbs).unwrap(),
                resources: strings(resources).unwrap(),
            };
            match custom_rules("ops", &rr) {
                Err(BuildError::Invalid { field, .. }) => field,
                other => panic!("expected an error, got {other:?}"),
            }
        };
        assert_eq!(
            err(&["update"], &["pods", "resourcequotas"]),
            "spec.rbac.roles.ops.resources[1]"
        );
        assert_eq!(
            err(&["delete"], &["networking.k8s.io/networkpolicies"]),
            "spec.rbac.roles.ops.resources[0]"
        );
        assert_eq!(
            err(&["create"], &["shop.pilab.hu/tenantpolicies"]),
            "spec.rbac.roles.ops.resources[0]"
        );
        assert_eq!(
            err(&["get", "bind"], &["roles"]),
            "spec.rbac.roles.ops.verbs[1]"
        );
        assert_eq!(
            err(&["escalate"], &["roles"]),
            "spec.rbac.roles.ops.verbs[0]"
        );
        assert_eq!(
            err(&["get"], &["pods*"]),
            "spec.rbac.roles.ops.resources[0]"
        );
        // wildcards, as in the seed's admin role, are refused: roles list what they grant
        assert_eq!(err(&["*"], &["pods"]), "spec.rbac.roles.ops.verbs[0]");
        assert_eq!(err(&["get"], &["*"]), "spec.rbac.roles.ops.resources[0]");
        assert_eq!(
            err(&["get"], &["apps/*"]),
            "spec.rbac.roles.ops.resources[0]"
        );
        // reading a guardrail is fine
        let ok = custom_rules(
            "ops",
            &RoleRules {
                verbs: strings(&["get", "list", "watch"]).unwrap(),
                resources: strings(&["limitranges", "pods"]).unwrap(),
            },
        )
        .unwrap();
        assert_safe(&ok);
        assert_eq!(verbs_on(&ok, "", "limitranges").len(), 3);
        assert_eq!(verbs_on(&ok, "", "pods").len(), 3);
    }

    #[test]
    fn admin_binding_merges_owner_and_admins_sorted_and_deduplicated() {
        let mut t = tenant(Some(RbacSpec {
            admins: strings(&["zed@acme.com", "admin1@acme.com"]),
            admin_groups: strings(&["acme:admins"]),
            developers: strings(&["dev2@acme.com", "dev1@acme.com", "dev1@acme.com"]),
            ..Default::default()
        }));
        t.spec.owner = Some("owner@acme.com".into());
        t.spec.admins = strings(&["admin1@acme.com", "admin2@acme.com"]);
        let b = bindings(&t, &BuildContext::default());
        let admins = &b[BINDING_ADMINS];
        assert_eq!(
            subject_names(admins),
            pairs(&[
                ("Group", "acme:admins"),
                ("User", "admin1@acme.com"),
                ("User", "admin2@acme.com"),
                ("User", "owner@acme.com"),
                ("User", "zed@acme.com"),
            ])
        );
        assert_eq!(admins.role_ref.name, names::ROLE_ADMIN);
        assert_eq!(admins.role_ref.kind, "ClusterRole");
        assert!(
            admins
                .subjects
                .iter()
                .flatten()
                .all(|s| s.api_group.as_deref() == Some(RBAC_GROUP))
        );
        assert_eq!(
            admins.metadata.namespace.as_deref(),
            Some("tenant-acme-production")
        );
        assert_eq!(
            subject_names(&b[BINDING_DEVELOPERS]),
            pairs(&[("User", "dev1@acme.com"), ("User", "dev2@acme.com")])
        );
        assert_eq!(b[BINDING_DEVELOPERS].role_ref.name, names::ROLE_DEVELOPER);
        // no viewers, no service accounts, no cross-tenant grant: no binding
        assert_eq!(
            b.keys().cloned().collect::<Vec<_>>(),
            vec![BINDING_ADMINS, BINDING_DEVELOPERS]
        );
    }

    #[test]
    fn no_subjects_no_rbac_objects() {
        // The roles are the shared ClusterRoles; a tenant without subjects binds nobody.
        let t = tenant(None);
        assert!(objects(&t, &BuildContext::default()).is_empty());
    }

    #[test]
    fn service_accounts_are_created_and_bound() {
        let t = tenant(Some(RbacSpec {
            service_accounts: strings(&["monitoring", "ci-cd", "ci-cd"]),
            viewers: strings(&["viewer@acme.com"]),
            viewer_groups: strings(&["auditors"]),
            ..Default::default()
        }));
        let objs = objects(&t, &BuildContext::default());
        let order: Vec<(&str, &str)> = objs
            .iter()
            .map(|o| (o.kind.as_str(), o.name.as_str()))
            .collect();
        assert_eq!(
            order,
            vec![
                ("ServiceAccount", "ci-cd"),
                ("ServiceAccount", "monitoring"),
                ("RoleBinding", BINDING_VIEWERS),
                ("RoleBinding", BINDING_SERVICE_ACCOUNTS),
            ]
        );
        let sa = find(&objs, "RoleBinding", BINDING_SERVICE_ACCOUNTS).unwrap();
        assert_eq!(
            sa["roleRef"]["name"],
            names::ROLE_DEVELOPER,
            "default serviceAccountRole"
        );
        assert_eq!(
            sa["subjects"],
            serde_json::json!([
                {"kind": "ServiceAccount", "name": "ci-cd", "namespace": "tenant-acme-production"},
                {"kind": "ServiceAccount", "name": "monitoring", "namespace": "tenant-acme-production"},
            ])
        );
        let sa_obj = find(&objs, "ServiceAccount", "ci-cd").unwrap();
        assert_eq!(sa_obj["metadata"]["namespace"], "tenant-acme-production");
        assert_eq!(
            sa_obj["metadata"]["labels"]["shop.pilab.hu/tenant-id"],
            "acme"
        );

        let t = tenant(Some(RbacSpec {
            service_accounts: strings(&["ci-cd"]),
            service_account_role: Some("viewer".into()),
            ..Default::default()
        }));
        let b = bindings(&t, &BuildContext::default());
        assert_eq!(
            b[BINDING_SERVICE_ACCOUNTS].role_ref.name,
            names::ROLE_VIEWER
        );
    }

    fn others() -> Vec<Tenant> {
        let mut partner = tenant_named(
            "partner-prod",
            "partner",
            Some(RbacSpec {
                admins: strings(&["padmin@partner.com"]),
                developers: strings(&["pdev@partner.com"]),
                viewers: strings(&["pviewer@partner.com"]),
                admin_groups: strings(&["partner:admins", "system:authenticated"]),
                developer_groups: strings(&["partner:devs"]),
                viewer_groups: strings(&["partner:viewers"]),
                ..Default::default()
            }),
        );
        partner.spec.owner = Some("powner@partner.com".into());
        partner.spec.admins = strings(&["padmin@partner.com"]);
        let partner_staging = tenant_named(
            "partner-staging",
            "partner",
            Some(RbacSpec {
                developers: strings(&["pdev2@partner.com"]),
                ..Default::default()
            }),
        );
        let stranger = tenant_named(
            "stranger",
            "stranger",
            Some(RbacSpec {
                admins: strings(&["evil@stranger.com"]),
                ..Default::default()
            }),
        );
        vec![stranger, partner, partner_staging]
    }

    #[test]
    fn cross_tenant_viewers_only_when_allowed() {
        let others = others();
        let ctx = BuildContext {
            other_tenants: &others,
            ..Default::default()
        };
        let rbac = RbacSpec {
            allowed_tenants: strings(&["partner"]),
            ..Default::default()
        };

        // allowedTenants alone grants nothing
        let t = tenant(Some(rbac.clone()));
        assert!(!bindings(&t, &ctx).contains_key(BINDING_CROSS_TENANT));
        let t = tenant(Some(RbacSpec {
            allow_cross_tenant_access: Some(false),
            ..rbac.clone()
        }));
        assert!(!bindings(&t, &ctx).contains_key(BINDING_CROSS_TENANT));

        let t = tenant(Some(RbacSpec {
            allow_cross_tenant_access: Some(true),
            ..rbac
        }));
        let b = bindings(&t, &ctx);
        let cross = &b[BINDING_CROSS_TENANT];
        assert_eq!(cross.role_ref.name, names::ROLE_VIEWER);
        assert_eq!(
            subject_names(cross),
            pairs(&[
                ("Group", "partner:admins"),
                ("Group", "partner:devs"),
                ("User", "padmin@partner.com"),
                ("User", "pdev2@partner.com"),
                ("User", "pdev@partner.com"),
                ("User", "powner@partner.com"),
            ]),
            "admins and developers of every partner Tenant; no viewers, no strangers, no cluster-wide groups"
        );

        // allowed, but no such tenant known: no binding
        let t = tenant(Some(RbacSpec {
            allow_cross_tenant_access: Some(true),
            allowed_tenants: strings(&["nobody"]),
            ..Default::default()
        }));
        assert!(!bindings(&t, &ctx).contains_key(BINDING_CROSS_TENANT));
    }

    #[test]
    fn cluster_wide_groups_are_refused() {
        let t = tenant(Some(RbacSpec {
            viewer_groups: strings(&["ok", "system:authenticated"]),
            ..Default::default()
        }));
        match build(&t, &Effective::of(&t), &BuildContext::default()) {
            Err(BuildError::Invalid { field, .. }) => {
                assert_eq!(field, "spec.rbac.viewerGroups[1]")
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn resource_parsing() {
        let p = |s: &str| parse_resource(s);
        let pair = |g: &str, r: &str| (g.to_string(), r.to_string());
        assert_eq!(p("deployments"), pair("apps", "deployments"));
        assert_eq!(p("pods/exec"), pair("", "pods/exec"));
        assert_eq!(
            p("apps/deployments/scale"),
            pair("apps", "deployments/scale")
        );
        assert_eq!(
            p("networkpolicies"),
            pair("networking.k8s.io", "networkpolicies")
        );
        assert_eq!(p("events"), pair("", "events"));
        assert_eq!(p("events.k8s.io/events"), pair("events.k8s.io", "events"));
        assert_eq!(p("unknownthings"), pair("", "unknownthings"));
        assert_eq!(p("core/secrets"), pair("", "secrets"));
    }

    #[test]
    fn deterministic() {
        let others = others();
        let ctx = BuildContext {
            other_tenants: &others,
            ..Default::default()
        };
        let mut t = tenant(Some(RbacSpec {
            admins: strings(&["b", "a"]),
            service_accounts: strings(&["y", "x"]),
            allow_cross_tenant_access: Some(true),
            allowed_tenants: strings(&["partner"]),
            roles: Some(BTreeMap::from([(
                "ops".to_string(),
                RoleRules {
                    verbs: strings(&["list", "get"]).unwrap(),
                    resources: strings(&["services", "pods", "apps/deployments"]).unwrap(),
                },
            )])),
            ..Default::default()
        }));
        t.spec.owner = Some("o".into());
        let s = |o: Vec<Object>| {
            o.into_iter()
                .map(|o| o.manifest.to_string())
                .collect::<Vec<_>>()
        };
        let a = s(objects(&t, &ctx));
        assert_eq!(a, s(objects(&t, &ctx)));
        // the order of other tenants does not matter
        let reversed: Vec<Tenant> = others.iter().rev().cloned().collect();
        let ctx2 = BuildContext {
            other_tenants: &reversed,
            ..Default::default()
        };
        assert_eq!(a, s(objects(&t, &ctx2)));
    }

    #[test]
    fn each_role_contains_the_lower_roles_verbs() {
        // RBAC's escalation check lets an admin bind a role only if the admin holds every
        // permission in it: admin must contain developer and viewer, developer must contain viewer.
        let holds = |outer: Option<Access>, inner: Option<Access>| match (outer, inner) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(o), Some(i)) => i.verbs().iter().all(|v| o.verbs().contains(v)),
        };
        for (group, resource, admin, developer, viewer) in CURATED {
            assert!(
                holds(*admin, *developer),
                "{group}/{resource}: admin lacks a developer verb"
            );
            assert!(
                holds(*admin, *viewer),
                "{group}/{resource}: admin lacks a viewer verb"
            );
            assert!(
                holds(*developer, *viewer),
                "{group}/{resource}: developer lacks a viewer verb"
            );
        }
    }
}
