//! `spec.networkPolicy`: network isolation.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Network isolation. With isolation on, everything is denied
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
    /// Pods allowed to connect in, by label set (a pod must carry every label of one set), in
    /// this tenant's own namespaces only (every environment of the tenantId). A label set never
    /// selects pods of other namespaces, whose owners could put any label on their pods: for
    /// those, use `allowFromPodsInNamespaces`.
    #[schemars(length(max = 32))]
    pub allow_from_pods: Option<Vec<BTreeMap<String, String>>>,
    /// Pods of named namespaces allowed to connect in: a pod carrying every label of `podLabels`
    /// in one of `namespaces`, e.g. the platform's Prometheus:
    /// `{namespaces: [monitoring], podLabels: {app.kubernetes.io/name: prometheus}}`.
    #[schemars(length(max = 32))]
    pub allow_from_pods_in_namespaces: Option<Vec<PodsInNamespaces>>,
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
    /// Allow DNS queries (port 53, UDP and TCP): to the cluster DNS (kube-system pods labelled
    /// `k8s-app=kube-dns`) and `allowedDnsCIDRs`, or to any destination when
    /// isolation.dnsIsolation is false.
    pub allow_to_dns: Option<bool>,
    /// Further DNS servers (port 53 only) by CIDR, besides the cluster DNS, e.g. a node-local
    /// DNS cache `169.254.20.10/32`. Used while isolation.dnsIsolation is on (the default).
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("each entry must be a CIDR such as 169.254.20.10/32"))]
    #[schemars(length(max = 16), inner(length(max = 43)))]
    #[serde(rename = "allowedDnsCIDRs")]
    pub allowed_dns_cidrs: Option<Vec<String>>,
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

/// Pods of named namespaces: every label of `podLabels`, in one of `namespaces`.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodsInNamespaces {
    /// Namespace names (matched on the `kubernetes.io/metadata.name` label the API server sets).
    #[x_kube(validation = Rule::new("self.all(n, n.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("each entry must be a namespace name"))]
    #[schemars(length(min = 1, max = 16), inner(length(max = 63)))]
    pub namespaces: Vec<String>,
    /// Labels a pod must all carry. Not empty: every pod of a namespace is `allowFromNamespaces`.
    #[x_kube(validation = Rule::new("self.size() >= 1 && self.size() <= 16").message("name 1-16 pod labels (every pod of a namespace: allowFromNamespaces)"))]
    pub pod_labels: BTreeMap<String, String>,
}
