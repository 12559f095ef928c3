//! `Tenant`: one customer (or team) environment on a shared cluster.
//!
//! The seed-000 fields (PiShop operator) are kept verbatim; the seed-004 builders
//! (Nixernetes multi-tenancy module) are optional sections with that seed's parameter names.

use crate::common::{BackupConfig, ResourceLimits, SecretKeyRef};
use crate::status::{CostSummary, Phase, QuotaSummary};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(crate) fn default_true() -> bool {
    true
}

/// Desired state of a tenant. Only `tenantId` and `tenantType` are required; every section is
/// optional and falls back to the isolation level's preset.
#[serde_with::skip_serializing_none]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shop.pilab.hu",
    version = "v1alpha1",
    kind = "Tenant",
    plural = "tenants",
    singular = "tenant",
    shortname = "tnt",
    category = "tenancy",
    namespaced,
    status = "TenantStatus",
    derive = "PartialEq",
    cel,
    doc = "A tenant: an isolated, guarded namespace with quota, limits, network policies, RBAC, admission guardrails, the tenant's services, backups, monitoring and cost tracking.",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenantId"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.tenantType"),
    printcolumn(name = "Namespace", type_ = "string", json_path = ".status.namespace"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Cost/mo",
        type_ = "string",
        json_path = ".status.cost.monthlyProjected",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.tenantId == oldSelf.tenantId").message("tenantId is immutable: it names the namespace").field_path(".tenantId"))]
#[x_kube(validation = Rule::new("has(self.environment) == has(oldSelf.environment) && (!has(self.environment) || self.environment == oldSelf.environment)").message("environment is immutable: it names the namespace").field_path(".environment"))]
#[x_kube(validation = Rule::new("self.tenantType == oldSelf.tenantType || (has(self.environment) && !(has(self.namespaceConfig) && has(self.namespaceConfig.pattern) && self.namespaceConfig.pattern.contains('{tenantType}')))").message("tenantType is immutable while it names the namespace (environment unset, or {tenantType} in namespaceConfig.pattern)").field_path(".tenantType"))]
#[x_kube(validation = Rule::new("has(self.namespaceConfig) == has(oldSelf.namespaceConfig) && (!has(self.namespaceConfig) || self.namespaceConfig == oldSelf.namespaceConfig)").message("namespaceConfig is immutable: changing it would move the tenant to another namespace").field_path(".namespaceConfig"))]
#[x_kube(validation = Rule::new("!has(self.ingressTlsSecretName) || has(self.customDomain)").message("ingressTlsSecretName needs customDomain: the certificate is served for that host").field_path(".ingressTlsSecretName"))]
#[x_kube(validation = Rule::new("!(has(self.mongoPassword) && has(self.mongoPasswordSecretRef))").message("set mongoPassword or mongoPasswordSecretRef, not both").field_path(".mongoPasswordSecretRef"))]
#[x_kube(validation = Rule::new("!(has(self.redisPassword) && has(self.redisPasswordSecretRef))").message("set redisPassword or redisPasswordSecretRef, not both").field_path(".redisPasswordSecretRef"))]
pub struct TenantSpec {
    // ----- seed 000: identity -----
    /// TenantID is the unique identifier for the tenant: a DNS label (lower-case letters, digits,
    /// '-'; at most 40 characters). Immutable.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit"))]
    #[schemars(length(min = 1, max = 40))]
    pub tenant_id: String,

    /// TenantType specifies the type of tenant (production, staging, development).
    pub tenant_type: TenantType,

    /// ImageTag is the Docker image tag to use for services.
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')").message("must be a valid image tag: letters, digits, '_', '.', '-', at most 128 characters"))]
    #[schemars(length(max = 128))]
    pub image_tag: Option<String>,

    /// Image repository prefix of the services: service `api` runs
    /// `{imageRepository}/api:{imageTag}`. Default `ghcr.io/pilab-hu/pishop`.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9._:]*[a-z0-9])?(/[a-z0-9]([-a-z0-9._]*[a-z0-9])?)*$')").message("must be an image repository such as ghcr.io/org/project"))]
    #[schemars(length(max = 255))]
    pub image_repository: Option<String>,

    /// CustomDomain is a custom domain for the ingress.
    #[x_kube(validation = Rule::new("self.matches('^(\\\\*\\\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("must be a lower-case DNS name such as shop.example.com"))]
    #[schemars(length(max = 253))]
    pub custom_domain: Option<String>,

    /// IngressTlsSecretName is the name of the Kubernetes secret containing the TLS certificate
    /// (in the tenant's namespace). Requires customDomain.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("must be a Secret name (DNS subdomain)"))]
    #[schemars(length(max = 253))]
    pub ingress_tls_secret_name: Option<String>,

    /// Active controls whether the tenant is active: false scales every service to zero
    /// (phase Suspended) while keeping the namespace, data and guardrails. Default true.
    #[serde(default = "default_true")]
    pub active: bool,

    /// DeployedAt triggers a rollout when changed.
    pub deployed_at: Option<Time>,

    // ----- seed 000: data stores -----
    /// MongoDB connection string. The tenant gets its own database (see `dataIsolation`).
    #[serde(rename = "mongoURI")]
    #[x_kube(validation = Rule::new("self.startsWith('mongodb://') || self.startsWith('mongodb+srv://')").message("must start with mongodb:// or mongodb+srv://"))]
    #[schemars(length(max = 2048))]
    pub mongo_uri: Option<String>,
    /// MongoDB user name.
    #[schemars(length(max = 256))]
    pub mongo_username: Option<String>,
    /// MongoDB password in plain text (kept for PiShop compatibility). Prefer `mongoPasswordSecretRef`.
    #[schemars(length(max = 1024))]
    pub mongo_password: Option<String>,
    /// MongoDB password from a Secret in the Tenant's namespace (instead of `mongoPassword`).
    pub mongo_password_secret_ref: Option<SecretKeyRef>,
    /// NATS URL. The tenant's subjects are prefixed (see `dataIsolation`).
    #[serde(rename = "natsURL")]
    #[x_kube(validation = Rule::new("self.matches('^(nats|tls|ws|wss)://.+')").message("must be a nats://, tls://, ws:// or wss:// URL"))]
    #[schemars(length(max = 2048))]
    pub nats_url: Option<String>,
    /// Redis URL. The tenant's keys are prefixed (see `dataIsolation`).
    #[serde(rename = "redisURL")]
    #[x_kube(validation = Rule::new("self.startsWith('redis://') || self.startsWith('rediss://')").message("must start with redis:// or rediss://"))]
    #[schemars(length(max = 2048))]
    pub redis_url: Option<String>,
    /// Redis password in plain text. Prefer `redisPasswordSecretRef`.
    #[schemars(length(max = 1024))]
    pub redis_password: Option<String>,
    /// Redis password from a Secret in the Tenant's namespace.
    pub redis_password_secret_ref: Option<SecretKeyRef>,
    /// Per-tenant database, subject prefix and key prefix; derived from tenantId and environment when unset.
    pub data_isolation: Option<DataIsolation>,

    // ----- seed 000: services -----
    /// Services to provision for this tenant: one Deployment and Service each.
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(s) <= 50)").message("each service must be a DNS label of at most 50 characters"))]
    #[x_kube(validation = Rule::new("self.all(s, self.exists_one(t, t == s))").message("service names must be unique"))]
    #[schemars(length(max = 32), inner(length(max = 50)))]
    pub services: Option<Vec<String>>,

    /// Per-service settings, keyed by service name (each must be listed in `services`).
    #[x_kube(validation = Rule::new("self.size() <= 32").message("at most 32 entries"))]
    #[schemars(extend("maxProperties" = 32))]
    pub service_settings: Option<BTreeMap<String, ServiceSettings>>,

    /// Environment configuration: the environment name used in the namespace pattern and labels.
    /// Default: the tenantType. A DNS label. Immutable.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label"))]
    #[schemars(length(min = 1, max = 20))]
    pub environment: Option<String>,

    /// Resource limits for the tenant (shorthand for quota hard limits; see ResourceLimits).
    pub resource_limits: Option<ResourceLimits>,

    /// Backup configuration.
    pub backup_config: Option<BackupConfig>,

    /// Namespace configuration. Immutable.
    pub namespace_config: Option<NamespaceConfig>,

    /// Tenant-specific configuration.
    pub tenant_config: Option<TenantConfig>,

    // ----- seed 004: mkTenant -----
    /// Human-readable tenant name.
    #[schemars(length(max = 256))]
    pub display_name: Option<String>,
    /// Tenant description.
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Tenant owner (a user name, usually an e-mail); bound as a tenant admin.
    #[schemars(length(max = 256))]
    pub owner: Option<String>,
    /// Tenant admins (user names); bound as tenant admins together with `owner` and `rbac.admins`.
    #[schemars(length(max = 64))]
    pub admins: Option<Vec<String>>,

    // ----- seed 004 builders as sections -----
    /// ResourceQuota of the namespace (mkNamespaceQuota).
    pub quota: Option<QuotaSpec>,
    /// LimitRange and workload rules (mkTenantResourceLimits).
    pub limits: Option<LimitsSpec>,
    /// Network isolation (mkTenantNetworkPolicy).
    pub network_policy: Option<NetworkPolicySpec>,
    /// Roles, bindings and service accounts (mkTenantRBAC).
    pub rbac: Option<RbacSpec>,
    /// Isolation level and its overrides (mkTenantIsolationPolicy).
    pub isolation: Option<IsolationSpec>,
    /// Rates, budget and chargeback (mkTenantBilling).
    pub billing: Option<BillingSpec>,
    /// Metrics, alerts, SLOs and dashboards (mkTenantMonitoring).
    pub monitoring: Option<MonitoringSpec>,
}

