//! `spec.serviceSettings`: settings of one of the tenant's services.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
