//! `spec.limits`: the namespace's LimitRange and workload rules.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// LimitRange and workload rules.
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