impl TenantSpec {
    /// A spec with only the two required fields set (and `active: true`).
    pub fn new(tenant_id: impl Into<String>, tenant_type: TenantType) -> TenantSpec {
        TenantSpec {
            tenant_id: tenant_id.into(),
            tenant_type,
            image_tag: None,
            image_repository: None,
            custom_domain: None,
            ingress_tls_secret_name: None,
            active: true,
            deployed_at: None,
            mongo_uri: None,
            mongo_username: None,
            mongo_password: None,
            mongo_password_secret_ref: None,
            nats_url: None,
            redis_url: None,
            redis_password: None,
            redis_password_secret_ref: None,
            data_isolation: None,
            services: None,
            service_settings: None,
            environment: None,
            resource_limits: None,
            backup_config: None,
            namespace_config: None,
            tenant_config: None,
            display_name: None,
            description: None,
            owner: None,
            admins: None,
            quota: None,
            limits: None,
            network_policy: None,
            rbac: None,
            isolation: None,
            billing: None,
            monitoring: None,
        }
    }
}

/// The kind of tenant.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantType {
    Production,
    Staging,
    Development,
}

impl TenantType {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantType::Production => "production",
            TenantType::Staging => "staging",
            TenantType::Development => "development",
        }
    }
}

/// Namespace naming. The name is `pattern` with `{tenantId}`, `{environment}` and `{tenantType}`
/// substituted, then `prefix-` prepended and `-suffix` appended; `name` overrides all of that.
/// The result must be a DNS label of at most 63 characters.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceConfig {
    /// Pattern defines the namespace naming pattern. Default: "tenant-{tenantId}-{environment}".
    #[x_kube(validation = Rule::new("self.matches('^([-a-z0-9]|\\\\{(tenantId|environment|tenantType)\\\\})+$')").message("may contain only lower-case letters, digits, '-' and the placeholders {tenantId}, {environment}, {tenantType}"))]
    #[schemars(length(min = 1, max = 128))]
    pub pattern: Option<String>,
    /// Prefix for the namespace (e.g., "shop", "pishop").
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label"))]
    #[schemars(length(max = 30))]
    pub prefix: Option<String>,
    /// Suffix for the namespace (e.g., "pilab-hu").
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label"))]
    #[schemars(length(max = 30))]
    pub suffix: Option<String>,
    /// Exact namespace name (seed 004 `mkTenant.namespace`); overrides pattern, prefix and suffix.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label"))]
    #[schemars(length(max = 63))]
    pub name: Option<String>,
}

