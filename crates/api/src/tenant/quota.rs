//! `spec.quota`: the namespace's ResourceQuota.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// ResourceQuota of the tenant namespace. Quantities are Kubernetes quantities: `cpuQuota: "200"` is 200 CPUs.
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
