//! `spec.dataIsolation`: where the tenant's data lives in the shared data stores.

use kube::KubeSchema;
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
    /// Redis key prefix. Default `tenant:{tenantId}:{environment}:`.
    #[schemars(length(min = 1, max = 128))]
    pub redis_key_prefix: Option<String>,
}