/// Customer information, billing tier, feature flags and extra metadata (seed 000).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantConfig {
    /// Customer name.
    #[schemars(length(max = 256))]
    pub customer_name: Option<String>,
    /// Customer contact e-mail.
    #[x_kube(validation = Rule::new("self.matches('^[^@\\\\s]+@[^@\\\\s]+$')").message("must be an e-mail address"))]
    #[schemars(length(max = 256))]
    pub customer_email: Option<String>,
    /// Billing tier (e.g. basic, standard, premium, enterprise); labels the namespace and
    /// selects the tier's rates when `billing` gives none.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label such as premium"))]
    #[schemars(length(max = 63))]
    pub billing_tier: Option<String>,
    /// Feature flags, exposed to the services as `TENANT_FEATURES` and `FEATURE_<NAME>=true`.
    #[x_kube(validation = Rule::new("self.all(f, f.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("each feature must be a DNS label such as api-access"))]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub features: Option<Vec<String>>,
    /// Extra labels for every object of the tenant (cannot override the operator's own keys).
    pub labels: Option<BTreeMap<String, String>>,
    /// Extra annotations for every object of the tenant.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Where each tenant's data lives inside shared MongoDB, NATS and Redis.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataIsolation {
    /// MongoDB database name. Default `tenant_{tenantId}_{environment}` ('-' becomes '_').
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_]+$')").message("may contain only letters, digits and '_'"))]
    #[schemars(length(min = 1, max = 63))]
    pub mongo_database: Option<String>,
    /// NATS subject prefix. Default `tenant.{tenantId}.{environment}`.
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_-]+(\\\\.[A-Za-z0-9_-]+)*$')").message("must be dot-separated tokens without wildcards"))]
    #[schemars(length(min = 1, max = 128))]
    pub nats_subject_prefix: Option<String>,
    /// Redis key prefix. Default `tenant:{tenantId}:{environment}:`.
    #[schemars(length(min = 1, max = 128))]
    pub redis_key_prefix: Option<String>,
}

