//! `Tenant`: one customer (or team) environment on a shared cluster.
//!
//! Top-level fields name the tenant, its services and its data stores; every other concern is
//! an optional section. Where each field and section comes from, and why some were renamed:
//! `docs/field-origins.md`.
//!
//! One submodule per spec section; every type is re-exported here (and from the crate root).

mod billing;
mod config;
mod data;
mod isolation;
mod limits;
mod monitoring;
mod namespace;
mod network;
mod placement;
mod quota;
mod rbac;
mod rollout;
mod services;

pub use billing::{BillingCycle, BillingSpec, ChargebackModel};
pub use config::TenantConfig;
pub use data::{DataDeletionPolicy, DataIsolation, DataStoreMode, DataStores};
pub use isolation::{AuditLevel, IsolationLevel, IsolationSpec, PodSecurityLevel};
pub use limits::{LimitsSpec, QosClass};
pub use monitoring::{CustomDashboard, LogFormat, LogLevel, MonitoringSpec};
pub use namespace::NamespaceConfig;
pub use network::{NetworkPolicySpec, PodsInNamespaces};
pub use placement::Placement;
pub use quota::QuotaSpec;
pub use rbac::{RbacSpec, RoleRules};
pub use rollout::{Canary, Hibernation, HibernationSchedule, MaintenanceWindow};
pub use services::{Autoscaling, Probes, ServiceSettings};

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
        name = "Services",
        type_ = "string",
        json_path = ".status.servicesReady"
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
#[x_kube(validation = Rule::new("!(has(self.imageTag) && has(self.releaseChannel))").message("set imageTag or releaseChannel, not both").field_path(".releaseChannel"))]
#[x_kube(validation = Rule::new("!(has(self.mongoPassword) && has(self.mongoPasswordSecretRef))").message("set mongoPassword or mongoPasswordSecretRef, not both").field_path(".mongoPasswordSecretRef"))]
#[x_kube(validation = Rule::new("!(has(self.redisPassword) && has(self.redisPasswordSecretRef))").message("set redisPassword or redisPasswordSecretRef, not both").field_path(".redisPasswordSecretRef"))]
pub struct TenantSpec {
    // ----- identity and services -----
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

    /// Follow a release channel of the platform (e.g. `stable`) instead of pinning `imageTag`:
    /// the services run the channel's current tag (the operator's ConfigMap `tenant-releases`),
    /// rolled out in the tenant's maintenance window when it has one.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label such as stable"))]
    #[schemars(length(max = 63))]
    pub release_channel: Option<String>,

    /// A canary release beside the current one.
    pub canary: Option<Canary>,

    /// Sleep/wake timetable of the services.
    pub hibernation: Option<Hibernation>,

    /// When releases may roll out.
    pub maintenance_window: Option<MaintenanceWindow>,

    // ----- data stores -----
    /// MongoDB connection string. The tenant gets its own database (see `dataIsolation`).
    /// Without MongoDB settings, on a shared MongoDB the platform registers, the tenant gets a
    /// user of its own owning that database.
    #[serde(rename = "mongoURI")]
    #[x_kube(validation = Rule::new("self.startsWith('mongodb://') || self.startsWith('mongodb+srv://')").message("must start with mongodb:// or mongodb+srv://"))]
    #[schemars(length(max = 2048))]
    pub mongo_uri: Option<String>,
    /// MongoDB user name.
    #[schemars(length(max = 256))]
    pub mongo_username: Option<String>,
    /// MongoDB password in plain text (accepted for compatibility with existing Tenant manifests). Prefer `mongoPasswordSecretRef`.
    #[schemars(length(max = 1024))]
    pub mongo_password: Option<String>,
    /// MongoDB password from a Secret in the Tenant's namespace (instead of `mongoPassword`).
    pub mongo_password_secret_ref: Option<SecretKeyRef>,
    /// NATS URL. The tenant's subjects are prefixed (see `dataIsolation`). Without it, on a
    /// shared NATS the platform registers, the tenant gets an account and user of its own.
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
    /// How the operator provides the tenant's data stores: identities on the platform's shared
    /// servers (default) or dedicated stores in the namespace; retention; credential rotation.
    pub data_stores: Option<DataStores>,

    // ----- services, environment and the sections that came with them -----
    /// Services to provision for this tenant: one Deployment and Service each.
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(s) <= 50)").message("each service must be a DNS label of at most 50 characters"))]
    #[x_kube(validation = Rule::new("self.all(s, self.exists_one(t, t == s))").message("service names must be unique"))]
    #[schemars(length(max = 32), inner(length(max = 50)))]
    pub services: Option<Vec<String>>,

    /// Secrets of type kubernetes.io/dockerconfigjson in the tenant's namespace that the services'
    /// pods pull their images with, beside the platform's registry credentials the operator
    /// copies in for the registries the services pull from.
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'))").message("each must be a Secret name (DNS subdomain)"))]
    #[schemars(length(max = 8), inner(length(max = 253)))]
    pub image_pull_secrets: Option<Vec<String>>,

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

    // ----- description and ownership -----
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

    // ----- guardrails, cost and monitoring sections -----
    /// ResourceQuota of the namespace: compute, storage and object counts. Strict and standard
    /// Tenants that bound no cpu, memory or pod count here or in resourceLimits get the
    /// platform's default for their tenantType (the operator's --default-compute-quota).
    pub quota: Option<QuotaSpec>,
    /// LimitRange and workload rules: per-pod and per-container maxima and defaults, QoS, minimum replicas.
    pub limits: Option<LimitsSpec>,
    /// Network isolation: default deny plus the allowed traffic.
    pub network_policy: Option<NetworkPolicySpec>,
    /// Roles, bindings and service accounts.
    pub rbac: Option<RbacSpec>,
    /// Isolation level (strict, standard, permissive) and its overrides.
    pub isolation: Option<IsolationSpec>,
    /// Rates, budget and chargeback.
    pub billing: Option<BillingSpec>,
    /// Metrics, logs, alerts, SLOs and dashboards.
    pub monitoring: Option<MonitoringSpec>,

    // ----- where it runs -----
    /// The regions or clusters that run this Tenant (default: every cluster).
    pub placement: Option<Placement>,
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
            release_channel: None,
            canary: None,
            hibernation: None,
            maintenance_window: None,
            mongo_uri: None,
            mongo_username: None,
            mongo_password: None,
            mongo_password_secret_ref: None,
            nats_url: None,
            redis_url: None,
            redis_password: None,
            redis_password_secret_ref: None,
            data_stores: None,
            data_isolation: None,
            services: None,
            image_pull_secrets: None,
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
            placement: None,
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
    /// The uid of the tenant's namespace, recorded by the operator once it has created or
    /// confirmed it: the evidence, which only the operator writes, that the namespace is this
    /// Tenant's (owner annotations on the namespace can be forged by whoever may patch it).
    pub namespace_uid: Option<String>,
    /// The effective isolation level (after defaults).
    pub isolation_level: Option<IsolationLevel>,
    /// Conditions, one per concern; `Ready` sums them up. A map keyed by `type`: each writer
    /// owns its own conditions.
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
    /// A release held back until the maintenance window opens.
    pub pending_rollout: Option<crate::status::PendingRollout>,
    /// When the tenant's last successful backup completed.
    pub last_backup_time: Option<Time>,
    /// The `restoreSchedule` time the operator last acted on: it created the TenantRestore
    /// `scheduled-<time>` for it, or (when the schedule was set) began counting from it.
    pub last_scheduled_restore: Option<Time>,
}
