//! `spec.rbac`: roles, bindings and service accounts.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Roles, bindings and service accounts. The operator creates the
/// namespaced Roles `tenant-admin`, `tenant-developer` and `tenant-viewer`; tenant roles never
/// include writes to quotas, limit ranges, network policies or the operator's own objects.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RbacSpec {
    /// Role definitions by name. `admin`, `developer` and `viewer` replace the built-in rules of
    /// those roles; other names add a Role `tenant-{name}` that admins can bind.
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(k) <= 40)").message("role names must be DNS labels of at most 40 characters"))]
    #[x_kube(validation = Rule::new("self.size() <= 16").message("at most 16 roles"))]
    pub roles: Option<BTreeMap<String, RoleRules>>,
    /// Admin users.
    #[schemars(length(max = 64))]
    pub admins: Option<Vec<String>>,
    /// Developer users.
    #[schemars(length(max = 256))]
    pub developers: Option<Vec<String>>,
    /// Viewer users.
    #[schemars(length(max = 256))]
    pub viewers: Option<Vec<String>>,
    /// Admin groups (from the cluster's authenticator).
    #[schemars(length(max = 32))]
    pub admin_groups: Option<Vec<String>>,
    /// Developer groups.
    #[schemars(length(max = 32))]
    pub developer_groups: Option<Vec<String>>,
    /// Viewer groups.
    #[schemars(length(max = 32))]
    pub viewer_groups: Option<Vec<String>>,
    /// Service accounts to create in the namespace, bound to `serviceAccountRole`.
    #[x_kube(validation = Rule::new("self.all(n, n.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'))").message("each entry must be a ServiceAccount name"))]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub service_accounts: Option<Vec<String>>,
    /// Role the service accounts get: admin, developer or viewer. Default developer.
    #[x_kube(validation = Rule::new("self in ['admin', 'developer', 'viewer']").message("must be admin, developer or viewer"))]
    #[schemars(length(max = 16))]
    pub service_account_role: Option<String>,
    /// Allow the tenants in `allowedTenants` read access (tenant-viewer) to this tenant's namespace.
    pub allow_cross_tenant_access: Option<bool>,
    /// tenantIds whose admins and developers get read access here when allowCrossTenantAccess is true.
    #[x_kube(validation = Rule::new("self.all(t, t.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("each entry must be a tenantId"))]
    #[schemars(length(max = 32), inner(length(max = 40)))]
    pub allowed_tenants: Option<Vec<String>>,
}

/// The rules of one role.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleRules {
    /// Verbs (get, list, watch, create, update, patch, delete, deletecollection).
    #[schemars(length(min = 1, max = 16))]
    pub verbs: Vec<String>,
    /// Resources, optionally `group/resource` (e.g. `deployments`, `apps/deployments`).
    #[schemars(length(min = 1, max = 64))]
    pub resources: Vec<String>,
}