/// Settings of one service. Defaults: port 8080; `frontend` is exposed at `/` and `api` at
/// `/api` of customDomain, other services are internal.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSettings {
    /// Full image reference, overriding `{imageRepository}/{service}:{imageTag}`.
    #[schemars(length(max = 512))]
    pub image: Option<String>,
    /// Container port the service listens on. Default 8080.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("must be a port number 1-65535"))]
    pub port: Option<i32>,
    /// Replicas while the tenant is active. Default: `limits.minReplicas`, else 1.
    #[x_kube(validation = Rule::new("self >= 0 && self <= 1000").message("must be between 0 and 1000"))]
    pub replicas: Option<i32>,
    /// Path under customDomain routed to this service; empty string keeps it internal.
    #[x_kube(validation = Rule::new("self == '' || self.startsWith('/')").message("must start with '/' (or be empty to keep the service internal)"))]
    #[schemars(length(max = 256))]
    pub ingress_path: Option<String>,
    /// CPU request per replica. Default: the LimitRange default.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub cpu_request: Option<String>,
    /// Memory request per replica.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub memory_request: Option<String>,
    /// CPU limit per replica.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub cpu_limit: Option<String>,
    /// Memory limit per replica.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub memory_limit: Option<String>,
    /// Extra environment variables.
    pub env: Option<BTreeMap<String, String>>,
}

