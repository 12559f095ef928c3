//! `tenant-rbac`: which ClusterRoles a RoleBinding in a tenant namespace may reference, and the
//! names reserved for the operator's Roles and RoleBindings.

use super::common::{CU, PolicyDef, check, lit, lit_list, parameterised};
use super::{NAME_PREFIX, RBAC};
use crate::naming::names;

/// The shared ClusterRoles of the built-in tenant roles (see `build/rbac.rs`): always bindable in a
/// tenant namespace, since a tenant admin holds their rules there anyway.
const TENANT_CLUSTER_ROLES: [&str; 3] =
    [names::ROLE_ADMIN, names::ROLE_DEVELOPER, names::ROLE_VIEWER];

pub(super) fn policy() -> PolicyDef {
    let validations = vec![
        check(
            format!(
                "request.kind.kind != 'RoleBinding' || object.roleRef.kind != 'ClusterRole' \
                 || object.roleRef.name in {tenant_roles} || object.roleRef.name in params.spec.allowedClusterRoles",
                tenant_roles = lit_list(&TENANT_CLUSTER_ROLES)
            ),
            "rbac: RoleBindings in tenant namespaces may only reference Roles and the tenant ClusterRoles",
            format!(
                "'rbac: RoleBinding ' + object.metadata.name + ': roleRef ClusterRole ' + object.roleRef.name \
                 + ' is not allowed in a tenant namespace; bind a Role of the namespace or one of {tenant_roles} (allowed ClusterRoles: ' \
                 + (size(params.spec.allowedClusterRoles) == 0 ? 'none' : params.spec.allowedClusterRoles.join(', ')) + ')'",
                tenant_roles = TENANT_CLUSTER_ROLES.join(", ")
            ),
        ),
        check(
            format!(
                "!has(object.metadata.name) || !object.metadata.name.startsWith({})",
                lit(NAME_PREFIX)
            ),
            "rbac: names starting with tenant- are reserved for the tenant operator",
            format!(
                "'rbac: ' + request.kind.kind + ' ' + object.metadata.name + ': metadata.name may not start with {NAME_PREFIX} \
                 (reserved for the tenant operator)'"
            ),
        ),
    ];
    parameterised(
        RBAC,
        &[
            ("rbac.authorization.k8s.io", "roles", CU),
            ("rbac.authorization.k8s.io", "rolebindings", CU),
        ],
        Vec::new(),
        validations,
    )
}
