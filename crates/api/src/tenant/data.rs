//! `spec.dataIsolation`: where the tenant's data lives in the shared data stores.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// Redis key prefix, also the prefix of the tenant's pub/sub channels. Default
    /// `tenant:{tenantId}:{environment}:`. No glob characters: it becomes the ACL key pattern
    /// `<prefix>*` of the tenant's Redis user.
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_.:-]+$')").message("may contain only letters, digits, '_', '.', ':' and '-' (no glob characters)"))]
    #[schemars(length(min = 1, max = 128))]
    pub redis_key_prefix: Option<String>,
}

/// How the operator provides the tenant's data stores.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataStores {
    /// `Shared` (default): an identity of the tenant's own on each shared server the platform
    /// registered with the operator, limited to the tenant's database, subject prefix and key
    /// prefix. `Dedicated`: the stores run inside the tenant namespace.
    pub mode: Option<DataStoreMode>,
    /// What happens to the tenant's data on the shared servers when the Tenant is deleted. Its
    /// identities are always revoked; `Retain` (default) keeps the data, `Delete` deletes it
    /// (the Redis keys under its prefix).
    pub on_tenant_deletion: Option<DataDeletionPolicy>,
    /// Any value; changing it gives the tenant new passwords on every shared server (the old
    /// ones stop working, and the services roll to the new connection Secret).
    #[schemars(length(max = 63))]
    pub credentials_rotation: Option<String>,
}

/// Where the tenant's data stores run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DataStoreMode {
    /// On the platform's shared servers, isolated by identity.
    Shared,
    /// As StatefulSets inside the tenant namespace.
    Dedicated,
}

/// What happens to a deleted tenant's data.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DataDeletionPolicy {
    /// Keep the data (the default); only the identities are revoked.
    Retain,
    /// Delete the tenant's data with it.
    Delete,
}
