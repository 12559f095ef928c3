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
    /// Extra environment variables (they override the tenant's configuration variables of the
    /// same name).
    pub env: Option<BTreeMap<String, String>>,
    /// Health checks. Default: the service is ready and alive while its port accepts TCP
    /// connections.
    pub probes: Option<Probes>,
    /// Horizontal autoscaling: a HorizontalPodAutoscaler owns the replica count (and
    /// `replicas` is ignored) while the tenant is active.
    pub autoscaling: Option<Autoscaling>,
}

/// Health checks of a service's containers.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Probes {
    /// false: no probes at all (a worker without a port to check). Default true.
    pub enabled: Option<bool>,
    /// HTTP path of the readiness check (GET on the service port); unset: a TCP connect.
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("must start with '/'"))]
    #[schemars(length(max = 256))]
    pub readiness_path: Option<String>,
    /// HTTP path of the liveness check; unset: a TCP connect.
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("must start with '/'"))]
    #[schemars(length(max = 256))]
    pub liveness_path: Option<String>,
    /// Seconds before the first liveness check (a startup probe allows this long). Default 0.
    #[x_kube(validation = Rule::new("self >= 0 && self <= 3600").message("must be between 0 and 3600"))]
    pub initial_delay_seconds: Option<i32>,
}

/// Horizontal autoscaling of one service on CPU (and optionally memory) utilisation.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.minReplicas) || self.minReplicas <= self.maxReplicas").message("minReplicas must not exceed maxReplicas").field_path(".minReplicas"))]
pub struct Autoscaling {
    /// Fewest replicas. Default: `limits.minReplicas`, else 1; never below `limits.minReplicas`.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 1000").message("must be between 1 and 1000"))]
    pub min_replicas: Option<i32>,
    /// Most replicas.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 1000").message("must be between 1 and 1000"))]
    pub max_replicas: i32,
    /// Target average CPU utilisation, percent of the request. Default 80.
    #[serde(rename = "targetCPUUtilizationPercentage")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100").message("must be a percentage 1-100"))]
    pub target_cpu_utilization_percentage: Option<i32>,
    /// Target average memory utilisation, percent of the request. Default: not a target.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100").message("must be a percentage 1-100"))]
    pub target_memory_utilization_percentage: Option<i32>,
}
