//! `spec.billing`: rates, budget and chargeback.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Billing and cost tracking. Rates are per hour per CPU, per hour
/// per GiB of memory, per month per GiB of storage, per GiB of egress.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.budgetEnforcement) || !self.budgetEnforcement || has(self.monthlyBudget)").message("budgetEnforcement needs monthlyBudget").field_path(".monthlyBudget"))]
pub struct BillingSpec {
    /// Contact for billing matters.
    #[schemars(length(max = 256))]
    pub billing_contact: Option<String>,
    /// Address invoices are sent to; the tenant's budget alerts are e-mailed to it too (its AlertmanagerConfig).
    #[x_kube(validation = Rule::new("self.matches('^[^@\\\\s]+@[^@\\\\s]+$')").message("must be an e-mail address"))]
    #[schemars(length(max = 256))]
    pub billing_email: Option<String>,
    /// Cost center code (also a namespace label for cost tools).
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')").message("must be a label value: letters, digits, '-', '_', '.'"))]
    #[schemars(length(max = 63))]
    pub cost_center: Option<String>,
    /// hourly, daily, weekly or monthly. Default monthly.
    pub billing_cycle: Option<BillingCycle>,
    /// ISO 4217 currency of the rates. Default USD.
    #[x_kube(validation = Rule::new("self.matches('^[A-Z]{3}$')").message("must be a three-letter ISO 4217 code such as USD"))]
    #[schemars(length(max = 3))]
    pub currency: Option<String>,
    /// Price of one CPU for one hour.
    #[x_kube(validation = Rule::new("self >= 0.0").message("must not be negative"))]
    pub cpu_hourly_rate: Option<f64>,
    /// Price of one GiB of memory for one hour.
    #[x_kube(validation = Rule::new("self >= 0.0").message("must not be negative"))]
    pub memory_hourly_rate: Option<f64>,
    /// Price of one GiB of storage for one month.
    #[x_kube(validation = Rule::new("self >= 0.0").message("must not be negative"))]
    pub storage_monthly_rate: Option<f64>,
    /// Price of one GiB of egress traffic.
    #[x_kube(validation = Rule::new("self >= 0.0").message("must not be negative"))]
    pub network_egress_rate: Option<f64>,
    /// Budget per month, in `currency`.
    #[x_kube(validation = Rule::new("self > 0.0").message("must be positive"))]
    pub monthly_budget: Option<f64>,
    /// Fraction of the budget (0-1) at which the BudgetOK condition turns False and an alert fires. Default 0.8.
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 1.0").message("must be between 0 and 1"))]
    pub budget_alert_threshold: Option<f64>,
    /// Enforce the budget rather than only alert (requires monthlyBudget): once the month to date is over it, the API server refuses new pods in the tenant's namespace until the next month or a higher budget; running pods are untouched and nothing is deleted (docs/cost.md).
    pub budget_enforcement: Option<bool>,
    /// shared, dedicated or usage.
    pub chargeback_model: Option<ChargebackModel>,
    /// Volume discount as a fraction (0-1).
    #[x_kube(validation = Rule::new("self >= 0.0 && self < 1.0").message("must be a fraction from 0 up to (not including) 1"))]
    pub volume_discount: Option<f64>,
    /// Commitment discount as a fraction (0-1).
    #[x_kube(validation = Rule::new("self >= 0.0 && self < 1.0").message("must be a fraction from 0 up to (not including) 1"))]
    pub commitment_discount: Option<f64>,
}

/// Billing cycles.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BillingCycle {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

impl BillingCycle {
    pub const ALL: [BillingCycle; 4] = [
        BillingCycle::Hourly,
        BillingCycle::Daily,
        BillingCycle::Weekly,
        BillingCycle::Monthly,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            BillingCycle::Hourly => "hourly",
            BillingCycle::Daily => "daily",
            BillingCycle::Weekly => "weekly",
            BillingCycle::Monthly => "monthly",
        }
    }
}

/// Chargeback models: shared (cost of the allocation split over the cluster), dedicated
/// (the tenant pays for its whole quota) or usage (what its pods actually requested).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChargebackModel {
    Shared,
    Dedicated,
    Usage,
}
