//! Status types shared by Tenant and PRStack.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lifecycle phase: Initialization -> Provisioning -> Deployment -> Running -> Cleaning, plus
/// Suspended and Failed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Accepted; nothing created yet.
    Initialization,
    /// Namespace, quota, limits, network policies, RBAC and policy parameters being applied.
    Provisioning,
    /// Guardrails in place; the tenant's services are rolling out.
    Deployment,
    /// Everything applied and ready.
    Running,
    /// `active: false`: guardrails kept, services scaled to zero.
    Suspended,
    /// Being deleted: managed objects are removed, then the finalizer is released.
    Cleaning,
    /// Cannot proceed without a change (invalid spec, namespace conflict); see the Ready condition.
    Failed,
    /// `spec.placement` names other regions or clusters: this cluster's operator leaves the
    /// Tenant alone (what it made here earlier is kept); see the Ready condition.
    NotPlaced,
}

impl Phase {
    /// Every phase, in lifecycle order (for metrics that report a gauge per phase).
    pub const ALL: [Phase; 8] = [
        Phase::Initialization,
        Phase::Provisioning,
        Phase::Deployment,
        Phase::Running,
        Phase::Suspended,
        Phase::Cleaning,
        Phase::Failed,
        Phase::NotPlaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Initialization => "Initialization",
            Phase::Provisioning => "Provisioning",
            Phase::Deployment => "Deployment",
            Phase::Running => "Running",
            Phase::Suspended => "Suspended",
            Phase::Cleaning => "Cleaning",
            Phase::Failed => "Failed",
            Phase::NotPlaced => "NotPlaced",
        }
    }
}

/// Condition types the operator reports. `Ready` sums up the others.
pub mod condition {
    pub const READY: &str = "Ready";
    pub const SPEC_VALID: &str = "SpecValid";
    pub const NAMESPACE_READY: &str = "NamespaceReady";
    pub const QUOTA_READY: &str = "QuotaReady";
    pub const NETWORK_ISOLATED: &str = "NetworkIsolated";
    pub const RBAC_READY: &str = "RBACReady";
    pub const POLICY_READY: &str = "PolicyReady";
    pub const SERVICES_READY: &str = "ServicesReady";
    pub const DATA_READY: &str = "DataReady";
    pub const BACKUP_READY: &str = "BackupReady";
    pub const MONITORING_READY: &str = "MonitoringReady";
    pub const BUDGET_OK: &str = "BudgetOK";
}

/// Hard limits and current use of the main quota keys, as the ResourceQuota reports them.
/// A rollout waiting for the tenant's maintenance window.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingRollout {
    /// The image tag waiting to roll out (the services run the previous one meanwhile).
    pub image_tag: Option<String>,
    /// The deployedAt waiting to roll out.
    pub deployed_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// When the window opens and the rollout runs.
    pub not_before: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSummary {
    /// Quota key -> hard limit (e.g. `limits.cpu: "2"`).
    pub hard: Option<BTreeMap<String, String>>,
    /// Quota key -> current use.
    pub used: Option<BTreeMap<String, String>>,
}

/// The tenant's cost as the operator accrues it (docs/cost.md), written by its cost accounting
/// under its own field manager. Money is a decimal string in `currency`.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostSummary {
    /// ISO 4217 currency code of the figures.
    pub currency: Option<String>,
    /// Cost per hour at the current allocation, as a decimal string (e.g. `"0.42"`).
    pub hourly: Option<String>,
    /// The current calendar month's cost when it ends, at the current allocation (the `COST/MO`
    /// column).
    pub monthly_projected: Option<String>,
    /// `spec.billing.monthlyBudget`, echoed for `kubectl get` columns.
    pub monthly_budget: Option<String>,
    /// Month to date over the budget (e.g. `"0.85"`).
    pub budget_used_ratio: Option<String>,
    /// The billing cycle's cost so far.
    pub cycle_to_date: Option<String>,
    /// The billing cycle's cost when it ends, at the current allocation.
    pub cycle_forecast: Option<String>,
    /// When the current billing cycle began.
    pub cycle_start: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// The previous billing cycle's cost.
    pub previous_cycle: Option<String>,
    /// The calendar month's cost so far (budgets are monthly).
    pub month_to_date: Option<String>,
    /// When the current month began.
    pub month_start: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// The time the figures were accrued up to (accrual resumes from here after a restart).
    pub accrued_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// CPU cores charged for at that time (the scheduled pods' requests).
    pub cpu_cores: Option<String>,
    /// Memory bytes charged for at that time.
    pub memory_bytes: Option<String>,
    /// Storage bytes charged for at that time (the volume claims' requested sizes).
    pub storage_bytes: Option<String>,
    /// Rates neither the spec nor the tier table gives (priced at 0).
    pub unpriced: Option<Vec<String>>,
}
