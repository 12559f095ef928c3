//! `spec.isolation`: the isolation level and the settings it presets.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Isolation level and the settings it presets.
/// `isolationLevel` picks a preset; every other field overrides the preset's value.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IsolationSpec {
    /// strict, standard or permissive. Default standard.
    pub isolation_level: Option<IsolationLevel>,
    /// Default-deny NetworkPolicies plus the allow rules of `networkPolicy`.
    pub network_isolation: Option<bool>,
    /// DNS only to the cluster DNS (kube-system pods labelled `k8s-app=kube-dns`) and
    /// networkPolicy.allowedDnsCIDRs, not to any resolver. Default true (every preset) wherever
    /// network isolation is on; false opens port 53 to every destination.
    pub dns_isolation: Option<bool>,
    /// PersistentVolumeClaims only from `allowedStorageClasses`.
    pub storage_isolation: Option<bool>,
    /// PersistentVolumeClaims may not name a pre-existing PersistentVolume (`spec.volumeName`).
    pub pv_access_control: Option<bool>,
    /// Storage classes the tenant may use when storageIsolation is on.
    #[schemars(length(max = 32))]
    pub allowed_storage_classes: Option<Vec<String>>,
    /// Containers must request whole CPUs with limits equal to requests (for the static CPU manager).
    pub cpu_pinning: Option<bool>,
    /// Pods must run on nodes labelled `dedicatedNodeLabel={tenantId}`.
    pub dedicated_nodes: Option<bool>,
    /// Node label key for dedicated nodes. Default `shop.pilab.hu/tenant-id`.
    #[schemars(length(max = 253))]
    pub dedicated_node_label: Option<String>,
    /// Pod Security Standard enforced on the namespace: restricted, baseline or privileged.
    pub pod_security_policy: Option<PodSecurityLevel>,
    /// Containers must run with an AppArmor profile (RuntimeDefault or Localhost).
    pub app_armor: Option<bool>,
    /// Containers must not set a custom SELinux type/user/role.
    pub selinux: Option<bool>,
    /// Secrets must be encrypted at rest by the cluster (reported; a cluster setting, not a per-namespace one).
    pub secrets_encryption: Option<bool>,
    /// Volumes must be encrypted at rest (reported; a storage class setting).
    pub encryption_at_rest: Option<bool>,
    /// Audit the namespace's API requests at `auditLevel`: the namespace is labelled with the
    /// level, and `kubectl tenant audit-policy` writes it into the API server's audit policy
    /// (Secrets and tokens never above Metadata). Off: the policy's catch-all level applies.
    pub api_audit: Option<bool>,
    /// Audit level: None, Metadata, Request or RequestResponse.
    pub audit_level: Option<AuditLevel>,
    /// Image registries allowed (host or host/path prefixes); empty means any not blocked.
    #[schemars(length(max = 64))]
    pub allowed_registries: Option<Vec<String>>,
    /// Image registries refused.
    #[schemars(length(max = 64))]
    pub blocked_registries: Option<Vec<String>>,
    /// Require signed images (labels the namespace for an image verification controller).
    pub image_verification: Option<bool>,
    /// Containers must use `imagePullPolicy: Always` (so a cached private image is re-authorised).
    pub require_image_pull_policy_always: Option<bool>,
    /// Allow Services of type NodePort.
    pub allow_node_ports: Option<bool>,
    /// Allow Services of type LoadBalancer.
    pub allow_load_balancers: Option<bool>,
    /// Allow hostNetwork, hostPID, hostIPC and host ports.
    pub allow_host_namespaces: Option<bool>,
    /// Allow hostPath volumes.
    pub allow_host_path: Option<bool>,
    /// PriorityClasses the tenant's pods and pod templates may name in `priorityClassName`.
    /// Empty (every preset's default): none; pods that name no class get the cluster's default
    /// priority, and the platform's default class (the operator's `--default-priority-class`) is
    /// always allowed. The reserved `system-` classes are never allowed.
    #[x_kube(validation = Rule::new("self.all(n, n.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'))").message("each entry must be a PriorityClass name (a DNS subdomain)"))]
    #[x_kube(validation = Rule::new("self.all(n, !n.startsWith('system-'))").message("the system- PriorityClasses (system-node-critical, system-cluster-critical) are reserved for the cluster's own critical components and cannot be allowed for a tenant"))]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub allowed_priority_classes: Option<Vec<String>>,
}

/// Isolation presets.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IsolationLevel {
    Strict,
    Standard,
    Permissive,
}

impl IsolationLevel {
    pub const ALL: [IsolationLevel; 3] = [
        IsolationLevel::Strict,
        IsolationLevel::Standard,
        IsolationLevel::Permissive,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationLevel::Strict => "strict",
            IsolationLevel::Standard => "standard",
            IsolationLevel::Permissive => "permissive",
        }
    }
}

/// Pod Security Standards levels.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    Privileged,
    Baseline,
    Restricted,
}

impl PodSecurityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Privileged => "privileged",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }
}

/// Kubernetes audit levels.
// The variants are in order of detail, so the derived order compares levels.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
pub enum AuditLevel {
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl AuditLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditLevel::None => "None",
            AuditLevel::Metadata => "Metadata",
            AuditLevel::Request => "Request",
            AuditLevel::RequestResponse => "RequestResponse",
        }
    }
}
