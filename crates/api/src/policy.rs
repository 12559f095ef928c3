//! `TenantPolicy`: the per-namespace parameter object of the shared ValidatingAdmissionPolicies.
//! The operator writes one, named `tenant-policy`, into each tenant namespace; tenant users can
//! read it but not change it.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Admission parameters of one tenant namespace, derived from the Tenant's isolation, limits
/// and RBAC settings. Operator-owned: edit the Tenant instead.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "shop.pilab.hu",
    version = "v1alpha1",
    kind = "TenantPolicy",
    plural = "tenantpolicies",
    singular = "tenantpolicy",
    shortname = "tpol",
    category = "tenancy",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    doc = "Admission parameters of one tenant namespace (operator-owned; edit the Tenant instead).",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenantId"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TenantPolicySpec {
    /// The tenant this namespace belongs to.
    pub tenant_id: String,
    /// The tenant environment of this namespace.
    pub environment: String,
    /// Image registry prefixes allowed; empty allows any registry not blocked.
    #[serde(default)]
    pub allowed_registries: Vec<String>,
    /// Image registry prefixes refused.
    #[serde(default)]
    pub blocked_registries: Vec<String>,
    /// Containers must use `imagePullPolicy: Always`.
    #[serde(default)]
    pub require_image_pull_policy_always: bool,
    /// Services of type NodePort are allowed.
    #[serde(default)]
    pub allow_node_ports: bool,
    /// Services of type LoadBalancer are allowed.
    #[serde(default)]
    pub allow_load_balancers: bool,
    /// hostNetwork / hostPID / hostIPC / hostPort are allowed.
    #[serde(default)]
    pub allow_host_namespaces: bool,
    /// hostPath volumes are allowed.
    #[serde(default)]
    pub allow_host_path: bool,
    /// Containers must set an AppArmor profile of RuntimeDefault or Localhost.
    #[serde(default)]
    pub require_app_armor: bool,
    /// Containers must not set SELinux type, user or role.
    #[serde(default)]
    pub restrict_selinux: bool,
    /// Containers must request whole CPUs with limits equal to requests.
    #[serde(default)]
    pub cpu_pinning: bool,
    /// Pods must select nodes with `dedicatedNodeLabel: dedicatedNodeValue` (empty: no rule).
    #[serde(default)]
    pub dedicated_node_label: String,
    /// The value pods must select for `dedicatedNodeLabel`.
    #[serde(default)]
    pub dedicated_node_value: String,
    /// PVCs may only use these storage classes (empty: any).
    #[serde(default)]
    pub allowed_storage_classes: Vec<String>,
    /// PVCs may not name a pre-existing PersistentVolume.
    #[serde(default)]
    pub pv_access_control: bool,
    /// Minimum replicas of Deployments and StatefulSets (0: no rule).
    #[serde(default)]
    pub min_replicas: i32,
    /// ClusterRoles that RoleBindings in this namespace may reference.
    #[serde(default)]
    pub allowed_cluster_roles: Vec<String>,
    /// PriorityClasses pods and pod templates may name (besides `defaultPriorityClass`); the
    /// `system-` classes never.
    #[serde(default)]
    pub allowed_priority_classes: Vec<String>,
    /// The platform's default PriorityClass, which pods that name no class get from the cluster;
    /// allowed in every tenant (empty: none).
    #[serde(default)]
    pub default_priority_class: String,
}