/// ResourceQuota of the tenant namespace (seed 004 mkNamespaceQuota, plus mkTenant's cpuLimit /
/// memoryLimit). Quantities are Kubernetes quantities: `cpuQuota: "200"` is 200 CPUs.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSpec {
    /// Total CPU requests (`requests.cpu`).
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub cpu_quota: Option<String>,
    /// Total CPU limits (`limits.cpu`). Same key as `resourceLimits.cpuLimit`.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub cpu_limit: Option<String>,
    /// Total memory requests (`requests.memory`).
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub memory_quota: Option<String>,
    /// Total memory limits (`limits.memory`). Same key as `resourceLimits.memoryLimit`.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub memory_limit: Option<String>,
    /// Total ephemeral storage requests (`requests.ephemeral-storage`).
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub ephemeral_storage_quota: Option<String>,
    /// Total PVC storage requests (`requests.storage`). Same key as `resourceLimits.storageLimit`.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub storage_quota: Option<String>,
    /// Maximum pods (`pods`).
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub pod_quota: Option<i32>,
    /// Maximum Deployments (`count/deployments.apps`).
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub deployment_quota: Option<i32>,
    /// Maximum StatefulSets (`count/statefulsets.apps`).
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub statefulset_quota: Option<i32>,
    /// Maximum Jobs (`count/jobs.batch`).
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub job_quota: Option<i32>,
    /// Maximum persistent volumes the namespace may claim (`persistentvolumeclaims`); equals `pvcQuota` when both are set.
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub pv_quota: Option<i32>,
    /// Maximum Services (`services`).
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub service_quota: Option<i32>,
    /// Maximum Ingresses (`count/ingresses.networking.k8s.io`).
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub ingress_quota: Option<i32>,
    /// Maximum ConfigMaps (`configmaps`).
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub configmap_quota: Option<i32>,
    /// Maximum Secrets (`secrets`).
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub secret_quota: Option<i32>,
    /// Maximum PersistentVolumeClaims (`persistentvolumeclaims`).
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub pvc_quota: Option<i32>,
    /// Maximum NodePort services (`services.nodeports`). Preset: 0 unless the isolation level allows NodePorts.
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub node_port_quota: Option<i32>,
    /// Maximum LoadBalancer services (`services.loadbalancers`). Preset: 0 unless the isolation level allows them.
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub load_balancer_quota: Option<i32>,
    /// Quota scopes (BestEffort, NotBestEffort, Terminating, NotTerminating, PriorityClass, CrossNamespacePodAffinity).
    #[x_kube(validation = Rule::new("self.all(s, s in ['BestEffort', 'NotBestEffort', 'Terminating', 'NotTerminating', 'PriorityClass', 'CrossNamespacePodAffinity'])").message("each scope must be one of BestEffort, NotBestEffort, Terminating, NotTerminating, PriorityClass, CrossNamespacePodAffinity"))]
    #[schemars(length(max = 6))]
    pub scopes: Option<Vec<String>>,
}

/// LimitRange and workload rules (seed 004 mkTenantResourceLimits).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsSpec {
    /// Max CPU per pod (sum of its containers' limits).
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub pod_cpu_limit: Option<String>,
    /// Max memory per pod.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub pod_memory_limit: Option<String>,
    /// CPU request given to a container that sets none.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub pod_cpu_request: Option<String>,
    /// Memory request given to a container that sets none.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub pod_memory_request: Option<String>,
    /// Max CPU per container.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub container_cpu_limit: Option<String>,
    /// Max memory per container.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub container_memory_limit: Option<String>,
    /// Quality of Service class the defaults aim at: Guaranteed (limits = requests),
    /// Burstable (limits may exceed requests), BestEffort (no defaults).
    pub qos_class: Option<QosClass>,
    /// Allow CPU limits above requests. false pins the limit/request ratio to 1.
    pub allow_bursting: Option<bool>,
    /// CPU limit given to a container that sets none (the burst ceiling).
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub burst_cpu: Option<String>,
    /// Memory limit given to a container that sets none.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub burst_memory: Option<String>,
    /// Minimum replicas of every Deployment and StatefulSet in the namespace (enforced at admission).
    #[x_kube(validation = Rule::new("self >= 0 && self <= 100").message("must be between 0 and 100"))]
    pub min_replicas: Option<i32>,
    /// Max ephemeral storage per container.
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity"))]
    #[schemars(length(max = 64))]
    pub ephemeral_storage_limit: Option<String>,
}

