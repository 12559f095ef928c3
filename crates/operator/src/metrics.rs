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
        let text = m.encode();
        for needle in [
            "tenant_operator_reconciles_total{result=\"success\"} 1",
            "tenant_operator_reconcile_errors_total{category=\"apply\"} 1",
            "tenant_operator_reconcile_duration_seconds_count 1",
            "tenant_operator_tenants{phase=\"Running\"} 1",
            "tenant_operator_tenants{phase=\"Failed\"} 0",
            "tenant_operator_api_writes_total{kind=\"Namespace\",verb=\"apply\"} 2",
            "tenant_operator_backups_failed_total 1",
            "tenant_operator_tenants_backup_failing 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert_eq!(m.writes_total(), 2);
        assert_eq!(m.reconciles_total(), 1);
    }
}
