//! rbac: custom roles stay inside the tenant's guardrails; bindings and cross-tenant access make sense.

use super::super::Ctx;
use crate::build::rbac::ALLOWED_VERBS;
use std::collections::BTreeMap;
use tenant_api::TenantSpec;

/// Verbs that write.
const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];
/// Verbs that hand out more than the role itself holds.
const ESCALATING_VERBS: [&str; 3] = ["bind", "escalate", "impersonate"];
/// Verbs Kubernetes' authorizers know of.
const KNOWN_VERBS: [&str; 16] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "use",
    "bind",
    "escalate",
    "impersonate",
    "approve",
    "sign",
    "attest",
    "proxy",
];
/// Objects the operator manages as guardrails: (resource, API group, what it is).
const GUARDED: [(&str, &str, &str); 5] = [
    ("resourcequotas", "", "the namespace's ResourceQuota"),
    ("limitranges", "", "the namespace's LimitRange"),
    (
        "networkpolicies",
        "networking.k8s.io",
        "the namespace's NetworkPolicies",
    ),
    (
        "tenantpolicies",
        tenant_api::GROUP,
        "the namespace's admission parameters",
    ),
    ("tenants", tenant_api::GROUP, "the Tenant objects"),
];
const BUILTIN_ROLES: [&str; 3] = ["admin", "developer", "viewer"];

/// `apps/deployments` -> (Some("apps"), "deployments"); `pods/log` -> (None, "pods");
/// `deployments` -> (None, "deployments").
fn split_resource(r: &str) -> (Option<&str>, &str) {
    match r.split_once('/') {
        // A group has a dot or is one of the dotless built-in groups; otherwise it is resource/subresource.
        Some((a, b))
            if a.contains('.')
                || matches!(
                    a,
                    "apps" | "batch" | "policy" | "autoscaling" | "extensions"
                ) =>
        {
            (Some(a), b.split('/').next().unwrap_or(b))
        }
        Some((a, _)) => (None, a),
        None => (None, r),
    }
}