/// Quality of Service classes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

/// Network isolation (seed 004 mkTenantNetworkPolicy). With isolation on, everything is denied
/// and only what is listed here is allowed. "Same tenant" means every namespace of the same
/// tenantId (all its environments).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Allow ingress from outside the tenant: from the ingress controller's namespace(s)
    /// (`ingressControllerNamespaces`) to the exposed services.
    pub ingress_enabled: Option<bool>,
    /// Allow traffic from the tenant's own namespaces.
    pub allow_from_same_tenant: Option<bool>,
    /// Namespaces (by name) allowed to connect in.
    #[x_kube(validation = Rule::new("self.all(n, n.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("each entry must be a namespace name"))]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub allow_from_namespaces: Option<Vec<String>>,
    /// Pods (by label set, in any namespace) allowed to connect in, e.g. `{app.kubernetes.io/name: prometheus}`.
    #[schemars(length(max = 32))]
    pub allow_from_pods: Option<Vec<BTreeMap<String, String>>>,
    /// Namespaces where the ingress controller runs. Default `ingress-nginx`.
    #[schemars(length(max = 16))]
    pub ingress_controller_namespaces: Option<Vec<String>>,
    /// Allow egress at all. false: every egress is denied, DNS included, and the allowTo* fields are ignored.
    pub egress_enabled: Option<bool>,
    /// Allow traffic to the tenant's own namespaces.
    pub allow_to_same_tenant: Option<bool>,
    /// Namespaces (by name) the tenant may connect to.
    #[x_kube(validation = Rule::new("self.all(n, n.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("each entry must be a namespace name"))]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub allow_to_namespaces: Option<Vec<String>>,
    /// Allow DNS queries (port 53; only to the cluster DNS in kube-system when isolation.dnsIsolation is on).
    pub allow_to_dns: Option<bool>,
    /// Allow traffic to addresses outside the cluster (all of them, or only `allowedExternalCIDRs`).
    pub allow_to_external: Option<bool>,
    /// External CIDRs allowed when allowToExternal is true (default 0.0.0.0/0 and ::/0).
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("each entry must be a CIDR such as 10.0.0.0/8"))]
    #[schemars(length(max = 64), inner(length(max = 43)))]
    #[serde(rename = "allowedExternalCIDRs")]
    pub allowed_external_cidrs: Option<Vec<String>>,
    /// Ports (TCP) the allow rules are limited to; empty means all ports.
    #[x_kube(validation = Rule::new("self.all(p, p >= 1 && p <= 65535)").message("each port must be 1-65535"))]
    #[schemars(length(max = 64))]
    pub allowed_ports: Option<Vec<i32>>,
    /// Ports (TCP) never allowed by the allow rules (rendered as the complementary port ranges).
    #[x_kube(validation = Rule::new("self.all(p, p >= 1 && p <= 65535)").message("each port must be 1-65535"))]
    #[schemars(length(max = 64))]
    pub blocked_ports: Option<Vec<i32>>,
}

/// Roles, bindings and service accounts (seed 004 mkTenantRBAC). The operator creates the
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

