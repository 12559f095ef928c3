//! Prometheus metrics (prometheus-client). Label values are bounded: results, error categories,
//! phases, kinds and verbs; never an error message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tenant_api::Phase;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabels {
    pub category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: &'static str,
}

/// One Tenant (`namespace/name`) and its tenant namespace: as many series as Tenants, each
/// removed with its Tenant. `namespace` lets a tenant's own alert rules select its series (the
/// operator's ServiceMonitor keeps it with `honorLabels`, as for kube-state-metrics).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    pub tenant: String,
    pub namespace: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub kind: String,
    pub verb: &'static str,
}

/// Every metric of one operator instance (its own registry, so several instances can run in
/// one process, as the integration tests do).
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    errors: Family<CategoryLabels, Counter>,
    duration: Histogram,
    tenants: Family<PhaseLabels, Gauge>,
    writes: Family<WriteLabels, Counter>,
    backups_failed: Counter,
    backup_failing: Gauge,
    /// Tenants (`namespace/name`) whose newest finished backup failed.
    failing: Mutex<std::collections::HashSet<String>>,
    /// Phase of each known Tenant (`namespace/name`), the source of the `tenants` gauge.
    phases: Mutex<HashMap<String, Phase>>,
    writes_total: AtomicU64,
    reconciles_total: AtomicU64,
    /// Per tenant: cost per hour, month to date, budget used, and what is charged for.
    hourly_cost: Family<TenantLabels, FloatGauge>,
    month_cost: Family<TenantLabels, FloatGauge>,
    budget_used: Family<TenantLabels, FloatGauge>,
    budget_forecast: Family<TenantLabels, FloatGauge>,
    cpu_allocation: Family<TenantLabels, FloatGauge>,
    memory_allocation: Family<TenantLabels, FloatGauge>,
    storage_allocation: Family<TenantLabels, FloatGauge>,
    over_budget: Gauge,
    /// Tenants with cost series, and which are over budget.
    /// Accounted tenants: their series' labels and whether they are over budget.
    costed: Mutex<HashMap<String, (TenantLabels, bool)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tenant_operator");
        let reconciles = Family::<ResultLabels, Counter>::default();
        let errors = Family::<CategoryLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let tenants = Family::<PhaseLabels, Gauge>::default();
        let writes = Family::<WriteLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciles by error category",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one Tenant reconcile",
            duration.clone(),
        );
        registry.register("tenants", "Tenants by phase", tenants.clone());
        registry.register(
            "api_writes",
            "Write requests the operator made to the API server, by kind and verb",
            writes.clone(),
        );
        let backups_failed = Counter::default();
        let backup_failing = Gauge::default();
        registry.register(
            "backups_failed",
            "Tenant backups Velero ended Failed, PartiallyFailed or FailedValidation, as the operator saw them end",
            backups_failed.clone(),
        );
        registry.register(
            "tenants_backup_failing",
            "Tenants whose newest finished backup failed (BackupReady False, reason BackupFailed)",
            backup_failing.clone(),
        );
        let hourly_cost = Family::<TenantLabels, FloatGauge>::default();
        let month_cost = Family::<TenantLabels, FloatGauge>::default();
        let budget_used = Family::<TenantLabels, FloatGauge>::default();
        let budget_forecast = Family::<TenantLabels, FloatGauge>::default();
        let cpu_allocation = Family::<TenantLabels, FloatGauge>::default();
        let memory_allocation = Family::<TenantLabels, FloatGauge>::default();
        let storage_allocation = Family::<TenantLabels, FloatGauge>::default();
        let over_budget = Gauge::default();
        registry.register(
            "tenant_hourly_cost",
            "A tenant's cost per hour at its current allocation, in its currency",
            hourly_cost.clone(),
        );
        registry.register(
            "tenant_cost_month_to_date",
            "A tenant's cost in the current calendar month so far",
            month_cost.clone(),
        );
        registry.register(
            "tenant_budget_used_ratio",
            "A tenant's month to date over its monthlyBudget",
            budget_used.clone(),
        );
        registry.register(
            "tenant_budget_forecast_ratio",
            "The calendar month's forecast cost over monthlyBudget, for tenants with a budget",
            budget_forecast.clone(),
        );
        registry.register(
            "tenant_cpu_allocation",
            "CPU cores a tenant is charged for (its scheduled pods' requests)",
            cpu_allocation.clone(),
        );
        registry.register(
            "tenant_memory_allocation_bytes",
            "Memory a tenant is charged for (its scheduled pods' requests)",
            memory_allocation.clone(),
        );
        registry.register(
            "tenant_storage_allocation_bytes",
            "Storage a tenant is charged for (its volume claims' requested sizes)",
            storage_allocation.clone(),
        );
        registry.register(
            "tenants_over_budget",
            "Tenants whose month to date is over their monthlyBudget (BudgetOK False, BudgetExceeded or BudgetEnforced)",
            over_budget.clone(),
        );
        for phase in Phase::ALL {
            tenants
                .get_or_create(&PhaseLabels {
                    phase: phase.as_str(),
                })
                .set(0);
        }
        Metrics {
            registry,
            reconciles,
            errors,
            duration,
            tenants,
            writes,
            backups_failed,
            backup_failing,
            failing: Mutex::new(std::collections::HashSet::new()),
            phases: Mutex::new(HashMap::new()),
            writes_total: AtomicU64::new(0),
            reconciles_total: AtomicU64::new(0),
            hourly_cost,
            month_cost,
            budget_used,
            budget_forecast,
            cpu_allocation,
            memory_allocation,
            storage_allocation,
            over_budget,
            costed: Mutex::new(HashMap::new()),
        }
    }

    pub fn reconciled(&self, result: &'static str, took: Duration) {
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
        self.duration.observe(took.as_secs_f64());
        self.reconciles_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, category: &'static str) {
        self.errors
            .get_or_create(&CategoryLabels { category })
            .inc();
    }

    /// Counts one write request (`verb`: apply, create, update, patch, delete).
    pub fn write(&self, kind: &str, verb: &'static str) {
        self.writes
            .get_or_create(&WriteLabels {
                kind: kind.to_string(),
                verb,
            })
            .inc();
        self.writes_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a Tenant's phase (`None`: the Tenant is gone).
    pub fn set_phase(&self, tenant: &str, phase: Option<Phase>) {
        let mut phases = self
            .phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match phase {
            Some(p) => {
                phases.insert(tenant.to_string(), p);
            }
            None => {
                phases.remove(tenant);
            }
        }
        for p in Phase::ALL {
            let n = phases.values().filter(|v| **v == p).count();
            self.tenants
                .get_or_create(&PhaseLabels { phase: p.as_str() })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts one backup that ended failed.
    pub fn backup_failed(&self) {
        self.backups_failed.inc();
    }

    /// Records whether a Tenant's newest finished backup failed (`false` also when it is gone).
    pub fn set_backup_failing(&self, tenant: &str, failing: bool) {
        let mut set = self
            .failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if failing {
            set.insert(tenant.to_string());
        } else {
            set.remove(tenant);
        }
        self.backup_failing
            .set(i64::try_from(set.len()).unwrap_or(i64::MAX));
    }

    /// Records a tenant's cost figures (`namespace`: the tenant namespace).
    pub fn set_cost(
        &self,
        tenant: &str,
        namespace: &str,
        held: &crate::cost::Sums,
        ledger: &tenant_core::cost::Ledger,
        budget: &tenant_core::cost::BudgetState,
    ) {
        let l = TenantLabels {
            tenant: tenant.to_string(),
            namespace: namespace.to_string(),
        };
        let mut costed = self
            .costed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((old, _)) = costed.get(tenant)
            && *old != l
        {
            self.remove_cost_series(old); // the tenant namespace changed
        }
        self.hourly_cost.get_or_create(&l).set(ledger.hourly);
        self.month_cost.get_or_create(&l).set(ledger.month);
        if budget.reason == "NoBudget" {
            self.budget_used.remove(&l);
            self.budget_forecast.remove(&l);
        } else {
            self.budget_used.get_or_create(&l).set(budget.used);
            self.budget_forecast.get_or_create(&l).set(budget.forecast);
        }
        self.cpu_allocation.get_or_create(&l).set(held.cpu);
        self.memory_allocation.get_or_create(&l).set(held.memory);
        self.storage_allocation.get_or_create(&l).set(held.storage);
        costed.insert(
            tenant.to_string(),
            (l, tenant_core::cost::over_budget(budget.reason)),
        );
        let over = costed.values().filter(|(_, v)| *v).count();
        self.over_budget
            .set(i64::try_from(over).unwrap_or(i64::MAX));
    }

    fn remove_cost_series(&self, l: &TenantLabels) {
        for f in [
            &self.hourly_cost,
            &self.month_cost,
            &self.budget_used,
            &self.budget_forecast,
            &self.cpu_allocation,
            &self.memory_allocation,
            &self.storage_allocation,
        ] {
            f.remove(l);
        }
    }

    /// Drops the cost series of tenants not in `live`.
    pub fn retain_cost(&self, live: &std::collections::HashSet<String>) {
        let mut costed = self
            .costed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        costed.retain(|tenant, (l, _)| {
            let keep = live.contains(tenant);
            if !keep {
                self.remove_cost_series(l);
            }
            keep
        });
        let over = costed.values().filter(|(_, v)| *v).count();
        self.over_budget
            .set(i64::try_from(over).unwrap_or(i64::MAX));
    }

    /// Total writes so far (all kinds and verbs).
    pub fn writes_total(&self) -> u64 {
        self.writes_total.load(Ordering::Relaxed)
    }

    /// Total reconciles so far (all results).
    pub fn reconciles_total(&self) -> u64 {
        self.reconciles_total.load(Ordering::Relaxed)
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_metric_with_bounded_labels() {
        let m = Metrics::new();
        m.reconciled("success", Duration::from_millis(12));
        m.error("apply");
        m.write("Namespace", "apply");
        m.write("Namespace", "apply");
        m.set_phase("default/a", Some(Phase::Running));
        m.set_phase("default/b", Some(Phase::Failed));
        m.set_phase("default/b", None);
        m.backup_failed();
        m.set_backup_failing("default/a", true);
        m.set_backup_failing("default/b", true);
        m.set_backup_failing("default/b", false);
        let held = crate::cost::Sums {
            cpu: 1.5,
            memory: 2.0,
            storage: 3.0,
        };
        let ledger = tenant_core::cost::Ledger {
            hourly: 0.25,
            month: 10.0,
            ..Default::default()
        };
        let over = tenant_core::cost::BudgetState {
            ok: false,
            reason: "BudgetExceeded",
            message: String::new(),
            used: 1.2,
            forecast: 2.0,
            frozen: false,
        };
        m.set_cost("default/a", "tenant-a", &held, &ledger, &over);
        m.set_cost("default/b", "tenant-b", &held, &ledger, &over);
        m.retain_cost(&["default/a".to_string()].into_iter().collect());
        let text = m.encode();
        assert!(!text.contains("tenant=\"default/b\""), "{text}");
        for needle in [
            "tenant_operator_reconciles_total{result=\"success\"} 1",
            "tenant_operator_reconcile_errors_total{category=\"apply\"} 1",
            "tenant_operator_reconcile_duration_seconds_count 1",
            "tenant_operator_tenants{phase=\"Running\"} 1",
            "tenant_operator_tenants{phase=\"Failed\"} 0",
            "tenant_operator_api_writes_total{kind=\"Namespace\",verb=\"apply\"} 2",
            "tenant_operator_backups_failed_total 1",
            "tenant_operator_tenants_backup_failing 1",
            "tenant_operator_tenant_hourly_cost{tenant=\"default/a\",namespace=\"tenant-a\"} 0.25",
            "tenant_operator_tenant_cost_month_to_date{tenant=\"default/a\",namespace=\"tenant-a\"} 10.0",
            "tenant_operator_tenant_budget_used_ratio{tenant=\"default/a\",namespace=\"tenant-a\"} 1.2",
            "tenant_operator_tenant_cpu_allocation{tenant=\"default/a\",namespace=\"tenant-a\"} 1.5",
            "tenant_operator_tenants_over_budget 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert_eq!(m.writes_total(), 2);
        assert_eq!(m.reconciles_total(), 1);
    }
}