pub(crate) fn run(spec: &TenantSpec, ctx: &mut Ctx) {
    let rbac = spec.rbac.clone().unwrap_or_default();
    let roles = rbac.roles.clone().unwrap_or_default();
    ctx.check(
        "rbac.customRoles",
        "spec.rbac.roles",
        "custom roles use no wildcards, no escalating verbs and no writes to guardrail objects",
        |g| {
            for (name, rules) in &roles {
                let f = format!("spec.rbac.roles.{name}");
                if rules.verbs.iter().any(|v| v.contains('*')) {
                    g.fail(format!("{f}.verbs"), format!("role {name:?} uses '*' in verbs: tenant roles list their verbs explicitly"));
                }
                if rules.resources.iter().any(|r| r.contains('*')) {
                    g.fail(format!("{f}.resources"), format!("role {name:?} uses '*' in resources: tenant roles list their resources explicitly"));
                }
                for v in &rules.verbs {
                    if ESCALATING_VERBS.contains(&v.as_str()) {
                        g.fail(
                            format!("{f}.verbs"),
                            format!("role {name:?} grants {v:?}: a tenant role must not let its holders grant or assume permissions they do not have"),
                        );
                    } else if !v.contains('*') && !ALLOWED_VERBS.contains(&v.as_str()) {
                        let what = if KNOWN_VERBS.contains(&v.as_str()) { "a verb tenant roles may not carry" } else { "not a Kubernetes verb (a typo?)" };
                        g.fail(
                            format!("{f}.verbs"),
                            format!("role {name:?}: {v:?} is {what}; allowed: {}", ALLOWED_VERBS.join(", ")),
                        );
                    }
                    if v.is_empty() {
                        g.fail(format!("{f}.verbs"), format!("role {name:?} has an empty verb"));
                    }
                }
                let writes: Vec<&str> = rules
                    .verbs
                    .iter()
                    .map(String::as_str)
                    .filter(|v| WRITE_VERBS.contains(v))
                    .collect();
                for r in &rules.resources {
                    if r.is_empty() {
                        g.fail(format!("{f}.resources"), format!("role {name:?} has an empty resource"));
                        continue;
                    }
                    let (group, resource) = split_resource(r);
                    for (guarded, guarded_group, what) in GUARDED {
                        let group_ok = group.is_none_or(|gr| gr == guarded_group || guarded_group.is_empty());
                        if resource == guarded && group_ok && !writes.is_empty() {
                            g.fail(
                                format!("{f}.resources"),
                                format!(
                                    "role {name:?} grants {} on {r:?}: {what} are the operator's guardrails and tenants must not change them",
                                    writes.join(", ")
                                ),
                            );
                        }
                    }
                }
            }
        },
    );
    ctx.check(
        "rbac.serviceAccountRole",
        "spec.rbac.serviceAccountRole",
        "serviceAccountRole names a role that exists and is used",
        |g| {
            let Some(role) = &rbac.service_account_role else { return };
            if !BUILTIN_ROLES.contains(&role.as_str()) && !roles.contains_key(role) {
                g.fail_unless_cel(
                    "spec.rbac.serviceAccountRole",
                    format!("{role:?} is neither a built-in role (admin, developer, viewer) nor one of spec.rbac.roles"),
                );
            }
            if rbac.service_accounts.as_ref().is_none_or(Vec::is_empty) {
                g.warn("spec.rbac.serviceAccountRole", "is set but spec.rbac.serviceAccounts is empty: nothing is bound to it");
            }
        },
    );
    ctx.check(
        "rbac.crossTenant",
        "spec.rbac.allowedTenants",
        "cross-tenant access is consistent",
        |g| {
            let tenants = rbac.allowed_tenants.clone().unwrap_or_default();
            let allow = rbac.allow_cross_tenant_access == Some(true);
            if !tenants.is_empty() && !allow {
                g.warn(
                    "spec.rbac.allowedTenants",
                    "is set but allowCrossTenantAccess is not true: no other tenant gets access",
                );
            }
            if allow && tenants.is_empty() {
                g.warn(
                    "spec.rbac.allowCrossTenantAccess",
                    "is true but allowedTenants is empty: no other tenant gets access",
                );
            }
            if let Some(i) = tenants.iter().position(|t| *t == spec.tenant_id) {
                g.warn(
                    format!("spec.rbac.allowedTenants[{i}]"),
                    "names the tenant itself: its own users already have access",
                );
            }
        },
    );
    ctx.check(
        "rbac.subjects",
        "spec.rbac",
        "users, groups and service accounts are non-empty and listed once",
        |g| {
            let lists: [(&str, Option<&Vec<String>>); 8] = [
                ("spec.admins", spec.admins.as_ref()),
                ("spec.rbac.admins", rbac.admins.as_ref()),
                ("spec.rbac.developers", rbac.developers.as_ref()),
                ("spec.rbac.viewers", rbac.viewers.as_ref()),
                ("spec.rbac.adminGroups", rbac.admin_groups.as_ref()),
                ("spec.rbac.developerGroups", rbac.developer_groups.as_ref()),
                ("spec.rbac.viewerGroups", rbac.viewer_groups.as_ref()),
                ("spec.rbac.serviceAccounts", rbac.service_accounts.as_ref()),
            ];
            if spec.owner.as_deref().is_some_and(|o| o.trim().is_empty()) {
                g.fail(
                    "spec.owner",
                    "must not be empty (it is bound as a tenant admin)",
                );
            }
            // user -> roles it is listed under
            let mut users: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (field, list) in lists {
                let mut seen = Vec::new();
                for (i, s) in list.into_iter().flatten().enumerate() {
                    if s.trim().is_empty() {
                        g.fail(
                            format!("{field}[{i}]"),
                            "must not be empty: a RoleBinding subject needs a name",
                        );
                    } else if seen.contains(&s) {
                        g.warn(format!("{field}[{i}]"), format!("{s:?} is listed twice"));
                    }
                    seen.push(s);
                    if matches!(field, "spec.rbac.developers" | "spec.rbac.viewers") {
                        users.entry(s.as_str()).or_default().push(field);
                    }
                }
            }
            let admins: Vec<&str> = spec
                .owner
                .iter()
                .chain(spec.admins.iter().flatten())
                .chain(rbac.admins.iter().flatten())
                .map(String::as_str)
                .collect();
            for (user, fields) in users {
                if admins.contains(&user) {
                    g.warn(
                        fields.join(", "),
                        format!("{user:?} is also an admin; the narrower binding adds nothing"),
                    );
                } else if fields.len() > 1 {
                    g.warn(
                        fields.join(", "),
                        format!(
                            "{user:?} is both developer and viewer; the viewer binding adds nothing"
                        ),
                    );
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::split_resource;

    #[test]
    fn resources_with_groups_and_subresources() {
        assert_eq!(
            split_resource("apps/deployments"),
            (Some("apps"), "deployments")
        );
        assert_eq!(
            split_resource("shop.pilab.hu/tenants"),
            (Some("shop.pilab.hu"), "tenants")
        );
        assert_eq!(split_resource("pods/log"), (None, "pods"));
        assert_eq!(
            split_resource("resourcequotas/status"),
            (None, "resourcequotas")
        );
        assert_eq!(split_resource("configmaps"), (None, "configmaps"));
    }
}