/// Isolation level and the settings it presets (seed 004 mkTenantIsolationPolicy).
/// `isolationLevel` picks a preset; every other field overrides the preset's value.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IsolationSpec {
    /// strict, standard or permissive. Default standard.
    pub isolation_level: Option<IsolationLevel>,
    /// Default-deny NetworkPolicies plus the allow rules of `networkPolicy`.
    pub network_isolation: Option<bool>,
    /// DNS only to the cluster DNS service (not to any resolver).
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
    /// Mark the namespace for API audit logging at `auditLevel`.
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
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
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

/// Billing and cost tracking (seed 004 mkTenantBilling). Rates are per hour per CPU, per hour
/// per GiB of memory, per month per GiB of storage, per GiB of egress.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.budgetEnforcement) || !self.budgetEnforcement || has(self.monthlyBudget)").message("budgetEnforcement needs monthlyBudget").field_path(".monthlyBudget"))]
pub struct BillingSpec {
    /// Contact for billing matters.
    #[schemars(length(max = 256))]
    pub billing_contact: Option<String>,
    /// Address invoices are sent to.
    #[x_kube(validation = Rule::new("self.matches('^[^@\\\\s]+@[^@\\\\s]+$')").message("must be an e-mail address"))]
    #[schemars(length(max = 256))]
    pub billing_email: Option<String>,
    /// Cost center code (also a namespace label for cost tools).
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')").message("must be a label value: letters, digits, '-', '_', '.'"))]
    #[schemars(length(max = 63))]
    pub cost_center: Option<String>,
    /// hourly, daily, weekly or monthly. Default monthly.
    pub billing_cycle: Option<BillingCycle>,
    /// ISO 4217 currency of the rates. Default USD.
    #[x_kube(validation = Rule::new("self.matches('^[A-Z]{3}$')").message("must be a three-letter ISO 4217 code such as USD"))]
    #[schemars(length(max = 3))]
    pub currency: Option<String>,
    /// Price of one CPU for one hour.
    #[x_kube(validation = Rule::new("self >= 0.0").message("must not be negative"))]
    pub cpu_hourly_rate: Option<f64>,
    /// Price of one GiB of memory for one hour.
    #[x_kube(validation = Rule::new("self >= 0.0").message("must not be negative"))]
    pub memory_hourly_rate: Option<f64>,
    /// Price of one GiB of storage for one month.
    #[x_kube(validation = Rule::new("self >= 0.0").message("must not be negative"))]
    pub storage_monthly_rate: Option<f64>,
    /// Price of one GiB of egress traffic.
    #[x_kube(validation = Rule::new("self >= 0.0").message("must not be negative"))]
    pub network_egress_rate: Option<f64>,
    /// Budget per month, in `currency`.
    #[x_kube(validation = Rule::new("self > 0.0").message("must be positive"))]
    pub monthly_budget: Option<f64>,
    /// Fraction of the budget (0-1) at which the BudgetOK condition turns False and an alert fires. Default 0.8.
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 1.0").message("must be between 0 and 1"))]
    pub budget_alert_threshold: Option<f64>,
    /// Enforce the budget rather than only alert (requires monthlyBudget); how it is enforced is documented in docs/tenant-api.md.
    pub budget_enforcement: Option<bool>,
    /// shared, dedicated or usage.
    pub chargeback_model: Option<ChargebackModel>,
    /// Volume discount as a fraction (0-1).
    #[x_kube(validation = Rule::new("self >= 0.0 && self < 1.0").message("must be a fraction from 0 up to (not including) 1"))]
    pub volume_discount: Option<f64>,
    /// Commitment discount as a fraction (0-1).
    #[x_kube(validation = Rule::new("self >= 0.0 && self < 1.0").message("must be a fraction from 0 up to (not including) 1"))]
    pub commitment_discount: Option<f64>,
}

/// Billing cycles.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BillingCycle {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

impl BillingCycle {
    pub const ALL: [BillingCycle; 4] = [
        BillingCycle::Hourly,
        BillingCycle::Daily,
        BillingCycle::Weekly,
        BillingCycle::Monthly,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            BillingCycle::Hourly => "hourly",
            BillingCycle::Daily => "daily",
            BillingCycle::Weekly => "weekly",
            BillingCycle::Monthly => "monthly",
        }
    }
}

