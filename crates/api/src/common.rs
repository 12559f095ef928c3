//! Types both `Tenant` and `PRStack` use.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Shorthand resource ceilings. Each one is a hard limit in the namespace's
/// ResourceQuota: `cpuLimit` -> `limits.cpu`, `memoryLimit` -> `limits.memory`,
/// `storageLimit` -> `requests.storage`. When `spec.quota` sets the same quota key
/// (`quota.cpuLimit`, `quota.memoryLimit`, `quota.storageQuota`) the two must be equal.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLimits {
    /// Total CPU limit of all pods in the namespace (a Kubernetes quantity, e.g. `2` or `500m`).
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity such as 2 or 500m"))]
    #[schemars(length(max = 64))]
    pub cpu_limit: Option<String>,
    /// Total memory limit of all pods in the namespace (e.g. `4Gi`).
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity such as 4Gi"))]
    #[schemars(length(max = 64))]
    pub memory_limit: Option<String>,
    /// Total storage all PersistentVolumeClaims in the namespace may request (e.g. `20Gi`).
    #[x_kube(validation = Rule::new("isQuantity(self)").message("must be a Kubernetes quantity such as 20Gi"))]
    #[schemars(length(max = 64))]
    pub storage_limit: Option<String>,
}

/// Backup settings: when backups run, how long they are kept, what they include, and whether
/// restores are allowed. Rendered as a Velero `Schedule` for the tenant's namespace.
// Why `enabled`/`schedule`/`retention` and not `backupEnabled`/...: docs/field-origins.md.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.enabled) || !self.enabled || has(self.schedule)").message("schedule is required when enabled is true").field_path(".schedule"))]
pub struct BackupConfig {
    /// Whether scheduled backups run. Default false.
    pub enabled: Option<bool>,
    /// When backups run: five cron fields (minute hour day-of-month month day-of-week) in UTC, or an `@daily`-style macro.
    #[x_kube(validation = Rule::new(r"self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([0-9A-Za-z*/,?-]+\\s+){4}[0-9A-Za-z*/,?-]+)$')").message("must be five cron fields (minute hour day-of-month month day-of-week) or a macro such as @daily"))]
    #[schemars(length(max = 128))]
    pub schedule: Option<String>,
    /// How long each backup is kept: `<n>d`, `<n>h`, `<n>w` (e.g. `30d`). Default `30d`.
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(s|m|h|d|w))+$')").message("must be a duration such as 30d, 72h or 2w"))]
    #[schemars(length(max = 32))]
    pub retention: Option<String>,
    /// Back up the namespace's Kubernetes resources. Default true.
    pub backup_namespace: Option<bool>,
    /// Back up persistent volume data (snapshots or file-system backup). Default true.
    pub backup_persistent_volumes: Option<bool>,
    /// Include Secrets in the backup. Default true.
    pub backup_secrets: Option<bool>,
    /// Resource types to include (e.g. `deployments.apps`); empty means all.
    #[schemars(length(max = 64))]
    pub backup_include_resources: Option<Vec<String>>,
    /// Resource types to exclude (e.g. `events`).
    #[schemars(length(max = 64))]
    pub backup_exclude_resources: Option<Vec<String>>,
    /// Velero BackupStorageLocation name; the cluster default when unset.
    #[schemars(length(max = 253))]
    pub backup_storage_location: Option<String>,
    /// Require the storage location to encrypt backups (recorded on the Schedule; encryption itself is the location's setting).
    pub encryption_enabled: Option<bool>,
    /// Allow restores into this tenant (a `Restore` naming one of its backups). Default true.
    pub restore_enabled: Option<bool>,
    /// Restores on a timetable (five cron fields in UTC, or a macro such as `@daily`): at each
    /// time the operator creates a TenantRestore `scheduled-<yyyymmdd-hhmm>` in the tenant's
    /// namespace from the newest completed backup of `restoreFromNamespace` (e.g. staging
    /// refreshed nightly from production; existing objects are updated to the backup's version)
    /// or, unset, of this tenant (objects that were deleted come back; existing ones are left as
    /// they are). Times before the schedule was set, and times missed by more than an hour, are
    /// skipped. The newest 5 scheduled TenantRestores are kept.
    #[x_kube(validation = Rule::new(r"self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([0-9A-Za-z*/,?-]+\\s+){4}[0-9A-Za-z*/,?-]+)$')").message("must be five cron fields or a macro such as @weekly"))]
    #[schemars(length(max = 128))]
    pub restore_schedule: Option<String>,
    /// The namespace of the tenant whose backups `restoreSchedule` restores into this one
    /// (another environment of the same tenantId; both Tenants must set
    /// `allowCrossTenantRestore`). Unset: this tenant's own backups.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a namespace name"))]
    #[schemars(length(max = 63))]
    pub restore_from_namespace: Option<String>,
    /// Allow restores across tenants: of another tenant's backups into this tenant, and of this
    /// tenant's backups into another. Both Tenants must allow it and share a tenantId (the
    /// environments of one customer, e.g. staging from production); Secrets never cross.
    /// Default false.
    pub allow_cross_tenant_restore: Option<bool>,
    /// Take one last backup before the Tenant's namespace is deleted (the deletion waits for it,
    /// up to the operator's bound). Default true when backups are enabled.
    pub final_backup: Option<bool>,
}

/// A key of a Secret in the same namespace as the custom resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("must be a Secret name (DNS subdomain)"))]
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}
