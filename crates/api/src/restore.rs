//! `TenantRestore`: a tenant admin's request to bring back objects of the tenant's namespace from
//! one of the tenant's backups. The operator turns it into a Velero Restore that can only write
//! into the namespace the request lives in (see docs/backups.md).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A restore of the tenant's namespace from one of its backups, into that same namespace.
#[serde_with::skip_serializing_none]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "shop.pilab.hu",
    version = "v1alpha1",
    kind = "TenantRestore",
    plural = "tenantrestores",
    singular = "tenantrestore",
    shortname = "trestore",
    namespaced,
    status = "TenantRestoreStatus",
    derive = "PartialEq",
    cel,
    doc = "A restore into the tenant's namespace from one of its own backups (or, where both tenants allow it, from another environment of the same tenantId), into that namespace only. The operator's own objects, quotas, limits, network policies and RBAC are never restored (the operator keeps those).",
    printcolumn(name = "Backup", type_ = "string", json_path = ".status.backupName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Restored",
        type_ = "integer",
        json_path = ".status.itemsRestored"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("a TenantRestore cannot be changed: create another one"))]
pub struct TenantRestoreSpec {
    /// The backup to restore from: one of this tenant's (or the source tenant's) completed Velero Backups (`kubectl get
    /// tenant -o yaml` shows the last one; the tenant's Backups carry its labels). Unset: the
    /// newest completed one.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("must be a Backup name"))]
    #[schemars(length(max = 253))]
    pub backup_name: Option<String>,
    /// Restore another tenant's backup into this namespace: that tenant's namespace. Allowed
    /// only when both Tenants set `backupConfig.allowCrossTenantRestore` and share a tenantId
    /// (environments of one customer); Secrets are never copied between tenants. Unset: this
    /// tenant's own backups.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a namespace name"))]
    #[schemars(length(max = 63))]
    pub source_namespace: Option<String>,
    /// What becomes of objects that exist: `none` (default: left as they are) or `update`
    /// (updated to the backup's version where Velero can).
    #[x_kube(validation = Rule::new("self in ['none', 'update']").message("must be none or update"))]
    #[schemars(length(max = 8))]
    pub existing_resource_policy: Option<String>,
    /// Resource types to restore (e.g. `configmaps`, `deployments.apps`); empty: everything the
    /// backup holds that may be restored.
    #[schemars(length(max = 64))]
    pub include_resources: Option<Vec<String>>,
    /// Resource types not to restore.
    #[schemars(length(max = 64))]
    pub exclude_resources: Option<Vec<String>>,
}

/// What became of a TenantRestore.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantRestoreStatus {
    /// `Refused` (not allowed; nothing was restored), `InProgress`, `Completed`,
    /// `PartiallyFailed` or `Failed`.
    pub phase: Option<String>,
    /// Why, or what happened.
    pub message: Option<String>,
    /// The Backup restored from.
    pub backup_name: Option<String>,
    /// The Velero Restore in Velero's namespace.
    pub restore_name: Option<String>,
    /// Objects Velero restored.
    pub items_restored: Option<i64>,
    /// Velero's warnings (e.g. objects that existed and were left as they are).
    pub warnings: Option<i64>,
    /// Velero's errors.
    pub errors: Option<i64>,
    /// When the Velero Restore was created.
    pub started: Option<Time>,
    /// When Velero finished it.
    pub completed: Option<Time>,
}

impl TenantRestoreStatus {
    /// Whether nothing more will happen to the request.
    pub fn finished(&self) -> bool {
        matches!(
            self.phase.as_deref(),
            Some("Refused" | "Completed" | "PartiallyFailed" | "Failed")
        )
    }
}