/// Chargeback models: shared (cost of the allocation split over the cluster), dedicated
/// (the tenant pays for its whole quota) or usage (what its pods actually requested).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChargebackModel {
    Shared,
    Dedicated,
    Usage,
}

/// Metrics, logs, alerts, SLOs and dashboards (seed 004 mkTenantMonitoring).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Scrape the tenant's services (a ServiceMonitor). Default true.
    pub metrics_enabled: Option<bool>,
    /// Metrics retention (e.g. `30d`), as a label for the metrics backend.
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(s|m|h|d|w|y))+$')").message("must be a duration such as 30d"))]
    #[schemars(length(max = 32))]
    pub metrics_retention: Option<String>,
    /// Collect logs centrally (labels the namespace for the log collector).
    pub logging_enabled: Option<bool>,
    /// Log level passed to the services (`LOG_LEVEL`).
    pub log_level: Option<LogLevel>,
    /// Log retention (e.g. `7d`).
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(s|m|h|d|w|y))+$')").message("must be a duration such as 7d"))]
    #[schemars(length(max = 32))]
    pub log_retention: Option<String>,
    /// Log format passed to the services (`LOG_FORMAT`): json or text.
    pub log_format: Option<LogFormat>,
    /// Alert rules for the tenant (a PrometheusRule). Default true.
    pub alerting_enabled: Option<bool>,
    /// E-mail addresses the tenant's alerts are routed to (an alert label for Alertmanager routing).
    #[schemars(length(max = 16))]
    pub alert_receivers: Option<Vec<String>>,
    /// Availability and latency SLO alerts.
    pub slo_enabled: Option<bool>,
    /// Target availability (0-1), e.g. 0.99.
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("must be greater than 0 and at most 1"))]
    pub target_availability: Option<f64>,
    /// Target p99 request latency (e.g. `100ms`, `1s`).
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(ms|s)$')").message("must be a duration in ms or s, such as 100ms"))]
    #[schemars(length(max = 16))]
    pub target_latency: Option<String>,
    /// Provision the standard tenant dashboard (a ConfigMap picked up by Grafana's sidecar).
    pub dashboards_enabled: Option<bool>,
    /// Extra dashboards (Grafana JSON).
    #[schemars(length(max = 16))]
    pub custom_dashboards: Option<Vec<CustomDashboard>>,
}

/// Log levels.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Log formats.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

/// A Grafana dashboard.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomDashboard {
    /// Dashboard name (a DNS label; names the ConfigMap).
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label"))]
    #[schemars(length(min = 1, max = 40))]
    pub name: String,
    /// Dashboard JSON.
    #[schemars(length(max = 262144))]
    pub json: String,
}

/// Observed state of a Tenant.
///
/// A Tenant the operator has not written yet reads as `phase: Initialization`: the API server
/// fills in this default when it reads the object from storage, so a new Tenant shows its first
/// phase without a status write of its own.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {"phase": "Initialization"}))]
pub struct TenantStatus {
    /// Lifecycle phase.
    pub phase: Option<Phase>,
    /// The metadata.generation this status describes.
    pub observed_generation: Option<i64>,
    /// The tenant's namespace.
    pub namespace: Option<String>,
    /// The effective isolation level (after defaults).
    pub isolation_level: Option<IsolationLevel>,
    /// Conditions, one per concern; `Ready` sums them up.
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Option<Vec<Condition>>,
    /// Quota hard limits and use.
    pub quota: Option<QuotaSummary>,
    /// Cost at the current allocation.
    pub cost: Option<CostSummary>,
    /// Ready services over desired services, e.g. `3/4`.
    pub services_ready: Option<String>,
    /// The deployedAt value last rolled out.
    pub last_deployed_at: Option<Time>,
}
