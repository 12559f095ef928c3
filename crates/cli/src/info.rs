//! Framework metadata: what `kubectl tenant info` prints (origin: docs/field-origins.md).

use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use tenant_api::{BillingCycle, IsolationLevel};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Framework {
    pub name: &'static str,
    pub version: &'static str,
    pub api_version: String,
    pub kinds: Vec<&'static str>,
    /// The oldest Kubernetes minor the operator supports.
    pub min_kubernetes_version: &'static str,
    pub features: BTreeMap<&'static str, Feature>,
    pub supported_isolation_levels: Vec<&'static str>,
    pub supported_billing_cycles: Vec<&'static str>,
    pub supported_resource_types: Vec<&'static str>,
    /// ResourceQuota keys a Tenant can set, by resource type.
    pub quota_keys: BTreeMap<&'static str, Vec<&'static str>>,
}

#[derive(Serialize)]
pub struct Feature {
    pub description: &'static str,
    /// `available`: rendered and reconciled; `api-only`: in the Tenant spec and validated, not yet
    /// turned into objects.
    pub status: &'static str,
}

pub fn framework() -> Framework {
    let f = |description, status| Feature {
        description,
        status,
    };
    let features = BTreeMap::from([
        (
            "tenant-management",
            f(
                "Tenant custom resource: one isolated namespace per tenant and environment, lifecycle phases and conditions",
                "available",
            ),
        ),
        (
            "namespace-quotas",
            f(
                "ResourceQuota for compute, storage and object counts (incl. NodePorts, LoadBalancers)",
                "available",
            ),
        ),
        (
            "resource-limits",
            f(
                "LimitRange defaults and maxima per pod and container, QoS and minimum replicas",
                "available",
            ),
        ),
        (
            "network-policies",
            f(
                "Default-deny NetworkPolicies with same-tenant, DNS, ingress-controller, namespace, pod, CIDR and port allowances",
                "available",
            ),
        ),
        (
            "rbac",
            f(
                "tenant-admin / developer / viewer Roles and bindings, service accounts, opt-in cross-tenant read access",
                "available",
            ),
        ),
        (
            "isolation-policies",
            f(
                "strict / standard / permissive presets: Pod Security Admission levels and admission guardrails",
                "available",
            ),
        ),
        (
            "admission-guardrails",
            f(
                "ValidatingAdmissionPolicies with per-namespace TenantPolicy parameters: registries, pull policy, host access, NodePorts, storage, replicas, managed objects",
                "available",
            ),
        ),
        (
            "quota-totals",
            f(
                "Quota totals across tenants against cluster capacity (kubectl tenant quota total)",
                "available",
            ),
        ),
        (
            "validation",
            f(
                "Schema, CEL and cross-field checks with field paths (kubectl tenant validate)",
                "available",
            ),
        ),
        (
            "billing",
            f(
                "Cost accrued per tenant (rates, tiers, chargeback models, cycles, discounts), BudgetOK, budget alerts, budget enforcement (no new pods over budget); egress not measured",
                "available",
            ),
        ),
        (
            "monitoring",
            f(
                "Per-tenant ServiceMonitor, PrometheusRule (quota, SLO, budget alerts), AlertmanagerConfig, dashboards, log labels",
                "available",
            ),
        ),
        (
            "backup-restore",
            f(
                "Velero Schedule per tenant, final backup, self-service, scheduled and cross-tenant restores",
                "available",
            ),
        ),
        (
            "tenant-services",
            f(
                "Deployments, Services and TLS Ingress for the tenant's services; active/inactive scaling; rollouts",
                "available",
            ),
        ),
        (
            "audit",
            f(
                "Audit level per tenant namespace: a namespace label, and the API server's audit policy from `kubectl tenant audit-policy` (Secrets and tokens at most Metadata)",
                "available",
            ),
        ),
        (
            "prstack-migration",
            f(
                "PRStack -> Tenant migration: kubectl tenant migrate prints the Tenant for each PRStack (files or cluster); the live hand-over (--apply) and a PRStack controller are not built yet",
                "available",
            ),
        ),
    ]);
    Framework {
        name: "tenant-operator",
        version: env!("CARGO_PKG_VERSION"),
        api_version: format!("{}/{}", tenant_api::GROUP, tenant_api::VERSION),
        kinds: vec!["Tenant", "PRStack", "TenantPolicy"],
        min_kubernetes_version: "1.33",
        features,
        supported_isolation_levels: IsolationLevel::ALL.iter().map(|l| l.as_str()).collect(),
        supported_billing_cycles: BillingCycle::ALL.iter().map(|c| c.as_str()).collect(),
        supported_resource_types: vec!["compute", "storage", "network"],
        quota_keys: BTreeMap::from([
            (
                "compute",
                vec![
                    "requests.cpu",
                    "limits.cpu",
                    "requests.memory",
                    "limits.memory",
                    "pods",
                ],
            ),
            (
                "storage",
                vec![
                    "requests.storage",
                    "requests.ephemeral-storage",
                    "persistentvolumeclaims",
                ],
            ),
            (
                "network",
                vec![
                    "services",
                    "services.nodeports",
                    "services.loadbalancers",
                    "count/ingresses.networking.k8s.io",
                ],
            ),
        ]),
    }
}

pub fn print_text(f: &Framework) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} {}", f.name, f.version)?;
    writeln!(out, "API: {} ({})", f.api_version, f.kinds.join(", "))?;
    writeln!(out, "Kubernetes: {} or newer", f.min_kubernetes_version)?;
    writeln!(
        out,
        "Isolation levels: {}",
        f.supported_isolation_levels.join(", ")
    )?;
    writeln!(
        out,
        "Billing cycles: {}",
        f.supported_billing_cycles.join(", ")
    )?;
    writeln!(
        out,
        "Resource types: {}",
        f.supported_resource_types.join(", ")
    )?;
    writeln!(out, "Features:")?;
    for (name, feat) in &f.features {
        writeln!(out, "  {name:<22} {:<10} {}", feat.status, feat.description)?;
    }
    Ok(())
}
